// smtp.auth-required: on the submission ports (587, 465), a message may not be accepted
// without AUTH. MAIL FROM / RCPT TO to a local address without logging in must be refused.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/modules/smtp_envelope.hpp"

namespace mailready::checks {
namespace {

class SmtpAuthRequired final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"smtp.auth-required",
                             "Submission (587, 465) refuses mail without AUTH", {"smtp.greeting"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    std::vector<Endpoint> endpoints;
    for (const auto& g : ctx.results_of("smtp.greeting")) {
      if (g.endpoint && g.endpoint->role == Role::submission && g.facts.value("greeting_ok", false)) {
        endpoints.push_back(*g.endpoint);
      }
    }
    if (endpoints.empty()) {
      CheckResult r = host_result(ctx, info().id, ctx.options().smtp_host);
      r.status = Status::skip;
      r.error = "no submission port greeted us";
      return {r};
    }
    const auto& o = ctx.options();
    // A local recipient the server must accept from an authenticated user.
    const std::string domain = mail_domain(o.smtp_host);
    const std::string to = o.smtp_user.find('@') != std::string::npos ? o.smtp_user
                                                                       : "postmaster@" + domain;
    return for_each_concurrently(endpoints, [&](const Endpoint& e) {
      CheckResult r = endpoint_result(ctx, info().id, e);
      const auto p = probe_envelope(ctx, info().id, e, "mailready-probe@" + domain, to);
      r.facts["recipient"] = to;
      r.facts["reply"] = p.reply;
      r.facts["over_tls"] = p.over_tls;
      switch (p.outcome) {
        case EnvelopeProbe::Outcome::accepted:
          r.facts["auth_required"] = false;
          r.summary = "accepts mail without AUTH";
          r.findings.push_back(make_finding(
              "smtp.auth-not-required",
              fmt::format("{} accepted MAIL FROM / RCPT TO <{}> without AUTH: {}", e.label(), to, p.reply),
              {{"reply", p.reply}, {"recipient", to}}));
          break;
        case EnvelopeProbe::Outcome::refused_mail:
        case EnvelopeProbe::Outcome::refused_rcpt:
          r.facts["auth_required"] = true;
          r.summary = "refused without AUTH: " + p.reply.substr(0, p.reply.find('\n'));
          break;
        case EnvelopeProbe::Outcome::not_reached:
          r.status = Status::error;
          r.error = p.detail;
          break;
      }
      r.settle();
      return r;
    });
  }
};

}  // namespace

std::unique_ptr<Check> make_smtp_auth_required() { return std::make_unique<SmtpAuthRequired>(); }

}  // namespace mailready::checks
