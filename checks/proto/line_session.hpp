#pragma once
// LineSession: one connection speaking a CRLF line protocol (SMTP, IMAP, POP3), with a
// timeout on every read, a bound on line length, and a transcript with secrets masked.
// Protocols add only their rules for "is this the last line of the reply".

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <Poco/Net/StreamSocket.h>

#include "checks/proto/result.hpp"

namespace mailready::proto {

/// One line of a transcript: who said it and what (already masked).
struct TranscriptLine {
  char from;  ///< 'C' client or 'S' server
  std::string text;
};

class LineSession {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t default_max_line = 8192;
  /// What one server may send on one session in all (lines and literals): past it every
  /// read fails with Kind::protocol, so a flooding server costs bounded memory and time.
  static constexpr std::size_t max_session_bytes = 16u << 20;
  /// What the transcript keeps: past it, one line says it was cut and nothing more is kept.
  static constexpr std::size_t max_transcript_bytes = 1u << 20;

  /// Takes over a connected socket (plain or TLS). `timeout` bounds each read: a line must
  /// be complete within it, however slowly the server drips bytes.
  LineSession(Poco::Net::StreamSocket socket, std::chrono::milliseconds timeout,
              std::size_t max_line = default_max_line);

  /// Reads one line without its CRLF (a bare LF also ends a line). Fails with timeout,
  /// closed (EOF before a line end) or protocol (line longer than max_line).
  Result<std::string> read_line();

  /// Reads exactly `n` raw bytes (an IMAP literal's content, RFC 9051 §4.3), within the
  /// same per-read bound as a line. The transcript shows "<literal of n bytes>".
  Result<std::string> read_bytes(std::size_t n);

  /// Sends `line` + CRLF. A secret line appears in the transcript as `masked`.
  Result<Unit> write_line(std::string_view line, std::string_view masked = {});
  /// Sends several lines in one write (SMTP PIPELINING, RFC 2920): one round trip for
  /// a group of commands. None may be secret.
  Result<Unit> write_lines(const std::vector<std::string>& lines);

  /// True when the connection is idle and open: nothing unread here or on the socket
  /// (no late reply, no "421 timeout", no close). A session handed to the next user
  /// must be quiet, or that user would read someone else's words.
  bool quiet();

  /// Replaces the socket by its TLS upgrade. Bytes the server sent before the upgrade and
  /// that were not read yet are discarded (STARTTLS command injection, RFC 3207 §4.2 /
  /// CVE-2011-0411); their count is returned so a check can report them.
  std::size_t upgrade(Poco::Net::StreamSocket tls_socket);

  /// Bytes received but not yet returned by read_line().
  std::size_t buffered() const { return buffer_.size() - pos_; }

  /// While on, server lines enter the transcript as their first `keep` bytes (the
  /// reply code, "334 " or "+ ") followed by "<sasl payload>": SASL challenges never
  /// reach a trace.
  void mask_server_payloads(bool on, std::size_t keep = 4) {
    mask_server_ = on;
    mask_keep_ = keep;
  }

  Poco::Net::StreamSocket& socket() { return socket_; }
  const std::vector<TranscriptLine>& transcript() const { return transcript_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  /// An absolute bound on every read and write from now on (the run's deadline, or a
  /// step's own): each waits for min(timeout, what is left until `deadline`). nullopt: none.
  void set_deadline(std::optional<Clock::time_point> deadline) { deadline_ = deadline; }
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  /// Bytes received on this session so far.
  std::size_t received() const { return received_; }

  /// Closes the socket; further reads fail with Kind::closed.
  void close();

 private:
  Result<Unit> fill(Clock::time_point until);
  Result<Unit> send(const std::string& wire);
  /// When the next read or write must be done by: now + timeout, cut to the deadline.
  Clock::time_point read_until() const;
  void record(char from, std::string text);

  Poco::Net::StreamSocket socket_;
  std::chrono::milliseconds timeout_;
  std::optional<Clock::time_point> deadline_;
  std::size_t max_line_;
  std::size_t received_ = 0;
  std::size_t transcript_bytes_ = 0;
  bool transcript_cut_ = false;
  std::string buffer_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  bool mask_server_ = false;
  std::size_t mask_keep_ = 4;
  std::vector<TranscriptLine> transcript_;
};

}  // namespace mailready::proto
