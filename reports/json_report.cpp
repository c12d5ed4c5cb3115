// The JSON report: the public contract. Field names and meanings only ever grow; a
// change that breaks a consumer bumps schema_version.

#include "reports/reporters.hpp"

namespace mailready {

void to_json(nlohmann::json& j, const Endpoint& e) {
  j = {{"host", e.host},
       {"address", e.address},
       {"port", e.port},
       {"protocol", to_string(e.protocol)},
       {"tls", to_string(e.tls)},
       {"role", to_string(e.role)}};
}

void to_json(nlohmann::json& j, const Finding& f) {
  j = {{"id", f.id},
       {"severity", to_string(f.severity)},
       {"message", f.message},
       {"evidence", f.evidence.is_object() ? f.evidence : nlohmann::json::object()},
       {"remediation", f.remediation}};
}

void to_json(nlohmann::json& j, const CheckResult& r) {
  j = {{"check", r.check},
       {"target", r.target},
       {"endpoint", r.endpoint ? nlohmann::json(*r.endpoint) : nlohmann::json(nullptr)},
       {"status", to_string(r.status)},
       {"duration_ms", r.duration.count()},
       {"summary", r.summary},
       {"facts", r.facts.is_object() ? r.facts : nlohmann::json::object()},
       {"findings", r.findings}};
  if (!r.error.empty()) j["error"] = r.error;
}

namespace report {

nlohmann::json to_json(const Report& report) {
  const Verdict v = verdict_of(report);
  nlohmann::json diagnosis = nullptr;
  if (report.diagnosis) {
    const auto& d = *report.diagnosis;
    diagnosis = {{"hop", d.hop},         {"check", d.check},     {"where", d.where},
                 {"finding", d.finding}, {"message", d.message}, {"advice", d.advice}};
  }
  return {{"schema_version", Report::schema_version},
          {"diagnosis", diagnosis},
          {"tool", {{"name", "mailready"}, {"version", report.tool_version}}},
          {"started_at", report.started_at},
          {"duration_ms", report.duration.count()},
          {"verdict", to_string(v)},
          {"exit_code", exit_code_of(v)},
          {"results", report.results}};
}

void write_json(const Report& report, std::ostream& out, const RenderOptions& /*options*/) {
  // Invalid UTF-8 from a server (banners are the server's bytes) is replaced, not thrown.
  out << to_json(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

namespace {
constexpr auto replace_invalid = nlohmann::json::error_handler_t::replace;
}  // namespace

std::string ndjson_result_line(const CheckResult& result) {
  nlohmann::json j = {{"type", "result"}};
  j.update(nlohmann::json(result));
  return j.dump(-1, ' ', false, replace_invalid);
}

std::string ndjson_summary_line(const Report& report, std::string_view target) {
  nlohmann::json j = to_json(report);
  j["results"] = report.results.size();
  nlohmann::json out = {{"type", "summary"}};
  if (!target.empty()) out["target"] = target;
  out.update(j);
  return out.dump(-1, ' ', false, replace_invalid);
}

void write_ndjson(const Report& report, std::ostream& out, const RenderOptions& /*options*/) {
  for (const auto& r : report.results) out << ndjson_result_line(r) << '\n';
  out << ndjson_summary_line(report) << '\n';
}

}  // namespace report
}  // namespace mailready
