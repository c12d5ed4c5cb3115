#pragma once
// Authentication exchanges on a LineSession: SMTP AUTH (RFC 4954), IMAP AUTHENTICATE
// (RFC 9051 §6.2.2) with SASL-IR (RFC 4959), and IMAP LOGIN (§6.2.3). The mechanisms
// themselves are in sasl/; this is only the framing. Every credential and every SASL
// payload is masked in the session's transcript.

#include <string>
#include <string_view>

#include "checks/proto/line_session.hpp"
#include "checks/proto/result.hpp"
#include "checks/proto/sasl/sasl.hpp"

namespace mailready::proto {

/// How an authentication attempt ended.
struct AuthOutcome {
  bool accepted = false;
  std::string reply;   ///< the server's final words ("235 2.7.0 ...", "a1 NO [...] ...")
  std::string code;    ///< IMAP response code ("AUTHENTICATIONFAILED") or SMTP enhanced code
  std::string mechanism_error;  ///< why our side gave up (bad challenge), if it did
  bool server_verified = true;  ///< SCRAM: the server proved it knows the password
};

/// SMTP AUTH with `mech`, sending the initial response with the command when the
/// mechanism has one (RFC 4954 §4). Fails only when the connection fails.
Result<AuthOutcome> smtp_authenticate(LineSession& session, sasl::Mechanism& mech);

/// IMAP AUTHENTICATE; the initial response goes with the command only when the server
/// advertised SASL-IR.
Result<AuthOutcome> imap_authenticate(LineSession& session, std::string_view tag,
                                      sasl::Mechanism& mech, bool sasl_ir);

/// IMAP LOGIN user password, as quoted strings, or as synchronizing literals when a value
/// cannot be quoted (8-bit, CR, LF, NUL).
Result<AuthOutcome> imap_login(LineSession& session, std::string_view tag,
                               const std::string& user, const std::string& password);

/// The response code of an IMAP tagged text ("[AUTHENTICATIONFAILED] ..." →
/// "AUTHENTICATIONFAILED"), or "".
std::string imap_response_code(std::string_view text);

}  // namespace mailready::proto
