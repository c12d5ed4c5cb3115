// smtp.auth-required: on the submission ports (587, 465), a message may not be accepted
// without AUTH. MAIL FROM / RCPT TO to a local address without logging in must be refused.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/modules/smtp_envelope.hpp"

namespace mailready::checks {
namespace {

class SmtpAuthRequired final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"smtp.auth-required",
                             "Submission (587, 465) refuses mail without AUTH", {"smtp.greeting"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    const auto& o = ctx.options();
    // A local recipient the server must accept from an authenticated user.
    const std::string domain = mail_domain(o.smtp_host);
    const std::string to = o.smtp_user.find('@') != std::string::npos ? o.smtp_user
                                                                       : "postmaster@" + domain;
    return envelope_check(ctx, info().id, e, true, "mailready-probe@" + domain, to,
                          [&](CheckResult& r, const EnvelopeProbe& p) {
      const bool accepted = p.outcome == EnvelopeProbe::Outcome::accepted;
      r.facts["auth_required"] = !accepted;
      if (!accepted) {
        r.summary = "refused without AUTH: " + p.reply.substr(0, p.reply.find('\n'));
        return;
      }
      r.summary = "accepts mail without AUTH";
      r.findings.push_back(make_finding(
          "smtp.auth-not-required",
          fmt::format("{} accepted MAIL FROM / RCPT TO <{}> without AUTH: {}", r.endpoint->label(),
                      to, p.reply),
          {{"reply", p.reply}, {"recipient", to}}));
    });
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) return {no_envelope_endpoint(ctx, info().id, true)};
    return results;
  }
};

}  // namespace

std::unique_ptr<Check> make_smtp_auth_required() { return std::make_unique<SmtpAuthRequired>(); }

}  // namespace mailready::checks
