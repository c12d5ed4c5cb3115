// reports/reporters.hpp, text and JSON: golden files for two hand-built reports (a good
// run and a firewalled one), plus what a reader relies on (colours, the JSON contract,
// invalid UTF-8 from a server). MAILREADY_UPDATE_GOLDEN=1 rewrites the golden files
// instead of comparing: read the diff before committing it.

#include "reports/reporters.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace mailready;
using report::RenderOptions;
using namespace std::chrono_literals;

namespace {

constexpr const char* kHost = "mail.example.test";
constexpr const char* kAddress = "192.0.2.10";

Endpoint endpoint_at(int port) {
  Endpoint e{kHost, kAddress, port, Protocol::smtp, TlsMode::starttls, Role::submission};
  if (port == 993 || port == 143) {
    e.protocol = Protocol::imap;
    e.role = Role::incoming;
  }
  if (port == 993 || port == 465) e.tls = TlsMode::implicit;
  if (port == 25) e.role = Role::relay;
  return e;
}

CheckResult on_host(const std::string& check, std::chrono::milliseconds duration) {
  CheckResult r;
  r.check = check;
  r.target = kHost;
  r.duration = duration;
  r.facts["host"] = kHost;
  return r;
}

CheckResult on_port(const std::string& check, int port, std::chrono::milliseconds duration) {
  CheckResult r;
  r.check = check;
  r.target = kHost;
  r.endpoint = endpoint_at(port);
  r.duration = duration;
  return r;
}

CheckResult resolved() {
  CheckResult r = on_host("dns.resolve", 14ms);
  r.facts["pinned"] = false;
  r.facts["a"] = {kAddress};
  r.facts["aaaa"] = nlohmann::json::array();
  r.facts["addresses"] = {kAddress};
  r.summary = kAddress;
  return r;
}

CheckResult open_port(int port, int ms) {
  CheckResult r = on_port("ports.reachability", port, std::chrono::milliseconds(ms));
  r.facts["state"] = "open";
  r.facts["connect_ms"] = ms;
  r.summary = "open in " + std::to_string(ms) + " ms";
  return r;
}

nlohmann::json tls13(int ms) {
  return {{"handshake", "ok"},
          {"protocol", "TLSv1.3"},
          {"cipher", "TLS_AES_256_GCM_SHA384"},
          {"bits", 256},
          {"handshake_ms", ms}};
}

const char* const kImapBanner =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] "
    "Dovecot (Debian) ready.";
const char* const kSmtpBanner = "220 mail.example.test ESMTP Postfix (Debian/GNU)";

CheckResult imap_ok() {
  CheckResult r = on_port("imap.greeting", 993, 61ms);
  r.facts["greeting_ok"] = true;
  r.facts["tls"] = tls13(17);
  r.facts["banner"] = kImapBanner;
  r.facts["capabilities"] = {"IMAP4REV1", "SASL-IR", "LOGIN-REFERRALS", "ID",
                             "ENABLE",    "IDLE",    "LITERAL+",        "AUTH=PLAIN"};
  r.summary = kImapBanner;
  return r;
}

CheckResult smtp_ok(int port, std::chrono::milliseconds duration) {
  CheckResult r = on_port("smtp.greeting", port, duration);
  r.facts["greeting_ok"] = true;
  r.facts["banner"] = kSmtpBanner;
  r.facts["code"] = 220;
  r.facts["ehlo"] = {{"keywords", {"PIPELINING", "SIZE", "STARTTLS", "AUTH", "8BITMIME"}},
                     {"auth", {"PLAIN", "LOGIN"}},
                     {"starttls", port != 465},
                     {"size", 10240000}};
  if (port != 465) r.facts["starttls"] = true;
  r.facts["tls"] = tls13(19);
  r.summary = kSmtpBanner;
  return r;
}

Finding finding(const std::string& id, Severity severity, const std::string& message,
                nlohmann::json evidence, const std::string& remediation) {
  Finding f;
  f.id = id;
  f.severity = severity;
  f.message = message;
  f.evidence = std::move(evidence);
  f.remediation = remediation;
  return f;
}

