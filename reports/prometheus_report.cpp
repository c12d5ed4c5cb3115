// The Prometheus report: the text exposition format (0.0.4) for node_exporter's textfile
// collector. Run mailready from cron with --format prometheus --output DIR/mailready.prom
// (the write is atomic, as the collector wants).
//
// Every sample carries target="<the checked deployment>", so several .prom files (one per
// deployment) never collide in the collector. Per-result families also carry check, host,
// address, port and protocol (empty for host-level results such as dns.resolve).
//
// mailready_check_success is 1 when a check ran and found nothing at all, 0 when it found
// something (a filtered port is an info finding, but the probe did not get through) or
// could not run (status error). Skipped results have no success sample: they neither
// passed nor failed, and an alert on "== 0" must not fire for them. Every result, skipped
// ones included, has one mailready_check_status{status="pass|warn|fail|skip|error"} 1.
//
// Durations are in seconds and times in seconds since the epoch, as Prometheus names
// them. A family appears only when some result has its facts (cert and login facts come
// from the cert.* and auth.* checks), and each family's samples are written together
// under their HELP and TYPE lines.

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "reports/facts.hpp"
#include "reports/reporters.hpp"

namespace mailready::report {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// A label value with the exposition format's escapes: backslash, quote, line feed.
std::string escape_label(std::string_view in) {
  std::string out;
  for (const char c : in) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

/// A HELP text with its escapes: backslash and line feed.
std::string escape_help(std::string_view in) {
  std::string out;
  for (const char c : in) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string label_set(const Labels& labels) {
  if (labels.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [name, value] : labels) {
    parts.push_back(fmt::format("{}=\"{}\"", name, escape_label(value)));
  }
  return fmt::format("{{{}}}", fmt::join(parts, ","));
}

/// A sample value: integers without a fraction or exponent, others as short as exact.
std::string number(double v) {
  if (v == static_cast<double>(static_cast<long long>(v))) {
    return std::to_string(static_cast<long long>(v));
  }
  return fmt::format("{}", v);
}

/// One metric family: its samples in the order added, one per label set.
class Family {
 public:
  enum class Merge { first, min };

  Family(std::string name, std::string help, Merge merge = Merge::first)
      : name_(std::move(name)), help_(std::move(help)), merge_(merge) {}

  void add(const Labels& labels, double value) {
    const std::string key = label_set(labels);
    const auto seen = index_.find(key);
    if (seen == index_.end()) {
      index_.emplace(key, samples_.size());
      samples_.emplace_back(key, value);
    } else if (merge_ == Merge::min) {
      samples_[seen->second].second = std::min(samples_[seen->second].second, value);
    }
  }

  /// The HELP and TYPE lines, and the samples (empty when there are none).
  PrometheusFamily text() const {
    PrometheusFamily f;
    f.header = fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name_, escape_help(help_), name_);
    for (const auto& [labels, value] : samples_) {
      f.samples += fmt::format("{}{} {}\n", name_, labels, number(value));
    }
    return f;
  }

 private:
  std::string name_;
  std::string help_;
  Merge merge_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::pair<std::string, double>> samples_;
};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

/// Seconds since the epoch of an RFC 3339 time ("2027-01-31T12:00:00Z", fractions and
/// offsets allowed), or nullopt when it is not one.
std::optional<long long> parse_rfc3339(std::string_view s) {
  const auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (at + n > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const auto is = [&](std::size_t at, std::string_view chars) {
    return at < s.size() && chars.find(s[at]) != std::string_view::npos;
  };
  const auto year = digits(0, 4);
  const auto month = digits(5, 2);
  const auto day = digits(8, 2);
  const auto hour = digits(11, 2);
  const auto minute = digits(14, 2);
  const auto second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || !is(4, "-") || !is(7, "-") ||
      !is(10, "Tt ") || !is(13, ":") || !is(16, ":")) {
    return std::nullopt;
  }
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60) {
    return std::nullopt;
  }
  std::size_t at = 19;
  if (is(at, ".")) {
    ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
  }
  long long offset = 0;
  if (is(at, "Zz") && at + 1 == s.size()) {
    offset = 0;
  } else if (is(at, "+-") && at + 6 == s.size() && is(at + 3, ":")) {
    const auto oh = digits(at + 1, 2);
    const auto om = digits(at + 4, 2);
    if (!oh || !om) return std::nullopt;
    offset = (s[at] == '-' ? -1 : 1) * (*oh * 3600LL + *om * 60LL);
  } else {
    return std::nullopt;
  }
  const long long days =
      days_from_civil(*year, static_cast<unsigned>(*month), static_cast<unsigned>(*day));
  return days * 86400 + *hour * 3600LL + *minute * 60LL + *second - offset;
}

/// target, host, address, port, protocol: what a measurement was taken on.
Labels endpoint_labels(const CheckResult& r) {
  Labels labels = {{"target", r.target}, {"host", r.host()}};
  if (r.endpoint) {
    labels.emplace_back("address", r.endpoint->address);
    labels.emplace_back("port", std::to_string(r.endpoint->port));
    labels.emplace_back("protocol", std::string(to_string(r.endpoint->protocol)));
  } else {
    labels.emplace_back("address", "");
    labels.emplace_back("port", "");
    labels.emplace_back("protocol", "");
  }
  return labels;
}

/// The login mechanism of an auth.login result (one result per mechanism and endpoint).
void add_mechanism(const CheckResult& r, Labels& labels) {
  const auto m = r.facts.find("mechanism");
  if (m != r.facts.end() && m->is_string()) labels.emplace_back("mechanism", m->get<std::string>());
}

/// The endpoint labels with the check id after target, and the mechanism where a check
/// has one result per mechanism, so no two samples share a label set.
Labels result_labels(const CheckResult& r) {
  Labels labels = endpoint_labels(r);
  labels.insert(labels.begin() + 1, {"check", r.check});
  add_mechanism(r, labels);
  return labels;
}

double seconds(double ms) {
  return ms / 1000.0;
}

}  // namespace

