#include "checks/proto/smtp.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <unordered_set>

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>

namespace mailready::proto {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

/// A list without duplicates and with a cap, in the order first seen. The set makes each
/// addition O(1): a linear search per name made one EHLO reply of 256 lines of distinct
/// AUTH names cost minutes of CPU.
class UniqueList {
 public:
  UniqueList(std::vector<std::string>& list, std::size_t cap, std::size_t& over)
      : list_(list), cap_(cap), over_(over) {}
  void add(const std::string& item) {
    if (seen_.count(item) > 0) return;
    if (list_.size() >= cap_) {
      ++over_;
      return;
    }
    seen_.insert(item);
    list_.push_back(item);
  }

 private:
  std::vector<std::string>& list_;
  std::size_t cap_;
  std::size_t& over_;
  std::unordered_set<std::string> seen_;
};

}  // namespace

std::optional<SmtpLine> parse_smtp_line(std::string_view line) {
  if (line.size() < 3) return std::nullopt;
  for (int i = 0; i < 3; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[static_cast<std::size_t>(i)]))) {
      return std::nullopt;
    }
  }
  // RFC 5321 §4.2: the first digit is 2..5.
  if (line[0] < '2' || line[0] > '5') return std::nullopt;
  SmtpLine out;
  out.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (line.size() == 3) return out;
  if (line[3] != ' ' && line[3] != '-') return std::nullopt;
  out.last = line[3] == ' ';
  out.text = std::string(line.substr(4));
  return out;
}

std::string SmtpReply::enhanced() const {
  if (lines.empty() || malformed) return {};
  // "4.7.0 text": class.subject.detail, RFC 3463.
  const auto& t = lines.front();
  const auto space = t.find(' ');
  const std::string first = t.substr(0, space);
  int dots = 0;
  for (const char c : first) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return {};
    }
  }
  // The class is one digit and no part is empty: "42.7.1" and "4.." are not codes.
  if (dots != 2 || first.size() < 5 || (first[0] != '2' && first[0] != '4' && first[0] != '5') ||
      first[1] != '.' || first.back() == '.' || first.find("..") != std::string::npos) {
    return {};
  }
  return first;
}

std::string SmtpReply::raw() const {
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    if (malformed && i + 1 == lines.size()) {
      out += lines[i];
    } else {
      out += std::to_string(code) + (i + 1 == lines.size() ? " " : "-") + lines[i];
    }
  }
  return out;
}

Result<SmtpReply> read_smtp_reply(LineSession& session, std::size_t max_lines) {
  SmtpReply reply;
  for (std::size_t n = 0; n < max_lines; ++n) {
    auto line = session.read_line();
    if (!line) return line.failure();
    const auto parsed = parse_smtp_line(line.value());
    if (!parsed || (reply.code != 0 && parsed->code != reply.code)) {
      reply.malformed = true;
      reply.lines.push_back(line.value());
      return reply;
    }
    reply.code = parsed->code;
    reply.lines.push_back(parsed->text);
    if (parsed->last) return reply;
  }
  return fail(Failure::Kind::protocol, "the server's reply has too many lines");
}

Result<SmtpReply> smtp_command(LineSession& session, std::string_view command,
                               std::string_view masked) {
  if (auto sent = session.write_line(command, masked); !sent) return sent.failure();
  return read_smtp_reply(session);
}

bool is_sasl_mechanism_name(std::string_view name) {
  return !name.empty() && name.size() <= 20 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
         });
}

