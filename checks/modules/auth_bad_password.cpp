// auth.rejects-bad-password: one login with a wrong password per protocol must be
// refused. Servers delay failed logins (Dovecot: 2 s), so this runs beside auth.login.

#include <algorithm>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/auth_common.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"

namespace mailready::checks {
namespace {

/// The mechanism to try a wrong password with: the simplest one offered.
std::string pick(const std::vector<std::string>& mechanisms) {
  for (const char* preferred : {"PLAIN", "IMAP-LOGIN", "LOGIN", "CRAM-MD5"}) {
    if (std::find(mechanisms.begin(), mechanisms.end(), preferred) != mechanisms.end()) return preferred;
  }
  for (const auto& m : mechanisms) {
    if (m != "XOAUTH2" && m != "OAUTHBEARER") return m;
  }
  return {};
}

class AuthBadPassword final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"auth.rejects-bad-password", "A wrong password is refused",
                             {"auth.mechanisms", "cert.chain"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    // One endpoint per protocol: the first the phone uses that may be logged in to.
    std::vector<std::pair<const LoginPlan*, std::string>> picks;
    const auto plans = plan_logins(ctx);
    for (const auto protocol : {Protocol::imap, Protocol::smtp}) {
      for (const auto& p : plans) {
        if (p.endpoint.protocol != protocol || !p.blocked.empty()) continue;
        const auto m = pick(p.mechanisms);
        if (m.empty()) continue;
        picks.emplace_back(&p, m);
        break;
      }
    }
    if (picks.empty()) {
      CheckResult r = host_result(ctx, info().id, ctx.options().target);
      r.status = Status::skip;
      r.error = "no endpoint to try a wrong password on (needs --user and a password)";
      return {r};
    }
    return for_each_concurrently(picks, [&](const std::pair<const LoginPlan*, std::string>& job) {
      const LoginPlan& plan = *job.first;
      CheckResult r = endpoint_result(ctx, info().id, plan.endpoint);
      r.facts["mechanism"] = job.second;
      // A wrong password that cannot be the right one: the real one with a suffix.
      const std::string wrong = ctx.options().password + "-mailready-wrong";
      const auto a = attempt_login(ctx, info().id, plan.endpoint, job.second, plan.user, wrong,
                                   plan.plaintext);
      r.facts["rejected"] = a.kind == LoginAttempt::Kind::rejected;
      r.facts["reply"] = a.reply;
      r.facts["rejection_ms"] = a.login_ms.count();
      r.duration = a.login_ms;
      if (a.kind == LoginAttempt::Kind::accepted) {
        r.findings.push_back(make_finding(
            "auth.accepts-bad-password",
            fmt::format("{} accepted a wrong password for {} ({})", plan.endpoint.label(), plan.user,
                        job.second),
            {{"mechanism", job.second}, {"reply", a.reply}}));
        r.summary = "a wrong password was ACCEPTED";
      } else if (a.kind == LoginAttempt::Kind::rejected) {
        r.summary = fmt::format("refused after {} ms", a.login_ms.count());
      } else {
        r.status = Status::error;
        r.error = a.detail;
      }
      r.settle();
      return r;
    });
  }
};

}  // namespace

std::unique_ptr<Check> make_auth_bad_password() { return std::make_unique<AuthBadPassword>(); }

}  // namespace mailready::checks
