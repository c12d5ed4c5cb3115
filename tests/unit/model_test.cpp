// checks/core/model.hpp: verdicts, exit codes, settling a result's status.

#include "checks/core/model.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

using namespace mailready;

TEST_CASE("exit codes follow the monitoring-plugins convention", "[model]") {
  CHECK(exit_code_of(Verdict::ok) == 0);
  CHECK(exit_code_of(Verdict::warning) == 1);
  CHECK(exit_code_of(Verdict::critical) == 2);
  CHECK(exit_code_of(Verdict::unknown) == 3);
}

namespace {

Finding finding(Severity severity, std::string id = "port.closed") {
  Finding f;
  f.id = std::move(id);
  f.severity = severity;
  f.message = "something about the server";
  return f;
}

CheckResult result(Status status, std::vector<Finding> findings = {}) {
  CheckResult r;
  r.check = "fake.check";
  r.target = "mail.example.test";
  r.status = status;
  r.findings = std::move(findings);
  return r;
}

Report report_of(std::vector<CheckResult> results) {
  Report report;
  report.results = std::move(results);
  return report;
}

}  // namespace

TEST_CASE("the verdict is the worst: critical > warning > unknown > ok", "[model]") {
  SECTION("an empty run is ok") {
    CHECK(verdict_of(Report{}) == Verdict::ok);
  }
  SECTION("info findings, passes and skips are ok") {
    const auto r = report_of({result(Status::pass, {finding(Severity::info)}), result(Status::skip),
                              result(Status::pass)});
    CHECK(verdict_of(r) == Verdict::ok);
    CHECK(exit_code_of(verdict_of(r)) == 0);
  }
  SECTION("an error alone is unknown") {
    const auto r = report_of({result(Status::pass), result(Status::error)});
    CHECK(verdict_of(r) == Verdict::unknown);
    CHECK(exit_code_of(verdict_of(r)) == 3);
  }
  SECTION("a warning outranks an error, wherever the error is") {
    const auto r =
        report_of({result(Status::error), result(Status::warn, {finding(Severity::warning)})});
    CHECK(verdict_of(r) == Verdict::warning);
    CHECK(exit_code_of(verdict_of(r)) == 1);
    const auto reversed =
        report_of({result(Status::warn, {finding(Severity::warning)}), result(Status::error)});
    CHECK(verdict_of(reversed) == Verdict::warning);
  }
  SECTION("a critical outranks everything, even when it comes first") {
    const auto r =
        report_of({result(Status::fail, {finding(Severity::critical)}),
                   result(Status::warn, {finding(Severity::warning)}), result(Status::error)});
    CHECK(verdict_of(r) == Verdict::critical);
    CHECK(exit_code_of(verdict_of(r)) == 2);
  }
  SECTION("a critical among info findings of one result counts") {
    const auto r =
        report_of({result(Status::fail, {finding(Severity::info), finding(Severity::critical)})});
    CHECK(verdict_of(r) == Verdict::critical);
  }
}

TEST_CASE("CheckResult::settle derives the status from the worst finding", "[model]") {
  auto none = result(Status::fail);
  none.settle();
  CHECK(none.status == Status::pass);

  auto info = result(Status::pass, {finding(Severity::info)});
  info.settle();
  CHECK(info.status == Status::pass);

  auto warning = result(Status::pass, {finding(Severity::info), finding(Severity::warning)});
  warning.settle();
  CHECK(warning.status == Status::warn);

  auto critical = result(Status::pass, {finding(Severity::critical), finding(Severity::warning)});
  critical.settle();
  CHECK(critical.status == Status::fail);
}

TEST_CASE("CheckResult::settle leaves skip and error alone", "[model]") {
  auto skipped = result(Status::skip, {finding(Severity::critical)});
  skipped.settle();
  CHECK(skipped.status == Status::skip);

  auto error = result(Status::error, {finding(Severity::warning)});
  error.settle();
  CHECK(error.status == Status::error);
}

TEST_CASE("worst_severity is empty without findings", "[model]") {
  CHECK_FALSE(worst_severity({}));
  CHECK(worst_severity({finding(Severity::warning), finding(Severity::info)}) == Severity::warning);
}

TEST_CASE("Endpoint::label names host, address and port", "[model]") {
  Endpoint e{"mail.example.test", "192.0.2.10",      993,
             Protocol::imap,      TlsMode::implicit, Role::incoming};
  CHECK(e.label() == "mail.example.test[192.0.2.10]:993");
  e.address = "";
  CHECK(e.label() == "mail.example.test:993");
  e.host = "192.0.2.10";
  e.address = "192.0.2.10";
  CHECK(e.label() == "192.0.2.10:993");
}

TEST_CASE("enum names are the JSON contract's words", "[model]") {
  CHECK(to_string(Severity::critical) == "critical");
  CHECK(to_string(Status::error) == "error");
  CHECK(to_string(Verdict::unknown) == "unknown");
  CHECK(to_string(Role::relay) == "relay");
  CHECK(to_string(TlsMode::starttls) == "starttls");
  CHECK(to_string(Protocol::smtp) == "smtp");
}
