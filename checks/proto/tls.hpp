#pragma once
// TLS on a connected socket: implicit TLS right after connect, or the upgrade after a
// protocol's STARTTLS. Records what was negotiated.

#include <chrono>
#include <string>

#include <Poco/Net/Context.h>
#include <Poco/Net/StreamSocket.h>

#include "checks/proto/result.hpp"

namespace mailready::proto {

/// What one handshake negotiated.
struct TlsSession {
  std::string protocol;  ///< "TLSv1.3"
  std::string cipher;    ///< OpenSSL's name, "TLS_AES_256_GCM_SHA384"
  int bits = 0;          ///< secret bits of the cipher
  std::chrono::milliseconds handshake_ms{0};
};

/// A client context for probing. Certificate verification is not done here: the
/// handshake's outcome is recorded and chain validation is its own check, which reads
/// the chain itself (Poco's verification hides the reasons, see PITFALLS).
Poco::Net::Context::Ptr make_probe_context();

/// Runs the TLS handshake on `plain` within `timeout`, sending `server_name` as SNI
/// (empty for an IP literal target: RFC 6066 forbids IP addresses in SNI). On success
/// `tls_socket` holds the upgraded socket. Fails with Kind::tls (and the reason) or
/// Kind::timeout. Always completes the handshake before returning (PITFALLS: attach()
/// alone can return before it is done).
Result<TlsSession> handshake(const Poco::Net::StreamSocket& plain, const std::string& server_name,
                             const Poco::Net::Context::Ptr& context,
                             std::chrono::milliseconds timeout,
                             Poco::Net::StreamSocket& tls_socket);

}  // namespace mailready::proto
