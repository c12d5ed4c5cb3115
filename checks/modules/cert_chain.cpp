// cert.chain: the certificate chain of every TLS endpoint, judged against the system trust
// store (plus --ca-file) and Apple's rules for TLS server certificates on iOS; and, per
// host, whether its endpoints present different leaves.

#include <ctime>
#include <map>
#include <set>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/tls/cert.hpp"

namespace mailready::checks {
namespace {

class CertChain final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"cert.chain",
                             "Certificate chains lead to a trusted root and meet Apple's rules",
                             {"tls.handshake"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    if (ctx.results_at("tls.handshake", e).empty()) return {};
    proto::PeerChain chain;
    {
      auto& store = chain_store(ctx);
      std::lock_guard<std::mutex> lock(store.mutex);
      const auto it = store.chains.find(e.label());
      if (it == store.chains.end()) return {};  // no TLS session there: tls.handshake said why
      chain = it->second;
    }
    return {judge(ctx, e, chain, tls_clients(ctx).trust(), std::time(nullptr))};
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> out) const override {
    std::map<std::string, std::map<std::string, std::vector<std::string>>> leaves;  // host → fp → labels
    for (const auto& r : out) {
      const auto fp = r.facts.value("leaf_sha256", "");
      if (r.endpoint && !fp.empty()) leaves[r.endpoint->host][fp].push_back(r.endpoint->label());
    }

    // Different leaves on one host's endpoints: not wrong, but worth knowing (one renewal
    // forgotten on one service is how a "works for IMAP, fails for SMTP" starts).
    for (const auto& [host, by_fp] : leaves) {
      if (by_fp.size() < 2) continue;
      CheckResult r = host_result(ctx, info().id, host);
      nlohmann::json evidence = nlohmann::json::object();
      for (const auto& [fp, labels] : by_fp) evidence[fp] = labels;
      r.facts["leaves"] = evidence;
      r.summary = fmt::format("{} different leaf certificates", by_fp.size());
      r.findings.push_back(make_finding(
          "cert.endpoints-differ",
          fmt::format("The endpoints of {} present {} different leaf certificates", host, by_fp.size()),
          {{"leaves", evidence}}));
      r.settle();
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  CheckResult judge(const Context& ctx, const Endpoint& e, const proto::PeerChain& peer,
                    const proto::TrustStore& trust, std::int64_t now) const {
    CheckResult r = endpoint_result(ctx, info().id, e);
    tls::ChainInfo chain;
    for (const auto& c : peer.sent) chain.sent.push_back(tls::describe(c.get(), "server"));
    if (peer.errors.empty()) {
      for (const auto& c : peer.verified) {
        // What the server sent keeps its source; what verification added came from the store.
        const bool sent = std::any_of(peer.sent.begin(), peer.sent.end(),
                                      [&](const proto::X509Ptr& s) { return X509_cmp(s.get(), c.get()) == 0; });
        chain.verified.push_back(tls::describe(c.get(), sent ? "server" : "trust-store"));
      }
      if (!peer.verified.empty()) chain.root_in_system_store = trust.in_system_store(peer.verified.back().get());
    } else {
      chain.verify_error = peer.errors.front().code;
      chain.verify_error_depth = peer.errors.front().depth;
      chain.verify_error_text = peer.errors.front().text;
    }

    // Evidence: every certificate the client saw, sent ones first, then the store's.
    nlohmann::json certs = nlohmann::json::array();
    for (const auto& c : chain.sent) certs.push_back(tls::to_json(c, now));
    for (const auto& c : chain.verified) {
      if (c.source == "trust-store") certs.push_back(tls::to_json(c, now));
    }
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& err : peer.errors) {
      errors.push_back({{"code", err.code}, {"depth", err.depth}, {"text", err.text}});
    }
    r.facts["chain"] = certs;
    r.facts["verify_errors"] = errors;
    r.facts["trusted"] = peer.errors.empty();
    r.facts["root_publicly_trusted"] = chain.root_in_system_store;
    if (!chain.sent.empty()) {
      const auto& leaf = chain.sent.front();
      r.facts["leaf_sha256"] = leaf.sha256_fingerprint;
      const auto leaf_json = tls::to_json(leaf, now);
      r.facts["not_after"] = leaf_json.value("not_after", "");
      r.facts["not_after_unix"] = leaf.not_after;
      r.facts["days_left"] = leaf_json.value("days_left", std::int64_t{0});
    }

    tls::Policy policy;
    policy.host = e.host;
    policy.now = now;
    policy.warn_days = ctx.options().cert_warn_days;
    const auto critical_days = ctx.options().cert_critical_days;
    for (auto& issue : tls::evaluate_chain(chain, policy)) {
      // --critical DAYS: expiring that soon is critical, as check_ssl_cert and the Nagios
      // convention have it.
      if (issue.id == "cert.expires-soon" && critical_days &&
          r.facts.value("days_left", std::int64_t{0}) < *critical_days) {
        issue.severity = Severity::critical;
      }
      r.findings.push_back(make_finding(issue.id, issue.severity, e.label() + ": " + issue.message,
                                        issue.evidence));
    }
    r.summary = peer.errors.empty()
                    ? fmt::format("trusted, {} days left", r.facts.value("days_left", 0))
                    : fmt::format("not trusted: {}", chain.verify_error_text);
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_cert_chain() { return std::make_unique<CertChain>(); }

}  // namespace mailready::checks
