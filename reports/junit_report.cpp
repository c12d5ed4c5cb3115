// The JUnit XML report, for the test tabs of CI systems (Jenkins, GitLab, GitHub
// actions that read JUnit). The shape follows the Ant / Jenkins JUnit schema, shipped as
// reports/schema/junit.xsd and checked by the tests:
//
//   testsuites (name, tests, failures, errors, time)
//     testsuite per endpoint, and one per host for host-level results
//              (name, tests, failures, errors, skipped, time, timestamp)
//       properties: the endpoint (host, address, port, protocol, tls, role)
//       testcase per result (classname = check id, name = endpoint label or host, time)
//         failure  for warn / fail   (message = worst finding, body = every finding)
//         error    for error         (message = why the probe could not run)
//         skipped  for skip          (message = why)
//         system-out: the result's summary, and the findings of a passing result
//
// Server bytes (banners) reach messages, so every string is made valid XML 1.0 first:
// invalid UTF-8 and characters XML cannot carry become U+FFFD.

#include <fmt/format.h>

#include <map>

#include "reports/reporters.hpp"

namespace mailready::report {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

/// True for the code points XML 1.0 allows in a document (its Char production).
bool xml_char(char32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/// `in` as valid UTF-8 holding only XML characters; anything else becomes U+FFFD.
std::string xml_safe(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    std::size_t len = 0;
    char32_t c = 0;
    if (b0 < 0x80) {
      len = 1;
      c = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      c = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      c = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      c = b0 & 0x07;
    }
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(in[i + k]);
      if ((b & 0xC0) != 0x80) {
        ok = false;
      } else {
        c = (c << 6) | (b & 0x3F);
      }
    }
    // Overlong forms and surrogates are invalid UTF-8 even when the bytes look right.
    static constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (c < smallest[len] || (c >= 0xD800 && c <= 0xDFFF))) ok = false;
    if (!ok) {
      out += replacement;
      ++i;  // resynchronise on the next byte
      continue;
    }
    if (xml_char(c)) {
      out.append(in.substr(i, len));
    } else {
      out += replacement;
    }
    i += len;
  }
  return out;
}

/// Escaped for an attribute value in double quotes; line breaks survive as references.
std::string attr(std::string_view in) {
  std::string out;
  for (const char c : xml_safe(in)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      case '\t': out += "&#9;"; break;
      default: out += c;
    }
  }
  return out;
}

