#include "checks/proto/tls.hpp"

#include <openssl/ssl.h>

#include <Poco/Exception.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Timespan.h>

#include "checks/proto/address.hpp"

namespace mailready::proto {

Poco::Net::Context::Ptr make_probe_context() {
  Poco::Net::Context::Params params;
  params.verificationMode = Poco::Net::Context::VERIFY_NONE;
  params.loadDefaultCAs = false;
  // OpenSSL's default list; Poco's default ("ALL:!ADH:...") would offer ciphers no
  // phone offers and change what the server picks.
  params.cipherList = "DEFAULT";
  Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
  ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
  return ctx;
}

Result<TlsSession> handshake(const Poco::Net::StreamSocket& plain, const std::string& server_name,
                             const Poco::Net::Context::Ptr& context,
                             std::chrono::milliseconds timeout,
                             Poco::Net::StreamSocket& tls_socket) {
  const auto started = std::chrono::steady_clock::now();
  const std::string sni = is_ip_literal(server_name) ? std::string() : server_name;
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
      const int version = SSL_SESSION_get_protocol_version(ss);
      switch (version) {
        case TLS1_3_VERSION: out.protocol = "TLSv1.3"; break;
        case TLS1_2_VERSION: out.protocol = "TLSv1.2"; break;
        case TLS1_1_VERSION: out.protocol = "TLSv1.1"; break;
        case TLS1_VERSION: out.protocol = "TLSv1"; break;
        default: out.protocol = "unknown"; break;
      }
      if (const SSL_CIPHER* cipher = SSL_SESSION_get0_cipher(ss)) {
        out.cipher = SSL_CIPHER_get_name(cipher);
        out.bits = SSL_CIPHER_get_bits(cipher, nullptr);
      }
    }
    out.handshake_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    tls_socket = secure;
    return out;
  } catch (const Poco::TimeoutException&) {
    return fail(Failure::Kind::timeout, "the TLS handshake did not finish before the timeout");
  } catch (const Poco::Net::SSLException& e) {
    return fail(Failure::Kind::tls, e.displayText());
  } catch (const Poco::Exception& e) {
    return fail(Failure::Kind::tls, e.displayText());
  }
}

}  // namespace mailready::proto
