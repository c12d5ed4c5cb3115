#pragma once
// What the user asked for: the inputs of one run, already validated by the CLI.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checks/core/model.hpp"

namespace mailready {

/// One port the phone may use, on one host name (addresses come from DNS later).
struct PortSpec {
  std::string host;
  int port = 0;
  Protocol protocol = Protocol::imap;
  TlsMode tls = TlsMode::none;
  Role role = Role::incoming;
};

/// The options of a `mailready check` run.
struct Options {
  std::string target;     ///< the positional host: the report's target
  std::string imap_host;  ///< defaults to target
  std::string smtp_host;  ///< defaults to target
  std::chrono::milliseconds timeout{5000};              ///< per network wait
  std::optional<std::chrono::milliseconds> deadline;    ///< for the whole run
  int family = 0;                                       ///< 0 any, 4 or 6
  std::set<std::string> only;                           ///< check ids to run (with their needs)
  std::set<std::string> skip;                           ///< check ids not to run
  std::vector<int> fallback_order{587, 465, 25};        ///< the phone's submission order
  bool imap_starttls = false;                           ///< also probe IMAP on 143
  bool from_inside = false;                             ///< run is on the internal network
  std::map<std::string, std::vector<std::string>> pinned;  ///< --resolve HOST:ADDRESS
  /// Concurrent sessions per server address. Dovecot allows 10 logged-in sessions per
  /// user and client address (mail_max_userip_connections), Postfix 50 connections per
  /// client (smtpd_client_connection_count_limit); a server that allows fewer says so,
  /// and mailready then waits for its turn.
  int per_host = 10;
  std::string ca_file;      ///< extra trust anchors, besides the system store
  int cert_warn_days = 30;  ///< cert.expires-soon threshold
  std::optional<int> cert_critical_days;  ///< expiring this soon is critical (--critical)

  // Logins. The password and token never appear in a report, a log or a trace.
  std::string imap_user;   ///< empty: no IMAP logins
  std::string smtp_user;   ///< empty: no SMTP logins
  std::string password;
  std::string oauth_token; ///< for XOAUTH2 / OAUTHBEARER
  bool allow_plaintext_auth = false;  ///< send credentials without TLS (explicit opt-in)
  bool insecure = false;   ///< log in even where the certificate chain is not trusted
  bool trace = false;
  std::string relay_test_domain = "example.net";  ///< a domain the server must not relay to

  // The round trip (opt-in: it sends real mail).
  bool send_test_message = false;
  std::string send_to;  ///< --to; empty: the IMAP user's own address
  std::chrono::milliseconds slow_delivery{10000};     ///< roundtrip.slow threshold
  std::chrono::milliseconds delivery_timeout{60000};  ///< roundtrip.not-delivered deadline      ///< keep protocol transcripts (masked) for --trace

  /// The distinct host names of the run, IMAP host first.
  std::vector<std::string> hosts() const;
};

/// Seconds given by a user (a flag, a config file) as milliseconds, rounded.
std::chrono::milliseconds from_seconds(double seconds);

/// The ports a phone would use for these options, in a stable order:
/// IMAP 993 (and 143 when asked), then the submission ports in fallback order.
std::vector<PortSpec> planned_ports(const Options& options);

/// The run's endpoints: every planned port on every address of its host, in the plan's
/// order (a host without an address gives one endpoint with an empty address, which the
/// port probe reports as not probed).
std::vector<Endpoint> plan_endpoints(const Options& options,
                                     const std::map<std::string, std::vector<std::string>>& addresses);

}  // namespace mailready
