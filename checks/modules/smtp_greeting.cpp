// smtp.greeting: connect (TLS first on 465), read the 220 banner, EHLO, upgrade with
// STARTTLS on 587 and 25 when offered, EHLO again. Judged from the endpoint's first
// session, which tls.handshake shares.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/proto/smtp.hpp"

namespace mailready::checks {
namespace {

using proto::GreetingKind;

nlohmann::json ehlo_facts(const proto::SmtpCapabilities& caps) {
  nlohmann::json j = {{"keywords", caps.keywords},
                      {"auth", caps.auth},
                      {"starttls", caps.starttls},
                      {"pipelining", caps.pipelining},
                      {"8bitmime", caps.eightbitmime},
                      {"enhancedstatuscodes", caps.enhancedstatuscodes},
                      {"smtputf8", caps.smtputf8}};
  if (caps.invalid_auth > 0) j["auth_invalid"] = caps.invalid_auth;
  j["size"] = caps.size ? nlohmann::json(*caps.size) : nlohmann::json(nullptr);
  return j;
}

class SmtpGreetingCheck final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"smtp.greeting",
                             "SMTP servers greet with 220 (after TLS on 465), EHLO and STARTTLS",
                             {"ports.reachability"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    if (e.protocol != Protocol::smtp || !port_open(ctx, e)) return {};
    return {judge(ctx, e, first_contact(ctx, e))};
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) {
      return {nothing_to_do(ctx, info().id, ctx.options().smtp_host, "no open SMTP port to greet")};
    }
    return results;
  }

 private:
  CheckResult judge(Context& ctx, const Endpoint& e, const FirstContact& fc) const {
    CheckResult r = endpoint_result(ctx, info().id, e);
    r.facts["greeting_ok"] = false;
    const Severity weight = endpoint_weight(e, Severity::critical, Severity::warning);
    note_connection_limit(r, e, fc.limit);

    // Step 1: the connection, and TLS first on 465.
    if (judge_connection(r, e, fc, weight)) return r;

    // Step 2: the banner.
    if (fc.greeting_failure) {
      no_greeting(r, e, *fc.greeting_failure, "SMTP", weight);
      return r;
    }
    const auto& reply = fc.banner;
    r.facts["banner"] = reply.raw();
    r.summary = reply.raw().substr(0, reply.raw().find('\n'));
    r.facts["code"] = reply.code;
    switch (proto::classify_smtp_greeting(reply)) {
      case GreetingKind::unexpected:
        r.findings.push_back(make_finding(
            "protocol.unexpected-greeting", weight,
            fmt::format("{} answered, but not with an SMTP 220 greeting", e.label()),
            {{"banner", reply.raw()}}));
        r.settle();
        return r;
      case GreetingKind::rate_limited:
        r.findings.push_back(make_finding(
            "rate-limited", fmt::format("{} is rate-limiting us: {}", e.label(), reply.raw()),
            {{"banner", reply.raw()}, {"code", reply.code}, {"enhanced", reply.enhanced()}}));
        r.settle();
        return r;
      case GreetingKind::refused:
        r.findings.push_back(make_finding(
            "protocol.service-refused", weight,
            fmt::format("{} refuses service: {}", e.label(), reply.raw()),
            {{"banner", reply.raw()}, {"code", reply.code}}));
        r.settle();
        return r;
      case GreetingKind::ok:
        break;
    }
    r.facts["greeting_ok"] = true;

    // Step 3: EHLO, and the STARTTLS upgrade where the endpoint uses it.
    if (fc.ehlo && fc.ehlo->code == 250) {
      const auto parsed = proto::parse_ehlo(*fc.ehlo);
      r.facts["ehlo"] = ehlo_facts(parsed);
      std::size_t over_limit = parsed.over_limit;
      if (e.tls == TlsMode::starttls) {
        r.facts["starttls"] = parsed.starttls;
        if (fc.starttls_tls_failure) {
          starttls_handshake_failed(r, e, *fc.starttls_tls_failure, weight);
          return r;
        }
        if (fc.starttls_tried && !fc.starttls_failure && !fc.starttls_tls) {
          r.facts["starttls_reply"] = fc.starttls_refused;
        }
        if (fc.starttls_tls) {
          r.facts["tls"] = tls_facts(*fc.starttls_tls);
          if (fc.ehlo_after_tls && fc.ehlo_after_tls->code == 250) {
            const auto after = proto::parse_ehlo(*fc.ehlo_after_tls);
            r.facts["ehlo_after_tls"] = ehlo_facts(after);
            over_limit += after.over_limit;
          }
          judge_after_starttls(r, e, fc, weight);
        }
      }
      note_over_limit(r, e, over_limit, "EHLO keywords and AUTH mechanisms");
    } else if (fc.ehlo && (fc.ehlo->code == 421 || fc.ehlo->enhanced().rfind("4.7.", 0) == 0)) {
      r.findings.push_back(make_finding(
          "rate-limited", fmt::format("{} is rate-limiting us: {}", e.label(), fc.ehlo->raw()),
          {{"reply", fc.ehlo->raw()}}));
    } else {
      // Greeted, then no usable EHLO reply (none in time, an over-long or endless one, a
      // refusal): a phone can go no further either. This passed quietly before.
      const std::string why = fc.ehlo_failure ? fc.ehlo_failure->message
                                              : fc.ehlo ? "answered " + fc.ehlo->raw() : "no reply";
      r.findings.push_back(make_finding(
          "protocol.ehlo-failed", weight, fmt::format("{} greeted, but EHLO failed: {}", e.label(), why),
          {{"error", why}}));
    }
    keep_transcript(ctx, info().id, e, fc.transcript);
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_smtp_greeting() { return std::make_unique<SmtpGreetingCheck>(); }

}  // namespace mailready::checks
