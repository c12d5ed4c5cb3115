// The Nagios / Icinga report, in the monitoring-plugins convention
// (monitoring-plugins' doc/developer-guidelines: "Plugin Output" and "Performance data"):
//
//   MAILREADY WARNING - id: message; id: message; id: message; and 2 more | 'label'=1ms;;;0 ...
//   [WARN] check on endpoint: id (warning): message
//   ...
//
// The first line is the status and the perfdata; the lines after it (long text) name every
// result that is not a clean pass. The state word is the report's verdict, so it always
// agrees with the exit code the CLI returns (critical > warning > unknown > ok).
//
// Perfdata: connect time per open endpoint, TLS handshake time, login time and days until
// the certificate expires, whichever facts the results carry. Labels are quoted, and never
// hold '=' or a quote; text never holds '|', which would start the perfdata early.

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "reports/facts.hpp"
#include "reports/reporters.hpp"

namespace mailready::report {
namespace {

/// One line of plugin text: no line breaks or control characters, and no '|'.
std::string one_line(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '|') {
      out += '/';
    } else if (u < 0x20 || u == 0x7F) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}



/// A perfdata value: integers without a fraction, others with up to three decimals.
std::string number(double v) {
  if (v == static_cast<double>(static_cast<long long>(v))) {
    return std::to_string(static_cast<long long>(v));
  }
  return fmt::format("{:.3f}", v);
}

/// Perfdata, in the order measured, one entry per label (the first result wins).
class Perfdata {
 public:
  void add(const std::string& label, const std::string& value_uom, const std::string& warn = "",
           const std::string& crit = "", const std::string& min = "") {
    std::string clean;
    for (const char c : one_line(label)) clean += c == '=' || c == '\'' ? '_' : c;
    if (!seen_.insert(clean).second) return;
    // 'label'=value[UOM];[warn];[crit];[min];[max], trailing empty fields dropped.
    std::vector<std::string> fields = {value_uom, warn, crit, min};
    while (fields.size() > 1 && fields.back().empty()) fields.pop_back();
    entries_.push_back(fmt::format("'{}'={}", clean, fmt::join(fields, ";")));
  }
  bool empty() const { return entries_.empty(); }
  std::string str() const { return fmt::format("{}", fmt::join(entries_, " ")); }

 private:
  std::set<std::string> seen_;
  std::vector<std::string> entries_;
};

/// One problem for the status line, ranked: critical, warning, then could-not-probe.
struct Problem {
  int rank;  // 0 critical, 1 warning, 2 error
  std::string text;
};

std::vector<Problem> problems_of(const Report& report) {
  std::vector<Problem> out;
  for (const auto& r : report.results) {
    for (const auto& f : r.findings) {
      if (f.severity == Severity::info) continue;
      out.push_back({f.severity == Severity::critical ? 0 : 1, f.id + ": " + f.message});
    }
    if (r.status == Status::error) {
      out.push_back({2, fmt::format("{} on {}: {}", r.check, r.where(),
                                    r.error.empty() ? "could not run" : r.error)});
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Problem& a, const Problem& b) { return a.rank < b.rank; });
  return out;
}

std::string status_text(const Report& report, Verdict verdict) {
  const auto problems = problems_of(report);
  if (verdict == Verdict::ok || problems.empty()) {
    int pass = 0;
    int skip = 0;
    int info = 0;
    for (const auto& r : report.results) {
      pass += r.status == Status::pass ? 1 : 0;
      skip += r.status == Status::skip ? 1 : 0;
      info += static_cast<int>(r.findings.size());
    }
    const std::string target = report.results.empty() ? "" : report.results.front().target;
    std::string out = fmt::format("{}{}{} {} passed", target, target.empty() ? "" : ": ", pass,
                                  pass == 1 ? "result" : "results");
    if (skip > 0) out += fmt::format(", {} skipped", skip);
    if (info > 0) out += fmt::format(", {} info finding{}", info, info == 1 ? "" : "s");
    return out;
  }
  constexpr std::size_t shown = 3;
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < problems.size() && i < shown; ++i) parts.push_back(problems[i].text);
  std::string out = fmt::format("{}", fmt::join(parts, "; "));
  if (problems.size() > shown) out += fmt::format("; and {} more", problems.size() - shown);
  return out;
}