/// Every port open, every greeting fine, phones submit on 587.
Report good_run() {
  Report report;
  report.tool_version = "0.0.0-test";
  report.started_at = "2026-11-27T22:45:27Z";
  report.duration = 1834ms;
  report.results.push_back(resolved());
  report.results.push_back(open_port(993, 21));
  report.results.push_back(open_port(587, 22));
  report.results.push_back(open_port(465, 22));
  report.results.push_back(open_port(25, 23));
  report.results.push_back(imap_ok());
  report.results.push_back(smtp_ok(587, 97ms));
  report.results.push_back(smtp_ok(465, 88ms));
  report.results.push_back(smtp_ok(25, 95ms));

  CheckResult fallback = on_host("submission.fallback", 1ms);
  fallback.facts["order"] = {587, 465, 25};
  fallback.facts["port"] = 587;
  fallback.facts["address"] = kAddress;
  fallback.facts["attempts"] = {{{"port", 587}, {"state", "open"}, {"greeting_ok", true}}};
  fallback.summary = "port 587";
  report.results.push_back(fallback);
  return report;
}

/// A firewall that rejects 587 and drops 465, so phones fall back to 25; the IMAP
/// greeting timed out and the run's deadline came before the 143 probe got a slot.
Report firewalled_run() {
  Report report;
  report.tool_version = "0.0.0-test";
  report.started_at = "2026-11-27T22:50:03Z";
  report.duration = 6187ms;
  report.results.push_back(resolved());
  report.results.push_back(open_port(993, 19));
  report.results.push_back(open_port(143, 19));

  CheckResult closed = on_port("ports.reachability", 587, 20ms);
  closed.facts = {{"state", "closed"}, {"connect_ms", 20}, {"detail", "Connection refused"}};
  closed.summary = "closed: Connection refused";
  closed.findings.push_back(finding(
      "port.closed", Severity::info,
      "mail.example.test[192.0.2.10]:587 is closed (Connection refused)",
      {{"state", "closed"}, {"connect_ms", 20}, {"detail", "Connection refused"}},
      "Open the port on the firewall and point it at the gateway or mail server, or start the "
      "service that should listen there."));
  report.results.push_back(closed);

  CheckResult filtered = on_port("ports.reachability", 465, 3000ms);
  filtered.facts = {{"state", "filtered"}, {"connect_ms", 3000}};
  filtered.summary = "filtered: no answer before the timeout";
  filtered.findings.push_back(
      finding("port.filtered", Severity::info,
              "mail.example.test[192.0.2.10]:465 is filtered (no answer within 3000 ms)",
              {{"state", "filtered"}, {"connect_ms", 3000}, {"detail", "no answer within 3000 ms"}},
              "Allow the port on the firewall in front of the gateway, or make the firewall reject "
              "instead of drop so clients fail fast."));
  report.results.push_back(filtered);
  report.results.push_back(open_port(25, 20));

  CheckResult imap_error = on_port("imap.greeting", 993, 3000ms);
  imap_error.status = Status::error;
  imap_error.facts["greeting_ok"] = false;
  imap_error.error = "connect: Timeout";
  report.results.push_back(imap_error);

  CheckResult imap_skip = on_port("imap.greeting", 143, 2988ms);
  imap_skip.status = Status::skip;
  imap_skip.facts["greeting_ok"] = false;
  imap_skip.error = "run deadline reached while waiting for a connection slot";
  report.results.push_back(imap_skip);

  report.results.push_back(smtp_ok(25, 48ms));

  CheckResult fallback = on_host("submission.fallback", 1ms);
  const nlohmann::json attempts = {
      {{"port", 587}, {"state", "closed"}, {"greeting_ok", false}},
      {{"port", 465}, {"state", "filtered"}, {"greeting_ok", false}},
      {{"port", 25}, {"state", "open"}, {"greeting_ok", true}},
  };
  fallback.facts["order"] = {587, 465, 25};
  fallback.facts["port"] = 25;
  fallback.facts["address"] = kAddress;
  fallback.facts["attempts"] = attempts;
  fallback.summary = "port 25";
  fallback.status = Status::warn;
  fallback.findings.push_back(finding(
      "submission.fallback-25", Severity::warning,
      "Phones will send through port 25 (587 closed, 465 filtered)", {{"attempts", attempts}},
      "Open submission on port 587 (STARTTLS, AUTH required) and/or 465 (implicit TLS) on the "
      "firewall and the gateway."));
  report.results.push_back(fallback);
  return report;
}

