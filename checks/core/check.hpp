#pragma once
// The check interface. A check has a stable dotted id, a title, the checks whose results
// it reads, and either a run() over the whole run or a run_endpoint() per endpoint.

#include <string_view>
#include <vector>

#include "checks/core/model.hpp"

namespace mailready {

class Context;

/// What `mailready checks` lists about a check.
struct CheckInfo {
  std::string_view id;     ///< "ports.reachability": stable, never reused
  std::string_view title;  ///< one line
  std::vector<std::string_view> needs;  ///< ids whose results this check reads
  /// Runs once per endpoint of the run (run_endpoint), each endpoint as soon as the
  /// results of its own needs for that endpoint exist: a slow endpoint delays only its
  /// own row. Otherwise run() runs once, after every need has finished everywhere.
  bool per_endpoint = false;
};

/// One check module. Its code must not throw for server problems (they are findings);
/// the runner turns anything it does throw into an `error` result for this check alone
/// (for that endpoint alone, per endpoint).
class Check {
 public:
  virtual ~Check() = default;
  virtual const CheckInfo& info() const = 0;
  /// A whole-run check's results.
  virtual std::vector<CheckResult> run(Context& ctx) const;
  /// A per-endpoint check's results about `e`; none when it has nothing to do there.
  virtual std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const;
  /// A per-endpoint check's last word once every endpoint is done: gets their results in
  /// the run's endpoint order and returns the check's results (it may add host-level
  /// ones, or one that says why nothing applied). The default returns them as they are.
  virtual std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const;
};

}  // namespace mailready
