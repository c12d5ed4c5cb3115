// auth.login: signs in on every endpoint with every mechanism the server offers and
// mailready implements, each on its own connection, all at once. Says which iPhone
// "Authentication" setting works.

#include <algorithm>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/auth_common.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/proto/sasl/sasl.hpp"

namespace mailready::checks {
namespace {

nlohmann::json iphone_setting(const std::string& mechanism) {
  const auto s = proto::sasl::iphone_setting(mechanism);
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

class AuthLogin final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"auth.login",
                             "Log in with every mechanism offered (one connection each)",
                             {"auth.mechanisms", "cert.chain"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    const auto plan = plan_login(ctx, e);
    if (!plan) return {};
    if (!plan->blocked.empty()) {
      CheckResult r = endpoint_result(ctx, info().id, e);
      r.status = Status::skip;
      r.error = plan->blocked;
      r.facts["mechanism"] = nullptr;
      return {r};
    }
    auto attempts = for_each_concurrently(plan->mechanisms, [&](const std::string& m) {
      // imap.mailbox looks with the endpoint's first accepted mechanism: keep the first
      // one's session for it (one logged-in session an endpoint, not the server's limit).
      const bool keep = e.protocol == Protocol::imap && m == plan->mechanisms.front();
      return attempt(ctx, *plan, m, keep);
    });
    // auth.failed and auth.no-answer are critical where nothing works on the endpoint, a
    // warning where another mechanism does (the phone can be set to that one).
    const bool any_accepted = std::any_of(attempts.begin(), attempts.end(), [](const CheckResult& r) {
      return r.facts.value("accepted", false);
    });
    for (auto& r : attempts) {
      for (auto& f : r.findings) {
        const bool login_failed = f.id == "auth.failed" || f.id == "auth.no-answer";
        if (login_failed && any_accepted) f.severity = Severity::warning;
      }
      r.settle();
    }
    for (const auto& m : plan->unsupported) {
      CheckResult r = endpoint_result(ctx, info().id, e);
      r.status = Status::skip;
      r.facts["mechanism"] = m;
      r.facts["iphone_setting"] = iphone_setting(m);
      r.error = m == "DIGEST-MD5"
                    ? "DIGEST-MD5 is obsolete (RFC 6331) and not attempted; it is reported only"
                    : fmt::format("{} is not attempted (not implemented, or no credential for it)", m);
      attempts.push_back(std::move(r));
    }
    return attempts;
  }

  /// The logins first (every endpoint's), then what was not tried and why.
  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) {
      return {nothing_to_do(ctx, info().id, ctx.options().target, "no endpoint offers a login")};
    }
    std::stable_partition(results.begin(), results.end(),
                          [](const CheckResult& r) { return r.status != Status::skip; });
    return results;
  }

 private:
  CheckResult attempt(Context& ctx, const LoginPlan& plan, const std::string& mechanism,
                      bool keep_session) const {
    const Endpoint& e = plan.endpoint;
    CheckResult r = endpoint_result(ctx, info().id, e);
    r.facts["mechanism"] = mechanism;
    r.facts["iphone_setting"] = iphone_setting(mechanism);
    const auto a = attempt_login(ctx, info().id, e, mechanism, plan.user, ctx.options().password,
                                 plan.plaintext, false, keep_session);
    r.facts["accepted"] = a.kind == LoginAttempt::Kind::accepted;
    r.facts["login_ms"] = a.login_ms.count();
    r.facts["over_tls"] = a.over_tls;
    r.facts["tls_resumed"] = a.tls_resumed;
    note_connection_limit(r, e, a.limit);
    r.facts["reply"] = a.reply;
    if (!a.code.empty()) r.facts["code"] = a.code;
    switch (a.kind) {
      case LoginAttempt::Kind::accepted:
        r.summary = fmt::format("{} accepted in {} ms", mechanism, a.login_ms.count());
        if (!a.server_verified) {
          r.findings.push_back(make_finding(
              "auth.server-unverified",
              fmt::format("{}: {} login accepted, but the server never proved it knows the "
                          "password (no valid SCRAM server signature)", e.label(), mechanism),
              {{"mechanism", mechanism}, {"reply", a.reply}}));
        }
        break;
      case LoginAttempt::Kind::rejected:
        r.summary = fmt::format("{} refused", mechanism);
        r.findings.push_back(make_finding(
            "auth.failed",
            fmt::format("{}: login as {} with {} was refused: {}", e.label(), plan.user, mechanism,
                        a.reply.empty() ? a.detail : a.reply),
            {{"mechanism", mechanism}, {"reply", a.reply}, {"code", a.code}, {"detail", a.detail}}));
        break;
      case LoginAttempt::Kind::not_reached:
        if (a.no_answer) {
          r.summary = fmt::format("{} not answered", mechanism);
          r.findings.push_back(make_finding(
              "auth.no-answer",
              fmt::format("{}: the {} login got no answer: {}", e.label(), mechanism, a.detail),
              {{"mechanism", mechanism}, {"detail", a.detail}}));
          break;
        }
        [[fallthrough]];
      case LoginAttempt::Kind::unsupported:
        r.status = Status::error;
        r.error = a.detail;
        r.summary = a.detail;
        break;
    }
    r.duration = a.login_ms;
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_auth_login() { return std::make_unique<AuthLogin>(); }

}  // namespace mailready::checks
