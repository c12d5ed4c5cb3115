// smtp.greeting: connect (TLS first on 465), read the 220 banner, EHLO, upgrade with
// STARTTLS on 587 and 25 when offered, EHLO again, QUIT.

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
  j["size"] = caps.size ? nlohmann::json(*caps.size) : nlohmann::json(nullptr);
  return j;
}

class SmtpGreetingCheck final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"smtp.greeting",
                             "SMTP servers greet with 220 (after TLS on 465), EHLO and STARTTLS",
                             {"ports.reachability"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    const auto endpoints = open_endpoints(ctx, Protocol::smtp);
    if (endpoints.empty()) {
      CheckResult r = host_result(ctx, info().id, ctx.options().smtp_host);
      r.status = Status::skip;
      r.error = "no open SMTP port to greet";
      return {r};
    }
    return for_each_concurrently(endpoints, [&](const Endpoint& e) { return probe(ctx, e); });
  }

 private:
  CheckResult probe(Context& ctx, const Endpoint& e) const {
    CheckResult r = endpoint_result(ctx, info().id, e);
    r.facts["greeting_ok"] = false;
    auto conn = open_connection(ctx, r);
    if (!conn) return r;
    auto& session = conn->session;
    const Severity weight = endpoint_weight(e, Severity::critical, Severity::warning);

    // Step 1: the banner.
    auto banner = proto::read_smtp_reply(session);
    if (!banner) {
      const bool garbage = banner.failure().kind == proto::Failure::Kind::protocol;
      r.facts["banner"] = nullptr;
      r.findings.push_back(make_finding(
          garbage ? "protocol.unexpected-greeting" : "protocol.no-greeting", weight,
          fmt::format("{}: no SMTP greeting: {}", e.label(), banner.failure().message),
          {{"error", banner.failure().message}}));
      r.settle();
      return r;
    }
    const auto& reply = banner.value();
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

    // Step 2: EHLO, and the STARTTLS upgrade where the endpoint uses it.
    const std::string ehlo = "EHLO " + proto::ehlo_name(session);
    auto caps = proto::smtp_command(session, ehlo);
    if (caps && caps->code == 250) {
      const auto parsed = proto::parse_ehlo(caps.value());
      r.facts["ehlo"] = ehlo_facts(parsed);
      if (e.tls == TlsMode::starttls) {
        r.facts["starttls"] = parsed.starttls;
        if (parsed.starttls && !starttls(ctx, session, e, weight, r)) return r;
      }
    } else if (caps && (caps->code == 421 || caps->enhanced().rfind("4.7.", 0) == 0)) {
      r.findings.push_back(make_finding(
          "rate-limited", fmt::format("{} is rate-limiting us: {}", e.label(), caps->raw()),
          {{"reply", caps->raw()}}));
    }

    // Step 3: leave politely.
    (void)proto::smtp_command(session, "QUIT");
    session.close();
    keep_transcript(ctx, info().id, e, session);
    r.settle();
    return r;
  }

  /// Upgrades the session and re-sends EHLO; false (with the finding) when TLS failed.
  static bool starttls(Context& ctx, proto::LineSession& session, const Endpoint& e,
                       Severity weight, CheckResult& r) {
    auto up = proto::smtp_starttls(session, e.host, client_context(ctx), ctx.wait_budget());
    if (!up) return true;  // the server went away; what we have stands
    if (up->tls_failure) {
      r.facts["tls"] = tls_facts(*up->tls_failure);
      r.findings.push_back(make_finding(
          "tls.handshake-failed", weight,
          fmt::format("{}: the TLS handshake after STARTTLS failed: {}", e.label(),
                      up->tls_failure->message),
          {{"error", up->tls_failure->message}}));
      r.settle();
      return false;
    }
    if (!up->tls) {
      r.facts["starttls_reply"] = up->reply.raw();
      return true;
    }
    r.facts["tls"] = tls_facts(*up->tls);
    auto again = proto::smtp_command(session, "EHLO " + proto::ehlo_name(session));
    if (again && again->code == 250) {
      r.facts["ehlo_after_tls"] = ehlo_facts(proto::parse_ehlo(again.value()));
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<Check> make_smtp_greeting() { return std::make_unique<SmtpGreetingCheck>(); }

}  // namespace mailready::checks
