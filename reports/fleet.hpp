#pragma once
// The report of a fleet (`mailready check --targets FILE`): each target's report is handed
// to the writer when that target's last check ends, and dropped by the caller right
// after, so memory holds only what is in flight. Writers emit text as they go; only
// json keeps its targets (one document), text and nagios keep one short row per target
// (text) or per target that is not OK (nagios), ndjson, junit and prometheus nothing
// that grows with the fleet (prometheus groups each family's samples in a temporary file).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "checks/core/model.hpp"
#include "reports/reporters.hpp"

namespace mailready::report {

/// The fleet's totals, for the writers' closing part.
struct FleetSummary {
  std::string tool_version;
  std::string started_at;
  std::chrono::milliseconds duration{0};
  std::size_t targets = 0;      ///< in the file
  std::size_t checked = 0;      ///< reported
  int by_verdict[4] = {0, 0, 0, 0};  ///< indexed by Verdict
  bool interrupted = false;     ///< stopped early (Ctrl-C): checked < targets
  Verdict verdict = Verdict::ok;

  void add(Verdict v);
};

/// The fleet's exit code: the worst target's verdict (critical > warning > unknown > ok,
/// as verdict_of orders them), and 3 for a run stopped before every target was checked.
int fleet_exit_code(const FleetSummary& summary);

/// Writes one format's fleet report through `emit`. Calls come one at a time.
class FleetWriter {
 public:
  using Emit = std::function<void(const std::string&)>;
  virtual ~FleetWriter() = default;
  virtual void begin() {}
  /// A result as soon as it is ready (ndjson streams them; the others wait for target()).
  virtual void result(const CheckResult& /*r*/) {}
  virtual void target(const std::string& name, const Report& report) = 0;
  virtual void end(const FleetSummary& summary) = 0;
  /// True when result() writes something (the caller then hands results over live).
  virtual bool streams_results() const { return false; }
};

/// The writer for `format` (one of formats()), or nullptr.
std::unique_ptr<FleetWriter> make_fleet_writer(std::string_view format, FleetWriter::Emit emit,
                                               const RenderOptions& options);

/// The first problem of a report in one line ("port.filtered: 993 filtered"), "" if none.
std::string first_problem(const Report& report);

}  // namespace mailready::report
