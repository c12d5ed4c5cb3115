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

/// A handshake offering only TLS versions from `min` to `max` (legacy settings).
proto::TlsClientConfig legacy_only(int min, int max) {
  proto::TlsClientConfig c;
  c.min_version = min;
  c.max_version = max;
  c.legacy = true;
  return c;
}

class TlsHandshake final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"tls.handshake",
                             "TLS on every endpoint: version, cipher, legacy protocols",
                             {"ports.reachability"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    if (!port_open(ctx, e)) return {};
    return {probe(ctx, e)};
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) {
      return {nothing_to_do(ctx, info().id, ctx.options().target, "no open port to negotiate TLS on")};
    }
    return results;
  }

 private:
  CheckResult probe(Context& ctx, const Endpoint& e) const {
    CheckResult r = endpoint_result(ctx, info().id, e);
    // The submission and IMAP endpoints must have TLS; port 25 is where the phone lands
    // last, and MTAs between themselves may still run without it.
    const Severity must = e.port == 25 ? Severity::warning : Severity::critical;

    // The real session is the endpoint's first one (shared with the greeting checks);
    // beside it, one more connection offering TLS 1.0 and 1.1 alone. Only when the
    // server takes 1.1 is 1.0 asked about on its own: a server that picks 1.0 from the
    // pair has no 1.1, and most refuse both, so this is one connection, rarely two.
    TlsAttempt main;
    TlsAttempt legacy;
    parallel_for(2, [&](std::size_t i) {
      if (i == 0) {
        main = first_contact(ctx, e).tls();
      } else {
        legacy = establish_tls(ctx, e, legacy_only(TLS1_VERSION, TLS1_1_VERSION));
      }
    });
    std::vector<std::string> legacy_accepted;
    if (legacy.kind == TlsAttempt::Kind::ok) {
      const auto got = legacy.session.protocol;
      if (got == proto::version_name(TLS1_1_VERSION)) {
        const auto old = establish_tls(ctx, e, legacy_only(TLS1_VERSION, TLS1_VERSION));
        if (old.kind == TlsAttempt::Kind::ok) legacy_accepted.push_back(proto::version_name(TLS1_VERSION));
      }
      legacy_accepted.push_back(got);
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
