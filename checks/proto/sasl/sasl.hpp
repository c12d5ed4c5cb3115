#pragma once
// SASL client mechanisms (RFC 4422) as small objects without I/O. The protocol layer
// (SMTP AUTH, RFC 4954; IMAP AUTHENTICATE, RFC 9051 §6.2.2 with SASL-IR, RFC 4959) owns
// the socket and the base64 framing; a Mechanism only turns raw challenges into raw
// responses. Like curl's lib/vauth/ with the name->factory table of lib/curl_sasl.c.
//
// The exchange, as the protocol layer drives it:
//   1. m = make(name, creds); nullptr means "we do not implement it".
//   2. If m->client_first() and the server allows an initial response (SASL-IR, or
//      "AUTH x ir" in SMTP), send base64(m->initial_response()) with the command.
//      Otherwise send the bare command and pass the first challenge (often empty) to
//      step(), which answers it with the same bytes initial_response() would have given.
//   3. For every further challenge, send base64(step(challenge)).
//   4. On a step() failure, send error_response(challenge) if it has one (the OAuth
//      mechanisms must answer an error challenge, RFC 7628 §3.2.3), else cancel ("*").
//   5. After the server reports success, call verify_server_final() with the data that
//      came with the success reply ("" if none): false means a SCRAM server never proved
//      that it knows the password, so the success must not be trusted.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checks/proto/result.hpp"

namespace mailready::proto::sasl {

/// What the user gave us. Each mechanism uses the fields it needs; an empty field it
/// needs is sent as empty (the server then refuses), not rejected here.
struct Credentials {
  std::string user;         ///< authentication identity; "DOMAIN\user" selects an NTLM domain
  std::string password;     ///< UTF-8
  std::string authzid;      ///< authorization identity (PLAIN, SCRAM, OAUTHBEARER); usually empty
  std::string oauth_token;  ///< OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER)
};

/// One client-side SASL exchange. Not reusable: make a new one per AUTH attempt.
/// Every failure is a Failure value: Kind::protocol when the server's challenge is
/// malformed or out of order, Kind::other when our credentials cannot be sent with this
/// mechanism or the server reported an error inside the exchange.
class Mechanism {
 public:
  virtual ~Mechanism() = default;
  /// The IANA spelling: "PLAIN", "CRAM-MD5", "SCRAM-SHA-256", ...
  virtual std::string_view name() const = 0;
  /// True if the mechanism has an initial response (usable with SASL-IR / "AUTH x ir").
  virtual bool client_first() const = 0;
  /// The initial response as raw bytes (not base64). Only if client_first(), and only as
  /// the first call; fails when called twice or for a server-first mechanism.
  virtual Result<std::string> initial_response() = 0;
  /// Answers one challenge (raw bytes, already base64-decoded) with raw bytes. Fails on a
  /// malformed or unexpected challenge, after which the exchange must be cancelled.
  virtual Result<std::string> step(std::string_view challenge) = 0;
  /// True for PLAIN and LOGIN, which put the password on the wire as it is (the
  /// "no plaintext authentication before TLS" rule).
  virtual bool sends_password_in_clear() const = 0;
  /// Call once the server reports success, with the additional data of the success reply
  /// ("" if none). SCRAM: true only if the server proved it knows the password, by the
  /// "v=..." given here or by one step() already checked; false when it sent none, a
  /// wrong one, or success came before client-final. Other mechanisms return true.
  virtual bool verify_server_final(std::string_view /*server_final*/) { return true; }
  /// What to send after a step() failure instead of cancelling, when the mechanism
  /// requires it: "" for XOAUTH2, "\x01" for OAUTHBEARER (RFC 7628 §3.2.3). nullopt:
  /// cancel ("*").
  virtual std::optional<std::string> error_response(std::string_view /*challenge*/) {
    return std::nullopt;
  }
};

/// A new exchange for the named mechanism (ASCII case-insensitive); nullptr if we do
/// not implement it (DIGEST-MD5, GSSAPI, unknown names).
std::unique_ptr<Mechanism> make(std::string_view name, const Credentials& credentials);

/// The names make() knows, strongest first: SCRAM-SHA-256, SCRAM-SHA-1, OAUTHBEARER,
/// XOAUTH2, NTLM, CRAM-MD5, PLAIN, LOGIN. The OAuth mechanisms need an oauth_token, the
/// others a password: the caller picks among those its credentials allow.
const std::vector<std::string_view>& supported();

/// RFC 4648 base64 with padding, no line breaks.
std::string base64_encode(std::string_view bytes);

/// Strict RFC 4648 base64: the standard alphabet, padded to a multiple of 4, no
/// whitespace, no data after padding, zero unused bits (§3.5). Fails (Kind::protocol)
/// on anything else. "" decodes to "".
Result<std::string> base64_decode(std::string_view text);

/// The iPhone Mail account setting ("Advanced > Authentication") that uses `mechanism`:
/// "Password" for PLAIN, LOGIN and IMAP-LOGIN (the IMAP LOGIN command),
/// "MD5 Challenge-Response" for CRAM-MD5, "NTLM" for NTLM, "HTTP MD5 Digest" for
/// DIGEST-MD5; "" for mechanisms the iPhone cannot be set to use.
std::string iphone_setting(std::string_view mechanism);

}  // namespace mailready::proto::sasl
