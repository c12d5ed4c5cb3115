#pragma once
// Reporters: each one a pure function of the Report. They do not touch the network, the
// clock or the environment; what differs between a terminal and a file comes in
// RenderOptions.

#include <optional>
#include <string>
#include <ostream>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/core/model.hpp"

namespace mailready::report {

struct RenderOptions {
  bool color = false;  ///< ANSI colours (the CLI decides: TTY and no NO_COLOR)
  /// Certificate expiry thresholds in days, shown as the warn / crit ranges ("30:") of the
  /// Nagios perfdata for days left. They only annotate the perfdata: the status line and
  /// the exit code come from the report's findings, so pass the cert checks the same days.
  std::optional<int> cert_warning_days;
  std::optional<int> cert_critical_days;
};

/// The report as the public JSON document (reports/schema/report.schema.json).
nlohmann::json to_json(const Report& report);
void write_json(const Report& report, std::ostream& out, const RenderOptions& options);

/// One result as a line of NDJSON: {"type":"result", ...the result's JSON}, no newline.
std::string ndjson_result_line(const CheckResult& result);
/// The closing NDJSON line: {"type":"summary", schema_version, tool, started_at,
/// duration_ms, verdict, exit_code, results: N}, no newline.
/// `target`: the deployment's name, added as "target" (a fleet's per-target summaries).
std::string ndjson_summary_line(const Report& report, std::string_view target = {});
/// The whole report as NDJSON: one line per result, then the summary line. (The CLI
/// streams the result lines as checks finish instead.)
void write_ndjson(const Report& report, std::ostream& out, const RenderOptions& options);

/// The report for people: results grouped by endpoint, findings with remediation.
void write_text(const Report& report, std::ostream& out, const RenderOptions& options);

/// JUnit XML for CI test tabs (reports/schema/junit.xsd): a testsuite per endpoint (and
/// one per host for host-level results), a testcase per result (classname = check id,
/// name = endpoint label); warn/fail results carry a <failure>, error results an <error>,
/// skipped results <skipped>. Invalid UTF-8 and characters XML cannot carry are replaced.
void write_junit(const Report& report, std::ostream& out, const RenderOptions& options);

/// A monitoring-plugins status line ("MAILREADY WARNING - id: message; ... | perfdata")
/// with perfdata for connect, TLS handshake and login times and certificate days left,
/// then one line per result that is not a clean pass.
void write_nagios(const Report& report, std::ostream& out, const RenderOptions& options);

/// Prometheus text exposition format (0.0.4) for node_exporter's textfile collector:
/// mailready_up, per-result mailready_check_success / mailready_check_status, findings per
/// severity, connect / TLS / login durations, certificate not-after, run duration, verdict.
void write_prometheus(const Report& report, std::ostream& out, const RenderOptions& options);

/// One metric family of a Prometheus report: its HELP and TYPE lines, and its sample
/// lines (empty when the report has none of it).
struct PrometheusFamily {
  std::string header;
  std::string samples;
};
/// The families write_prometheus writes, always the same ones in the same order, so the
/// samples of many reports can be grouped under one header each (a fleet's report).
std::vector<PrometheusFamily> prometheus_families(const Report& report);

/// One <testsuite> named after the report's target, with every result as a testcase: a
/// fleet's JUnit report has one per target.
void write_junit_suite(const Report& report, std::ostream& out);

/// A named output format.
struct Format {
  std::string_view name;
  std::string_view description;
  void (*write)(const Report&, std::ostream&, const RenderOptions&);
};

/// Every format, in the order --help lists them.
const std::vector<Format>& formats();
/// The format called `name`, or nullptr.
const Format* find_format(std::string_view name);

}  // namespace mailready::report
