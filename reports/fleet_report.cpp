// The fleet's writers, one per format (reports/fleet.hpp).

#include "reports/fleet.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace mailready::report {
namespace {

constexpr auto replace_invalid = nlohmann::json::error_handler_t::replace;

/// Severity rank of a verdict: ok < unknown < warning < critical (verdict_of's order).
int rank(Verdict v) {
  switch (v) {
    case Verdict::ok: return 0;
    case Verdict::unknown: return 1;
    case Verdict::warning: return 2;
    case Verdict::critical: return 3;
  }
  return 1;
}

nlohmann::json summary_json(const FleetSummary& s) {
  return {{"targets", s.targets},
          {"checked", s.checked},
          {"interrupted", s.interrupted},
          {"ok", s.by_verdict[static_cast<int>(Verdict::ok)]},
          {"warning", s.by_verdict[static_cast<int>(Verdict::warning)]},
          {"critical", s.by_verdict[static_cast<int>(Verdict::critical)]},
          {"unknown", s.by_verdict[static_cast<int>(Verdict::unknown)]},
          {"verdict", to_string(s.verdict)},
          {"exit_code", fleet_exit_code(s)}};
}

class TextFleet final : public FleetWriter {
 public:
  TextFleet(Emit emit, RenderOptions options) : emit_(std::move(emit)), options_(options) {}
  void target(const std::string& name, const Report& report) override {
    std::ostringstream out;
    out << fmt::format("━━ {} ━━\n", name);
    write_text(report, out, options_);
    out << '\n';
    emit_(out.str());
    rows_.push_back({name, verdict_of(report), first_problem(report)});
  }
  void end(const FleetSummary& s) override {
    std::size_t width = 6;
    for (const auto& r : rows_) width = std::max(width, r.name.size());
    std::string out = fmt::format("Fleet: {} of {} targets checked in {:.1f} s{}\n", s.checked,
                                  s.targets, static_cast<double>(s.duration.count()) / 1000.0,
                                  s.interrupted ? " (interrupted: the rest were not run)" : "");
    out += fmt::format("  {:<{}}  {:<8}  {}\n", "TARGET", width, "VERDICT", "FIRST PROBLEM");
    for (const auto& r : rows_) {
      out += fmt::format("  {:<{}}  {:<8}  {}\n", r.name, width, to_string(r.verdict), r.problem);
    }
    out += fmt::format("  {} ok, {} warning, {} critical, {} unknown. Verdict: {}\n",
                       s.by_verdict[0], s.by_verdict[1], s.by_verdict[2], s.by_verdict[3],
                       to_string(s.verdict));
    emit_(out);
  }

 private:
  struct Row {
    std::string name;
    Verdict verdict;
    std::string problem;
  };
  Emit emit_;
  RenderOptions options_;
  std::vector<Row> rows_;
};

class JsonFleet final : public FleetWriter {
 public:
  explicit JsonFleet(Emit emit) : emit_(std::move(emit)) {}
  void target(const std::string& name, const Report& report) override {
    targets_.push_back({{"target", name}, {"report", to_json(report)}});
  }
  void end(const FleetSummary& s) override {
    nlohmann::json doc = {{"schema_version", Report::schema_version},
                          {"tool", {{"name", "mailready"}, {"version", s.tool_version}}},
                          {"started_at", s.started_at},
                          {"duration_ms", s.duration.count()},
                          {"verdict", to_string(s.verdict)},
                          {"exit_code", fleet_exit_code(s)},
                          {"summary", summary_json(s)},
                          {"targets", std::move(targets_)}};
    emit_(doc.dump(2, ' ', false, replace_invalid) + "\n");
  }

 private:
  Emit emit_;
  nlohmann::json targets_ = nlohmann::json::array();
};

class NdjsonFleet final : public FleetWriter {
 public:
  explicit NdjsonFleet(Emit emit) : emit_(std::move(emit)) {}
  bool streams_results() const override { return true; }
  void result(const CheckResult& r) override { emit_(ndjson_result_line(r) + "\n"); }
  void target(const std::string& name, const Report& report) override {
    emit_(ndjson_summary_line(report, name) + "\n");
  }
  void end(const FleetSummary& s) override {
    nlohmann::json j = {{"type", "fleet_summary"},
                        {"schema_version", Report::schema_version},
                        {"started_at", s.started_at},
                        {"duration_ms", s.duration.count()}};
    j.update(summary_json(s));
    emit_(j.dump(-1, ' ', false, replace_invalid) + "\n");
  }

 private:
  Emit emit_;
};

class JunitFleet final : public FleetWriter {
 public:
  explicit JunitFleet(Emit emit) : emit_(std::move(emit)) {}
  void begin() override {
    emit_("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mailready fleet\">\n");
  }
  void target(const std::string& /*name*/, const Report& report) override {
    std::ostringstream out;
    write_junit_suite(report, out);
    emit_(out.str());
  }
  void end(const FleetSummary& /*s*/) override { emit_("</testsuites>\n"); }

