#include "checks/proto/tls.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <cstdlib>

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Timespan.h>

#include "checks/proto/address.hpp"

namespace mailready::proto {
namespace {

/// What the handshake running on this thread has seen. The verify and info callbacks run
/// on the thread that drives the handshake (PITFALLS), so with contexts shared by many
/// connections this is how each handshake finds its own capture; outside a handshake
/// (a TLS 1.3 ticket read later) it is null and the callbacks do nothing.
thread_local PeerChain* t_capture = nullptr;

X509Ptr own(X509* cert) {
  X509_up_ref(cert);
  return X509Ptr(cert, X509_free);
}

/// Records every verification error and carries on, so the handshake completes and the
/// whole chain can be judged (and so one run sees all the problems, not the first).
int record_verify_error(int ok, X509_STORE_CTX* store) {
  if (ok == 1 || t_capture == nullptr) return 1;
  const int code = X509_STORE_CTX_get_error(store);
  t_capture->errors.push_back(
      {code, X509_STORE_CTX_get_error_depth(store), X509_verify_cert_error_string(code)});
  return 1;
}

/// At the end of the handshake, keeps the chain as sent and as verified. Under TLS 1.3 the
/// callback can fire more than once; the last one wins (PITFALLS).
void record_chain(const SSL* ssl, int where, int /*ret*/) {
  if ((where & SSL_CB_HANDSHAKE_DONE) == 0 || t_capture == nullptr) return;
  PeerChain& c = *t_capture;
  c.sent.clear();
  c.verified.clear();
  if (STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(sent); ++i) c.sent.push_back(own(sk_X509_value(sent, i)));
  }
  if (STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(verified); ++i) {
      c.verified.push_back(own(sk_X509_value(verified, i)));
    }
  }
}

/// An environment variable's value, or the library's default.
std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

void add_hash_dir(X509_STORE* store, const std::string& dir) {
  if (X509_LOOKUP* lookup = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir())) {
    X509_LOOKUP_add_dir(lookup, dir.c_str(), X509_FILETYPE_PEM);
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

// What X509_STORE_set_default_paths does (the bundle file, then the hashed directory,
// each where SSL_CERT_FILE / SSL_CERT_DIR say), but remembering which certificates the
// bundle brought, so cert.chain can tell a public root from a --ca-file one without
// parsing the bundle a second time.
TrustStore::TrustStore(const std::string& ca_file)
    : store_(X509_STORE_new()), system_dir_(X509_STORE_new()) {
  const auto file = env_or(X509_get_default_cert_file_env(), X509_get_default_cert_file());
  const auto dir = env_or(X509_get_default_cert_dir_env(), X509_get_default_cert_dir());
  X509_STORE_load_file(store_, file.c_str());
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store_);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509* cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i))) system_.push_back(cert);
  }
  add_hash_dir(store_, dir);
  add_hash_dir(system_dir_, dir);
  if (!ca_file.empty()) X509_STORE_load_file(store_, ca_file.c_str());
  ERR_clear_error();  // a missing bundle or directory is an empty store, not an error
}

TrustStore::~TrustStore() {
  X509_STORE_free(store_);
  X509_STORE_free(system_dir_);
}

bool TrustStore::in_system_store(X509* cert) const {
  for (X509* s : system_) {
    if (X509_cmp(s, cert) == 0) return true;
  }
  // Not in the bundle: perhaps in the hashed directory alone.
  std::lock_guard<std::mutex> lock(dir_mutex_);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> sctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  if (!sctx || X509_STORE_CTX_init(sctx.get(), system_dir_, nullptr, nullptr) != 1) return false;
  std::unique_ptr<X509_OBJECT, decltype(&X509_OBJECT_free)> obj(
      X509_STORE_CTX_get_obj_by_subject(sctx.get(), X509_LU_X509, X509_get_subject_name(cert)),
      X509_OBJECT_free);
  ERR_clear_error();
  if (!obj) return false;
  X509* found = X509_OBJECT_get0_X509(obj.get());
  return found != nullptr && X509_cmp(found, cert) == 0;
}

TlsClients::TlsClients(const std::string& ca_file) : trust_(ca_file) {}

std::shared_ptr<TlsClients> TlsClients::for_ca_file(const std::string& ca_file) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<TlsClients>> made;
  const std::string key = ca_file + '\n' + env_or(X509_get_default_cert_file_env(), "") + '\n' +
                          env_or(X509_get_default_cert_dir_env(), "");
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = made[key];
  if (!slot) slot = std::make_shared<TlsClients>(ca_file);
  return slot;
}

Poco::Net::Context::Ptr TlsClients::context(const TlsClientConfig& config) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = contexts_[config];
  if (!slot.isNull()) return slot;
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
  // The run's one trust store, by reference. Poco loads none under VERIFY_NONE;
  // verification still runs and is recorded, never enforced.
  SSL_CTX_set1_cert_store(raw, trust_.get());
  SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, &record_verify_error);
  SSL_CTX_set_info_callback(raw, &record_chain);
  ERR_clear_error();
  slot = ctx;
  return slot;
}

Result<TlsSession> handshake(const Poco::Net::StreamSocket& plain, const std::string& server_name,
                             const Poco::Net::Context::Ptr& context,
                             std::chrono::milliseconds timeout,
                             Poco::Net::StreamSocket& tls_socket,
                             const Poco::Net::Session::Ptr& resume) {
  const auto started = std::chrono::steady_clock::now();
  const std::string sni = is_ip_literal(server_name) ? std::string() : server_name;
  TlsSession out;
  struct Capturing {
    explicit Capturing(PeerChain* c) { t_capture = c; }
    ~Capturing() { t_capture = nullptr; }
    Capturing(const Capturing&) = delete;
    Capturing& operator=(const Capturing&) = delete;
  } capturing(&out.chain);
  try {
    Poco::Net::StreamSocket s(plain);
    s.setReceiveTimeout(Poco::Timespan(timeout.count() * 1000));
    s.setSendTimeout(Poco::Timespan(timeout.count() * 1000));
    auto secure = resume.isNull()
                      ? Poco::Net::SecureStreamSocket::attach(s, sni, context)
                      : Poco::Net::SecureStreamSocket::attach(s, sni, context, resume);
    secure.completeHandshake();
    const auto session = secure.currentSession();
    if (!session.isNull() && session->sslSession() != nullptr) {
      SSL_SESSION* ss = session->sslSession();
      out.protocol = version_name(SSL_SESSION_get_protocol_version(ss));
      if (const SSL_CIPHER* cipher = SSL_SESSION_get0_cipher(ss)) {
        out.cipher = SSL_CIPHER_get_name(cipher);
        out.bits = SSL_CIPHER_get_bits(cipher, nullptr);
      }
    }
    out.resumed = !resume.isNull() && secure.sessionWasReused();
    out.handshake_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    tls_socket = secure;
    return out;
  } catch (const Poco::TimeoutException&) {
    return fail(Failure::Kind::timeout, "the TLS handshake did not finish before the timeout");
  } catch (const Poco::Exception& e) {
    return fail(Failure::Kind::tls, e.displayText());
  }
}

Poco::Net::Session::Ptr resumable_session(const Poco::Net::StreamSocket& tls_socket) {
  try {
    Poco::Net::SecureStreamSocket secure(tls_socket);
    auto session = secure.currentSession();
    if (session.isNull() || session->sslSession() == nullptr ||
        SSL_SESSION_is_resumable(session->sslSession()) != 1) {
      return {};
    }
    return session;
  } catch (const Poco::Exception&) {
    return {};  // not a TLS socket
  }
}

}  // namespace mailready::proto
