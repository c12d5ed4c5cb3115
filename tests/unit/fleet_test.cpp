// The fleet (check --targets): the targets file, each target's Options, the shared
// connection budget and the fleet writers of every format. No network.

#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "checks/core/context.hpp"
#include "checks/core/registry.hpp"
#include "cli/fleet.hpp"
#include "cli/targets.hpp"
#include "reports/fleet.hpp"

using namespace mailready;
using namespace std::chrono_literals;

namespace {

cli::TargetList parse(const std::string& text) {
  std::istringstream in(text);
  return cli::parse_targets_file(in, "t.txt");
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

/// A report of one target whose results carry `severity` findings (none: a clean pass).
Report report_for(const std::string& target, std::optional<Severity> severity = std::nullopt) {
  Report r;
  r.tool_version = "test";
  r.started_at = "2026-12-02T10:00:00Z";
  r.duration = 120ms;
  CheckResult a;
  a.check = "ports.reachability";
  a.target = target;
  a.endpoint = Endpoint{target, "192.0.2.1", 993, Protocol::imap, TlsMode::implicit, Role::incoming};
  a.status = Status::pass;
  a.facts["connect_ms"] = 3;
  a.facts["state"] = "open";
  if (severity) {
    a.findings.push_back(Finding{"port.filtered", *severity, target + ":993 is filtered", {}, "open it"});
    a.status = *severity == Severity::critical ? Status::fail : Status::warn;
  }
  r.results.push_back(a);
  return r;
}

struct Written {
  std::string text;
  report::FleetWriter::Emit emit() {
    return [this](const std::string& s) { text += s; };
  }
};

/// Runs a writer over three targets: ok, critical, warning.
std::string write_fleet(const std::string& format) {
  Written out;
  auto w = report::make_fleet_writer(format, out.emit(), {});
  REQUIRE(w);
  report::FleetSummary s;
  s.tool_version = "test";
  s.started_at = "2026-12-02T10:00:00Z";
  s.targets = 3;
  w->begin();
  const Report reports[] = {report_for("a.test"), report_for("b.test", Severity::critical),
                            report_for("c.test", Severity::warning)};
  const char* names[] = {"a.test", "b.test", "c.test"};
  for (int i = 0; i < 3; ++i) {
    for (const auto& r : reports[i].results) w->result(r);
    w->target(names[i], reports[i]);
    s.add(verdict_of(reports[i]));
  }
  w->end(s);
  return out.text;
}

}  // namespace

TEST_CASE("a plain targets file: one host per line, comments and blank lines skipped", "[fleet]") {
  const auto list = parse("# the fleet\nmail.a.test\n\n  mail.b.test   # trailing comment\nmail.a.test\n");
  REQUIRE(list.targets.size() == 2);
  CHECK(list.targets[0].name == "mail.a.test");
  CHECK(list.targets[1].name == "mail.b.test");
  CHECK(list.duplicates == std::vector<std::string>{"mail.a.test"});
}

TEST_CASE("a bad targets file is one line naming the file and the line", "[fleet]") {
  CHECK(error_of("ok.test\nnot a host\n") == "targets t.txt:2: one host per line, got 'not a host'");
  CHECK(error_of("ok.test\nbad_host!\n") == "targets t.txt:2: 'bad_host!' is not a host name or IP address");
  CHECK(error_of("# nothing\n\n") == "targets t.txt: no targets in it");
  CHECK(error_of("{\"targets\": ") .rfind("targets t.txt: not JSON:", 0) == 0);
  CHECK(error_of("[\"a.test\"]") ==
        "targets t.txt: a JSON targets file is an object with \"targets\" (as the exporter's config)");
  CHECK(error_of(R"({"targets": {"a.test": {"imap_hots": "x.test"}}})").find("imap_hots") != std::string::npos);
}

TEST_CASE("the exporter's config is a targets file: its targets with their settings", "[fleet]") {
  const auto list = parse(R"({"modules": {"default": {}},
    "targets": {"b.test": {"imap_host": "imap.b.test", "resolve": ["imap.b.test:192.0.2.7"]},
                "a.test": {}}})");
  REQUIRE(list.targets.size() == 2);
  CHECK(list.targets[0].name == "a.test");
  CHECK(list.targets[1].name == "b.test");
  CHECK(list.targets[1].imap_host == "imap.b.test");
}

TEST_CASE("a target's Options: the command line's, the file's settings over them", "[fleet]") {
  Options base;
  base.imap_user = base.smtp_user = "cli@x.test";
  base.password = "from-cli";
  base.pinned["other.test"] = {"192.0.2.9"};
  serve::TargetConfig t;
  t.name = "b.test";
  t.imap_host = "imap.b.test";
  t.pinned["imap.b.test"] = {"192.0.2.7"};
  auto o = cli::target_options(base, t);
  CHECK(o.target == "b.test");
  CHECK(o.imap_host == "imap.b.test");
  CHECK(o.smtp_host == "b.test");
  CHECK(o.pinned.at("imap.b.test") == std::vector<std::string>{"192.0.2.7"});
  CHECK(o.pinned.at("other.test") == std::vector<std::string>{"192.0.2.9"});
  CHECK(o.imap_user == "cli@x.test");
  t.user = "own@b.test";
  t.password = "own";
  o = cli::target_options(base, t);
  CHECK(o.imap_user == "own@b.test");
  CHECK(o.smtp_user == "own@b.test");
  CHECK(o.password == "own");
}

