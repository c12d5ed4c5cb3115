// imap.greeting: connect (TLS first on 993), read the "* OK" greeting, ask CAPABILITY,
// upgrade with STARTTLS on 143. Judged from the endpoint's first session, which
// smtp.greeting and tls.handshake share.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/proto/imap.hpp"

namespace mailready::checks {
namespace {

using proto::ImapGreeting;

class ImapGreetingCheck final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"imap.greeting", "IMAP servers greet with * OK (after TLS on 993)",
                             {"ports.reachability"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    if (e.protocol != Protocol::imap || !port_open(ctx, e)) return {};
    return {judge(ctx, e, first_contact(ctx, e))};
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) {
      return {nothing_to_do(ctx, info().id, ctx.options().imap_host, "no open IMAP port to greet")};
    }
    return results;
  }

 private:
  CheckResult judge(Context& ctx, const Endpoint& e, const FirstContact& fc) const {
    CheckResult r = endpoint_result(ctx, info().id, e);
    r.facts["greeting_ok"] = false;
    const Severity weight = endpoint_weight(e, Severity::critical, Severity::warning);
    note_connection_limit(r, e, fc.limit);

    // Step 1: the connection, and TLS first on 993.
    if (judge_connection(r, e, fc, weight)) return r;

    // Step 2: the greeting.
    if (fc.greeting_failure) {
      no_greeting(r, e, *fc.greeting_failure, "IMAP", weight);
      return r;
    }
    r.facts["banner"] = fc.imap_line;
    r.summary = fc.imap_line;
    switch (fc.imap.kind) {
      case ImapGreeting::Kind::unexpected:
        r.findings.push_back(make_finding(
            "protocol.unexpected-greeting", weight,
            fmt::format("{} answered, but not with an IMAP greeting", e.label()),
            {{"banner", fc.imap_line}}));
        r.settle();
        return r;
      case ImapGreeting::Kind::bye:
        r.findings.push_back(proto::sounds_rate_limited(fc.imap.text)
            ? make_finding("rate-limited",
                           fmt::format("{} refuses more connections: {}", e.label(), fc.imap.text),
                           {{"banner", fc.imap_line}})
            : make_finding("protocol.service-refused", weight,
                           fmt::format("{} refuses service: {}", e.label(), fc.imap.text),
                           {{"banner", fc.imap_line}}));
        r.settle();
        return r;
      case ImapGreeting::Kind::ok:
      case ImapGreeting::Kind::preauth:
        break;
    }
    r.facts["greeting_ok"] = true;
    r.facts["greeting"] = fc.imap.kind == ImapGreeting::Kind::ok ? "ok" : "preauth";

    // Step 3: capabilities, from the greeting's response code or by asking.
    r.facts["capabilities"] = fc.capabilities;
    note_over_limit(r, e, fc.capabilities_over_limit, "capabilities");

    // Step 4: the STARTTLS upgrade on 143, and capabilities again (they change).
    if (e.tls == TlsMode::starttls) {
      r.facts["starttls"] = proto::has_capability(fc.capabilities, "STARTTLS");
      if (fc.starttls_tls) {
        r.facts["tls"] = tls_facts(*fc.starttls_tls);
        if (fc.capabilities_after_tls) r.facts["capabilities_after_tls"] = *fc.capabilities_after_tls;
        judge_after_starttls(r, e, fc, weight);
      } else if (fc.starttls_tls_failure) {
        starttls_handshake_failed(r, e, *fc.starttls_tls_failure, weight);
        return r;
      }
    }
    keep_transcript(ctx, info().id, e, fc.transcript);
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_imap_greeting() { return std::make_unique<ImapGreetingCheck>(); }

}  // namespace mailready::checks