std::string text_of(const Report& report, bool color) {
  RenderOptions options;
  options.color = color;
  std::ostringstream out;
  report::write_text(report, out, options);
  return out.str();
}

std::string json_of(const Report& report) {
  std::ostringstream out;
  report::write_json(report, out, RenderOptions{});
  return out.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

/// Compares `actual` with tests/golden/`name`, or rewrites the file when
/// MAILREADY_UPDATE_GOLDEN=1.
void check_golden(const std::string& name, const std::string& actual) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(MAILREADY_SOURCE_DIR) / "tests" / "golden" / name;
  const char* update = std::getenv("MAILREADY_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    WARN("rewrote " << path.string());
    return;
  }
  std::ifstream in(path, std::ios::binary);
  INFO("golden file " << path.string() << " (MAILREADY_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(in.good());
  std::stringstream expected;
  expected << in.rdbuf();

  // Name the first line that differs: a whole-file comparison of a long report is hard to
  // read. Then compare whole files, which also catches a missing final newline.
  const auto want = lines_of(expected.str());
  const auto got = lines_of(actual);
  for (std::size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    const std::string w = i < want.size() ? want[i] : "<end of file>";
    const std::string g = i < got.size() ? got[i] : "<end of output>";
    if (w != g) {
      INFO("first difference at line " << i + 1 << "\n  golden: " << w << "\n  actual: " << g);
      CHECK(g == w);
      return;
    }
  }
  CHECK(actual == expected.str());
}

}  // namespace

TEST_CASE("text and json of a good run match the golden files", "[reporters][golden]") {
  const Report report = good_run();
  check_golden("report_good.txt", text_of(report, false));
  check_golden("report_good.json", json_of(report));
}

TEST_CASE("text and json of a firewalled run match the golden files", "[reporters][golden]") {
  const Report report = firewalled_run();
  check_golden("report_fw.txt", text_of(report, false));
  check_golden("report_fw.json", json_of(report));
}

TEST_CASE("the text report groups by endpoint and ends with the verdict", "[reporters][text]") {
  const auto lines = lines_of(text_of(firewalled_run(), false));
  REQUIRE(lines.size() > 3);
  CHECK(lines.front() ==
        "mailready 0.0.0-test  mail.example.test  2026-11-27T22:50:03Z  (6187 ms)");
  CHECK(lines.back() == "Verdict: WARNING (exit 1): 0 critical, 1 warning, 2 info");

  const auto index_of = [&](const std::string& line) {
    return static_cast<std::size_t>(std::find(lines.begin(), lines.end(), line) - lines.begin());
  };
  // Host-level results first (dns.resolve, then submission.fallback of the same host), then
  // one group per endpoint in the plan's order.
  const std::size_t host = index_of("mail.example.test");
  const std::size_t imaps =
      index_of("mail.example.test:993  imap, implicit TLS, incoming  [192.0.2.10]");
  const std::size_t imap =
      index_of("mail.example.test:143  imap, STARTTLS, incoming  [192.0.2.10]");
  const std::size_t submission =
      index_of("mail.example.test:587  smtp, STARTTLS, submission  [192.0.2.10]");
  const std::size_t smtps =
      index_of("mail.example.test:465  smtp, implicit TLS, submission  [192.0.2.10]");
  const std::size_t relay = index_of("mail.example.test:25  smtp, STARTTLS, relay  [192.0.2.10]");
  CHECK(host < imaps);
  CHECK(imaps < imap);
  CHECK(imap < submission);
  CHECK(submission < smtps);
  CHECK(smtps < relay);
  CHECK(relay < lines.size());

  // Each endpoint group holds its checks' lines; an error or skip shows why.
  CHECK(lines.at(imaps + 1) == "  PASS  ports.reachability     open in 19 ms");
  CHECK(lines.at(imaps + 2) == "  ERROR imap.greeting          connect: Timeout");
  CHECK(lines.at(imap + 2) ==
        "  SKIP  imap.greeting          run deadline reached while waiting for a connection slot");
  CHECK(lines.at(relay + 2) ==
        "  PASS  smtp.greeting          220 mail.example.test ESMTP Postfix (Debian/GNU)");

  // A finding, then its remediation on a "fix:" line.
  const std::size_t warning = index_of(
      "        WARNING submission.fallback-25: Phones will send through port 25 (587 closed, 465 "
      "filtered)");
  REQUIRE(warning < lines.size());
  CHECK(host < warning);
  CHECK(warning < imaps);
  CHECK(lines.at(warning + 1).rfind("          fix: Open submission on port 587", 0) == 0);
  CHECK(
      lines.at(submission + 2) ==
      "        INFO port.closed: mail.example.test[192.0.2.10]:587 is closed (Connection refused)");
  CHECK(lines.at(submission + 3).rfind("          fix: ", 0) == 0);
}

