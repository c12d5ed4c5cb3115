#pragma once
// SMTP client pieces (RFC 5321 replies and EHLO, RFC 3207 STARTTLS, RFC 2034 enhanced
// status codes). Parsers are pure; the session functions drive a LineSession.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <Poco/Net/Context.h>

#include "checks/proto/line_session.hpp"
#include "checks/proto/result.hpp"
#include "checks/proto/tls.hpp"

namespace mailready::proto {

/// One line of a reply: "250-PIPELINING" is {250, false, "PIPELINING"}.
struct SmtpLine {
  int code = 0;
  bool last = true;  ///< "250 text" or bare "250"; "250-text" continues
  std::string text;
};

/// Parses one reply line; nullopt when it is not "DDD", "DDD text" or "DDD-text".
std::optional<SmtpLine> parse_smtp_line(std::string_view line);

/// A whole (possibly multi-line) reply.
struct SmtpReply {
  int code = 0;                    ///< 0 when the server did not speak SMTP
  std::vector<std::string> lines;  ///< the texts after the code; the raw line if malformed
  bool malformed = false;          ///< a line was not an SMTP reply line
  /// The RFC 2034 enhanced status code of the first line ("4.7.0"), or empty.
  std::string enhanced() const;
  /// The lines as the server sent them, joined by "\n" ("220 mx ESMTP").
  std::string raw() const;
};

/// Reads one reply: continuation lines until the last. A line that is not an SMTP
/// reply line ends the reply with `malformed` set (so the caller can report it).
/// Bounds the number of lines. Fails on timeout, close or an over-long line.
Result<SmtpReply> read_smtp_reply(LineSession& session, std::size_t max_lines = 256);

/// Sends a command and reads its reply. `masked` replaces it in the transcript.
Result<SmtpReply> smtp_command(LineSession& session, std::string_view command,
                               std::string_view masked = {});

/// What an EHLO reply advertises (RFC 5321 §4.1.1.1 and the extension RFCs).
struct SmtpCapabilities {
  bool starttls = false;             ///< RFC 3207
  bool pipelining = false;           ///< RFC 2920
  bool eightbitmime = false;         ///< RFC 6152
  bool enhancedstatuscodes = false;  ///< RFC 2034
  bool smtputf8 = false;             ///< RFC 6531
  std::optional<std::uint64_t> size; ///< RFC 1870 (0: no fixed limit)
  std::vector<std::string> auth;     ///< RFC 4954 mechanisms, upper-cased, as advertised
  std::vector<std::string> keywords; ///< every extension keyword, upper-cased
  /// AUTH names that are not SASL mechanism names (RFC 4422 §3.1: 1 to 20 of A-Z, 0-9,
  /// "-", "_"), dropped: "AUTH=" with nothing after it, "PLAIN,LOGIN", "<script>".
  std::size_t invalid_auth = 0;
  /// Keywords and mechanisms past max_ehlo_keywords / max_auth_mechanisms, dropped.
  std::size_t over_limit = 0;
};

/// Caps on what one EHLO reply can make us keep: real servers advertise about 15
/// keywords and 2 to 8 mechanisms (see SmtpCapabilities::over_limit).
constexpr std::size_t max_ehlo_keywords = 128;
constexpr std::size_t max_auth_mechanisms = 64;

/// True when `name` is a SASL mechanism name (RFC 4422 §3.1), upper case.
bool is_sasl_mechanism_name(std::string_view name);

/// Parses a 250 EHLO reply (the first line is the server's name, not an extension).
/// Also honours the pre-standard "AUTH=LOGIN PLAIN" form. Linear in the reply's size:
/// duplicates are found in a set, and what exceeds the caps above is counted, not kept.
SmtpCapabilities parse_ehlo(const SmtpReply& reply);

/// How a server greeted us.
enum class GreetingKind {
  ok,            ///< 220
  rate_limited,  ///< 421, or a 4.7.x enhanced code: come back later
  refused,       ///< 554 and other 5xx: "no SMTP service here" (RFC 5321 §3.1)
  unexpected,    ///< not SMTP at all, or a code that makes no sense as a greeting
};
GreetingKind classify_smtp_greeting(const SmtpReply& reply);

/// The EHLO argument for our side of `session`: the address literal of the local end
/// ("[192.0.2.1]", "[IPv6:2001:db8::1]"), which RFC 5321 §4.1.4 allows when we have
/// no name of our own.
std::string ehlo_name(LineSession& session);

/// Where a message submission stopped, and the server's words there.
struct SmtpSubmit {
  bool accepted = false;  ///< 250 after the final "."
  std::string stage;      ///< "MAIL", "RCPT", "DATA" or "message": the last step tried
  std::string reply;      ///< that step's reply
};

/// MAIL FROM, RCPT TO, DATA and the message (CRLF lines, dot-stuffed here, RFC 5321
/// §4.5.2). Fails only when the connection fails.
Result<SmtpSubmit> smtp_send(LineSession& session, const std::string& from, const std::string& to,
                             const std::string& message);

/// Sends STARTTLS; on 220, runs the handshake and upgrades `session`. `injected` is the
/// number of bytes the server sent after its 220 and before the handshake (discarded).
struct SmtpStartTls {
  SmtpReply reply;  ///< the reply to STARTTLS
  std::optional<TlsSession> tls;
  std::optional<Failure> tls_failure;
  std::size_t injected = 0;
};
Result<SmtpStartTls> smtp_starttls(LineSession& session, const std::string& server_name,
                                   const Poco::Net::Context::Ptr& context,
                                   std::chrono::milliseconds timeout,
                                   const Poco::Net::Session::Ptr& resume = {});

}  // namespace mailready::proto
