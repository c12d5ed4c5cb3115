#pragma once
// The per-mechanism factories behind make() (sasl.cpp holds the one name->factory
// table), with the knobs tests need to replay published exchanges: SCRAM's client nonce,
// NTLM's client challenge, time and workstation. Production code calls make().

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <optional>

#include "checks/proto/sasl/sasl.hpp"

namespace mailready::proto::sasl {

/// PLAIN, RFC 4616: one message, authzid NUL authcid NUL password.
std::unique_ptr<Mechanism> make_plain(const Credentials& credentials);

/// LOGIN, draft-murchison-sasl-login: answers two prompts with user, then password.
std::unique_ptr<Mechanism> make_login(const Credentials& credentials);

/// CRAM-MD5, RFC 2195: user SP hex(HMAC-MD5(password, challenge)).
std::unique_ptr<Mechanism> make_cram_md5(const Credentials& credentials);

/// The hash a SCRAM family member is built on.
enum class ScramHash {
  sha1,    ///< SCRAM-SHA-1, RFC 5802
  sha256,  ///< SCRAM-SHA-256, RFC 7677
};

/// SCRAM without channel binding (gs2 header "n,,", or "n,a=authzid,"). `client_nonce`
/// replaces the random nonce (tests only); it must be printable ASCII without ','.
std::unique_ptr<Mechanism> make_scram(ScramHash hash, const Credentials& credentials,
                                      std::string client_nonce = {});

/// XOAUTH2 (Google's): "user=" user ^A "auth=Bearer " token ^A ^A.
std::unique_ptr<Mechanism> make_xoauth2(const Credentials& credentials);

/// OAUTHBEARER, RFC 7628: "n,a=" authzid "," ^A "auth=Bearer " token ^A ^A.
std::unique_ptr<Mechanism> make_oauthbearer(const Credentials& credentials);

/// Values an NTLM exchange normally takes from the clock and the random generator.
struct NtlmOptions {
  std::optional<std::array<std::uint8_t, 8>> client_challenge;  ///< default: random
  /// FILETIME (100 ns since 1601) for the NTLMv2 blob. Default: the server's
  /// MsvAvTimestamp if it sent one, else now.
  std::optional<std::uint64_t> time;
  std::string workstation;  ///< sent in the Type 3 message; default empty
};

/// NTLM (MS-NLMP), NTLMv2 responses only: Type 1, then Type 3 for the server's Type 2.
std::unique_ptr<Mechanism> make_ntlm(const Credentials& credentials, NtlmOptions options = {});

/// RFC 5802 / RFC 5801 saslname: ',' and '=' escaped as "=2C" and "=3D" (SCRAM's n=,
/// OAUTHBEARER's a=).
std::string saslname(std::string_view name);

}  // namespace mailready::proto::sasl
