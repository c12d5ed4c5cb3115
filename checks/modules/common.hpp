#pragma once
// Helpers the check modules share: building results, reading earlier checks' results,
// and the JSON form of protocol outcomes. The endpoints' sessions are in session.hpp.

#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/core/context.hpp"
#include "checks/core/model.hpp"
#include "checks/modules/session.hpp"
#include "checks/proto/result.hpp"
#include "checks/proto/tls.hpp"

namespace mailready::checks {

/// An empty result of `check` for `endpoint` (status pass until settled).
CheckResult endpoint_result(const Context& ctx, std::string_view check, const Endpoint& endpoint);

/// An empty host-level result of `check` with facts.host set.
CheckResult host_result(const Context& ctx, std::string_view check, const std::string& host);

/// A host-level skip result of `check` saying why nothing applied.
CheckResult nothing_to_do(const Context& ctx, std::string_view check, const std::string& host,
                          std::string why);

/// True when ports.reachability found `e` open.
bool port_open(const Context& ctx, const Endpoint& e);

/// The greeting check's result for `e` (imap.greeting or smtp.greeting by protocol), if
/// it greeted us.
std::optional<CheckResult> greeting_at(const Context& ctx, const Endpoint& e);

/// True when no endpoint before `e` in the run's order (of its protocol) `can`, after
/// waiting for `checks` to finish on each of them: how a per-endpoint check picks "the
/// first endpoint that can" without waiting for the later ones.
bool first_that_can(Context& ctx, const Endpoint& e, std::initializer_list<std::string_view> checks,
                    const std::function<bool(const Endpoint&)>& can);

/// How much an endpoint matters on its own: IMAP on 993 is the phone's only way to read
/// mail (critical); the submission ports are judged together by submission.fallback, and
/// 143 is optional, so problems there are lower.
Severity endpoint_weight(const Endpoint& endpoint, Severity if_essential, Severity otherwise);

/// {"handshake":"ok","protocol":...,"cipher":...,"bits":...,"handshake_ms":...}
nlohmann::json tls_facts(const proto::TlsSession& tls);
/// {"handshake":"failed","error":...}
nlohmann::json tls_facts(const proto::Failure& failure);

/// Marks `result` as not probed (status error) with the failure's words.
void probe_error(CheckResult& result, const std::string& what, const proto::Failure& failure);

/// The certificate chains tls.handshake saw, by endpoint label, for cert.chain.
struct ChainStore {
  std::mutex mutex;
  std::map<std::string, proto::PeerChain> chains;
};
ChainStore& chain_store(Context& ctx);

/// Records `transcript` (from line `from` on) under "check endpoint" for --trace.
void keep_transcript(Context& ctx, std::string_view check, const Endpoint& e,
                     const std::vector<proto::TranscriptLine>& transcript, std::size_t from = 0);

/// An info finding `rate-limited` when the server refused one more of our sessions and
/// mailready waited for its turn (nothing when no refusal was seen).
void note_connection_limit(CheckResult& r, const Endpoint& e, const ConnectionLimit& limit);

/// The part of the greeting checks' verdict before the greeting: no slot (skip), no
/// connection (error), implicit TLS failed (tls.handshake-failed), else facts.tls.
/// True when `r` is complete (nothing after the connection to judge).
bool judge_connection(CheckResult& r, const Endpoint& e, const FirstContact& fc, Severity weight);

/// protocol.no-greeting, or protocol.unexpected-greeting for garbage, from `failure`.
void no_greeting(CheckResult& r, const Endpoint& e, const proto::Failure& failure,
                 std::string_view protocol, Severity weight);

/// facts.tls and tls.handshake-failed for a handshake after STARTTLS that failed.
void starttls_handshake_failed(CheckResult& r, const Endpoint& e, const proto::Failure& failure,
                               Severity weight);

/// What the session did after a STARTTLS handshake that succeeded: tls.starttls-injection
/// for bytes the server sent between its STARTTLS reply and the handshake, and
/// protocol.closed-after-starttls (facts.after_tls_failed) when the first command over
/// TLS got no answer.
void judge_after_starttls(CheckResult& r, const Endpoint& e, const FirstContact& fc, Severity weight);

/// protocol.limit-exceeded when a server's reply made a parser drop `dropped` items past
/// its caps (`what`: "capabilities", "EHLO keywords and AUTH mechanisms").
void note_over_limit(CheckResult& r, const Endpoint& e, std::size_t dropped, std::string_view what);

/// Runs `work` for every item concurrently and returns the results in order.
template <class Item, class Fn>
std::vector<CheckResult> for_each_concurrently(const std::vector<Item>& items, Fn work) {
  std::vector<CheckResult> out(items.size());
  parallel_for(items.size(), [&](std::size_t i) { out[i] = work(items[i]); });
  return out;
}

}  // namespace mailready::checks