TEST_CASE("a fleet's runs share one budget: per address across runs, and a total", "[fleet][context]") {
  auto budget = std::make_shared<ConnectionBudget>(/*per_host=*/2, /*total=*/3);
  Options o;
  o.deadline = 50ms;
  Context one(o, nullptr, budget);
  Context two(o, nullptr, budget);
  CHECK(one.shares_budget());
  auto a = one.acquire_slot("192.0.2.1", 993);
  auto b = two.acquire_slot("192.0.2.1", 587);
  CHECK(a);
  CHECK(b);
  CHECK(one.slots_in_use("192.0.2.1") == 2);
  CHECK_FALSE(two.acquire_slot("192.0.2.1", 25));  // the address's two are taken, by both runs
  auto c = two.acquire_slot("192.0.2.2", 25);
  CHECK(c);
  CHECK(one.connections_open() == 3);
  CHECK_FALSE(one.acquire_slot("192.0.2.3", 25));  // the total: 3
  {
    Context alone(o);
    CHECK_FALSE(alone.shares_budget());
    CHECK(alone.acquire_slot("192.0.2.3", 25));  // a run of its own has its own budget
  }
}

TEST_CASE("a port cap over all addresses waits, then grows back after a round", "[fleet][context]") {
  auto budget = std::make_shared<ConnectionBudget>(10);
  Options o;
  o.deadline = 2s;
  Context ctx(o, nullptr, budget);
  ctx.lower_port_limit(465, 1);
  std::optional<Slot> first(ctx.acquire_slot("192.0.2.1", 465));
  REQUIRE(*first);
  CHECK(ctx.acquire_slot("192.0.2.2", 993));  // other ports are not capped
  std::thread release([&] {
    std::this_thread::sleep_for(50ms);
    first.reset();
  });
  const auto started = std::chrono::steady_clock::now();
  auto second = ctx.acquire_slot("192.0.2.2", 465);  // another address, the same port: waits
  CHECK(second);
  CHECK(std::chrono::steady_clock::now() - started >= 40ms);
  release.join();
  // One round (1 session ended) since the cut: the cap is 2 now.
  auto third = ctx.acquire_slot("192.0.2.3", 465);
  CHECK(third);
  CHECK(ctx.connections_open_on_port(465) == 2);
}

TEST_CASE("fleet verdict: the worst target's, and 3 when interrupted", "[fleet]") {
  report::FleetSummary s;
  s.targets = 3;
  s.add(Verdict::ok);
  s.add(Verdict::unknown);
  CHECK(s.verdict == Verdict::unknown);
  s.add(Verdict::warning);
  CHECK(s.verdict == Verdict::warning);
  CHECK(report::fleet_exit_code(s) == 1);
  s.targets = 4;
  s.interrupted = true;
  CHECK(report::fleet_exit_code(s) == 3);
}

TEST_CASE("fleet writers: every format names each target once and the fleet's totals", "[fleet]") {
  const auto nagios = write_fleet("nagios");
  CHECK(nagios.rfind("MAILREADY CRITICAL - 3 of 3 targets: 1 critical, 1 warning, 0 unknown | "
                     "targets=3 checked=3 ok=1 warning=1 critical=1 unknown=0\n", 0) == 0);
  CHECK(nagios.find("b.test critical: port.filtered: b.test:993 is filtered\nc.test warning:") !=
        std::string::npos);
  CHECK(nagios.find("a.test") == std::string::npos);

  const auto junit = write_fleet("junit");
  CHECK(junit.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mailready fleet\">\n", 0) == 0);
  for (const char* t : {"a.test", "b.test", "c.test"}) {
    CHECK(junit.find(std::string("<testsuite name=\"") + t + "\"") != std::string::npos);
  }
  CHECK(junit.size() > 20);
  CHECK(junit.substr(junit.size() - 14) == "</testsuites>\n");

  const auto prom = write_fleet("prometheus");
  // Each family's header once, then every target's samples under it.
  std::size_t headers = 0;
  for (std::size_t at = prom.find("# TYPE mailready_up gauge"); at != std::string::npos;
       at = prom.find("# TYPE mailready_up gauge", at + 1)) {
    ++headers;
  }
  CHECK(headers == 1);
  const auto up = prom.find("# TYPE mailready_up gauge\n");
  CHECK(prom.find("mailready_up{target=\"a.test\"} 1\nmailready_up{target=\"b.test\"} 1\n"
                  "mailready_up{target=\"c.test\"} 1\n", up) != std::string::npos);

  const auto json = nlohmann::json::parse(write_fleet("json"));
  CHECK(json["summary"]["checked"] == 3);
  CHECK(json["verdict"] == "critical");
  CHECK(json["exit_code"] == 2);
  REQUIRE(json["targets"].size() == 3);
  CHECK(json["targets"][1]["target"] == "b.test");
  CHECK(json["targets"][1]["report"]["verdict"] == "critical");

  std::istringstream lines(write_fleet("ndjson"));
  std::string line;
  std::vector<std::string> types;
  while (std::getline(lines, line)) types.push_back(nlohmann::json::parse(line)["type"]);
  CHECK(types == std::vector<std::string>{"result", "summary", "result", "summary", "result",
                                          "summary", "fleet_summary"});

  const auto text = write_fleet("text");
  CHECK(text.find("━━ b.test ━━") != std::string::npos);
  CHECK(text.find("Fleet: 3 of 3 targets checked") != std::string::npos);
  CHECK(text.find("1 ok, 1 warning, 1 critical, 0 unknown. Verdict: critical") != std::string::npos);
}
