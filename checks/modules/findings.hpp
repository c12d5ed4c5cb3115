#pragma once
// The catalog of finding ids: their titles, long explanations and remediations. Every
// finding a check emits is made here, so `mailready explain ID` knows every id there is.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/core/model.hpp"

namespace mailready::checks {

struct FindingInfo {
  std::string_view id;
  std::string_view title;
  Severity severity;  ///< the usual severity (some checks raise or lower it per endpoint)
  std::string_view explanation;
  std::string_view remediation;
};

/// Every finding id mailready can emit, sorted by id.
const std::vector<FindingInfo>& finding_catalog();

/// The entry for `id`, or nullptr.
const FindingInfo* find_finding_info(std::string_view id);

/// A finding of a catalogued id, with the catalog's remediation. Throws std::logic_error
/// for an id missing from the catalog (a programming error caught by the tests).
Finding make_finding(std::string_view id, Severity severity, std::string message,
                     nlohmann::json evidence = nlohmann::json::object());

/// Same, at the catalog's usual severity.
Finding make_finding(std::string_view id, std::string message,
                     nlohmann::json evidence = nlohmann::json::object());

}  // namespace mailready::checks