/// The perfdata label part for an endpoint: host_port, with the address when the host has
/// several addresses on that port (IPv4 and IPv6), so labels stay unique.
std::string endpoint_key(const CheckResult& r, const std::set<std::string>& multi_address) {
  if (!r.endpoint) return r.host();
  const Endpoint& e = *r.endpoint;
  const std::string host_port = fmt::format("{}_{}", e.host, e.port);
  if (multi_address.count(host_port) == 0 || e.address.empty()) return host_port;
  return fmt::format("{}_{}_{}", e.host, e.address, e.port);
}

Perfdata perfdata_of(const Report& report, const RenderOptions& options) {
  std::map<std::string, std::set<std::string>> addresses;
  for (const auto& r : report.results) {
    if (!r.endpoint) continue;
    addresses[fmt::format("{}_{}", r.endpoint->host, r.endpoint->port)].insert(r.endpoint->address);
  }
  std::set<std::string> multi_address;
  for (const auto& [key, set] : addresses) {
    if (set.size() > 1) multi_address.insert(key);
  }

  Perfdata perf;
  perf.add("duration", number(static_cast<double>(report.duration.count())) + "ms", "", "", "0");
  for (const auto& r : report.results) {
    const std::string key = endpoint_key(r, multi_address);
    // Connect time, for ports that answered (a filtered port's "time" is the timeout).
    const auto state = r.facts.find("state");
    const bool open = state == r.facts.end() || *state == "open";
    if (const auto ms = number_fact(r.facts, "", "connect_ms"); ms && open && r.endpoint) {
      perf.add("connect_" + key, number(*ms) + "ms", "", "", "0");
    }
    if (const auto ms = handshake_ms(r.facts)) {
      perf.add("tls_" + key, number(*ms) + "ms", "", "", "0");
    }
    if (const auto ms = number_fact(r.facts, "", "login_ms")) {
      perf.add("login_" + key, number(*ms) + "ms", "", "", "0");
    }
    // Days left: alert when fewer, so the thresholds are "N:" ranges.
    if (const auto days = number_fact(r.facts, "", "days_left")) {
      const auto range = [](const std::optional<int>& d) {
        return d ? fmt::format("{}:", *d) : std::string();
      };
      perf.add("cert_days_" + key, number(*days), range(options.cert_warning_days),
               range(options.cert_critical_days));
    }
  }
  return perf;
}

/// A long-text line for a result that is not a clean pass.
std::string detail_line(const CheckResult& r) {
  std::vector<std::string> parts;
  for (const auto& f : r.findings) {
    parts.push_back(fmt::format("{} ({}): {}", f.id, to_string(f.severity), f.message));
  }
  std::string what;
  if (!r.error.empty()) {
    what = r.error;
  } else if (!parts.empty()) {
    what = fmt::format("{}", fmt::join(parts, "; "));
  } else {
    what = r.summary;
  }
  if (!r.error.empty() && !parts.empty()) what += fmt::format("; {}", fmt::join(parts, "; "));
  return fmt::format("[{}] {} on {}: {}", upper(to_string(r.status)), r.check, r.where(), what);
}

}  // namespace

void write_nagios(const Report& report, std::ostream& out, const RenderOptions& options) {
  const Verdict verdict = verdict_of(report);
  const Perfdata perf = perfdata_of(report, options);
  out << one_line(
      fmt::format("MAILREADY {} - {}", upper(to_string(verdict)), status_text(report, verdict)));
  if (!perf.empty()) out << " | " << perf.str();
  out << '\n';
  for (const auto& r : report.results) {
    if (r.status == Status::pass && r.findings.empty()) continue;
    out << one_line(detail_line(r)) << '\n';
  }
}

}  // namespace mailready::report
