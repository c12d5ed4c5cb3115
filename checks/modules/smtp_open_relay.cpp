// smtp.open-relay: without AUTH, no SMTP port may take mail for a domain the server does
// not serve (--relay-test-domain, default example.net). Never DATA: RCPT is the test.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
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
                             {"smtp.greeting"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    const std::string& foreign = ctx.options().relay_test_domain;
    const std::string from = "mailready-probe@" + foreign;
    const std::string to = "mailready-relay-test@" + foreign;
    return envelope_check(ctx, info().id, e, false, from, to,
                          [&](CheckResult& r, const EnvelopeProbe& p) {
      const bool relays = p.outcome == EnvelopeProbe::Outcome::accepted;
      r.facts["relays"] = relays;
      if (!relays) {
        r.summary = "refuses relaying: " + p.reply.substr(0, p.reply.find('\n'));
        return;
      }
      r.summary = "RELAYS to " + foreign;
      r.findings.push_back(make_finding(
          "smtp.open-relay",
          fmt::format("{} accepted mail for <{}> without AUTH: it is an open relay",
                      r.endpoint->label(), to),
          {{"reply", p.reply}, {"recipient", to}, {"sender", from}}));
    });
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) return {no_envelope_endpoint(ctx, info().id, false)};
    return results;
  }
};

}  // namespace

std::unique_ptr<Check> make_smtp_open_relay() { return std::make_unique<SmtpOpenRelay>(); }

}  // namespace mailready::checks