std::vector<PrometheusFamily> prometheus_families(const Report& report) {
  const std::string target = report.results.empty() ? "" : report.results.front().target;
  const Labels run = {{"target", target}};
  const Verdict verdict = verdict_of(report);

  Family up("mailready_up", "1 when mailready ran and wrote this report.");
  Family verdict_family("mailready_verdict",
                        "The run's verdict as its exit code: 0 ok, 1 warning, 2 critical, 3 "
                        "unknown.");
  Family started("mailready_run_start_timestamp_seconds",
                 "When the run started, in seconds since the Unix epoch.");
  Family duration("mailready_run_duration_seconds", "How long the whole run took.");
  Family findings("mailready_findings", "Findings in this run, by severity.");
  Family success("mailready_check_success",
                 "1 when the check ran and found nothing, 0 when it found something or could "
                 "not run; skipped checks have no sample.",
                 Family::Merge::min);
  Family status("mailready_check_status",
                "1 for the check's status: pass, warn, fail, skip or error.");
  Family connect("mailready_connect_duration_seconds", "TCP connect time to an open port.");
  Family tls("mailready_tls_handshake_duration_seconds", "TLS handshake time.");
  Family login("mailready_login_duration_seconds", "Time to authenticate.");
  Family not_after("mailready_cert_not_after_timestamp_seconds",
                   "When the server's certificate expires (notAfter), in seconds since the "
                   "Unix epoch.");

  up.add(run, 1);
  verdict_family.add(run, exit_code_of(verdict));
  if (const auto t = parse_rfc3339(report.started_at)) started.add(run, static_cast<double>(*t));
  duration.add(run, seconds(static_cast<double>(report.duration.count())));

  int per_severity[3] = {0, 0, 0};
  for (const auto& r : report.results) {
    for (const auto& f : r.findings) ++per_severity[static_cast<int>(f.severity)];

    const Labels labels = result_labels(r);
    if (r.status != Status::skip) {
      success.add(labels, r.status == Status::pass && r.findings.empty() ? 1 : 0);
    }
    Labels with_status = labels;
    with_status.emplace_back("status", std::string(to_string(r.status)));
    status.add(with_status, 1);

    // Measurements of the endpoint, whichever check took them (the first one wins).
    const Labels on = endpoint_labels(r);
    const auto state = r.facts.find("state");
    const bool open = state == r.facts.end() || *state == "open";
    if (const auto ms = number_fact(r.facts, "", "connect_ms"); ms && open && r.endpoint) {
      connect.add(on, seconds(*ms));
    }
    if (const auto ms = handshake_ms(r.facts)) tls.add(on, seconds(*ms));
    if (const auto ms = number_fact(r.facts, "", "login_ms")) {
      Labels by_mechanism = on;
      add_mechanism(r, by_mechanism);
      login.add(by_mechanism, seconds(*ms));
    }
    // The certificate's notAfter: as a Unix time when the check gives one, else parsed
    // from the RFC 3339 form.
    if (const auto t = number_fact(r.facts, "", "not_after_unix")) {
      not_after.add(on, *t);
    } else if (const auto expiry = r.facts.find("not_after");
               expiry != r.facts.end() && expiry->is_string()) {
      if (const auto parsed = parse_rfc3339(expiry->get<std::string>())) {
        not_after.add(on, static_cast<double>(*parsed));
      }
    }
  }
  for (const Severity s : {Severity::critical, Severity::warning, Severity::info}) {
    findings.add({{"target", target}, {"severity", std::string(to_string(s))}},
                 per_severity[static_cast<int>(s)]);
  }

  std::vector<PrometheusFamily> out;
  for (const Family* f : {&up, &verdict_family, &started, &duration, &findings, &success, &status,
                          &connect, &tls, &login, &not_after}) {
    out.push_back(f->text());
  }
  return out;
}

void write_prometheus(const Report& report, std::ostream& out, const RenderOptions& /*options*/) {
  for (const auto& f : prometheus_families(report)) {
    if (!f.samples.empty()) out << f.header << f.samples;
  }
}

}  // namespace mailready::report