TEST_CASE("the text report has no trailing spaces when every result has words",
          "[reporters][text]") {
  for (const auto& line : lines_of(text_of(firewalled_run(), false))) {
    INFO(line);
    CHECK((line.empty() || line.back() != ' '));
  }
}

TEST_CASE("the text report paints statuses, severities and the verdict in colour",
          "[reporters][text]") {
  const std::string plain = text_of(firewalled_run(), false);
  const std::string color = text_of(firewalled_run(), true);
  CHECK(plain.find('\033') == std::string::npos);
  CHECK(color.find("\033[1;33mWARNING\033[0m (exit 1)") != std::string::npos);  // verdict
  CHECK(color.find("\033[32mPASS \033[0m") != std::string::npos);
  CHECK(color.find("\033[33mWARN \033[0m") != std::string::npos);
  CHECK(color.find("\033[35mERROR\033[0m") != std::string::npos);
  CHECK(color.find("\033[2mSKIP \033[0m") != std::string::npos);
  CHECK(color.find("\033[36mINFO\033[0m port.closed") != std::string::npos);
  CHECK(color.find("\033[33mWARNING\033[0m submission.fallback-25") != std::string::npos);
  CHECK(color.find("\033[1mmail.example.test:993  imap") != std::string::npos);  // group title

  // The good run's verdict is green.
  CHECK(text_of(good_run(), true).find("\033[1;32mOK\033[0m (exit 0)") != std::string::npos);
  // Without escapes, the coloured report says the same words.
  std::string stripped;
  for (std::size_t i = 0; i < color.size(); ++i) {
    if (color[i] == '\033') {
      i = color.find('m', i);
      continue;
    }
    stripped += color[i];
  }
  CHECK(stripped == plain);
}

TEST_CASE("the JSON report keeps the public contract", "[reporters][json]") {
  const auto j = nlohmann::json::parse(json_of(firewalled_run()));
  CHECK(j.at("schema_version") == 1);
  CHECK(j.at("tool") == nlohmann::json{{"name", "mailready"}, {"version", "0.0.0-test"}});
  CHECK(j.at("started_at") == "2026-11-27T22:50:03Z");
  CHECK(j.at("duration_ms") == 6187);
  CHECK(j.at("verdict") == "warning");
  CHECK(j.at("exit_code") == 1);

  const auto& results = j.at("results");
  REQUIRE(results.size() == firewalled_run().results.size());
  // Host-level results have a null endpoint; the others a whole one.
  CHECK(results.front().at("check") == "dns.resolve");
  CHECK(results.front().at("endpoint").is_null());
  CHECK(results.back().at("check") == "submission.fallback");
  CHECK(results.back().at("endpoint").is_null());
  CHECK(results.at(3).at("endpoint") == nlohmann::json{{"host", "mail.example.test"},
                                                       {"address", "192.0.2.10"},
                                                       {"port", 587},
                                                       {"protocol", "smtp"},
                                                       {"tls", "starttls"},
                                                       {"role", "submission"}});

  // Findings carry their evidence as an object.
  const auto& closed = results.at(3).at("findings").at(0);
  CHECK(closed.at("id") == "port.closed");
  CHECK(closed.at("severity") == "info");
  CHECK(closed.at("evidence") ==
        nlohmann::json{{"state", "closed"}, {"connect_ms", 20}, {"detail", "Connection refused"}});
  CHECK(results.back().at("findings").at(0).at("evidence").at("attempts").size() == 3);

  // "error" appears exactly on the results that could not probe.
  for (const auto& r : results) {
    INFO(r.at("check") << " " << r.at("status"));
    const bool probed = r.at("status") != "error" && r.at("status") != "skip";
    CHECK(r.contains("error") == !probed);
    CHECK(r.at("facts").is_object());
  }
  CHECK(results.at(6).at("error") == "connect: Timeout");
}

