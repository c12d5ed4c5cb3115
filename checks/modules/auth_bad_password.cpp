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
                             {"auth.mechanisms", "cert.chain"},
                             true};
    return i;
  }

  // One endpoint per protocol: the first the phone uses that may be logged in to. An
  // endpoint goes ahead as soon as the endpoints before it of its protocol are known not
  // to qualify (993 is first, so IMAP's rarely waits); servers delay failed logins, so
  // this starts as early as it can.
  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    const auto mechanism = eligible(ctx, e);
    if (mechanism.empty()) return {};
    if (!first_that_can(ctx, e, {"auth.mechanisms", "cert.chain"},
                        [&](const Endpoint& before) { return !eligible(ctx, before).empty(); })) {
      return {};  // an earlier endpoint tries it
    }
    const auto plan = *plan_login(ctx, e);
    CheckResult r = endpoint_result(ctx, info().id, e);
    r.facts["mechanism"] = mechanism;
    // A wrong password that cannot be the right one: the real one with a suffix.
    const std::string wrong = ctx.options().password + "-mailready-wrong";
    const auto a = attempt_login(ctx, info().id, e, mechanism, plan.user, wrong, plan.plaintext,
                                 /*urgent=*/true);
    r.facts["rejected"] = a.kind == LoginAttempt::Kind::rejected;
    r.facts["reply"] = a.reply;
    r.facts["rejection_ms"] = a.login_ms.count();
    r.duration = a.login_ms;
    note_connection_limit(r, e, a.limit);
    if (a.kind == LoginAttempt::Kind::accepted) {
      r.findings.push_back(make_finding(
          "auth.accepts-bad-password",
          fmt::format("{} accepted a wrong password for {} ({})", e.label(), plan.user, mechanism),
          {{"mechanism", mechanism}, {"reply", a.reply}}));
      r.summary = "a wrong password was ACCEPTED";
    } else if (a.kind == LoginAttempt::Kind::rejected) {
      r.summary = fmt::format("refused after {} ms", a.login_ms.count());
    } else {
      r.status = Status::error;
      r.error = a.detail;
    }
    r.settle();
    return {r};
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) {
      return {nothing_to_do(ctx, info().id, ctx.options().target,
                            "no endpoint to try a wrong password on (needs --user and a password)")};
    }
    return results;
  }

 private:
  /// The mechanism to try on `e`, or "" when `e` cannot be tried.
  static std::string eligible(const Context& ctx, const Endpoint& e) {
    if (e.protocol != Protocol::imap && e.protocol != Protocol::smtp) return {};
    const auto plan = plan_login(ctx, e);
    if (!plan || !plan->blocked.empty()) return {};
    return pick(plan->mechanisms);
  }
};

}  // namespace

std::unique_ptr<Check> make_auth_bad_password() { return std::make_unique<AuthBadPassword>(); }

}  // namespace mailready::checks