SmtpCapabilities parse_ehlo(const SmtpReply& reply) {
  SmtpCapabilities caps;
  UniqueList keywords(caps.keywords, max_ehlo_keywords, caps.over_limit);
  UniqueList auth(caps.auth, max_auth_mechanisms, caps.over_limit);
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    const auto w = words(reply.lines[i]);
    if (w.empty()) continue;
    std::string keyword = upper(w.front());
    std::vector<std::string> params(w.begin() + 1, w.end());
    // Old servers advertise "AUTH=LOGIN PLAIN" for Outlook Express.
    if (keyword.rfind("AUTH=", 0) == 0) {
      params.insert(params.begin(), keyword.substr(5));
      keyword = "AUTH";
    }
    keywords.add(keyword);
    if (keyword == "STARTTLS") caps.starttls = true;
    if (keyword == "PIPELINING") caps.pipelining = true;
    if (keyword == "8BITMIME") caps.eightbitmime = true;
    if (keyword == "ENHANCEDSTATUSCODES") caps.enhancedstatuscodes = true;
    if (keyword == "SMTPUTF8") caps.smtputf8 = true;
    if (keyword == "SIZE") {
      caps.size = 0;
      // Digits only: std::stoull takes "-1" and wraps it to 2^64-1.
      const bool digits =
          !params.empty() && std::all_of(params.front().begin(), params.front().end(),
                                         [](unsigned char c) { return std::isdigit(c) != 0; });
      if (digits) {
        try {
          caps.size = std::stoull(params.front());
        } catch (const std::exception&) {
          caps.size = 0;  // "SIZE junk": advertised, limit unknown
        }
      }
    }
    if (keyword == "AUTH") {
      for (const auto& p : params) {
        const std::string name = upper(p);
        if (is_sasl_mechanism_name(name)) {
          auth.add(name);
        } else {
          ++caps.invalid_auth;
        }
      }
    }
  }
  return caps;
}

GreetingKind classify_smtp_greeting(const SmtpReply& reply) {
  if (reply.malformed || reply.code == 0) return GreetingKind::unexpected;
  if (reply.code == 220) return GreetingKind::ok;
  if (reply.code >= 500) return GreetingKind::refused;  // whatever its enhanced code says
  if (reply.code == 421 || reply.enhanced().rfind("4.7.", 0) == 0) return GreetingKind::rate_limited;
  return GreetingKind::unexpected;
}

std::string ehlo_name(LineSession& session) {
  try {
    const auto local = session.socket().address().host();
    if (local.family() == Poco::Net::IPAddress::IPv6) return "[IPv6:" + local.toString() + "]";
    return "[" + local.toString() + "]";
  } catch (const Poco::Exception&) {
    return "[127.0.0.1]";
  }
}

Result<SmtpSubmit> smtp_send(LineSession& session, const std::string& from, const std::string& to,
                             const std::string& message) {
  SmtpSubmit out;
  const auto step = [&](const std::string& stage, const std::string& command,
                        int want) -> std::optional<Failure> {
    out.stage = stage;
    auto reply = smtp_command(session, command);
    if (!reply) return reply.failure();
    out.reply = reply->raw();
    if (reply->code != want) return Failure{Failure::Kind::other, ""};
    return std::nullopt;
  };
  if (auto f = step("MAIL", "MAIL FROM:<" + from + ">", 250)) {
    if (f->kind == Failure::Kind::other) return out;
    return *f;
  }
  if (auto f = step("RCPT", "RCPT TO:<" + to + ">", 250)) {
    if (f->kind == Failure::Kind::other) return out;
    return *f;
  }
  if (auto f = step("DATA", "DATA", 354)) {
    if (f->kind == Failure::Kind::other) return out;
    return *f;
  }
  out.stage = "message";
  std::size_t start = 0;
  while (start < message.size()) {
    auto end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string line = message.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line.front() == '.') line.insert(line.begin(), '.');
    if (auto sent = session.write_line(line); !sent) return sent.failure();
    start = end + 1;
  }
  auto done = smtp_command(session, ".");
  if (!done) return done.failure();
  out.reply = done->raw();
  out.accepted = done->code == 250;
  return out;
}

Result<SmtpStartTls> smtp_starttls(LineSession& session, const std::string& server_name,
                                   const Poco::Net::Context::Ptr& context,
                                   std::chrono::milliseconds timeout,
                                   const Poco::Net::Session::Ptr& resume) {
  auto reply = smtp_command(session, "STARTTLS");
  if (!reply) return reply.failure();
  SmtpStartTls out;
  out.reply = reply.value();
  if (out.reply.code != 220) return out;
  Poco::Net::StreamSocket tls_socket;
  auto tls = handshake(session.socket(), server_name, context, timeout, tls_socket, resume);
  if (!tls) {
    out.tls_failure = tls.failure();
    return out;
  }
  out.tls = tls.value();
  out.injected = session.upgrade(tls_socket);
  return out;
}

}  // namespace mailready::proto