 private:
  Emit emit_;
};

class NagiosFleet final : public FleetWriter {
 public:
  explicit NagiosFleet(Emit emit) : emit_(std::move(emit)) {}
  void target(const std::string& name, const Report& report) override {
    const Verdict v = verdict_of(report);
    if (v == Verdict::ok) return;
    const std::string problem = first_problem(report);
    bad_.push_back({rank(v), fmt::format("{} {}{}", name, to_string(v),
                                         problem.empty() ? "" : ": " + problem)});
  }
  void end(const FleetSummary& s) override {
    static const char* const names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};
    const int code = fleet_exit_code(s);
    std::stable_sort(bad_.begin(), bad_.end(),
                     [](const Bad& a, const Bad& b) { return a.rank > b.rank; });
    std::string summary = fmt::format(
        "{} of {} targets: {} critical, {} warning, {} unknown", s.checked, s.targets,
        s.by_verdict[2], s.by_verdict[1], s.by_verdict[3]);
    if (s.interrupted) summary += " (interrupted)";
    std::string out = fmt::format(
        "MAILREADY {} - {} | targets={} checked={} ok={} warning={} critical={} unknown={}\n",
        names[code], summary, s.targets, s.checked, s.by_verdict[0], s.by_verdict[1],
        s.by_verdict[2], s.by_verdict[3]);
    for (const auto& b : bad_) out += b.line + "\n";
    emit_(out);
  }

 private:
  struct Bad {
    int rank;
    std::string line;
  };
  Emit emit_;
  std::vector<Bad> bad_;
};

/// Each family's samples go to a temporary file of their own as targets finish; end()
/// writes each family's header once and then its samples, as the exposition format wants.
class PrometheusFleet final : public FleetWriter {
 public:
  explicit PrometheusFleet(Emit emit) : emit_(std::move(emit)) {}
  ~PrometheusFleet() override {
    for (auto& f : families_) {
      if (f.file != nullptr) std::fclose(f.file);
    }
  }
  void target(const std::string& /*name*/, const Report& report) override {
    const auto families = prometheus_families(report);
    if (families_.empty()) families_.resize(families.size());
    for (std::size_t i = 0; i < families.size() && i < families_.size(); ++i) {
      auto& f = families_[i];
      if (families[i].samples.empty()) continue;
      if (f.file == nullptr) {
        f.header = families[i].header;
        f.file = std::tmpfile();
        if (f.file == nullptr) throw std::runtime_error("prometheus: cannot make a temporary file");
      }
      if (std::fwrite(families[i].samples.data(), 1, families[i].samples.size(), f.file) !=
          families[i].samples.size()) {
        throw std::runtime_error("prometheus: cannot write a temporary file");
      }
    }
  }
  void end(const FleetSummary& /*s*/) override {
    std::string chunk;
    for (auto& f : families_) {
      if (f.file == nullptr) continue;
      emit_(f.header);
      std::rewind(f.file);
      char buffer[65536];
      std::size_t n;
      while ((n = std::fread(buffer, 1, sizeof buffer, f.file)) > 0) emit_(std::string(buffer, n));
    }
  }

 private:
  struct Spool {
    std::string header;
    std::FILE* file = nullptr;
  };
  Emit emit_;
  std::vector<Spool> families_;
};

}  // namespace

void FleetSummary::add(Verdict v) {
  ++checked;
  ++by_verdict[static_cast<int>(v)];
  if (rank(v) > rank(verdict)) verdict = v;
}

int fleet_exit_code(const FleetSummary& summary) {
  return summary.interrupted ? 3 : exit_code_of(summary.verdict);
}

std::string first_problem(const Report& report) {
  // The first critical finding, else the first warning.
  const Finding* worst = nullptr;
  for (const auto& r : report.results) {
    for (const auto& f : r.findings) {
      if (f.severity == Severity::info) continue;
      if (worst == nullptr || (f.severity == Severity::critical && worst->severity != Severity::critical)) {
        worst = &f;
      }
    }
  }
  if (worst != nullptr) return fmt::format("{}: {}", worst->id, worst->message);
  for (const auto& r : report.results) {
    if (r.status == Status::error) return fmt::format("{}: {}", r.check, r.error);
  }
  return {};
}

std::unique_ptr<FleetWriter> make_fleet_writer(std::string_view format, FleetWriter::Emit emit,
                                               const RenderOptions& options) {
  if (format == "text") return std::make_unique<TextFleet>(std::move(emit), options);
  if (format == "json") return std::make_unique<JsonFleet>(std::move(emit));
  if (format == "ndjson") return std::make_unique<NdjsonFleet>(std::move(emit));
  if (format == "junit") return std::make_unique<JunitFleet>(std::move(emit));
  if (format == "nagios") return std::make_unique<NagiosFleet>(std::move(emit));
  if (format == "prometheus") return std::make_unique<PrometheusFleet>(std::move(emit));
  return nullptr;
}

}  // namespace mailready::report
