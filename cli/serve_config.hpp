#pragma once
// The exporter's configuration (`mailready serve --config FILE`) and the pure decisions of a
// /probe request: which query parameters are allowed, which target and module they name,
// the Options one probe runs with, and its deadline from Prometheus' scrape timeout.
// No HTTP here (the server is cli/serve.cpp), so all of it is unit-tested.
//
// The file is JSON, in blackbox_exporter's shape: modules say how to probe, targets say
// where (and, later, with which account):
//
//   { "modules": { "default": { "timeout_seconds": 5, "from_inside": false,
//                               "ca_file": "/path/root.pem", "only": [], "skip": [],
//                               "imap_starttls": false, "fallback_order": [587, 465, 25] } },
//     "targets": { "mail.example.test": { "imap_host": "imap.example.test",
//                                         "smtp_host": "smtp.example.test",
//                                         "resolve": ["mail.example.test:192.0.2.10"] } },
//     "allow_any_target": false }
//
// Credentials never come from the URL: a request with any query parameter other than
// target and module is refused, and refusals never repeat what the request carried.

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "checks/core/options.hpp"
#include "checks/core/registry.hpp"

namespace mailready::serve {

/// A bad configuration file: one line ("modules.default.timeout_seconds: must be ...").
/// `mailready serve` prints it and exits 3 before it listens.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// How to probe: a named set of check options, like a blackbox_exporter module.
struct ModuleConfig {
  std::string name;
  /// The longest one probe may take ("timeout_seconds"); Prometheus' scrape timeout (less a
  /// margin) cuts it further, see probe_deadline().
  std::chrono::milliseconds timeout{5000};
  /// The check options: timeout (per network wait, "wait_timeout_seconds", default 5 s),
  /// from_inside, ca_file, only, skip, imap_starttls, fallback_order, per_host,
  /// cert_warn_days, cert_critical_days. target, hosts, pins and deadline stay empty.
  Options options;
};

/// Where to probe: one deployment the exporter may be asked about, by the name Prometheus
/// passes as ?target=. Its login (user, and one of password_file, password_env or
/// password_credential, a systemd credential in $CREDENTIALS_DIRECTORY) is read when the
/// config is loaded, never from a request.
struct TargetConfig {
  std::string name;
  std::string user;      ///< empty: no logins for this target
  std::string password;  ///< read at start-up; never logged or echoed
  std::string imap_host;                                   ///< empty: the target name
  std::string smtp_host;                                   ///< empty: the target name
  std::map<std::string, std::vector<std::string>> pinned;  ///< "resolve": HOST:ADDRESS
};

/// The whole file, validated.
struct ServeConfig {
  std::map<std::string, ModuleConfig> modules;
  std::map<std::string, TargetConfig> targets;
  /// Probe targets that are not in `targets` too, with the module's settings only. Off by
  /// default: an open exporter scans whatever anyone asks it to.
  bool allow_any_target = false;
};

/// The "targets" object of an exporter config (a `--targets` file may be one): each
/// member a TargetConfig, passwords read now. Throws ConfigError naming the first problem.
std::map<std::string, TargetConfig> parse_targets(const nlohmann::json& targets);

/// Validates a parsed document. Throws ConfigError naming the first problem: an unknown
/// key anywhere, a value of the wrong type or out of range, a bad host name or --resolve
/// pin, a ca_file that cannot be read, or no modules at all. Check ids in only / skip are
/// checked by validate_check_ids(), which needs the registry.
ServeConfig parse_serve_config(const nlohmann::json& document);

/// Reads and validates the file at `path`. Throws ConfigError ("config FILE: ...") when it
/// cannot be read, is not JSON, or parse_serve_config() rejects it.
ServeConfig load_serve_config(const std::string& path);

/// Throws ConfigError when a module's only / skip names a check `registry` does not have.
void validate_check_ids(const ServeConfig& config, const Registry& registry);

/// A request the exporter will not run: the HTTP status and a message for the body. The
/// message never contains a value from the request's query (it may carry a secret).
struct ProbeRefusal {
  int status = 400;
  std::string reason;   ///< for the rejected-probes metric: bad_request, forbidden, busy
  std::string message;  ///< one line for the body
};

/// The parameters of one /probe request.
struct ProbeQuery {
  std::string target;
  std::string module = "default";
};

/// Checks /probe's decoded query parameters: target (required, once), module (optional,
/// once, default "default") and nothing else; anything else is a 400.
std::variant<ProbeQuery, ProbeRefusal> parse_probe_query(
    const std::vector<std::pair<std::string, std::string>>& parameters);

/// What one probe runs: the Options (deadline still empty: see probe_deadline()) and the
/// module they came from.
struct ProbePlan {
  Options options;
  const ModuleConfig* module = nullptr;
};

/// The probe for a query: 400 for an unknown module or a target that is not a host name,
/// 403 for a target not in the config (unless allow_any_target).
std::variant<ProbePlan, ProbeRefusal> plan_probe(const ServeConfig& config,
                                                 const ProbeQuery& query);

/// What blackbox_exporter subtracts from Prometheus' scrape timeout so that the probe's
/// answer arrives before Prometheus gives up on the scrape.
inline constexpr std::chrono::milliseconds kScrapeTimeoutMargin{500};

/// The whole probe's deadline, as blackbox_exporter computes it (prober/handler.go,
/// getTimeout): the scrape timeout from the X-Prometheus-Scrape-Timeout-Seconds header
/// less kScrapeTimeoutMargin, capped by the module's timeout; the module's timeout alone
/// without the header. Unlike blackbox, a scrape timeout no longer than twice the margin
/// gives half of it (blackbox falls back to the module's timeout, which outlives the scrape).
/// Returns an error message for a header that is not a positive number of seconds, or
/// whose budget would be under 10 ms.
std::variant<std::chrono::milliseconds, std::string> probe_deadline(
    const std::optional<std::string>& scrape_timeout_header,
    std::chrono::milliseconds module_timeout);

/// `--listen ADDRESS:PORT`: "127.0.0.1:9731", "[::1]:9731", "localhost:9731", or ":9731"
/// for every IPv4 address. Returns host and port, or nullopt when it is not of that form.
std::optional<std::pair<std::string, int>> parse_listen(const std::string& text);

}  // namespace mailready::serve
