#pragma once
// Reporters: each one a pure function of the Report. They do not touch the network, the
// clock or the environment; what differs between a terminal and a file comes in
// RenderOptions.

#include <ostream>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/core/model.hpp"

namespace mailready::report {

struct RenderOptions {
  bool color = false;  ///< ANSI colours (the CLI decides: TTY and no NO_COLOR)
};

/// The report as the public JSON document (reports/schema/report.schema.json).
nlohmann::json to_json(const Report& report);
void write_json(const Report& report, std::ostream& out, const RenderOptions& options);

/// The report for people: results grouped by endpoint, findings with remediation.
void write_text(const Report& report, std::ostream& out, const RenderOptions& options);

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