TEST_CASE("the JSON verdict follows the findings, not the statuses", "[reporters][json]") {
  const auto good = nlohmann::json::parse(json_of(good_run()));
  CHECK(good.at("verdict") == "ok");
  CHECK(good.at("exit_code") == 0);

  Report critical = good_run();
  critical.results.at(1).findings.push_back(
      finding("port.closed", Severity::critical, "993 is closed", nlohmann::json::object(), ""));
  const auto j = nlohmann::json::parse(json_of(critical));
  CHECK(j.at("verdict") == "critical");
  CHECK(j.at("exit_code") == 2);
}

TEST_CASE("write_json replaces invalid UTF-8 from a server instead of throwing",
          "[reporters][json]") {
  Report report = good_run();
  const std::string banner = "220 mail.example.test \xff\xfe ESMTP \xc3";  // not UTF-8
  CheckResult& smtp = report.results.at(6);
  smtp.summary = banner;
  smtp.facts["banner"] = banner;
  smtp.findings.push_back(finding("protocol.unexpected-greeting", Severity::warning,
                                  "odd banner: " + banner, {{"banner", banner}}, "fix it"));

  std::string out;
  REQUIRE_NOTHROW(out = json_of(report));
  nlohmann::json j;
  REQUIRE_NOTHROW(j = nlohmann::json::parse(out));
  const std::string summary = j.at("results").at(6).at("summary");
  CHECK(summary == "220 mail.example.test \xef\xbf\xbd\xef\xbf\xbd ESMTP \xef\xbf\xbd");
  CHECK(j.at("results").at(6).at("facts").at("banner") == summary);
  CHECK(j.at("results").at(6).at("findings").at(0).at("evidence").at("banner") == summary);
  // The text report passes the bytes through as they came.
  CHECK(text_of(report, false).find(banner) != std::string::npos);
}

TEST_CASE("the JSON report makes objects of facts and evidence that are not", "[reporters][json]") {
  Report report = good_run();
  report.results.at(0).facts = nlohmann::json::array({"odd"});
  report.results.at(1).findings.push_back(
      finding("port.closed", Severity::info, "993 is closed", nullptr, ""));
  const auto j = nlohmann::json::parse(json_of(report));
  CHECK(j.at("results").at(0).at("facts") == nlohmann::json::object());
  CHECK(j.at("results").at(1).at("findings").at(0).at("evidence") == nlohmann::json::object());
}

TEST_CASE("an empty report still renders with an ok verdict", "[reporters]") {
  Report report;
  report.tool_version = "0.0.0-test";
  report.started_at = "2026-11-27T22:45:27Z";
  const auto lines = lines_of(text_of(report, false));
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "Verdict: OK (exit 0): 0 critical, 0 warning, 0 info");
  const auto j = nlohmann::json::parse(json_of(report));
  CHECK(j.at("results") == nlohmann::json::array());
  CHECK(j.at("verdict") == "ok");
}

TEST_CASE("the text and json formats are found by name", "[reporters]") {
  const report::Format* text = report::find_format("text");
  const report::Format* json = report::find_format("json");
  REQUIRE(text != nullptr);
  REQUIRE(json != nullptr);
  CHECK(report::find_format("TEXT") == nullptr);
  CHECK(report::find_format("") == nullptr);
  CHECK(report::formats().front().name == "text");  // the default comes first

  // The table's functions are the reporters.
  std::ostringstream out;
  json->write(good_run(), out, RenderOptions{});
  CHECK(out.str() == json_of(good_run()));
  std::ostringstream t;
  text->write(good_run(), t, RenderOptions{});
  CHECK(t.str() == text_of(good_run(), false));
}
