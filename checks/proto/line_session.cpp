#include "checks/proto/line_session.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Timespan.h>

#include <fmt/format.h>

namespace mailready::proto {

using Clock = LineSession::Clock;
using std::chrono::milliseconds;

// Our own buffered reader rather than Poco's DialogSocket: DialogSocket keeps its read
// buffer private, so after STARTTLS we could neither tell whether the server had injected
// bytes nor be sure they were dropped, and its line limit is fixed unless subclassed.
LineSession::LineSession(Poco::Net::StreamSocket socket, milliseconds timeout,
                         std::size_t max_line)
    : socket_(std::move(socket)), timeout_(timeout), max_line_(max_line) {}

Clock::time_point LineSession::read_until() const {
  const auto until = Clock::now() + timeout_;
  return deadline_ && *deadline_ < until ? *deadline_ : until;
}

void LineSession::record(char from, std::string text) {
  if (transcript_cut_) return;
  if (transcript_bytes_ + text.size() > max_transcript_bytes) {
    transcript_cut_ = true;
    transcript_.push_back({from, fmt::format("<transcript cut at {} bytes>", transcript_bytes_)});
    return;
  }
  transcript_bytes_ += text.size();
  transcript_.push_back({from, std::move(text)});
}

Result<Unit> LineSession::fill(Clock::time_point until) {
  const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
  if (left.count() <= 0) return fail(Failure::Kind::timeout, "no complete line before the timeout");
  if (received_ >= max_session_bytes) {
    return fail(Failure::Kind::protocol,
                fmt::format("the server sent more than {} bytes on one session", max_session_bytes));
  }
  char chunk[4096];
  try {
    socket_.setReceiveTimeout(Poco::Timespan(left.count() * 1000));
    const int n = socket_.receiveBytes(chunk, sizeof chunk);
    if (n <= 0) {
      eof_ = true;
      return fail(Failure::Kind::closed, "the server closed the connection");
    }
    if (pos_ > 0) {
      buffer_.erase(0, pos_);
      pos_ = 0;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    received_ += static_cast<std::size_t>(n);
    return Unit{};
  } catch (const Poco::TimeoutException&) {
    return fail(Failure::Kind::timeout, "no complete line before the timeout");
  } catch (const Poco::Net::ConnectionResetException& e) {
    eof_ = true;
    return fail(Failure::Kind::closed, "the server reset the connection");
  } catch (const Poco::Exception& e) {
    eof_ = true;
    return fail(Failure::Kind::closed, e.displayText());
  }
}

Result<std::string> LineSession::read_line() {
  const auto until = read_until();
  const bool by_deadline = deadline_ && until == *deadline_;
  for (;;) {
    const auto nl = buffer_.find('\n', pos_);
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(pos_, nl - pos_);
      pos_ = nl + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() > max_line_) {
        return fail(Failure::Kind::protocol,
                    fmt::format("the server sent a line longer than {} bytes", max_line_));
      }
      if (mask_server_ && line.size() > mask_keep_) {
        record('S', line.substr(0, mask_keep_) + "<sasl payload>");
      } else {
        record('S', line);
      }
      return line;
    }
    if (buffer_.size() - pos_ > max_line_) {
      return fail(Failure::Kind::protocol,
                  fmt::format("the server sent more than {} bytes without a line end", max_line_));
    }
    if (eof_) return fail(Failure::Kind::closed, "the server closed the connection");
    if (auto got = fill(until); !got) {
      if (by_deadline && got.failure().kind == Failure::Kind::timeout) {
        return fail(Failure::Kind::timeout, "no complete line before the run's deadline");
      }
      return got.failure();
    }
  }
}

Result<std::string> LineSession::read_bytes(std::size_t n) {
  const auto until = read_until();
  while (buffer_.size() - pos_ < n) {
    if (eof_) return fail(Failure::Kind::closed, "the server closed the connection");
    if (auto got = fill(until); !got) return got.failure();
  }
  std::string out = buffer_.substr(pos_, n);
  pos_ += n;
  record('S', fmt::format("<literal of {} bytes>", n));
  return out;
}

Result<Unit> LineSession::write_line(std::string_view line, std::string_view masked) {
  record('C', std::string(masked.empty() ? line : masked));
  std::string wire(line);
  wire += "\r\n";
  return send(wire);
}

Result<Unit> LineSession::write_lines(const std::vector<std::string>& lines) {
  std::string wire;
  for (const auto& line : lines) {
    record('C', line);
    wire += line;
    wire += "\r\n";
  }
  return send(wire);
}

bool LineSession::quiet() {
  if (eof_ || buffered() > 0) return false;
  try {
    return !socket_.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR);
  } catch (const Poco::Exception&) {
    return false;
  }
}

Result<Unit> LineSession::send(const std::string& wire) {
  try {
    const auto left = std::chrono::duration_cast<milliseconds>(read_until() - Clock::now());
    if (left.count() <= 0) return fail(Failure::Kind::timeout, "the run's deadline has passed");
    socket_.setSendTimeout(Poco::Timespan(left.count() * 1000));
    std::size_t sent = 0;
    while (sent < wire.size()) {
      const int n = socket_.sendBytes(wire.data() + sent, static_cast<int>(wire.size() - sent));
      if (n <= 0) return fail(Failure::Kind::closed, "the server closed the connection");
      sent += static_cast<std::size_t>(n);
    }
    return Unit{};
  } catch (const Poco::TimeoutException&) {
    return fail(Failure::Kind::timeout, "the server did not take our data before the timeout");
  } catch (const Poco::Exception& e) {
    return fail(Failure::Kind::closed, e.displayText());
  }
}

std::size_t LineSession::upgrade(Poco::Net::StreamSocket tls_socket) {
  const std::size_t dropped = buffered();
  buffer_.clear();
  pos_ = 0;
  eof_ = false;
  socket_ = std::move(tls_socket);
  return dropped;
}

void LineSession::close() {
  try {
    socket_.close();
  } catch (const Poco::Exception&) {
    // Already closed by the peer: nothing left to release.
  }
  eof_ = true;
}

}  // namespace mailready::proto
