// The machine-readable formats (junit, nagios, prometheus) over two hand-built reports:
// golden files for the whole output, and targeted tests for escaping, thresholds and the
// status line. MAILREADY_UPDATE_GOLDEN=1 rewrites the golden files (read the diff!).
// The golden files are also validated by tests/integration/consumers_test.py with xmllint
// against reports/schema/junit.xsd and with promtool.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "reports/reporters.hpp"

using namespace mailready;
using report::RenderOptions;

namespace {

Endpoint endpoint(const std::string& host, const std::string& address, int port) {
  Endpoint e;
  e.host = host;
  e.address = address;
  e.port = port;
  switch (port) {
    case 993:
      e.protocol = Protocol::imap;
      e.tls = TlsMode::implicit;
      e.role = Role::incoming;
      break;
    case 143:
      e.protocol = Protocol::imap;
      e.tls = TlsMode::starttls;
      e.role = Role::incoming;
      break;
    case 587:
      e.protocol = Protocol::smtp;
      e.tls = TlsMode::starttls;
      e.role = Role::submission;
      break;
    case 465:
      e.protocol = Protocol::smtp;
      e.tls = TlsMode::implicit;
      e.role = Role::submission;
      break;
    default:
      e.protocol = Protocol::smtp;
      e.tls = TlsMode::starttls;
      e.role = Role::relay;
      break;
  }
  return e;
}

CheckResult result(const std::string& target, const std::string& check, std::optional<Endpoint> e,
                   int ms, std::string summary) {
  CheckResult r;
  r.check = check;
  r.target = target;
  r.endpoint = std::move(e);
  r.duration = std::chrono::milliseconds(ms);
  r.summary = std::move(summary);
  return r;
}

CheckResult host_result(const std::string& target, const std::string& check,
                        const std::string& host, int ms, std::string summary) {
  CheckResult r = result(target, check, std::nullopt, ms, std::move(summary));
  r.facts["host"] = host;
  return r;
}

nlohmann::json tls(int handshake_ms) {
  return {{"handshake", "ok"},
          {"protocol", "TLSv1.3"},
          {"cipher", "TLS_AES_256_GCM_SHA384"},
          {"bits", 256},
          {"handshake_ms", handshake_ms}};
}

CheckResult open_port(const std::string& target, const std::string& address, int port, int ms) {
  CheckResult r = result(target, "ports.reachability", endpoint(target, address, port), ms,
                         "open in " + std::to_string(ms) + " ms");
  r.facts["state"] = "open";
  r.facts["connect_ms"] = ms;
  return r;
}

CheckResult dns(const std::string& host, const std::string& address) {
  CheckResult r = host_result(host, "dns.resolve", host, 2, address);
  r.facts["pinned"] = false;
  r.facts["a"] = {address};
  r.facts["aaaa"] = nlohmann::json::array();
  r.facts["addresses"] = {address};
  return r;
}

/// mail.lab.test: everything works; cert and login facts as the later checks will add.
Report good_run() {
  const std::string host = "mail.lab.test";
  const std::string ip = "127.0.10.10";
  Report report;
  report.tool_version = "0.1.0";
  report.started_at = "2026-03-02T08:15:00Z";
  report.duration = std::chrono::milliseconds(412);
  report.results.push_back(dns(host, ip));
  for (const auto& [port, ms] :
       std::vector<std::pair<int, int>>{{993, 1}, {587, 1}, {465, 0}, {25, 1}}) {
    report.results.push_back(open_port(host, ip, port, ms));
  }

  CheckResult imap = result(host, "imap.greeting", endpoint(host, ip, 993), 14,
                            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
                            "LITERAL+ AUTH=PLAIN] Dovecot ready.");
  imap.facts["greeting_ok"] = true;
  imap.facts["banner"] = imap.summary;
  imap.facts["tls"] = tls(9);
  report.results.push_back(imap);

  for (const auto& [port, handshake] :
       std::vector<std::pair<int, int>>{{587, 7}, {465, 8}, {25, 6}}) {
    CheckResult smtp = result(host, "smtp.greeting", endpoint(host, ip, port), 21,
                              "220 mail.lab.test ESMTP Postfix (Debian/GNU)");
    smtp.facts["greeting_ok"] = true;
    smtp.facts["banner"] = smtp.summary;
    smtp.facts["code"] = 220;
    smtp.facts["tls"] = tls(handshake);
    report.results.push_back(smtp);
  }

  CheckResult fallback = host_result(host, "submission.fallback", host, 0, "port 587");
  fallback.facts["port"] = 587;
  fallback.facts["address"] = ip;
  report.results.push_back(fallback);

  CheckResult cert = result(host, "cert.chain", endpoint(host, ip, 993), 3,
                            "chain ends at a trusted root; leaf valid until 2026-05-31");
  cert.facts["not_after"] = "2026-05-31T12:00:00Z";
  cert.facts["days_left"] = 90;
  report.results.push_back(cert);

  CheckResult login = result(host, "auth.login", endpoint(host, ip, 993), 41, "PLAIN accepted");
  login.facts["mechanism"] = "PLAIN";
  login.facts["login_ms"] = 35;
  report.results.push_back(login);
  return report;
}

/// fw.lab.test: 587 closed, 465 filtered (info findings), so phones land on 25 (warning);
/// the IMAP greeting could not be read (error) and the certificate check was skipped.
Report fw_run() {
  const std::string host = "fw.lab.test";
  const std::string ip = "127.0.10.20";
  Report report;
  report.tool_version = "0.1.0";
  report.started_at = "2026-03-02T08:20:00Z";
  report.duration = std::chrono::milliseconds(2034);
  report.results.push_back(dns(host, ip));
  report.results.push_back(open_port(host, ip, 993, 1));

  CheckResult closed =
      result(host, "ports.reachability", endpoint(host, ip, 587), 0, "closed: Connection refused");
  closed.facts["state"] = "closed";
  closed.facts["connect_ms"] = 0;
  closed.facts["detail"] = "Connection refused";
  closed.findings.push_back(
      {"port.closed",
       Severity::info,
       "fw.lab.test[127.0.10.20]:587 is closed (Connection refused)",
       {{"state", "closed"}, {"connect_ms", 0}, {"detail", "Connection refused"}},
       "Open the port on the firewall and point it at the gateway or mail "
       "server, or start the service that should listen there."});
  report.results.push_back(closed);

  CheckResult filtered = result(host, "ports.reachability", endpoint(host, ip, 465), 2000,
                                "filtered: no answer before the timeout");
  filtered.facts["state"] = "filtered";
  filtered.facts["connect_ms"] = 2000;
  filtered.findings.push_back(
      {"port.filtered",
       Severity::info,
       "fw.lab.test[127.0.10.20]:465 is filtered (no answer within 2000 ms)",
       {{"state", "filtered"}, {"connect_ms", 2000}, {"detail", "no answer within 2000 ms"}},
       "Allow the port on the firewall in front of the gateway, or make "
       "the firewall reject instead of drop so clients fail fast."});
  report.results.push_back(filtered);
  report.results.push_back(open_port(host, ip, 25, 1));

  CheckResult imap = result(host, "imap.greeting", endpoint(host, ip, 993), 3, "");
  imap.facts["greeting_ok"] = false;
  imap.status = Status::error;
  imap.error = "connect: Connection reset by peer";
  report.results.push_back(imap);

  CheckResult smtp = result(host, "smtp.greeting", endpoint(host, ip, 25), 19,
                            "220 fw.lab.test ESMTP Postfix (Debian/GNU)");
  smtp.facts["greeting_ok"] = true;
  smtp.facts["banner"] = smtp.summary;
  smtp.facts["tls"] = tls(7);
  report.results.push_back(smtp);

  CheckResult fallback = host_result(host, "submission.fallback", host, 0, "port 25");
  fallback.facts["port"] = 25;
  fallback.findings.push_back(
      {"submission.fallback-25",
       Severity::warning,
       "Phones will send through port 25 (587 closed, 465 filtered)",
       {{"attempts", nlohmann::json::array({{{"port", 587}, {"state", "closed"}},
                                            {{"port", 465}, {"state", "filtered"}},
                                            {{"port", 25}, {"state", "open"}}})}},
       "Open submission on port 587 (STARTTLS, AUTH required) and/or 465 (implicit TLS) on "
       "the firewall and the gateway."});
  fallback.settle();
  report.results.push_back(fallback);

  CheckResult cert = result(host, "cert.chain", endpoint(host, ip, 993), 0, "");
  cert.status = Status::skip;
  cert.error = "needs imap.greeting";
  report.results.push_back(cert);
  return report;
}

RenderOptions thresholds() {
  RenderOptions o;
  o.cert_warning_days = 30;
  o.cert_critical_days = 14;
  return o;
}

std::string render(const std::string& format, const Report& report,
                   const RenderOptions& options = thresholds()) {
  const auto* f = report::find_format(format);
  REQUIRE(f != nullptr);
  std::ostringstream out;
  f->write(report, out, options);
  return out.str();
}

/// Compares `actual` with tests/golden/NAME, or rewrites it under MAILREADY_UPDATE_GOLDEN=1.
void check_golden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(MAILREADY_SOURCE_DIR) + "/tests/golden/" + name;
  const char* update = std::getenv("MAILREADY_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    WARN("rewrote " << path);
    return;
  }
  std::ifstream in(path, std::ios::binary);
  INFO("golden file " << path << " (MAILREADY_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(in.good());
  std::ostringstream expected;
  expected << in.rdbuf();
  CHECK(actual == expected.str());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("the machine-readable formats are registered", "[reporters][formats]") {
  for (const char* name : {"junit", "nagios", "prometheus"}) {
    INFO(name);
    CHECK(report::find_format(name) != nullptr);
  }
}

TEST_CASE("golden files: junit, nagios and prometheus of a good and a firewalled run",
          "[reporters][formats][golden]") {
  const std::vector<std::pair<std::string, std::string>> formats = {
      {"junit", "junit.xml"}, {"nagios", "nagios.txt"}, {"prometheus", "prom"}};
  for (const auto& [format, extension] : formats) {
    SECTION(format) {
      check_golden("good_formats." + extension, render(format, good_run()));
      check_golden("fw_formats." + extension, render(format, fw_run()));
    }
  }
}

TEST_CASE("junit counts tests, failures, errors and skips", "[reporters][junit]") {
  const std::string xml = render("junit", fw_run());
  // Nine results: one warn (failure), one error, one skip.
  CHECK(xml.find("<testsuites name=\"mailready fw.lab.test\" tests=\"9\" failures=\"1\" "
                 "errors=\"1\" time=\"2.034\">") != std::string::npos);
  CHECK(xml.find("<failure message=\"submission.fallback-25: Phones will send through port 25 "
                 "(587 closed, 465 filtered)\" type=\"warning\">") != std::string::npos);
  CHECK(xml.find("<error message=\"connect: Connection reset by peer\" type=\"error\">") !=
        std::string::npos);
  CHECK(xml.find("<skipped message=\"needs imap.greeting\"/>") != std::string::npos);
  CHECK(xml.find("timestamp=\"2026-03-02T08:20:00\"") != std::string::npos);
}

TEST_CASE("junit output is valid XML whatever the server sent", "[reporters][junit]") {
  Report report;
  report.started_at = "not a time";
  CheckResult r;
  r.check = "smtp.greeting";
  r.target = "x.test";
  r.facts["host"] = "x.test";
  r.status = Status::fail;
  // A banner with markup, control characters, a NUL, a lone continuation byte and a
  // truncated sequence: all must come out as well-formed XML.
  std::string banner = "554 <no> & \"go\" 'away'\x01\x1b[0m";
  banner += '\0';
  banner += "\x80 caf\xc3\xa9 \xe2\x82";
  r.findings.push_back({"protocol.service-refused", Severity::critical, "refuses: " + banner,
                        nlohmann::json::object(), "Fix it."});
  r.summary = banner;
  report.results.push_back(r);
  const std::string xml = render("junit", report);

  CHECK(xml.find("timestamp=") == std::string::npos);
  CHECK(xml.find(
            "message=\"protocol.service-refused: refuses: 554 &lt;no&gt; &amp; "
            "&quot;go&quot; 'away'\xEF\xBF\xBD\xEF\xBF\xBD[0m\xEF\xBF\xBD\xEF\xBF\xBD caf\xc3\xa9 "
            "\xEF\xBF\xBD\xEF\xBF\xBD\"") != std::string::npos);
  for (const char c : xml) {
    const auto u = static_cast<unsigned char>(c);
    INFO("byte " << static_cast<int>(u));
    CHECK((u >= 0x20 || c == '\n'));
  }
}

TEST_CASE("nagios status line: state, worst findings first, at most three", "[reporters][nagios]") {
  SECTION("ok names the target and counts") {
    const auto lines = lines_of(render("nagios", good_run()));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind("MAILREADY OK - mail.lab.test: 12 results passed | 'duration'=412ms;;;0 ",
                         0) == 0);
  }
  SECTION("warning lists the warning before the error, info findings only in long text") {
    const auto lines = lines_of(render("nagios", fw_run()));
    REQUIRE(lines.size() == 6);
    CHECK(lines[0].rfind("MAILREADY WARNING - submission.fallback-25: Phones will send through "
                         "port 25 (587 closed, 465 filtered); imap.greeting on "
                         "fw.lab.test[127.0.10.20]:993: connect: Connection reset by peer | ",
                         0) == 0);
  }
  SECTION("critical: criticals first, then 'and N more'") {
    Report report = fw_run();
    for (int i = 0; i < 3; ++i) {
      CheckResult r;
      r.check = "tls.handshake";
      r.target = "fw.lab.test";
      r.endpoint = endpoint("fw.lab.test", "127.0.10.20", 993);
      r.findings.push_back({"cert.expired",
                            Severity::critical,
                            "expired " + std::to_string(i) + " days ago | really",
                            {},
                            ""});
      r.settle();
      report.results.push_back(r);
    }
    const auto lines = lines_of(render("nagios", report));
    CHECK(lines[0].rfind("MAILREADY CRITICAL - cert.expired: expired 0 days ago / really; "
                         "cert.expired: expired 1 days ago / really; cert.expired: expired 2 "
                         "days ago / really; and 2 more | ",
                         0) == 0);
    CHECK(lines[0].find('|') == lines[0].find(" | ") + 1);
  }
  SECTION("unknown when a probe failed and nothing is worse") {
    Report report;
    CheckResult r;
    r.check = "imap.greeting";
    r.target = "x.test";
    r.endpoint = endpoint("x.test", "192.0.2.1", 993);
    r.status = Status::error;
    r.error = "connect: timed out\nafter 2000 ms";
    report.results.push_back(r);
    const auto lines = lines_of(render("nagios", report));
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] ==
          "MAILREADY UNKNOWN - imap.greeting on x.test[192.0.2.1]:993: connect: "
          "timed out after 2000 ms | 'duration'=0ms;;;0");
    CHECK(lines[1] ==
          "[ERROR] imap.greeting on x.test[192.0.2.1]:993: connect: timed out "
          "after 2000 ms");
  }
}

