#pragma once
// The check interface. A check has a stable dotted id, a title, the checks whose results
// it reads, and a run() that probes and returns results (one per endpoint, or one per host).

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
};

/// One check module. run() must not throw for server problems (they are findings); the
/// runner turns anything it does throw into an `error` result for this check alone.
class Check {
 public:
  virtual ~Check() = default;
  virtual const CheckInfo& info() const = 0;
  virtual std::vector<CheckResult> run(Context& ctx) const = 0;
};

}  // namespace mailready
