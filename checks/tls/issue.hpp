#pragma once
// What the TLS evaluators return: a problem found in a certificate chain or a TLS session.
// The check modules turn each Issue into a Finding with checks::make_finding(id, severity,
// message, evidence), which adds the catalog's remediation (checks/modules/findings.cpp).

#include <nlohmann/json.hpp>
#include <string>

#include "checks/core/model.hpp"

namespace mailready::tls {

/// One problem, with a catalogued finding id ("cert.expired"). The message is one line for
/// an admin and names the certificate and the numbers; evidence is a JSON object.
struct Issue {
  std::string id;
  Severity severity = Severity::info;
  std::string message;
  nlohmann::json evidence = nlohmann::json::object();
};

}  // namespace mailready::tls
