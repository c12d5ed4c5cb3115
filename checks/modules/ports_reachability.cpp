// ports.reachability: a TCP connect to every planned port on every resolved address, all
// at once (one per endpoint, concurrently), so a firewall that drops costs one timeout for
// the whole run; an open port's connection becomes that endpoint's first session.

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
                             {"dns.resolve"},
                             true};
    return i;
  }

  // Every planned port of an address at once, even above --per-host: a bare connect holds
  // no session, and a firewall that drops must cost one timeout, not one per port.
  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    CheckResult r = endpoint_result(ctx, info().id, e);
    if (e.address.empty()) {
      r.status = Status::skip;
      r.error = fmt::format("needs dns.resolve: {} has no address", e.host);
      return {r};
    }
    Poco::Net::StreamSocket open;
    const auto probe = proto::probe_port({e.address, e.port}, ctx.wait_budget(), open);
    if (probe.state == proto::PortState::open && open.impl()->initialized()) {
      park_connection(ctx, e, open);
    }
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
    return {r};
  }
};

}  // namespace

std::unique_ptr<Check> make_ports_reachability() { return std::make_unique<PortsReachability>(); }

}  // namespace mailready::checks
