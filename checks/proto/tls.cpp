#include "checks/proto/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <cstdlib>
#include <optional>

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Timespan.h>

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

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

namespace {

/// One DER element: where its content starts and ends, and where the next one starts.
struct Der {
  const unsigned char* content = nullptr;
  const unsigned char* end = nullptr;
};

/// Reads the element at `p` (tag `tag`) within [p, limit); nullopt when malformed. Only
/// definite lengths, as DER has.
std::optional<Der> der_element(const unsigned char*& p, const unsigned char* limit, unsigned char tag) {
  if (limit - p < 2 || *p != tag) return std::nullopt;
  ++p;
  std::size_t length = *p++;
  if (length & 0x80) {
    const std::size_t bytes = length & 0x7f;
    if (bytes == 0 || bytes > 4 || static_cast<std::size_t>(limit - p) < bytes) return std::nullopt;
    length = 0;
    for (std::size_t i = 0; i < bytes; ++i) length = (length << 8) | *p++;
  }
  if (static_cast<std::size_t>(limit - p) < length) return std::nullopt;
  Der d{p, p + length};
  p += length;
  return d;
}

/// The subject Name of a DER certificate, decoded alone (no public key), or null.
X509_NAME* subject_of(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* limit = p + der.size();
  const auto cert = der_element(p, limit, 0x30);  // Certificate
  if (!cert) return nullptr;
  p = cert->content;
  const auto tbs = der_element(p, cert->end, 0x30);  // TBSCertificate
  if (!tbs) return nullptr;
  p = tbs->content;
  if (p < tbs->end && *p == 0xa0 && !der_element(p, tbs->end, 0xa0)) return nullptr;  // version
  // serialNumber, signature, issuer, validity: skipped; then the subject.
  for (const unsigned char tag : {0x02, 0x30, 0x30, 0x30}) {
    if (!der_element(p, tbs->end, tag)) return nullptr;
  }
  const unsigned char* start = p;
  if (!der_element(p, tbs->end, 0x30)) return nullptr;
  return d2i_X509_NAME(nullptr, &start, p - start);
}

}  // namespace