TEST_CASE("nagios perfdata: thresholds only when given, unique quoted labels",
          "[reporters][nagios]") {
  const std::string with = lines_of(render("nagios", good_run()))[0];
  CHECK(with.find(" 'cert_days_mail.lab.test_993'=90;30:;14:") != std::string::npos);
  CHECK(with.find(" 'login_mail.lab.test_993'=35ms;;;0") != std::string::npos);

  const std::string without = lines_of(render("nagios", good_run(), RenderOptions{}))[0];
  CHECK(without.find(" 'cert_days_mail.lab.test_993'=90 ") != std::string::npos);

  // A filtered port's connect time is the timeout, not a measurement.
  const std::string fw = lines_of(render("nagios", fw_run()))[0];
  CHECK(fw.find("connect_fw.lab.test_465") == std::string::npos);
  CHECK(fw.find("'connect_fw.lab.test_993'=1ms;;;0") != std::string::npos);

  // Two addresses for one host and port: the address keeps the labels apart.
  Report dual;
  for (const char* address : {"192.0.2.1", "2001:db8::1"}) {
    dual.results.push_back(open_port("dual.test", address, 993, 2));
  }
  const std::string d = lines_of(render("nagios", dual))[0];
  CHECK(d.find("'connect_dual.test_192.0.2.1_993'=2ms;;;0 "
               "'connect_dual.test_2001:db8::1_993'=2ms;;;0") != std::string::npos);

  // Labels never hold '=' or a quote.
  Report odd;
  odd.results.push_back(open_port("we'ird=host", "192.0.2.1", 993, 2));
  const std::string o = lines_of(render("nagios", odd))[0];
  CHECK(o.find("'connect_we_ird_host_993'=2ms;;;0") != std::string::npos);
}

