#pragma once
// TLS on a connected socket: implicit TLS right after connect, or the upgrade after a
// protocol's STARTTLS. Records what was negotiated and the certificate chain as the server
// sent it and as OpenSSL verified it, with every verification error and its depth.

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <Poco/Net/Context.h>
#include <Poco/Net/StreamSocket.h>

#include "checks/proto/result.hpp"

namespace mailready::proto {

/// An owned reference to an OpenSSL certificate.
using X509Ptr = std::shared_ptr<X509>;

/// One error OpenSSL's chain verification reported.
struct VerifyError {
  long code = 0;   ///< X509_V_ERR_*
  int depth = 0;   ///< 0 is the leaf
  std::string text;
};

/// The peer's certificates.
struct PeerChain {
  std::vector<X509Ptr> sent;      ///< as the server sent them, leaf first
  std::vector<X509Ptr> verified;  ///< leaf → trust anchor as OpenSSL built it (may be partial)
  std::vector<VerifyError> errors;  ///< every error, in the order found; empty: trusted
};

/// What one handshake negotiated.
struct TlsSession {
  std::string protocol;  ///< "TLSv1.3"
  std::string cipher;    ///< OpenSSL's name, "TLS_AES_256_GCM_SHA384"
  int bits = 0;          ///< secret bits of the cipher
  std::chrono::milliseconds handshake_ms{0};
  PeerChain chain;
};

/// How a probe's client context is made.
struct TlsClientConfig {
  std::string ca_file;       ///< extra trust anchors (--ca-file), besides the system store
  int min_version = TLS1_2_VERSION;
  int max_version = 0;       ///< 0: the highest the library supports
  /// Security level 0 and every cipher, for probing TLS 1.0/1.1 servers only. OpenSSL 3
  /// refuses those protocols at the default level (PITFALLS); never for a real session.
  bool legacy = false;
};

/// A client context for one probe. Verification runs (system store plus ca_file, as
/// SSL_CERT_FILE / SSL_CERT_DIR direct) but never aborts the handshake: its errors are
/// recorded in TlsSession::chain and judged by the cert.chain check, because Poco's own
/// verification hides the reasons (PITFALLS).
Poco::Net::Context::Ptr make_client_context(const TlsClientConfig& config);

/// Runs the TLS handshake on `plain` within `timeout`, sending `server_name` as SNI
/// (none for an IP literal: RFC 6066 forbids IP addresses in SNI). On success
/// `tls_socket` holds the upgraded socket. Fails with Kind::tls (and the reason) or
/// Kind::timeout. Always completes the handshake before returning (PITFALLS: attach()
/// alone can return before it is done). `context` must not be shared by concurrent
/// handshakes (the chain is captured through it).
Result<TlsSession> handshake(const Poco::Net::StreamSocket& plain, const std::string& server_name,
                             const Poco::Net::Context::Ptr& context,
                             std::chrono::milliseconds timeout,
                             Poco::Net::StreamSocket& tls_socket);

/// The name of a protocol version ("TLSv1.2"), "unknown" for others.
std::string version_name(int version);

}  // namespace mailready::proto
