// imap.greeting: connect (TLS first on 993), read the "* OK" greeting, ask CAPABILITY,
// upgrade with STARTTLS on 143, and log out.

#include <algorithm>
#include <cctype>

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

/// True when a BYE greeting's text says the server is shedding load.
bool sounds_rate_limited(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* hint : {"too many", "connection limit", "try again", "overload", "busy",
                           "maximum number"}) {
    if (text.find(hint) != std::string::npos) return true;
  }
  return false;
}

class ImapGreetingCheck final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"imap.greeting", "IMAP servers greet with * OK (after TLS on 993)",
                             {"ports.reachability"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    const auto endpoints = open_endpoints(ctx, Protocol::imap);
    if (endpoints.empty()) {
      CheckResult r = host_result(ctx, info().id, ctx.options().imap_host);
      r.status = Status::skip;
      r.error = "no open IMAP port to greet";
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

    // Step 1: the greeting.
    auto line = session.read_line();
    if (!line) {
      const bool garbage = line.failure().kind == proto::Failure::Kind::protocol;
      r.facts["banner"] = nullptr;
      r.findings.push_back(make_finding(
          garbage ? "protocol.unexpected-greeting" : "protocol.no-greeting", weight,
          fmt::format("{}: no IMAP greeting: {}", e.label(), line.failure().message),
          {{"error", line.failure().message}}));
      r.settle();
      return r;
    }
    r.facts["banner"] = line.value();
    r.summary = line.value();
    const ImapGreeting greeting = proto::parse_imap_greeting(line.value());
    switch (greeting.kind) {
      case ImapGreeting::Kind::unexpected:
        r.findings.push_back(make_finding(
            "protocol.unexpected-greeting", weight,
            fmt::format("{} answered, but not with an IMAP greeting", e.label()),
            {{"banner", line.value()}}));
        r.settle();
        return r;
      case ImapGreeting::Kind::bye:
        r.findings.push_back(sounds_rate_limited(greeting.text)
            ? make_finding("rate-limited",
                           fmt::format("{} refuses more connections: {}", e.label(), greeting.text),
                           {{"banner", line.value()}})
            : make_finding("protocol.service-refused", weight,
                           fmt::format("{} refuses service: {}", e.label(), greeting.text),
                           {{"banner", line.value()}}));
        r.settle();
        return r;
      case ImapGreeting::Kind::ok:
      case ImapGreeting::Kind::preauth:
        break;
    }
    r.facts["greeting_ok"] = true;
    r.facts["greeting"] = greeting.kind == ImapGreeting::Kind::ok ? "ok" : "preauth";

    // Step 2: capabilities, from the greeting's response code or by asking.
    auto caps = greeting.capabilities;
    int tag = 0;
    const auto next_tag = [&tag] { return fmt::format("m{}", ++tag); };
    if (caps.empty()) {
      auto reply = proto::imap_command(session, next_tag(), "CAPABILITY");
      if (reply && reply->status == "OK") caps = proto::capabilities_of(reply.value());
    }
    r.facts["capabilities"] = caps;

    // Step 3: the STARTTLS upgrade on 143, and capabilities again (they change).
    if (e.tls == TlsMode::starttls) {
      r.facts["starttls"] = proto::has_capability(caps, "STARTTLS");
      if (proto::has_capability(caps, "STARTTLS")) {
        auto up = proto::imap_starttls(session, next_tag(), e.host, client_context(ctx),
                                       ctx.wait_budget());
        if (up && up->tls) {
          r.facts["tls"] = tls_facts(*up->tls);
          auto reply = proto::imap_command(session, next_tag(), "CAPABILITY");
          if (reply && reply->status == "OK") {
            r.facts["capabilities_after_tls"] = proto::capabilities_of(reply.value());
          }
        } else if (up && up->tls_failure) {
          r.facts["tls"] = tls_facts(*up->tls_failure);
          r.findings.push_back(make_finding(
              "tls.handshake-failed", weight,
              fmt::format("{}: the TLS handshake after STARTTLS failed: {}", e.label(),
                          up->tls_failure->message),
              {{"error", up->tls_failure->message}}));
          r.settle();
          return r;
        }
      }
    }

    // Step 4: leave politely; a server that does not answer LOGOUT is not our finding.
    (void)proto::imap_command(session, next_tag(), "LOGOUT");
    session.close();
    keep_transcript(ctx, info().id, e, session);
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_imap_greeting() { return std::make_unique<ImapGreetingCheck>(); }

}  // namespace mailready::checks
