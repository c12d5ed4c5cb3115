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
  return {{"schema_version", Report::schema_version},
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

}  // namespace report
}  // namespace mailready
