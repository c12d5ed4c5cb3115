#pragma once
// The per-mechanism factories behind make() (sasl.cpp holds the one name->factory
// table), with the knobs tests need to replay published exchanges: SCRAM's client nonce.
// Production code calls make().

#include <memory>
#include <string>

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

}  // namespace mailready::proto::sasl
