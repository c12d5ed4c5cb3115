// dns.resolve: the A and AAAA records of every host the phone uses.

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/proto/address.hpp"
#include "checks/proto/dns.hpp"

namespace mailready::checks {
namespace {

class DnsResolve final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"dns.resolve", "Host names resolve (A and AAAA)", {}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    auto results = for_each_concurrently(
        ctx.options().hosts(), [&](const std::string& host) { return resolve_one(ctx, host); });
    // The run's endpoints: what every per-endpoint check fans out over.
    std::map<std::string, std::vector<std::string>> addresses;
    for (const auto& r : results) {
      addresses[r.facts.value("host", "")] = r.facts.value("addresses", std::vector<std::string>{});
    }
    ctx.set_endpoints(plan_endpoints(ctx.options(), addresses));
    return results;
  }

 private:
  static CheckResult resolve_one(Context& ctx, const std::string& host) {
    const auto& opts = ctx.options();
    CheckResult r = host_result(ctx, "dns.resolve", host);
    proto::Addresses addresses;
    const auto pin = opts.pinned.find(host);
    r.facts["pinned"] = pin != opts.pinned.end();
    if (pin != opts.pinned.end()) {
      // --resolve HOST:ADDRESS, as curl: no lookup, these addresses only.
      for (const auto& a : pin->second) {
        (a.find(':') == std::string::npos ? addresses.v4 : addresses.v6).push_back(a);
      }
    } else {
      const auto got = proto::resolve(host, opts.family, ctx.wait_budget());
      if (!got) {
        r.facts["a"] = nlohmann::json::array();
        r.facts["aaaa"] = nlohmann::json::array();
        r.facts["addresses"] = nlohmann::json::array();
        r.findings.push_back(make_finding(
            "dns.unresolved", fmt::format("{} does not resolve: {}", host, got.failure().message),
            {{"host", host}, {"resolver", got.failure().message}}));
        r.summary = "does not resolve";
        r.settle();
        return r;
      }
      addresses = got.value();
    }
    if (opts.family == 4) addresses.v6.clear();
    if (opts.family == 6) addresses.v4.clear();

    std::vector<std::string> all = addresses.v4;
    all.insert(all.end(), addresses.v6.begin(), addresses.v6.end());
    r.facts["a"] = addresses.v4;
    r.facts["aaaa"] = addresses.v6;
    r.facts["addresses"] = all;
    r.summary = all.empty() ? "no address" : fmt::format("{}", fmt::join(all, ", "));
    if (all.empty()) {
      r.findings.push_back(make_finding(
          "dns.unresolved",
          fmt::format("{} has no IPv{} address", host, opts.family == 6 ? 6 : 4),
          {{"host", host}}));
    } else if (!opts.from_inside &&
               std::all_of(all.begin(), all.end(), proto::is_internal_address)) {
      r.findings.push_back(make_finding(
          "dns.private-address",
          fmt::format("{} resolves only to internal addresses ({}): phones on a carrier "
                      "network cannot reach it",
                      host, fmt::join(all, ", ")),
          {{"host", host}, {"addresses", all}}));
    }
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_dns_resolve() { return std::make_unique<DnsResolve>(); }

}  // namespace mailready::checks
