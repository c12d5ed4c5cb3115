// ports.reachability: a TCP connect to every planned port on every resolved address, all
// at once, so a firewall that drops costs one timeout for the whole run.

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/proto/connect.hpp"

namespace mailready::checks {
namespace {

class PortsReachability final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"ports.reachability",
                             "TCP reachability of 993, 587, 465, 25 (and 143) on every address",
                             {"dns.resolve"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    // The addresses dns.resolve found, per host.
    std::map<std::string, std::vector<std::string>> addresses;
    for (const auto& r : ctx.results_of("dns.resolve")) {
      const auto host = r.facts.value("host", "");
      addresses[host] = r.facts.value("addresses", std::vector<std::string>{});
    }

    std::vector<CheckResult> results;
    std::vector<proto::PortTarget> targets;
    for (const auto& spec : planned_ports(ctx.options())) {
      const auto& list = addresses[spec.host];
      if (list.empty()) {
        Endpoint e{spec.host, "", spec.port, spec.protocol, spec.tls, spec.role};
        CheckResult r = endpoint_result(ctx, info().id, e);
        r.status = Status::skip;
        r.error = fmt::format("needs dns.resolve: {} has no address", spec.host);
        results.push_back(std::move(r));
        continue;
      }
      for (const auto& address : list) {
        Endpoint e{spec.host, address, spec.port, spec.protocol, spec.tls, spec.role};
        results.push_back(endpoint_result(ctx, info().id, e));
        targets.push_back({address, spec.port});
      }
    }

    // Every planned port of an address at once, even above --per-host: a bare connect holds
    // no session, and a firewall that drops must cost one timeout, not one per port.
    const int per_address =
        std::max(ctx.options().per_host, static_cast<int>(planned_ports(ctx.options()).size()));
    const auto probes = proto::probe_ports(targets, ctx.wait_budget(), per_address);
    std::size_t k = 0;
    for (auto& r : results) {
      if (r.status == Status::skip) continue;
      const auto& probe = probes[k++];
      const Endpoint& e = *r.endpoint;
      r.duration = probe.connect_ms;
      r.facts["state"] = proto::to_string(probe.state);
      r.facts["connect_ms"] = probe.connect_ms.count();
      if (!probe.detail.empty()) r.facts["detail"] = probe.detail;
      r.summary = probe.state == proto::PortState::open
                      ? fmt::format("open in {} ms", probe.connect_ms.count())
                      : fmt::format("{}: {}", proto::to_string(probe.state),
                                    probe.state == proto::PortState::filtered
                                        ? "no answer before the timeout"
                                        : probe.detail);
      if (probe.state != proto::PortState::open) {
        const std::string id = fmt::format("port.{}", proto::to_string(probe.state));
        const std::string what = probe.state == proto::PortState::filtered
                                     ? fmt::format("no answer within {} ms", probe.connect_ms.count())
                                     : probe.detail;
        r.findings.push_back(make_finding(
            id, endpoint_weight(e, Severity::critical, Severity::info),
            fmt::format("{} is {} ({})", e.label(), proto::to_string(probe.state), what),
            {{"state", proto::to_string(probe.state)},
             {"connect_ms", probe.connect_ms.count()},
             {"detail", what}}));
      }
      r.settle();
    }
    return results;
  }
};

}  // namespace

std::unique_ptr<Check> make_ports_reachability() { return std::make_unique<PortsReachability>(); }

}  // namespace mailready::checks
