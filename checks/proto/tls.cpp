#include "checks/proto/tls.hpp"

#include <openssl/err.h>

#include <mutex>

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Timespan.h>

#include "checks/proto/address.hpp"

namespace mailready::proto {
namespace {

/// Where a context's callbacks put what they see: the context's own ex_data slot (not
/// SSL_CTX_set_app_data, which Poco uses itself; PITFALLS).
int capture_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

struct Capture {
  std::mutex mutex;
  PeerChain chain;
};

Capture* capture_of(const SSL* ssl) {
  SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
  return ctx == nullptr ? nullptr : static_cast<Capture*>(SSL_CTX_get_ex_data(ctx, capture_index()));
}

X509Ptr own(X509* cert) {
  X509_up_ref(cert);
  return X509Ptr(cert, X509_free);
}

/// Records every verification error and carries on, so the handshake completes and the
/// whole chain can be judged (and so one run sees all the problems, not the first).
int record_verify_error(int ok, X509_STORE_CTX* store) {
  if (ok == 1) return 1;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (Capture* c = ssl == nullptr ? nullptr : capture_of(ssl)) {
    const int code = X509_STORE_CTX_get_error(store);
    std::lock_guard<std::mutex> lock(c->mutex);
    c->chain.errors.push_back(
        {code, X509_STORE_CTX_get_error_depth(store), X509_verify_cert_error_string(code)});
  }
  return 1;
}

/// At the end of the handshake, keeps the chain as sent and as verified. Under TLS 1.3 the
/// callback can fire more than once; the last one wins (PITFALLS).
void record_chain(const SSL* ssl, int where, int /*ret*/) {
  if ((where & SSL_CB_HANDSHAKE_DONE) == 0) return;
  Capture* c = capture_of(ssl);
  if (c == nullptr) return;
  std::lock_guard<std::mutex> lock(c->mutex);
  c->chain.sent.clear();
  c->chain.verified.clear();
  if (STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(sent); ++i) c->chain.sent.push_back(own(sk_X509_value(sent, i)));
  }
  if (STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(verified); ++i) {
      c->chain.verified.push_back(own(sk_X509_value(verified, i)));
    }
  }
}

}  // namespace

std::string version_name(int version) {
  switch (version) {
    case TLS1_3_VERSION: return "TLSv1.3";
    case TLS1_2_VERSION: return "TLSv1.2";
    case TLS1_1_VERSION: return "TLSv1.1";
    case TLS1_VERSION: return "TLSv1";
    case SSL3_VERSION: return "SSLv3";
    default: return "unknown";
  }
}

Poco::Net::Context::Ptr make_client_context(const TlsClientConfig& config) {
  Poco::Net::Context::Params params;
  params.verificationMode = Poco::Net::Context::VERIFY_NONE;
  params.loadDefaultCAs = false;
  // OpenSSL's default list, as a phone's TLS stack offers modern suites only; Poco's
  // default ("ALL:!ADH:...") would change what the server picks.
  params.cipherList = config.legacy ? "ALL:@SECLEVEL=0" : "DEFAULT";
  Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
  SSL_CTX* raw = ctx->sslContext();
  if (config.legacy) SSL_CTX_set_security_level(raw, 0);
  SSL_CTX_set_min_proto_version(raw, config.min_version);
  SSL_CTX_set_max_proto_version(raw, config.max_version);
  // The trust anchors: the system store (honouring SSL_CERT_FILE / SSL_CERT_DIR) plus
  // --ca-file. Loaded here because Poco skips them under VERIFY_NONE.
  SSL_CTX_set_default_verify_paths(raw);
  if (!config.ca_file.empty()) SSL_CTX_load_verify_locations(raw, config.ca_file.c_str(), nullptr);
  ERR_clear_error();
  SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, &record_verify_error);
  SSL_CTX_set_info_callback(raw, &record_chain);
  return ctx;
}

Result<TlsSession> handshake(const Poco::Net::StreamSocket& plain, const std::string& server_name,
                             const Poco::Net::Context::Ptr& context,
                             std::chrono::milliseconds timeout,
                             Poco::Net::StreamSocket& tls_socket) {
  const auto started = std::chrono::steady_clock::now();
  const std::string sni = is_ip_literal(server_name) ? std::string() : server_name;
  Capture capture;
  SSL_CTX* raw = context->sslContext();
  SSL_CTX_set_ex_data(raw, capture_index(), &capture);
  struct Detach {
    SSL_CTX* ctx;
    ~Detach() { SSL_CTX_set_ex_data(ctx, capture_index(), nullptr); }
  } detach{raw};
  try {
    Poco::Net::StreamSocket s(plain);
    s.setReceiveTimeout(Poco::Timespan(timeout.count() * 1000));
    s.setSendTimeout(Poco::Timespan(timeout.count() * 1000));
    auto secure = Poco::Net::SecureStreamSocket::attach(s, sni, context);
    secure.completeHandshake();
    TlsSession out;
    const auto session = secure.currentSession();
    if (!session.isNull() && session->sslSession() != nullptr) {
      SSL_SESSION* ss = session->sslSession();
      out.protocol = version_name(SSL_SESSION_get_protocol_version(ss));
      if (const SSL_CIPHER* cipher = SSL_SESSION_get0_cipher(ss)) {
        out.cipher = SSL_CIPHER_get_name(cipher);
        out.bits = SSL_CIPHER_get_bits(cipher, nullptr);
      }
    }
    out.handshake_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    {
      std::lock_guard<std::mutex> lock(capture.mutex);
      out.chain = capture.chain;
    }
    tls_socket = secure;
    return out;
  } catch (const Poco::TimeoutException&) {
    return fail(Failure::Kind::timeout, "the TLS handshake did not finish before the timeout");
  } catch (const Poco::Exception& e) {
    return fail(Failure::Kind::tls, e.displayText());
  }
}

}  // namespace mailready::proto