/// Escaped for element content.
std::string text(std::string_view in) {
  std::string out;
  for (const char c : xml_safe(in)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\r': out += "&#13;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string seconds(std::chrono::milliseconds ms) {
  return fmt::format("{}.{:03}", ms.count() / 1000, ms.count() % 1000);
}

/// The JUnit timestamp: the schema's xs:dateTime without a zone, so UTC with the "Z"
/// dropped. Empty when started_at is not an RFC 3339 UTC time.
std::string junit_timestamp(const std::string& rfc3339) {
  if (rfc3339.size() < 20 || rfc3339[10] != 'T') return "";
  const std::string zone = rfc3339.substr(19);
  if (zone != "Z" && zone != "+00:00") return "";
  return rfc3339.substr(0, 19);
}

std::string finding_block(const Finding& f) {
  std::string out = fmt::format("{} {}: {}\n", to_string(f.severity), f.id, f.message);
  if (f.evidence.is_object() && !f.evidence.empty()) {
    out += fmt::format("evidence: {}\n",
                       f.evidence.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  if (!f.remediation.empty()) out += fmt::format("fix: {}\n", f.remediation);
  return out;
}

std::string findings_body(const std::vector<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    if (!out.empty()) out += '\n';
    out += finding_block(f);
  }
  return out;
}

/// The worst finding first met, for a failure's one-line message.
const Finding* worst_finding(const std::vector<Finding>& findings) {
  const Finding* worst = nullptr;
  for (const auto& f : findings) {
    if (worst == nullptr || f.severity > worst->severity) worst = &f;
  }
  return worst;
}

void write_testcase(const CheckResult& r, std::ostream& out) {
  out << fmt::format("    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"", attr(r.where()),
                     attr(r.check), seconds(r.duration));

  // The schema's order inside a testcase: skipped, error, failure, system-out.
  std::string body;
  std::string system_out = r.summary.empty() ? "" : r.summary + "\n";
  switch (r.status) {
    case Status::pass:
      if (!r.findings.empty()) {
        system_out += (system_out.empty() ? "" : "\n") + findings_body(r.findings);
      }
      break;
    case Status::skip:
      body += fmt::format("      <skipped message=\"{}\"/>\n",
                          attr(r.error.empty() ? "skipped" : r.error));
      break;
    case Status::error: {
      const std::string why = r.error.empty() ? "the check could not run" : r.error;
      std::string detail = why + "\n";
      if (!r.findings.empty()) detail += "\n" + findings_body(r.findings);
      body += fmt::format("      <error message=\"{}\" type=\"error\">{}</error>\n", attr(why),
                          text(detail));
      break;
    }
    case Status::warn:
    case Status::fail: {
      const Finding* worst = worst_finding(r.findings);
      std::string message = fmt::format("{}: {}", r.check, to_string(r.status));
      std::string type = std::string(to_string(r.status));
      if (worst != nullptr) {
        message = fmt::format("{}: {}", worst->id, worst->message);
        if (r.findings.size() > 1) {
          message += fmt::format(" (and {} more)", r.findings.size() - 1);
        }
        type = std::string(to_string(worst->severity));
      }
      body += fmt::format("      <failure message=\"{}\" type=\"{}\">{}</failure>\n", attr(message),
                          attr(type), text(findings_body(r.findings)));
      break;
    }
  }
  if (!system_out.empty()) {
    body += fmt::format("      <system-out>{}</system-out>\n", text(system_out));
  }
  if (body.empty()) {
    out << "/>\n";
  } else {
    out << ">\n" << body << "    </testcase>\n";
  }
}

struct Counts {
  int tests = 0;
  int failures = 0;
  int errors = 0;
  int skipped = 0;
  std::chrono::milliseconds time{0};

  void add(const CheckResult& r) {
    ++tests;
    failures += r.status == Status::warn || r.status == Status::fail ? 1 : 0;
    errors += r.status == Status::error ? 1 : 0;
    skipped += r.status == Status::skip ? 1 : 0;
    time += r.duration;
  }
};

}  // namespace

void write_junit(const Report& report, std::ostream& out, const RenderOptions& /*options*/) {
  // Suites in order of first appearance, as the text report groups: hosts first
  // (dns.resolve runs first), then endpoints in the plan's order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const CheckResult*>> suites;
  Counts total;
  for (const auto& r : report.results) {
    const std::string key = r.endpoint ? "endpoint " + r.endpoint->label() : "host " + r.host();
    if (suites.count(key) == 0) order.push_back(key);
    suites[key].push_back(&r);
    total.add(r);
  }

  const std::string target = report.results.empty() ? "" : report.results.front().target;
  const std::string timestamp = junit_timestamp(report.started_at);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << fmt::format(
      "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{}\">\n",
      attr(fmt::format("mailready {}", target)), total.tests, total.failures, total.errors,
      seconds(report.duration));
  for (const auto& key : order) {
    const auto& members = suites[key];
    Counts counts;
    for (const CheckResult* r : members) counts.add(*r);
    const CheckResult& first = *members.front();
    out << fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" "
        "time=\"{}\"{}>\n",
        attr(first.where()), counts.tests, counts.failures, counts.errors, counts.skipped,
        seconds(counts.time), timestamp.empty() ? "" : fmt::format(" timestamp=\"{}\"", timestamp));

    // The endpoint as properties, so a CI tab can show what was probed.
    std::vector<std::pair<std::string, std::string>> properties = {{"host", first.host()}};
    if (first.endpoint) {
      const Endpoint& e = *first.endpoint;
      properties.emplace_back("address", e.address);
      properties.emplace_back("port", std::to_string(e.port));
      properties.emplace_back("protocol", std::string(to_string(e.protocol)));
      properties.emplace_back("tls", std::string(to_string(e.tls)));
      properties.emplace_back("role", std::string(to_string(e.role)));
    }
    out << "    <properties>\n";
    for (const auto& [name, value] : properties) {
      out << fmt::format("      <property name=\"{}\" value=\"{}\"/>\n", attr(name), attr(value));
    }
    out << "    </properties>\n";
    for (const CheckResult* r : members) write_testcase(*r, out);
    out << "  </testsuite>\n";
  }
  out << "</testsuites>\n";
}

void write_junit_suite(const Report& report, std::ostream& out) {
  Counts counts;
  for (const auto& r : report.results) counts.add(r);
  const std::string target = report.results.empty() ? "" : report.results.front().target;
  const std::string timestamp = junit_timestamp(report.started_at);
  out << fmt::format(
      "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" "
      "time=\"{}\"{}>\n",
      attr(target), counts.tests, counts.failures, counts.errors, counts.skipped,
      seconds(report.duration), timestamp.empty() ? "" : fmt::format(" timestamp=\"{}\"", timestamp));
  out << "    <properties>\n";
  out << fmt::format("      <property name=\"target\" value=\"{}\"/>\n", attr(target));
  out << fmt::format("      <property name=\"verdict\" value=\"{}\"/>\n",
                     attr(to_string(verdict_of(report))));
  out << "    </properties>\n";
  for (const auto& r : report.results) write_testcase(r, out);
  out << "  </testsuite>\n";
}

}  // namespace mailready::report