TEST_CASE("prometheus: families together, escaped labels, the agreed metrics",
          "[reporters][prometheus]") {
  const std::string text = render("prometheus", fw_run());
  const auto lines = lines_of(text);

  // Every family has HELP then TYPE, and its samples directly after, never split.
  std::set<std::string> seen;
  std::string current;
  for (const auto& line : lines) {
    if (line.rfind("# HELP ", 0) == 0) {
      current = line.substr(7, line.find(' ', 7) - 7);
      INFO(current);
      CHECK(seen.insert(current).second);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      CHECK(line == "# TYPE " + current + " gauge");
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    INFO(line);
    CHECK(name == current);
  }

  CHECK(text.find("\nmailready_up{target=\"fw.lab.test\"} 1\n") != std::string::npos);
  CHECK(text.find("\nmailready_verdict{target=\"fw.lab.test\"} 1\n") != std::string::npos);
  CHECK(text.find("\nmailready_run_duration_seconds{target=\"fw.lab.test\"} 2.034\n") !=
        std::string::npos);
  CHECK(text.find("\nmailready_findings{target=\"fw.lab.test\",severity=\"warning\"} 1\n") !=
        std::string::npos);
  CHECK(text.find(
            "\nmailready_check_success{target=\"fw.lab.test\",check=\"ports.reachability\","
            "host=\"fw.lab.test\",address=\"127.0.10.20\",port=\"465\",protocol=\"smtp\"} 0\n") !=
        std::string::npos);
  // Skipped: a status sample, no success sample.
  CHECK(text.find(
            "mailready_check_status{target=\"fw.lab.test\",check=\"cert.chain\",host=\"fw.lab."
            "test\",address=\"127.0.10.20\",port=\"993\",protocol=\"imap\",status=\"skip\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mailready_check_success{target=\"fw.lab.test\",check=\"cert.chain\"") ==
        std::string::npos);
  CHECK(text.find("mailready_cert_not_after_timestamp_seconds") == std::string::npos);

  const std::string good = render("prometheus", good_run());
  CHECK(good.find(
            "\nmailready_cert_not_after_timestamp_seconds{target=\"mail.lab.test\",host=\"mail."
            "lab.test\",address=\"127.0.10.10\",port=\"993\",protocol=\"imap\"} 1780228800\n") !=
        std::string::npos);
  CHECK(
      good.find("\nmailready_run_start_timestamp_seconds{target=\"mail.lab.test\"} 1772439300\n") !=
      std::string::npos);
  CHECK(good.find(
            "\nmailready_login_duration_seconds{target=\"mail.lab.test\",host=\"mail.lab.test\","
            "address=\"127.0.10.10\",port=\"993\",protocol=\"imap\",mechanism=\"PLAIN\"} 0.035\n") !=
        std::string::npos);

  SECTION("label values escape backslash, quote and line feed") {
    Report report;
    CheckResult r;
    r.check = "odd\\check \"x\"\nnext";
    r.target = "t";
    r.facts["host"] = "h";
    report.results.push_back(r);
    const std::string odd = render("prometheus", report);
    CHECK(odd.find("check=\"odd\\\\check \\\"x\\\"\\nnext\"") != std::string::npos);
  }
  SECTION("tls.handshake's top-level handshake time, and not_after_unix") {
    Report report;
    CheckResult r;
    r.check = "tls.handshake";
    r.target = "t";
    r.endpoint = endpoint("t", "192.0.2.1", 993);
    r.facts = {{"handshake", "ok"}, {"protocol", "TLSv1.3"}, {"handshake_ms", 12}};
    report.results.push_back(r);
    CheckResult c = r;
    c.check = "cert.chain";
    c.facts = {
        {"not_after", "2026-05-31T12:00:00Z"}, {"not_after_unix", 1780228801}, {"days_left", 3}};
    report.results.push_back(c);
    const std::string prom = render("prometheus", report);
    CHECK(prom.find("mailready_tls_handshake_duration_seconds{target=\"t\",host=\"t\",address="
                    "\"192.0.2.1\","
                    "port=\"993\",protocol=\"imap\"} 0.012\n") != std::string::npos);
    CHECK(prom.find(",protocol=\"imap\"} 1780228801\n") != std::string::npos);
    const std::string nagios = render("nagios", report);
    CHECK(nagios.find(" 'tls_t_993'=12ms;;;0 'cert_days_t_993'=3;30:;14:\n") != std::string::npos);

    // A failed handshake has no time.
    report.results[0].facts["handshake"] = "failed";
    CHECK(render("prometheus", report).find("mailready_tls_handshake") == std::string::npos);
  }
  SECTION("certificate expiry with an offset and fractions") {
    Report report;
    CheckResult r;
    r.check = "cert.chain";
    r.target = "t";
    r.endpoint = endpoint("t", "192.0.2.1", 993);
    r.facts["not_after"] = "2026-05-31T14:00:00.5+02:00";
    report.results.push_back(r);
    CHECK(render("prometheus", report).find(",protocol=\"imap\"} 1780228800\n") !=
          std::string::npos);
    report.results[0].facts["not_after"] = "31 May 2026";
    CHECK(render("prometheus", report).find("mailready_cert_not_after") == std::string::npos);
  }
}
