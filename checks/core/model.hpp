#pragma once
// The result model: what every check produces and every reporter reads.
// Report → results (one per check, target and endpoint) → findings.
// The JSON form of these types is public API (reports/schema/report.schema.json).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mailready {

/// How bad a finding is. Ordered: a larger value is worse.
enum class Severity { info, warning, critical };

/// What happened to one check on one endpoint. `error` means "we could not probe",
/// which is separate from what the server got wrong (the findings' severities).
enum class Status { pass, warn, fail, skip, error };

/// The run's overall verdict, in the monitoring-plugins sense.
enum class Verdict { ok, warning, critical, unknown };

/// Which way mail flows through an endpoint.
enum class Role { incoming, submission, relay };

/// How TLS is had on an endpoint.
enum class TlsMode { implicit, starttls, none };

/// The protocol an endpoint speaks.
enum class Protocol { imap, smtp, pop3 };

std::string_view to_string(Severity s);
std::string_view to_string(Status s);
std::string_view to_string(Verdict v);
std::string_view to_string(Role r);
std::string_view to_string(TlsMode t);
std::string_view to_string(Protocol p);

/// One host:port the phone talks to, on one resolved address.
struct Endpoint {
  std::string host;     ///< the name as given ("mail.example.test")
  std::string address;  ///< the resolved address this endpoint was probed on
  int port = 0;
  Protocol protocol = Protocol::imap;
  TlsMode tls = TlsMode::none;
  Role role = Role::incoming;

  /// "mail.example.test[192.0.2.1]:993", for messages and keys.
  std::string label() const;
  bool operator==(const Endpoint& o) const;
  bool operator<(const Endpoint& o) const;
};

/// A problem (or a noteworthy fact) found on the server side.
struct Finding {
  std::string id;  ///< stable dotted id, e.g. "port.filtered"; public API
  Severity severity = Severity::info;
  std::string message;      ///< one line, written for an admin
  nlohmann::json evidence;  ///< the server's words, timings: an object
  std::string remediation;  ///< imperative: what to change
};

/// What one check found on one endpoint (or on a host, when endpoint is empty).
struct CheckResult {
  std::string check;  ///< the check id
  std::string target;
  std::optional<Endpoint> endpoint;
  Status status = Status::pass;
  /// How long this result took; negative until set (the runner then uses the check's time).
  std::chrono::milliseconds duration{-1};
  nlohmann::json facts = nlohmann::json::object();
  std::vector<Finding> findings;
  std::string summary;  ///< one line for people: "open in 3 ms", "220 mx ESMTP"
  std::string error;    ///< why the probe could not run (status error or skip)

  /// The host this result is about: the endpoint's, else facts.host (host-level
  /// results), else the target.
  std::string host() const;
  /// The endpoint's label, or the host for host-level results.
  std::string where() const;

  /// Sets status from the findings: fail on a critical, warn on a warning, else pass.
  /// Leaves skip and error alone.
  void settle();
};

/// Where the path breaks first, and what to do about it.
struct Diagnosis {
  std::string hop;      ///< dns, firewall, tls, gateway, directory, mail-server, mta
  std::string check;    ///< the check that saw it
  std::string where;    ///< the endpoint or host
  std::string finding;  ///< the finding id ("" for a probe error)
  std::string message;  ///< the finding's message or the error
  std::string advice;   ///< what to do, in the guide's words
};

/// A whole run.
struct Report {
  static constexpr int schema_version = 1;
  std::string tool_version;
  std::string started_at;  ///< RFC 3339, UTC
  std::chrono::milliseconds duration{0};
  std::vector<CheckResult> results;
  std::optional<Diagnosis> diagnosis;  ///< the first broken hop; none when nothing is
};

/// The worst outcome across all results: critical > warning > unknown > ok
/// (monitoring-plugins' max_state_alt). An `error` result with nothing worse is unknown.
Verdict verdict_of(const Report& report);

/// The process exit code for a verdict: 0 ok, 1 warning, 2 critical, 3 unknown.
int exit_code_of(Verdict v);

/// The worst severity among the findings, if any.
std::optional<Severity> worst_severity(const std::vector<Finding>& findings);

}  // namespace mailready
