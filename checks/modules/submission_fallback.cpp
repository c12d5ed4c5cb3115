// submission.fallback: where a phone's outgoing mail lands when it tries 587, then 465,
// then 25 (Apple's "iPhone and IMAP" guide; --fallback-order changes it).

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"

namespace mailready::checks {
namespace {

class SubmissionFallback final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"submission.fallback",
                             "The port a phone sends through (587, then 465, then 25)",
                             {"ports.reachability", "smtp.greeting"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    const auto& opts = ctx.options();
    const auto ports = ctx.results_of("ports.reachability");
    const auto greetings = ctx.results_of("smtp.greeting");
    CheckResult r = host_result(ctx, info().id, opts.smtp_host);
    r.facts["order"] = opts.fallback_order;
    r.facts["port"] = nullptr;
    r.facts["address"] = nullptr;

    // Without an address there is nothing to fall back over: dns.resolve already said so.
    const bool any_address = std::any_of(ports.begin(), ports.end(), [&](const CheckResult& p) {
      return p.endpoint && p.endpoint->host == opts.smtp_host && p.status != Status::skip;
    });
    if (!any_address) {
      r.status = Status::skip;
      r.error = fmt::format("needs dns.resolve: {} has no address", opts.smtp_host);
      return {r};
    }

    // Walk the ports in the phone's order; a port "works" when any of the host's
    // addresses gave a 220 greeting on it.
    nlohmann::json attempts = nlohmann::json::array();
    std::optional<int> undetermined;
    std::vector<std::string> failed;
    for (const int port : opts.fallback_order) {
      std::string state = "not probed";
      for (const auto& p : ports) {
        if (p.endpoint && p.endpoint->host == opts.smtp_host && p.endpoint->port == port &&
            p.facts.contains("state")) {
          state = p.facts["state"].get<std::string>();
          if (state == "open") break;
        }
      }
      const CheckResult* works = nullptr;
      for (const auto& g : greetings) {
        if (g.endpoint && g.endpoint->host == opts.smtp_host && g.endpoint->port == port &&
            g.facts.value("greeting_ok", false)) {
          works = &g;
          break;
        }
      }
      // A port that is open but whose greeting could not be probed (an error, or the
      // deadline) leaves the answer unknown from here on.
      const bool unknown = state == "not probed" ||
          (state == "open" && works == nullptr &&
           std::none_of(greetings.begin(), greetings.end(), [&](const CheckResult& g) {
             return g.endpoint && g.endpoint->host == opts.smtp_host && g.endpoint->port == port &&
                    g.status != Status::error && g.status != Status::skip;
           }));
      if (unknown && works == nullptr) {
        undetermined = port;
        break;
      }
      attempts.push_back({{"port", port}, {"state", state}, {"greeting_ok", works != nullptr}});
      if (works != nullptr) {
        r.facts["port"] = port;
        r.facts["address"] = works->endpoint->address;
        break;
      }
      failed.push_back(fmt::format("{} {}", port, state == "open" ? "gives no SMTP greeting" : state));
    }
    r.facts["attempts"] = attempts;
    if (undetermined) {
      r.status = Status::error;
      r.error = fmt::format("could not tell whether port {} works (it could not be probed)", *undetermined);
      r.summary = r.error;
      return {r};
    }
    r.summary = r.facts["port"].is_null() ? "no port works"
                                          : fmt::format("port {}", r.facts["port"].get<int>());

    const auto why = failed.empty() ? std::string() : fmt::format(" ({})", fmt::join(failed, ", "));
    const nlohmann::json evidence = {{"attempts", attempts}};
    if (r.facts["port"].is_null()) {
      r.findings.push_back(make_finding(
          "submission.unreachable",
          fmt::format("No submission port of {} works{}: phones cannot send mail", opts.smtp_host, why),
          evidence));
    } else if (r.facts["port"] == 465) {
      r.findings.push_back(make_finding(
          "submission.fallback-465",
          fmt::format("Phones will send through port 465{}", why), evidence));
    } else if (r.facts["port"] == 25) {
      r.findings.push_back(make_finding(
          "submission.fallback-25",
          fmt::format("Phones will send through port 25{}", why), evidence));
    }
    r.settle();
    return {r};
  }
};

}  // namespace

std::unique_ptr<Check> make_submission_fallback() { return std::make_unique<SubmissionFallback>(); }

}  // namespace mailready::checks
