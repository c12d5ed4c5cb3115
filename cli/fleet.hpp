#pragma once
// `mailready check --targets FILE`: one run per target, --parallel of them at once, all
// drawing connection slots from one budget (--per-host per server address, shared by the
// targets that resolve to it; --max-connections over all), each target's report handed to
// the format's fleet writer when it ends and then dropped. Ctrl-C (or SIGTERM) stops
// starting targets; those in flight finish within their deadline, the report of what ran
// is written whole, and the exit code is 3.

#include "cli/command_line.hpp"
#include "cli/output.hpp"
#include "cli/targets.hpp"
#include "reports/reporters.hpp"

namespace mailready::cli {

/// How a report for `out` is rendered: colour only on a terminal without NO_COLOR, the
/// certificate-days thresholds of --warning / --critical. One run's and a fleet's alike.
report::RenderOptions render_options(const Invocation& inv, const Output& out);

/// Runs the fleet and writes its reports; returns the exit code.
int run_fleet(const Invocation& inv, const TargetList& list);

/// The Options of one target: the command line's, with what the targets file says of
/// this target over them (hosts, pins, the login).
Options target_options(const Options& base, const serve::TargetConfig& target);

}  // namespace mailready::cli
