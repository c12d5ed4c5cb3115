#include "cli/command_line.hpp"

#include <cmath>
#include <iostream>
#include <set>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "checks/proto/address.hpp"
#include "cli/credentials.hpp"
#include "cli/version.hpp"
#include "reports/reporters.hpp"

namespace mailready::cli {
namespace {

std::string format_names() {
  std::string names;
  for (const auto& f : report::formats()) {
    if (!names.empty()) names += ", ";
    names += std::string(f.name);
  }
  return names;
}

/// Splits "a,b" items of repeatable options into one set.
std::set<std::string> ids_of(const std::vector<std::string>& values) {
  std::set<std::string> out;
  for (const auto& v : values) {
    std::size_t start = 0;
    while (start <= v.size()) {
      const auto comma = v.find(',', start);
      const auto item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.insert(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace

std::variant<Invocation, int> parse_command_line(int argc, const char* const* argv) {
  CLI::App app{
      "mailready: checks that iPhones (and every standards-based mail client) will work "
      "against an IMAP/SMTP deployment, and says where the path breaks.\n"
      "Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad usage or could not run).",
      "mailready"};
  app.set_version_flag("--version", [] { return version_text(); },
                       "Print the version, the git commit and the OpenSSL and Poco versions");
  app.require_subcommand(1);

  Invocation inv;
  Options& o = inv.options;

  // mailready check HOST
  auto* check = app.add_subcommand("check", "Check a mail deployment and report");
  double timeout_s = 5.0;
  double deadline_s = 0.0;
  bool v4 = false;
  bool v6 = false;
  std::vector<std::string> only;
  std::vector<std::string> skip;
  std::vector<std::string> pins;
  std::vector<int> fallback;
  auto* host_opt = check->add_option("host", o.target, "The mail host the phones are configured with")
      ->type_name("HOST");
  auto* targets_opt = check->add_option("--targets", inv.targets_file,
                    "Check every deployment in FILE ('-': stdin): one host per line, or the "
                    "exporter's JSON config with its \"targets\"; instead of HOST")
      ->type_name("FILE");
  targets_opt->excludes(host_opt);
  check->add_option("--parallel", inv.parallel, "With --targets: targets checked at once")
      ->default_val(inv.parallel)
      ->type_name("N")
      ->check(CLI::Range(1, 256));
  check->add_option("--max-connections", inv.max_connections,
                    "With --targets: connections open at once over all servers")
      ->default_val(inv.max_connections)
      ->type_name("N")
      ->check(CLI::Range(1, 4096));
  check->add_option("--imap-host", o.imap_host, "IMAP host, when it differs from HOST")
      ->type_name("HOST");
  check->add_option("--smtp-host", o.smtp_host, "SMTP (submission) host, when it differs from HOST")
      ->type_name("HOST");
  check->add_option("--timeout", timeout_s, "Seconds each network wait may take")
      ->default_val(5.0)
      ->type_name("SECONDS")
      ->check(CLI::Range(0.05, 600.0));
  check->add_option("--deadline", deadline_s, "Seconds the whole run may take (default: no limit)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 86400.0));
  auto* opt4 = check->add_flag("-4", v4, "Use IPv4 addresses only");
  check->add_flag("-6", v6, "Use IPv6 addresses only")->excludes(opt4);
  // Each occurrence of a repeatable option takes one value, so "--only ID HOST" keeps HOST.
  check->add_option("--only", only, "Run only these check ids (and what they need); repeatable, or comma-separated")
      ->type_name("ID")
      ->allow_extra_args(false);
  check->add_option("--skip", skip, "Do not run these check ids; repeatable, or comma-separated")
      ->type_name("ID")
      ->allow_extra_args(false);
  std::string format = "text";
  std::string output;
  std::vector<std::string> extra_reports;
  int warning_days = 0;
  int critical_days = 0;
  auto* format_opt = check->add_option("--format", format, "Output format: " + format_names())
      ->default_val("text")
      ->type_name("FORMAT");
  auto* output_opt = check->add_option("--output,-o", output,
                                       "Write the report to FILE (atomically) instead of stdout")
      ->type_name("FILE");
  check->add_option("--report", extra_reports,
                    "Also write FORMAT to FILE (stdout without :FILE); repeatable, e.g. "
                    "--report json:out.json --report junit:out.xml")
      ->type_name("FORMAT[:FILE]")
      ->allow_extra_args(false);
  auto* warning_opt = check->add_option("--warning", warning_days,
                    "Certificate days left that make a warning (sets --cert-warn-days; "
                    "the nagios perfdata threshold)")
      ->type_name("DAYS")
      ->check(CLI::Range(0, 3650));
  auto* critical_opt = check->add_option("--critical", critical_days,
                    "Certificate days left that make a certificate finding critical "
                    "(the nagios perfdata threshold)")
      ->type_name("DAYS")
      ->check(CLI::Range(0, 3650));
  check->add_option("--resolve", pins, "Pin HOST:ADDRESS instead of asking DNS, as curl --resolve; repeatable")
      ->type_name("HOST:ADDRESS")
      ->allow_extra_args(false);
  check->add_flag("--from-inside", o.from_inside,
                  "The run is on the internal network: internal addresses are not a finding");
  check->add_option("--per-host", o.per_host, "Concurrent connections per server address")
      ->default_val(Options{}.per_host)
      ->type_name("N")
      ->check(CLI::Range(1, 64));
  check->add_option("--fallback-order", fallback,
                    "Submission ports in the order phones try them")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->type_name("PORT,...")
      ->default_str("587,465,25")
      ->check(CLI::Range(1, 65535));
  check->add_option("--ca-file", o.ca_file,
                    "Trust these CA certificates (PEM) besides the system store, as phones that "
                    "got the root by MDM do")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  check->add_option("--cert-warn-days", o.cert_warn_days,
                    "Warn when a certificate expires within this many days")
      ->default_val(30)
      ->type_name("DAYS")
      ->check(CLI::Range(0, 3650));
  // Logins. Secrets never come from argv.
  std::string user;
  std::string token_env;
  PasswordSource password_source;
  check->add_option("--user", user, "Log in as USER (IMAP and SMTP)")->type_name("USER");
  check->add_option("--imap-user", o.imap_user, "IMAP login, when it differs from --user")
      ->type_name("USER");
  check->add_option("--smtp-user", o.smtp_user, "SMTP login, when it differs from --user")
      ->type_name("USER");
  auto* pw_env = check->add_option("--password-env", password_source.env,
                                   "Read the password from environment variable NAME")
                     ->type_name("NAME");
  auto* pw_file = check->add_option("--password-file", password_source.file,
                                    "Read the password from FILE (one trailing newline dropped)")
                      ->type_name("FILE")
                      ->check(CLI::ExistingFile);
  auto* pw_stdin = check->add_flag("--password-stdin", password_source.stdin_,
                                   "Read the password from standard input");
  pw_env->excludes(pw_file)->excludes(pw_stdin);
  pw_file->excludes(pw_stdin);
  check->add_option("--oauth-token-env", token_env,
                    "Read an OAuth 2.0 bearer token for XOAUTH2 / OAUTHBEARER from NAME")
      ->type_name("NAME");
  check->add_flag("--allow-plaintext-auth", o.allow_plaintext_auth,
                  "Send credentials over connections without TLS (off: such logins are skipped)");
  check->add_flag("--insecure", o.insecure,
                  "Log in even where the certificate is not trusted (the findings stay)");
  check->add_option("--trace", inv.trace_file,
                    "Write the protocol transcripts to FILE, credentials and SASL payloads masked")
      ->type_name("FILE");
  check->add_option("--relay-test-domain", o.relay_test_domain,
                    "A domain the server must not relay to without AUTH (smtp.open-relay)")
      ->default_val("example.net")
      ->type_name("DOMAIN");
  double slow_s = 10.0;
  double delivery_s = 60.0;
  check->add_flag("--send-test-message", o.send_test_message,
                  "Send a tagged probe message through the phone's submission port, watch it "
                  "arrive, copy it to Sent, then delete it (roundtrip.delivery)");
  check->add_option("--to", o.send_to, "Recipient of the probe (default: the --user's own address)")
      ->type_name("ADDRESS");
  check->add_option("--slow-delivery", slow_s,
                    "Seconds after which delivery of the probe is a warning")
      ->default_val(10.0)
      ->type_name("SECONDS")
      ->check(CLI::Range(0.1, 3600.0));
  check->add_option("--delivery-timeout", delivery_s,
                    "Seconds to wait for the probe before it counts as not delivered")
      ->default_val(60.0)
      ->type_name("SECONDS")
      ->check(CLI::Range(1.0, 3600.0));
  check->add_flag("--imap-starttls", o.imap_starttls, "Also check IMAP with STARTTLS on port 143");
  check->add_flag("--quiet,-q", inv.quiet, "No progress on stderr");

  // mailready checks
  auto* list = app.add_subcommand("checks", "List the check modules");

  // mailready explain FINDING-ID
  auto* explain = app.add_subcommand("explain", "Explain a finding id at length");
  explain->add_option("finding", inv.finding_id, "A finding id, e.g. port.filtered")->required();

  // mailready serve --listen ADDRESS:PORT --config FILE (cli/serve.hpp)
  auto* serve =
      app.add_subcommand("serve", "Run as a Prometheus exporter: GET /probe?target=HOST");
  serve->add_option("--listen", inv.serve.listen,
                    "Address and port to listen on (:PORT: every address)")
      ->default_val(inv.serve.listen)
      ->type_name("ADDRESS:PORT");
  serve->add_option("--config", inv.serve.config_path, "Modules and targets (JSON)")
      ->required()
      ->type_name("FILE");
  serve->add_option("--max-concurrent", inv.serve.max_concurrent, "Probes running at once")
      ->default_val(inv.serve.max_concurrent)
      ->type_name("N")
      ->check(CLI::Range(1, 256));
  serve->add_option("--max-queued", inv.serve.max_queued,
                    "Probes waiting for a slot; beyond them a probe is answered 503")
      ->default_val(inv.serve.max_queued)
      ->type_name("N")
      ->check(CLI::Range(0, 1024));

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version: printed on stdout, exit 0
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (const auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
    std::cerr << "mailready: " << what << " (see 'mailready --help')\n";
    return 3;
  }

  if (list->parsed()) {
    inv.command = Invocation::Command::checks;
    return inv;
  }
  if (explain->parsed()) {
    inv.command = Invocation::Command::explain;
    return inv;
  }
  if (serve->parsed()) {
    inv.command = Invocation::Command::serve;
    return inv;
  }

  // Checks CLI11 cannot express.
  const auto usage = [](const std::string& message) -> int {
    std::cerr << "mailready: " << message << " (see 'mailready check --help')\n";
    return 3;
  };
  o.slow_delivery = from_seconds(slow_s);
  o.delivery_timeout = from_seconds(delivery_s);
  if (o.imap_user.empty()) o.imap_user = user;
  if (o.smtp_user.empty()) o.smtp_user = user;
  o.trace = !inv.trace_file.empty();
  inv.password_source = password_source;
  if (inv.targets_file == "-" && password_source.stdin_) {
    return usage("--targets - and --password-stdin both want standard input; give one a file");
  }
  inv.oauth_token_env = token_env;
  if (inv.targets_file.empty() && o.target.empty()) {
    return usage("the host to check is missing: give HOST, or --targets FILE");
  }
  if (inv.targets_file.empty()) {
    if (o.imap_host.empty()) o.imap_host = o.target;
    if (o.smtp_host.empty()) o.smtp_host = o.target;
  }
  for (const auto* h : {&o.target, &o.imap_host, &o.smtp_host}) {
    if (h->empty() && !inv.targets_file.empty()) continue;  // each target's own
    if (!proto::is_host_name(*h)) return usage(fmt::format("'{}' is not a host name or IP address", *h));
  }
  // The reports: --format/--output unless only --report was given, then each --report.
  if (extra_reports.empty() || format_opt->count() > 0 || output_opt->count() > 0) {
    inv.reports.push_back({format, output});
  }
  for (const auto& spec : extra_reports) {
    const auto colon = spec.find(':');
    inv.reports.push_back({spec.substr(0, colon),
                           colon == std::string::npos ? std::string() : spec.substr(colon + 1)});
  }
  int to_stdout = 0;
  std::set<std::string> paths;
  for (const auto& d : inv.reports) {
    if (report::find_format(d.format) == nullptr) {
      return usage(fmt::format("unknown format '{}'; formats are {}", d.format, format_names()));
    }
    if (d.path.empty()) ++to_stdout;
    if (!d.path.empty() && !paths.insert(d.path).second) {
      return usage(fmt::format("two reports would be written to {}", d.path));
    }
  }
  if (to_stdout > 1) return usage("more than one report would go to stdout; give each a :FILE");
  if (warning_opt->count() > 0) {
    o.cert_warn_days = warning_days;
    inv.nagios_warning_days = warning_days;
  }
  if (critical_opt->count() > 0) {
    o.cert_critical_days = critical_days;
    inv.nagios_critical_days = critical_days;
  }
  o.timeout = from_seconds(timeout_s);
  if (deadline_s > 0) o.deadline = from_seconds(deadline_s);
  o.family = v4 ? 4 : v6 ? 6 : 0;
  o.only = ids_of(only);
  o.skip = ids_of(skip);
  if (!fallback.empty()) {
    const std::set<int> unique(fallback.begin(), fallback.end());
    if (unique.size() != fallback.size()) return usage("--fallback-order lists a port twice");
    o.fallback_order = fallback;
  }
  for (const auto& pin : pins) {
    const auto parsed = proto::parse_pin(pin);
    if (!parsed) return usage(fmt::format("--resolve wants HOST:ADDRESS, got '{}'", pin));
    o.pinned[parsed->first].push_back(parsed->second);
  }
  return inv;
}

}  // namespace mailready::cli
