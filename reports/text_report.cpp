// The text report: results grouped by host and endpoint, one line per check, findings
// with their remediation under it, and the verdict last.

#include <map>

#include <fmt/format.h>

#include "reports/reporters.hpp"

namespace mailready::report {
namespace {

struct Palette {
  bool on;
  std::string paint(std::string_view code, std::string_view text) const {
    if (!on) return std::string(text);
    return fmt::format("\033[{}m{}\033[0m", code, text);
  }
};

std::string_view status_code(Status s) {
  switch (s) {
    case Status::pass: return "32";   // green
    case Status::warn: return "33";   // yellow
    case Status::fail: return "31";   // red
    case Status::skip: return "2";    // dim
    case Status::error: return "35";  // magenta
  }
  return "0";
}

std::string_view severity_code(Severity s) {
  switch (s) {
    case Severity::info: return "36";
    case Severity::warning: return "33";
    case Severity::critical: return "1;31";
  }
  return "0";
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string group_title(const CheckResult& r) {
  if (!r.endpoint) return r.host();
  const Endpoint& e = *r.endpoint;
  const std::string tls = e.tls == TlsMode::implicit   ? "implicit TLS"
                          : e.tls == TlsMode::starttls ? "STARTTLS"
                                                       : "no TLS";
  std::string title = fmt::format("{}:{}  {}, {}, {}", e.host, e.port, to_string(e.protocol), tls,
                                  to_string(e.role));
  if (!e.address.empty() && e.address != e.host) title += fmt::format("  [{}]", e.address);
  return title;
}

std::string group_key(const CheckResult& r) {
  if (!r.endpoint) return "host " + r.host();
  return r.endpoint->label();
}

/// The most readable name of a certificate: its CN, else its first DNS name, else subject.
std::string cert_name(const nlohmann::json& c) {
  const std::string subject = c.value("subject", "");
  const auto cn = subject.find("CN=");
  if (cn != std::string::npos) {
    const auto end = subject.find(',', cn);
    return subject.substr(cn + 3, end == std::string::npos ? std::string::npos : end - cn - 3);
  }
  const auto names = c.value("dns_names", std::vector<std::string>{});
  return names.empty() ? subject : names.front();
}

/// cert.chain results: the chain as a short tree, one line per certificate (leaf first),
/// each finding marked on the certificate it is about (by fingerprint, else by the depth
/// where verification failed); what concerns no one certificate goes after the last.
void write_chain_tree(const CheckResult& r, std::ostream& out, const Palette& p) {
  const auto chain = r.facts.value("chain", nlohmann::json::array());
  if (!chain.is_array() || chain.empty()) return;
  std::vector<std::vector<std::string>> marks(chain.size() + 1);
  for (const auto& f : r.findings) {
    std::size_t at = chain.size();
    const auto fp = f.evidence.contains("certificate")
                        ? f.evidence["certificate"].value("sha256_fingerprint", "")
                        : std::string();
    for (std::size_t i = 0; i < chain.size() && !fp.empty(); ++i) {
      if (chain[i].value("sha256_fingerprint", "") == fp) at = i;
    }
    const auto depth = f.evidence.value("verify_error_depth", -1);
    if (fp.empty() && depth >= 0 && static_cast<std::size_t>(depth) < chain.size() &&
        f.id != "cert.incomplete-chain" && f.id != "cert.untrusted") {
      at = static_cast<std::size_t>(depth);
    }
    marks[at].push_back(p.paint(severity_code(f.severity), f.id));
  }
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& c = chain[i];
    const std::string branch = i == 0 ? "" : std::string(3 * (i - 1), ' ') + "\u2514\u2500 ";
    std::string line = fmt::format("        {}{}  [{}, {} {}, {} days left]", branch, cert_name(c),
                                   c.value("source", "?"), c.value("key_type", "?"),
                                   c.value("key_bits", 0), c.value("days_left", 0));
    if (!marks[i].empty()) line += fmt::format("  <- {}", fmt::join(marks[i], ", "));
    out << line << '\n';
  }
  if (!marks.back().empty()) {
    out << fmt::format("        {}\u2514\u2500 (chain ends)  <- {}\n",
                       std::string(3 * (chain.size() - 1), ' '), fmt::join(marks.back(), ", "));
  }
}

}  // namespace

void write_text(const Report& report, std::ostream& out, const RenderOptions& options) {
  const Palette p{options.color};
  const std::string target = report.results.empty() ? "" : report.results.front().target;
  out << fmt::format("mailready {}  {}  {}  ({} ms)\n", report.tool_version,
                     p.paint("1", target), report.started_at, report.duration.count());

  // Groups in order of first appearance: hosts first (dns.resolve runs first), then the
  // endpoints in the plan's order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const CheckResult*>> groups;
  for (const auto& r : report.results) {
    const auto key = group_key(r);
    if (groups.count(key) == 0) order.push_back(key);
    groups[key].push_back(&r);
  }

  int counts[3] = {0, 0, 0};
  for (const auto& key : order) {
    const auto& members = groups[key];
    out << '\n' << p.paint("1", group_title(*members.front())) << '\n';
    for (const CheckResult* r : members) {
      const std::string status = fmt::format("{:<5}", upper(to_string(r->status)));
      std::string line = r->summary;
      if (!r->error.empty()) line = r->error;
      if (line.empty() && !r->findings.empty()) line = r->findings.front().id;
      std::string row = fmt::format("  {} {:<22} {}", p.paint(status_code(r->status), status),
                                    r->check, line);
      while (!row.empty() && row.back() == ' ') row.pop_back();
      out << row << '\n';
      if (r->check == "cert.chain") write_chain_tree(*r, out, p);
      for (const auto& f : r->findings) {
        ++counts[static_cast<int>(f.severity)];
        out << fmt::format("        {} {}: {}\n",
                           p.paint(severity_code(f.severity), upper(to_string(f.severity))), f.id,
                           f.message);
        if (!f.remediation.empty()) out << fmt::format("          fix: {}\n", f.remediation);
      }
    }
  }

  const Verdict v = verdict_of(report);
  const std::string_view code = v == Verdict::ok         ? "1;32"
                                : v == Verdict::warning  ? "1;33"
                                : v == Verdict::critical ? "1;31"
                                                         : "1;35";
  if (report.diagnosis) {
    const auto& d = *report.diagnosis;
    out << fmt::format("\n{} The first broken hop is the {} ({} on {}: {}). {}\n",
                       p.paint("1", "Diagnosis:"), d.hop, d.finding.empty() ? d.check : d.finding,
                       d.where, d.message, d.advice);
  }
  out << fmt::format("\nVerdict: {} (exit {}): {} critical, {} warning, {} info\n",
                     p.paint(code, upper(to_string(v))), exit_code_of(v), counts[2], counts[1],
                     counts[0]);
}

}  // namespace mailready::report
