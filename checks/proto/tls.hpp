#pragma once
// TLS on a connected socket: implicit TLS right after connect, or the upgrade after a
// protocol's STARTTLS. Records what was negotiated and the certificate chain as the server
// sent it and as OpenSSL verified it, with every verification error and its depth.
//
// Cost: the trust store is parsed once per run (once per process for the exporter) and
// one client context per TLS configuration serves every connection; what a handshake
// captures lives with that handshake, not in the shared context (PITFALLS: OpenSSL 3's
// store set-up per connection was ~40% of a run's CPU).

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <Poco/Net/Context.h>
#include <Poco/Net/Session.h>
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
  bool resumed = false;  ///< an earlier session was resumed (no certificate was sent)
  PeerChain chain;       ///< as captured; not meaningful when resumed
};

/// How a probe's client context is made.
struct TlsClientConfig {
  int min_version = TLS1_2_VERSION;
  int max_version = 0;       ///< 0: the highest the library supports
  /// Security level 0 and every cipher, for probing TLS 1.0/1.1 servers only. OpenSSL 3
  /// refuses those protocols at the default level (PITFALLS); never for a real session.
  bool legacy = false;

  bool operator<(const TlsClientConfig& o) const {
    return std::tie(min_version, max_version, legacy) <
           std::tie(o.min_version, o.max_version, o.legacy);
  }
};

/// The system bundle (SSL_CERT_FILE) as an index by subject: each certificate is kept as
/// DER and decoded only when a verification asks for its subject. OpenSSL 3.0 spends
/// ~1.5 M instructions decoding one certificate (a public-key decoder per certificate),
/// so decoding the ~140 of Debian's bundle up front was a third of a whole run's CPU;
/// a run needs one or two of them.
class BundleIndex;

/// The trust anchors: the system store (as SSL_CERT_FILE / SSL_CERT_DIR direct) plus
/// --ca-file, set up once; system certificates are decoded as verification needs them.
/// Safe to verify against from many threads at once.
class TrustStore {
 public:
  explicit TrustStore(const std::string& ca_file);
  ~TrustStore();
  TrustStore(const TrustStore&) = delete;
  TrustStore& operator=(const TrustStore&) = delete;

  X509_STORE* get() const { return store_; }
  /// True when `cert` is one of the system store's anchors (a publicly trusted root), as
  /// opposed to one that only --ca-file (or an MDM profile) trusts.
  bool in_system_store(X509* cert) const;

 private:
  X509_STORE* store_;
  std::unique_ptr<BundleIndex> bundle_;
  X509_STORE* system_dir_;     ///< the system's hashed directory alone, looked up lazily
  mutable std::mutex dir_mutex_;
};

/// The TLS client side of a run: one TrustStore and one context per configuration, made
/// on first use and shared by every connection. Verification runs but never aborts a
/// handshake: its errors are recorded per handshake in TlsSession::chain and judged by
/// the cert.chain check, because Poco's own verification hides the reasons (PITFALLS).
/// Thread-safe.
class TlsClients {
 public:
  explicit TlsClients(const std::string& ca_file);
  /// One per --ca-file (and SSL_CERT_FILE / SSL_CERT_DIR) for the whole process: the
  /// exporter's probes share it.
  static std::shared_ptr<TlsClients> for_ca_file(const std::string& ca_file);

  Poco::Net::Context::Ptr context(const TlsClientConfig& config = {});
  const TrustStore& trust() const { return trust_; }

 private:
  TrustStore trust_;
  std::mutex mutex_;
  std::map<TlsClientConfig, Poco::Net::Context::Ptr> contexts_;
};

/// Runs the TLS handshake on `plain` within `timeout`, sending `server_name` as SNI
/// (none for an IP literal: RFC 6066 forbids IP addresses in SNI), offering `resume`
/// when given. On success `tls_socket` holds the upgraded socket. Fails with Kind::tls
/// (and the reason) or Kind::timeout. Always completes the handshake before returning
/// (PITFALLS: attach() alone can return before it is done). Contexts may be shared by
/// concurrent handshakes: the chain is captured on the calling thread.
Result<TlsSession> handshake(const Poco::Net::StreamSocket& plain, const std::string& server_name,
                             const Poco::Net::Context::Ptr& context,
                             std::chrono::milliseconds timeout,
                             Poco::Net::StreamSocket& tls_socket,
                             const Poco::Net::Session::Ptr& resume = {});

/// The session of a TLS socket for resuming later, or null when the server gave none
/// that can be resumed (under TLS 1.3 its ticket arrives after the handshake: ask after
/// the first read).
Poco::Net::Session::Ptr resumable_session(const Poco::Net::StreamSocket& tls_socket);

/// The name of a protocol version ("TLSv1.2"), "unknown" for others.
std::string version_name(int version);

}  // namespace mailready::proto
