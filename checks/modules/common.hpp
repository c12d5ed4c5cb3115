#pragma once
// Helpers the check modules share: building results, reading earlier checks' results,
// the run's TLS probe context, and the JSON form of protocol outcomes.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <Poco/Net/Context.h>
#include <nlohmann/json.hpp>

#include "checks/core/context.hpp"
#include "checks/core/model.hpp"
#include "checks/proto/line_session.hpp"
#include "checks/proto/result.hpp"
#include "checks/proto/smtp.hpp"
#include "checks/proto/tls.hpp"

namespace mailready::checks {

/// An empty result of `check` for `endpoint` (status pass until settled).
CheckResult endpoint_result(const Context& ctx, std::string_view check, const Endpoint& endpoint);

/// An empty host-level result of `check` with facts.host set.
CheckResult host_result(const Context& ctx, std::string_view check, const std::string& host);

/// The endpoints ports.reachability found open, for one protocol.
std::vector<Endpoint> open_endpoints(const Context& ctx, Protocol protocol);

/// How much an endpoint matters on its own: IMAP on 993 is the phone's only way to read
/// mail (critical); the submission ports are judged together by submission.fallback, and
/// 143 is optional, so problems there are lower.
Severity endpoint_weight(const Endpoint& endpoint, Severity if_essential, Severity otherwise);

/// A fresh TLS client context for one connection: the system trust store plus
/// --ca-file; `legacy` for the TLS 1.0/1.1 probes alone. One per connection, because
/// the certificate chain is captured through the context.
Poco::Net::Context::Ptr client_context(const Context& ctx, const proto::TlsClientConfig& base = {});

/// {"handshake":"ok","protocol":...,"cipher":...,"bits":...,"handshake_ms":...}
nlohmann::json tls_facts(const proto::TlsSession& tls);
/// {"handshake":"failed","error":...}
nlohmann::json tls_facts(const proto::Failure& failure);

/// Marks `result` as not probed (status error) with the failure's words.
void probe_error(CheckResult& result, const std::string& what, const proto::Failure& failure);

/// A connected session to an endpoint, holding one of its address's slots (--per-host).
struct Connection {
  Slot slot;
  proto::LineSession session;
};

/// Connects to `r`'s endpoint within the wait budget and, for implicit TLS, completes
/// the handshake (facts.tls). On failure fills `r` (an error, or a tls.handshake-failed
/// finding) and returns nullopt.
std::optional<Connection> open_connection(Context& ctx, CheckResult& r);

/// The outcome of getting TLS on an endpoint the way a phone does: implicit TLS, or the
/// protocol's STARTTLS.
struct TlsAttempt {
  enum class Kind {
    ok,                ///< handshake done; `session` holds what was negotiated
    no_starttls,       ///< the server does not offer STARTTLS (or refuses it)
    handshake_failed,  ///< the handshake failed (`detail` says why)
    not_reached,       ///< could not get as far as TLS (connect, greeting); `detail`
  };
  Kind kind = Kind::not_reached;
  proto::TlsSession session;
  std::string detail;
};

/// A session greeted and, where asked, upgraded to TLS: ready for commands.
struct ReadySession {
  TlsAttempt::Kind kind = TlsAttempt::Kind::not_reached;
  std::string detail;                      ///< why it is not `ok`
  std::optional<Connection> conn;          ///< set unless not_reached / handshake_failed
  std::optional<proto::TlsSession> tls;    ///< set when TLS is up
  std::vector<std::string> capabilities;   ///< IMAP: the latest CAPABILITY
  proto::SmtpCapabilities ehlo;            ///< SMTP: the latest EHLO
  Protocol protocol = Protocol::imap;

  /// The next IMAP tag ("m1", "m2", ...).
  std::string next_tag();
  /// Says goodbye (LOGOUT / QUIT) and closes; a server that does not answer is fine.
  void close();

 private:
  int tag_ = 0;
};

/// Connects to `e` (holding a slot), reads the greeting and the capabilities, and gets
/// TLS as the endpoint provides it: implicit, or STARTTLS when `want_tls` (and then the
/// capabilities again). kind says how far it got.
ReadySession open_session(Context& ctx, const Endpoint& e, const proto::TlsClientConfig& config,
                          bool want_tls);

/// Connects to `e` (holding a slot) and negotiates TLS with a context made from
/// `config` (plus --ca-file); closes the connection afterwards.
TlsAttempt establish_tls(Context& ctx, const Endpoint& e, const proto::TlsClientConfig& config = {});

/// The certificate chains tls.handshake saw, by endpoint label, for cert.chain.
struct ChainStore {
  std::mutex mutex;
  std::map<std::string, proto::PeerChain> chains;
};
ChainStore& chain_store(Context& ctx);

/// Records `session`'s transcript under "check endpoint" for --trace.
void keep_transcript(Context& ctx, std::string_view check, const Endpoint& e,
                     const proto::LineSession& session);

/// Runs `work` for every item concurrently and returns the results in order.
template <class Item, class Fn>
std::vector<CheckResult> for_each_concurrently(const std::vector<Item>& items, Fn work) {
  std::vector<CheckResult> out(items.size());
  parallel_for(items.size(), [&](std::size_t i) { out[i] = work(items[i]); });
  return out;
}

}  // namespace mailready::checks
