#pragma once
// The runner: runs the selected checks, each as soon as the checks it needs have finished,
// independent ones concurrently, and collects every result into a Report.

#include <vector>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"

namespace mailready {

/// Runs `checks` (in registry order, needs before dependents) and returns the report.
/// A check that throws becomes one `error` result; a check whose need was not run (not
/// selected, blocked, or past the deadline), or produced only errors, becomes one `skip`
/// result (a need that ran and found nothing to probe does not block: its dependents
/// judge that themselves); a check not started
/// before the deadline becomes one `skip` result. Never throws for a check's failure.
Report run_checks(const std::vector<const Check*>& checks, Context& ctx);

/// The current UTC time as RFC 3339 ("2026-11-27T22:45:27Z").
std::string rfc3339_now();

}  // namespace mailready
