// The table of output formats: one line per format, like CLI11's formatter table.

#include "reports/reporters.hpp"

namespace mailready::report {

const std::vector<Format>& formats() {
  static const std::vector<Format> table = {
      {"text", "grouped by endpoint, for people (the default)", &write_text},
      {"json", "the whole report as JSON (schema in reports/schema)", &write_json},
      {"ndjson", "one JSON line per result as it finishes, then a summary line", &write_ndjson},
      {"junit", "JUnit XML for CI test tabs (schema in reports/schema/junit.xsd)", &write_junit},
      {"nagios", "a monitoring-plugins status line with perfdata", &write_nagios},
      {"prometheus", "exposition format for node_exporter's textfile collector",
       &write_prometheus},
  };
  return table;
}

const Format* find_format(std::string_view name) {
  for (const auto& f : formats()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace mailready::report
