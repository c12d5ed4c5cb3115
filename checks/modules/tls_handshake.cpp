// tls.handshake: TLS on every endpoint the way a phone gets it (implicit on 993/465,
// STARTTLS on 587/25/143): the negotiated version, cipher and its strength, plus one
// handshake each with TLS 1.0 and 1.1 alone to learn whether the server still accepts them.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/tls/cert.hpp"

namespace mailready::checks {
namespace {

class TlsHandshake final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"tls.handshake",
                             "TLS on every endpoint: version, cipher, legacy protocols",
                             {"ports.reachability"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    auto endpoints = open_endpoints(ctx, Protocol::imap);
    const auto smtp = open_endpoints(ctx, Protocol::smtp);
    endpoints.insert(endpoints.end(), smtp.begin(), smtp.end());
    if (endpoints.empty()) {
      CheckResult r = host_result(ctx, info().id, ctx.options().target);
      r.status = Status::skip;
      r.error = "no open port to negotiate TLS on";
      return {r};
    }
    return for_each_concurrently(endpoints, [&](const Endpoint& e) { return probe(ctx, e); });
  }

 private:
  CheckResult probe(Context& ctx, const Endpoint& e) const {
    CheckResult r = endpoint_result(ctx, info().id, e);
    // The submission and IMAP endpoints must have TLS; port 25 is where the phone lands
    // last, and MTAs between themselves may still run without it.
    const Severity must = e.port == 25 ? Severity::warning : Severity::critical;

    // The real session, and the two legacy probes, all at once.
    TlsAttempt main;
    std::vector<std::string> legacy_accepted;
    const int legacy[] = {TLS1_VERSION, TLS1_1_VERSION};
    std::vector<TlsAttempt> legacy_attempts(2);
    parallel_for(3, [&](std::size_t i) {
      if (i == 0) {
        main = establish_tls(ctx, e);
        return;
      }
      proto::TlsClientConfig old;
      old.min_version = legacy[i - 1];
      old.max_version = legacy[i - 1];
      old.legacy = true;
      legacy_attempts[i - 1] = establish_tls(ctx, e, old);
    });
    for (std::size_t i = 0; i < 2; ++i) {
      if (legacy_attempts[i].kind == TlsAttempt::Kind::ok) {
        legacy_accepted.push_back(proto::version_name(legacy[i]));
      }
    }
    r.facts["legacy_accepted"] = legacy_accepted;

    switch (main.kind) {
      case TlsAttempt::Kind::not_reached:
        r.status = Status::error;
        r.error = main.detail;
        return r;
      case TlsAttempt::Kind::no_starttls:
        r.facts["handshake"] = "none";
        r.summary = "no TLS: " + main.detail;
        r.findings.push_back(make_finding(
            "tls.none", must,
            fmt::format("{} offers no TLS: {}", e.label(), main.detail), {{"detail", main.detail}}));
        r.settle();
        return r;
      case TlsAttempt::Kind::handshake_failed:
        r.facts["handshake"] = "failed";
        r.facts["error"] = main.detail;
        r.summary = "handshake failed: " + main.detail;
        r.findings.push_back(make_finding(
            legacy_accepted.empty() ? "tls.none" : "tls.handshake-failed", must,
            legacy_accepted.empty()
                ? fmt::format("{}: no TLS handshake succeeds: {}", e.label(), main.detail)
                : fmt::format("{}: TLS 1.2 or later fails ({}); only {} works", e.label(),
                              main.detail, fmt::join(legacy_accepted, ", ")),
            {{"error", main.detail}, {"legacy_accepted", legacy_accepted}}));
        break;
      case TlsAttempt::Kind::ok: {
        const auto& s = main.session;
        r.facts["handshake"] = "ok";
        r.facts["protocol"] = s.protocol;
        r.facts["cipher"] = s.cipher;
        r.facts["bits"] = s.bits;
        r.facts["handshake_ms"] = s.handshake_ms.count();
        r.facts["tls13"] = s.protocol == "TLSv1.3";
        r.summary = fmt::format("{} {} ({} bits)", s.protocol, s.cipher, s.bits);
        {
          auto& store = chain_store(ctx);
          std::lock_guard<std::mutex> lock(store.mutex);
          store.chains[e.label()] = s.chain;
        }
        break;
      }
    }

    tls::SessionFacts facts{r.facts.value("protocol", ""), r.facts.value("cipher", ""),
                            r.facts.value("bits", 0)};
    for (auto& issue : tls::evaluate_session(facts, !legacy_accepted.empty(), legacy_accepted,
                                             r.facts.value("tls13", false))) {
      if (main.kind != TlsAttempt::Kind::ok && issue.id != "tls.legacy-protocol") continue;
      r.findings.push_back(make_finding(issue.id, issue.severity, e.label() + ": " + issue.message,
                                        issue.evidence));
    }
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_tls_handshake() { return std::make_unique<TlsHandshake>(); }

}  // namespace mailready::checks
