#include "checks/proto/auth.hpp"

#include <fmt/format.h>

#include "checks/proto/imap.hpp"
#include "checks/proto/smtp.hpp"

namespace mailready::proto {
namespace {

/// A mechanism needs at most a handful of round trips; a server that keeps challenging
/// is stopped here.
constexpr int max_steps = 8;

constexpr std::string_view masked_payload = "<sasl payload>";

/// Turns off server-payload masking however the exchange ends.
struct MaskGuard {
  LineSession& session;
  MaskGuard(LineSession& s, std::size_t keep) : session(s) { session.mask_server_payloads(true, keep); }
  ~MaskGuard() { session.mask_server_payloads(false); }
  MaskGuard(const MaskGuard&) = delete;
  MaskGuard& operator=(const MaskGuard&) = delete;
};

/// The response to one challenge: the mechanism's answer, or what to send when it gives
/// up (its error response, else "*" to cancel, RFC 4954 §4 / RFC 9051 §6.2.2).
struct Answer {
  std::string line;
  bool cancelled = false;
  std::string error;
};

Answer answer(sasl::Mechanism& mech, std::string_view encoded, bool first) {
  Answer a;
  auto challenge = sasl::base64_decode(encoded);
  // Some servers open with a text such as "334 NTLM supported" instead of an empty
  // challenge (MS-SMTPNTLM): the first challenge may be words, meaning "go ahead".
  if (!challenge && first) challenge = std::string();
  if (!challenge) {
    a.line = "*";
    a.cancelled = true;
    a.error = "the server's challenge is not valid base64";
    return a;
  }
  auto response = mech.step(challenge.value());
  if (!response) {
    a.error = response.failure().message;
    if (auto e = mech.error_response(challenge.value())) {
      a.line = sasl::base64_encode(*e);
    } else {
      a.line = "*";
      a.cancelled = true;
    }
    return a;
  }
  a.line = sasl::base64_encode(response.value());
  return a;
}

/// Appends the mechanism's initial response to the AUTH / AUTHENTICATE command (and a
/// marker to what the transcript shows). RFC 4954 §4 / RFC 4959: an empty initial
/// response is sent as "=". False, with out.mechanism_error, when the mechanism failed.
bool add_initial_response(sasl::Mechanism& mech, std::string& command, std::string& shown,
                          AuthOutcome& out) {
  auto ir = mech.initial_response();
  if (!ir) {
    out.mechanism_error = ir.failure().message;
    return false;
  }
  command += " " + (ir->empty() ? std::string("=") : sasl::base64_encode(ir.value()));
  shown += fmt::format(" {}", masked_payload);
  return true;
}

bool quotable(const std::string& s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0 || u == '\r' || u == '\n' || u >= 0x80) return false;
  }
  return true;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

std::string imap_response_code(std::string_view text) {
  if (text.empty() || text.front() != '[') return {};
  const auto close = text.find(']');
  if (close == std::string_view::npos) return {};
  const auto inside = text.substr(1, close - 1);
  return std::string(inside.substr(0, inside.find(' ')));
}

Result<AuthOutcome> smtp_authenticate(LineSession& session, sasl::Mechanism& mech) {
  AuthOutcome out;
  std::string command = fmt::format("AUTH {}", mech.name());
  std::string shown = command;
  if (mech.client_first() && !add_initial_response(mech, command, shown, out)) return out;
  MaskGuard guard(session, 4);
  if (auto sent = session.write_line(command, shown); !sent) return sent.failure();
  for (int step = 0; step <= max_steps; ++step) {
    auto reply = read_smtp_reply(session);
    if (!reply) return reply.failure();
    if (reply->code != 334) {
      out.accepted = reply->code == 235;
      out.reply = reply->raw();
      out.code = reply->enhanced();
      // SCRAM: the server must have proved it knows the password (v=) by now.
      if (out.accepted) out.server_verified = mech.verify_server_final("");
      return out;
    }
    if (step == max_steps) break;
    const std::string challenge = reply->lines.empty() ? std::string() : reply->lines.front();
    const Answer a = answer(mech, challenge, step == 0);
    if (!a.error.empty()) out.mechanism_error = a.error;
    if (auto sent = session.write_line(a.line, a.cancelled ? "*" : masked_payload); !sent) {
      return sent.failure();
    }
  }
  // Too many challenges: cancel and read the server's last word.
  (void)session.write_line("*");
  auto last = read_smtp_reply(session);
  out.mechanism_error = "the server sent too many challenges";
  if (last) out.reply = last->raw();
  return out;
}

Result<AuthOutcome> imap_authenticate(LineSession& session, std::string_view tag,
                                      sasl::Mechanism& mech, bool sasl_ir) {
  AuthOutcome out;
  std::string command = fmt::format("{} AUTHENTICATE {}", tag, mech.name());
  std::string shown = command;
  if (sasl_ir && mech.client_first() && !add_initial_response(mech, command, shown, out)) {
    return out;
  }
  MaskGuard guard(session, 2);
  if (auto sent = session.write_line(command, shown); !sent) return sent.failure();
  const std::string tagged = std::string(tag) + " ";
  int steps = 0;
  for (int lines = 0; lines < 1000; ++lines) {
    auto line = session.read_line();
    if (!line) return line.failure();
    const std::string& l = line.value();
    if (l.rfind(tagged, 0) == 0) {
      const std::string rest = l.substr(tagged.size());
      out.accepted = rest.rfind("OK", 0) == 0;
      out.reply = l;
      const auto space = rest.find(' ');
      out.code = space == std::string::npos ? "" : imap_response_code(rest.substr(space + 1));
      if (out.accepted) out.server_verified = mech.verify_server_final("");
      return out;
    }
    if (l.rfind("* ", 0) == 0) continue;  // untagged data (CAPABILITY after success, ...)
    if (l.empty() || l[0] != '+') {
      out.mechanism_error = "unexpected line during AUTHENTICATE";
      out.reply = l;
      return out;
    }
    if (++steps > max_steps) {
      (void)session.write_line("*");
      out.mechanism_error = "the server sent too many challenges";
      continue;
    }
    // "+ base64" or a bare "+" / "+ " (an empty challenge).
    const std::string challenge = l.size() > 2 ? l.substr(2) : std::string();
    const Answer a = answer(mech, challenge, steps == 1);
    if (!a.error.empty()) out.mechanism_error = a.error;
    if (auto sent = session.write_line(a.line, a.cancelled ? "*" : masked_payload); !sent) {
      return sent.failure();
    }
  }
  return fail(Failure::Kind::protocol, "the server sent too many lines during AUTHENTICATE");
}

Result<AuthOutcome> imap_login(LineSession& session, std::string_view tag, const std::string& user,
                               const std::string& password) {
  AuthOutcome out;
  const std::string tagged = std::string(tag) + " ";
  if (quotable(user) && quotable(password)) {
    auto reply = imap_command(session, tag, fmt::format("LOGIN {} {}", quoted(user), quoted(password)),
                              fmt::format("LOGIN {} <password>", quoted(user)));
    if (!reply) return reply.failure();
    out.accepted = reply->status == "OK";
    out.reply = fmt::format("{} {} {}", tag, reply->status, reply->text);
    out.code = imap_response_code(reply->text);
    return out;
  }
  // Synchronizing literals (RFC 9051 §4.3): send "{n}", wait for "+", then the bytes.
  const auto send_literal_then = [&](const std::string& before,
                                     const std::string& value) -> Result<Unit> {
    if (auto sent = session.write_line(fmt::format("{}{{{}}}", before, value.size()),
                                       fmt::format("{}{{{}}}", before, value.size()));
        !sent) {
      return sent.failure();
    }
    auto go = session.read_line();
    if (!go) return go.failure();
    if (go->empty() || go.value()[0] != '+') {
      return fail(Failure::Kind::protocol, "the server refused a literal: " + go.value());
    }
    return Unit{};
  };
  if (auto ok = send_literal_then(fmt::format("{} LOGIN ", tag), user); !ok) return ok.failure();
  if (auto ok = send_literal_then(user + " ", password); !ok) return ok.failure();
  // The last literal's bytes end the command line.
  if (auto sent = session.write_line(password, "<password>"); !sent) return sent.failure();
  for (int lines = 0; lines < 1000; ++lines) {
    auto line = session.read_line();
    if (!line) return line.failure();
    if (line->rfind(tagged, 0) == 0) {
      const std::string rest = line->substr(tagged.size());
      out.accepted = rest.rfind("OK", 0) == 0;
      out.reply = line.value();
      const auto space = rest.find(' ');
      out.code = space == std::string::npos ? "" : imap_response_code(rest.substr(space + 1));
      return out;
    }
  }
  return fail(Failure::Kind::protocol, "no tagged reply to LOGIN");
}

}  // namespace mailready::proto
