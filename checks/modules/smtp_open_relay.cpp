// smtp.open-relay: without AUTH, no SMTP port may take mail for a domain the server does
// not serve (--relay-test-domain, default example.net). Never DATA: RCPT is the test.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/modules/smtp_envelope.hpp"

namespace mailready::checks {
namespace {

class SmtpOpenRelay final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"smtp.open-relay",
                             "No SMTP port relays to a foreign domain without AUTH",
                             {"smtp.greeting"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    std::vector<Endpoint> endpoints;
    for (const auto& g : ctx.results_of("smtp.greeting")) {
      if (g.endpoint && g.facts.value("greeting_ok", false)) endpoints.push_back(*g.endpoint);
    }
    if (endpoints.empty()) {
      CheckResult r = host_result(ctx, info().id, ctx.options().smtp_host);
      r.status = Status::skip;
      r.error = "no SMTP port greeted us";
      return {r};
    }
    const std::string& foreign = ctx.options().relay_test_domain;
    const std::string from = "mailready-probe@" + foreign;
    const std::string to = "mailready-relay-test@" + foreign;
    return for_each_concurrently(endpoints, [&](const Endpoint& e) {
      CheckResult r = endpoint_result(ctx, info().id, e);
      const auto p = probe_envelope(ctx, info().id, e, from, to);
      r.facts["recipient"] = to;
      r.facts["reply"] = p.reply;
      switch (p.outcome) {
        case EnvelopeProbe::Outcome::accepted:
          r.facts["relays"] = true;
          r.summary = "RELAYS to " + foreign;
          r.findings.push_back(make_finding(
              "smtp.open-relay",
              fmt::format("{} accepted mail for <{}> without AUTH: it is an open relay", e.label(), to),
              {{"reply", p.reply}, {"recipient", to}, {"sender", from}}));
          break;
        case EnvelopeProbe::Outcome::refused_mail:
        case EnvelopeProbe::Outcome::refused_rcpt:
          r.facts["relays"] = false;
          r.summary = "refuses relaying: " + p.reply.substr(0, p.reply.find('\n'));
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

std::unique_ptr<Check> make_smtp_open_relay() { return std::make_unique<SmtpOpenRelay>(); }

}  // namespace mailready::checks