class BundleIndex {
 public:
  explicit BundleIndex(const std::string& file) {
    BIO* bio = BIO_new_file(file.c_str(), "r");
    if (bio == nullptr) return;
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;
    while (PEM_read_bio(bio, &name, &header, &data, &length) == 1) {
      const std::string kind = name;
      if (kind == PEM_STRING_X509 || kind == PEM_STRING_X509_OLD || kind == PEM_STRING_X509_TRUSTED) {
        Entry e;
        e.der.assign(reinterpret_cast<const char*>(data), static_cast<std::size_t>(length));
        e.trusted_form = kind == PEM_STRING_X509_TRUSTED;
        e.subject = subject_of(e.der);
        if (e.subject != nullptr) entries_.push_back(std::move(e));
      }
      OPENSSL_free(name);
      OPENSSL_free(header);
      OPENSSL_free(data);
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the file reads as a "no start line" error
  }

  ~BundleIndex() {
    for (auto& e : entries_) {
      X509_NAME_free(e.subject);
      X509_free(e.cert);
    }
  }

  /// Adds every certificate with this subject to the store (decoding it the first
  /// time) and puts one in `ret`: OpenSSL then finds them all in the store's cache.
  bool find(X509_STORE* store, const X509_NAME* subject, X509_OBJECT* ret) {
    std::lock_guard<std::mutex> lock(mutex_);
    X509* first = nullptr;
    for (auto& e : entries_) {
      if (X509_NAME_cmp(e.subject, subject) != 0) continue;
      if (e.cert == nullptr && !e.failed) {
        const auto* p = reinterpret_cast<const unsigned char*>(e.der.data());
        const long n = static_cast<long>(e.der.size());
        e.cert = e.trusted_form ? d2i_X509_AUX(nullptr, &p, n) : d2i_X509(nullptr, &p, n);
        e.failed = e.cert == nullptr;
        if (e.cert != nullptr) X509_STORE_add_cert(store, e.cert);
      }
      if (first == nullptr && e.cert != nullptr) first = e.cert;
    }
    ERR_clear_error();
    return first != nullptr && X509_OBJECT_set1_X509(ret, first) == 1;
  }

  /// True when the bundle holds exactly this certificate.
  bool contains(X509* cert) const {
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    if (n <= 0) return false;
    const std::string wanted(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    const X509_NAME* subject = X509_get_subject_name(cert);
    for (const auto& e : entries_) {
      if (X509_NAME_cmp(e.subject, subject) == 0 && e.der == wanted) return true;
    }
    return false;
  }

  static X509_LOOKUP_METHOD* method() {
    static X509_LOOKUP_METHOD* m = [] {
      X509_LOOKUP_METHOD* made = X509_LOOKUP_meth_new("mailready system bundle");
      X509_LOOKUP_meth_set_get_by_subject(
          made, [](X509_LOOKUP* lookup, X509_LOOKUP_TYPE type, const X509_NAME* name,
                   X509_OBJECT* ret) -> int {
            auto* index = static_cast<BundleIndex*>(X509_LOOKUP_get_method_data(lookup));
            if (type != X509_LU_X509 || index == nullptr) return 0;
            return index->find(X509_LOOKUP_get_store(lookup), name, ret) ? 1 : 0;
          });
      return made;
    }();
    return m;
  }

 private:
  struct Entry {
    std::string der;
    bool trusted_form = false;
    X509_NAME* subject = nullptr;
    X509* cert = nullptr;  ///< decoded on first use
    bool failed = false;
  };
  std::vector<Entry> entries_;
  std::mutex mutex_;
};

// What X509_STORE_set_default_paths does (the bundle file, then the hashed directory,
// each where SSL_CERT_FILE / SSL_CERT_DIR say), with the bundle indexed instead of
// decoded (BundleIndex), plus --ca-file decoded at once (it is small).
TrustStore::TrustStore(const std::string& ca_file)
    : store_(X509_STORE_new()),
      bundle_(std::make_unique<BundleIndex>(
          env_or(X509_get_default_cert_file_env(), X509_get_default_cert_file()))),
      system_dir_(X509_STORE_new()) {
  const auto dir = env_or(X509_get_default_cert_dir_env(), X509_get_default_cert_dir());
  if (X509_LOOKUP* lookup = X509_STORE_add_lookup(store_, BundleIndex::method())) {
    X509_LOOKUP_set_method_data(lookup, bundle_.get());
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
  if (bundle_->contains(cert)) return true;
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

namespace {

/// Ends a handshake that outlasts its time by shutting the socket down. Poco's attach()
/// and completeHandshake() each wait up to the socket's timeout, and again on a retry:
/// against a server that never answers the ClientHello one handshake took three times
/// its timeout, past the run's deadline. One timer thread for the process watches every
/// handshake in flight (a thread per handshake was a fleet's largest CPU cost after the
/// handshakes themselves).
class HandshakeWatchdog {
 public:
  using Clock = std::chrono::steady_clock;
  HandshakeWatchdog(poco_socket_t fd, std::chrono::milliseconds limit) : fd_(fd) {
    timers().watch(this, Clock::now() + limit);
  }
  ~HandshakeWatchdog() { timers().forget(this); }
  HandshakeWatchdog(const HandshakeWatchdog&) = delete;
  HandshakeWatchdog& operator=(const HandshakeWatchdog&) = delete;
  bool fired() const { return fired_.load(); }

 private:
  class Timers {
   public:
    void watch(HandshakeWatchdog* w, Clock::time_point when) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!started_) {
        std::thread([this] { run(); }).detach();
        started_ = true;
      }
      const bool earliest = due_.empty() || when < due_.begin()->first;
      due_.emplace(when, w);
      if (earliest) changed_.notify_one();
    }
    void forget(HandshakeWatchdog* w) {
      std::lock_guard<std::mutex> lock(mutex_);  // a firing holds it: after this, no more
      for (auto it = due_.begin(); it != due_.end(); ++it) {
        if (it->second == w) {
          due_.erase(it);
          return;
        }
      }
    }

   private:
    void run() {
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        if (due_.empty()) {
          changed_.wait(lock);
          continue;
        }
        const auto next = due_.begin()->first;
        if (Clock::now() < next) {
          changed_.wait_until(lock, next);
          continue;
        }
        HandshakeWatchdog* w = due_.begin()->second;
        due_.erase(due_.begin());
        w->fired_ = true;
        ::shutdown(w->fd_, SHUT_RDWR);
      }
    }
    std::mutex mutex_;
    std::condition_variable changed_;
    std::multimap<Clock::time_point, HandshakeWatchdog*> due_;
    bool started_ = false;
  };
  /// Never destroyed: its thread may outlive main.
  static Timers& timers() {
    static auto* t = new Timers();
    return *t;
  }

  poco_socket_t fd_;
  std::atomic<bool> fired_{false};
};

}  // namespace

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
  // A zero timeout (the run's deadline has passed: Context::wait_budget) would be
  // SO_RCVTIMEO 0, which is no timeout at all: the handshake would wait for ever.
  if (timeout.count() <= 0) {
    return fail(Failure::Kind::timeout, "no time left for the TLS handshake (the run's deadline)");
  }
  HandshakeWatchdog watchdog(plain.impl()->sockfd(), timeout);
  const auto timed_out = [&] {
    return fail(Failure::Kind::timeout, "the TLS handshake did not finish before the timeout");
  };
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
    if (watchdog.fired()) return timed_out();
    tls_socket = secure;
    return out;
  } catch (const Poco::TimeoutException&) {
    return timed_out();
  } catch (const Poco::Exception& e) {
    if (watchdog.fired()) return timed_out();
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
