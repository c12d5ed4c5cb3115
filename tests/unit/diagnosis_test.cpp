#include <catch2/catch.hpp>

#include "checks/modules/diagnosis.hpp"
#include "checks/modules/findings.hpp"

using namespace mailready;
using checks::diagnose;
using checks::make_finding;

namespace {

CheckResult result(const std::string& check, int port, Status status) {
  CheckResult r;
  r.check = check;
  r.target = "mail.example.test";
  if (port != 0) {
    r.endpoint = Endpoint{"mail.example.test", "192.0.2.1", port, Protocol::imap,
                          TlsMode::implicit, Role::incoming};
  }
  r.status = status;
  return r;
}

CheckResult failed_login(const std::string& reply, const std::string& code) {
  CheckResult r = result("auth.login", 993, Status::fail);
  r.facts["reply"] = reply;
  r.facts["code"] = code;
  r.findings.push_back(make_finding("auth.failed", "refused"));
  return r;
}

}  // namespace

TEST_CASE("each finding points at its hop along the guide's path", "[diagnosis]") {
  Report report;
  report.results.push_back(result("dns.resolve", 0, Status::pass));
  auto port = result("ports.reachability", 993, Status::fail);
  port.findings.push_back(make_finding("port.filtered", Severity::critical, "filtered"));
  report.results.push_back(port);
  auto cert = result("cert.chain", 465, Status::fail);
  cert.findings.push_back(make_finding("cert.expired", Severity::critical, "expired"));
  report.results.push_back(cert);
  diagnose(report);

  CHECK_FALSE(report.results[0].facts.contains("hop"));
  CHECK(report.results[1].facts["hop"] == "firewall");
  CHECK(report.results[2].facts["hop"] == "tls");
  REQUIRE(report.diagnosis);
  CHECK(report.diagnosis->hop == "firewall");  // the earliest broken hop wins
  CHECK(report.diagnosis->finding == "port.filtered");
  CHECK(report.diagnosis->advice.find("993") != std::string::npos);
}

TEST_CASE("a refused login is told apart by the server's words", "[diagnosis]") {
  const auto hop = [](const CheckResult& r) { return checks::hop_of(r, r.findings.front()); };
  CHECK(hop(failed_login("a1 NO [AUTHENTICATIONFAILED] Authentication failed.",
                         "AUTHENTICATIONFAILED")) == "directory");
  CHECK(hop(failed_login("a1 NO [UNAVAILABLE] Temporary authentication failure. [host:2026]",
                         "UNAVAILABLE")) == "directory");
  CHECK(hop(failed_login("a1 NO [UNAVAILABLE] Account is temporarily unavailable.",
                         "UNAVAILABLE")) == "mail-server");
  CHECK(hop(failed_login("535 5.7.8 Error: authentication failed", "5.7.8")) == "directory");
}

TEST_CASE("a session that dies after login points behind the gateway", "[diagnosis]") {
  auto r = result("imap.mailbox", 993, Status::error);
  r.error = "SELECT INBOX failed: the server closed the connection";
  CHECK(checks::hop_of_error(r) == "mail-server");
  auto hung = result("auth.login", 993, Status::error);
  hung.error = "no complete line before the timeout";
  CHECK(checks::hop_of_error(hung) == "firewall");  // the inner firewall drops the backend
}

TEST_CASE("warnings are the diagnosis only when nothing is broken", "[diagnosis]") {
  Report report;
  auto fallback = result("submission.fallback", 0, Status::warn);
  fallback.facts["attempts"] = nlohmann::json::array({{{"port", 587}, {"state", "closed"}}});
  fallback.findings.push_back(make_finding("submission.fallback-25", "port 25"));
  report.results.push_back(fallback);
  auto relay = result("smtp.open-relay", 25, Status::pass);
  report.results.push_back(relay);
  diagnose(report);
  REQUIRE(report.diagnosis);
  CHECK(report.diagnosis->hop == "firewall");

  auto broken = result("smtp.open-relay", 25, Status::fail);
  broken.findings.push_back(make_finding("smtp.open-relay", "relays"));
  report.results.push_back(broken);
  diagnose(report);
  REQUIRE(report.diagnosis);
  CHECK(report.diagnosis->hop == "mta");  // broken beats a warning earlier on the path
}

TEST_CASE("a clean run has no diagnosis", "[diagnosis]") {
  Report report;
  report.results.push_back(result("dns.resolve", 0, Status::pass));
  auto info = result("ports.reachability", 587, Status::pass);
  info.findings.push_back(make_finding("port.closed", "closed"));
  report.results.push_back(info);
  diagnose(report);
  CHECK_FALSE(report.diagnosis);
  CHECK_FALSE(report.results[1].facts.contains("hop"));
}
