// checks/core/runner.hpp and context.hpp with fake checks: ordering by needs, a throwing
// check, skipped needs and the run deadline. No network.

#include "checks/core/runner.hpp"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "checks/core/registry.hpp"
#include "fake_check.hpp"

using namespace mailready;
using namespace std::chrono_literals;
using mailready::testing::fake;
using mailready::testing::FakeCheck;
using mailready::testing::FakeEndpointCheck;
using mailready::testing::fake_per_endpoint;

/// A registry of fake checks, an Options for a target, and a log of the order in which
/// the checks' bodies ran.
class RunnerFixture {
 protected:
  RunnerFixture() { options_.target = options_.imap_host = options_.smtp_host = "mail.test"; }

  /// A body that logs `id`, sleeps `delay` and passes.
  FakeCheck::Body logging(const std::string& id, std::chrono::milliseconds delay = 0ms) {
    return [this, id, delay](Context& ctx) {
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      {
        std::lock_guard<std::mutex> lock(log_mutex_);
        log_.push_back(id);
      }
      return std::vector<CheckResult>{FakeCheck::passing(ctx, id)};
    };
  }

  Report run(const std::set<std::string>& only = {}, const std::set<std::string>& skip = {}) {
    Context ctx(options_);
    return run_checks(registry_.select(only, skip), ctx);
  }

  /// The position of `id` in the log (the log's size when it never ran).
  std::size_t ran_at(const std::string& id) const {
    return static_cast<std::size_t>(std::find(log_.begin(), log_.end(), id) - log_.begin());
  }

  const CheckResult& only_result_of(const Report& report, const std::string& id) const {
    const auto n = std::count_if(report.results.begin(), report.results.end(),
                                 [&](const CheckResult& r) { return r.check == id; });
    INFO("results of " << id);
    REQUIRE(n == 1);
    return *std::find_if(report.results.begin(), report.results.end(),
                         [&](const CheckResult& r) { return r.check == id; });
  }

  Options options_;
  Registry registry_;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

TEST_CASE("Context works from Options alone", "[runner][context]") {
  Options o;
  o.target = "mail.test";
  o.timeout = 1500ms;
  Context ctx(o);
  CHECK(ctx.options().target == "mail.test");
  CHECK_FALSE(ctx.expired());
  CHECK(ctx.wait_budget() == 1500ms);
  CHECK(ctx.results_of("dns.resolve").empty());
  CHECK(ctx.progress() == nullptr);
}

TEST_CASE("Context cuts the wait budget to the deadline and expires", "[runner][context]") {
  Options o;
  o.timeout = 5000ms;
  o.deadline = 1ms;
  Context ctx(o);
  std::this_thread::sleep_for(20ms);
  CHECK(ctx.expired());
  CHECK(ctx.wait_budget() == 0ms);
  // After the deadline a free slot is still granted (there is nothing to wait for), but
  // a busy one is not waited for.
  Options one = o;
  one.per_host = 1;
  Context tight(one);
  std::this_thread::sleep_for(20ms);
  auto first = tight.acquire_slot("192.0.2.1");
  CHECK(static_cast<bool>(first));
  auto second = tight.acquire_slot("192.0.2.1");
  CHECK_FALSE(static_cast<bool>(second));
}

TEST_CASE_METHOD(RunnerFixture,
                 "a check that throws becomes one error result while the others report",
                 "[runner]") {
  registry_.add(fake("a.first", {}, logging("a.first")));
  registry_.add(fake("b.throws", {}, [](Context&) -> std::vector<CheckResult> {
    throw std::runtime_error("index out of range");
  }));
  registry_.add(
      fake("c.throws-anything", {}, [](Context&) -> std::vector<CheckResult> { throw 42; }));
  registry_.add(fake("d.last", {}, logging("d.last")));
  const Report report = run();

  REQUIRE(report.results.size() == 4);
  const auto& thrown = only_result_of(report, "b.throws");
  CHECK(thrown.status == Status::error);
  CHECK(thrown.error == "check failed: index out of range");
  CHECK(thrown.target == "mail.test");
  CHECK_FALSE(thrown.endpoint);
  const auto& other = only_result_of(report, "c.throws-anything");
  CHECK(other.status == Status::error);
  CHECK(other.error == "check failed: unknown exception");
  CHECK(only_result_of(report, "a.first").status == Status::pass);
  CHECK(only_result_of(report, "d.last").status == Status::pass);
  // Nothing worse than errors: the run's verdict is unknown.
  CHECK(verdict_of(report) == Verdict::unknown);
}

TEST_CASE_METHOD(RunnerFixture, "a check whose need was not selected is skipped, saying why",
                 "[runner]") {
  std::atomic<int> runs{0};
  registry_.add(fake("dns.resolve", {}, logging("dns.resolve")));
  registry_.add(fake("ports.reachability", {"dns.resolve"}, [&](Context& ctx) {
    ++runs;
    return std::vector<CheckResult>{FakeCheck::passing(ctx, "ports.reachability")};
  }));
  const Report report = run({}, {"dns.resolve"});

  REQUIRE(report.results.size() == 1);
  const auto& r = report.results.front();
  CHECK(r.check == "ports.reachability");
  CHECK(r.status == Status::skip);
  CHECK(r.error == "needs dns.resolve, which was not run");
  CHECK(runs == 0);
  CHECK(log_.empty());
}

TEST_CASE_METHOD(RunnerFixture, "a check whose need only errored is skipped, not run", "[runner]") {
  std::atomic<int> runs{0};
  registry_.add(fake("dns.resolve", {}, [](Context&) -> std::vector<CheckResult> {
    throw std::runtime_error("resolver exploded");
  }));
  registry_.add(fake("ports.reachability", {"dns.resolve"}, [&](Context& ctx) {
    ++runs;
    return std::vector<CheckResult>{FakeCheck::passing(ctx, "ports.reachability")};
  }));
  registry_.add(fake("imap.greeting", {"ports.reachability"}, logging("imap.greeting")));
  const Report report = run();

  CHECK(only_result_of(report, "dns.resolve").status == Status::error);
  const auto& ports = only_result_of(report, "ports.reachability");
  CHECK(ports.status == Status::skip);
  CHECK(ports.error == "needs dns.resolve, which failed to probe");
  // The skip propagates down the chain with its own reason.
  const auto& imap = only_result_of(report, "imap.greeting");
  CHECK(imap.status == Status::skip);
  CHECK(imap.error == "needs ports.reachability, which could not run");
  CHECK(runs == 0);
  CHECK(log_.empty());
}

TEST_CASE_METHOD(RunnerFixture, "dependents run after their needs and see their results",
                 "[runner]") {
  std::size_t seen_by_ports = 0;
  registry_.add(fake("dns.resolve", {}, logging("dns.resolve", 40ms)));
  registry_.add(fake("ports.reachability", {"dns.resolve"}, [&](Context& ctx) {
    seen_by_ports = ctx.results_of("dns.resolve").size();
    return logging("ports.reachability")(ctx);
  }));
  registry_.add(fake("smtp.greeting", {"ports.reachability"}, logging("smtp.greeting")));
  registry_.add(fake("submission.fallback", {"ports.reachability", "smtp.greeting"},
                     logging("submission.fallback")));
  registry_.add(fake("clock.skew", {}, logging("clock.skew")));
  const Report report = run();

  REQUIRE(log_.size() == 5);
  CHECK(ran_at("dns.resolve") < ran_at("ports.reachability"));
  CHECK(ran_at("ports.reachability") < ran_at("smtp.greeting"));
  CHECK(ran_at("smtp.greeting") < ran_at("submission.fallback"));
  // The independent check did not wait for the slow one.
  CHECK(ran_at("clock.skew") < ran_at("dns.resolve"));
  CHECK(seen_by_ports == 1);

  // Results are in registry order, whatever order the checks finished in.
  std::vector<std::string> order;
  for (const auto& r : report.results) order.push_back(r.check);
  CHECK(order == std::vector<std::string>{"dns.resolve", "ports.reachability", "smtp.greeting",
                                          "submission.fallback", "clock.skew"});
  // A result without its own duration gets the check's.
  CHECK(only_result_of(report, "dns.resolve").duration >= 40ms);
}

TEST_CASE_METHOD(RunnerFixture, "a check's results keep their order and own durations",
                 "[runner]") {
  registry_.add(fake("ports.reachability", {}, [](Context& ctx) {
    std::vector<CheckResult> out;
    for (const int port : {993, 587, 465, 25}) {
      CheckResult r = FakeCheck::passing(ctx, "ports.reachability");
      r.endpoint = Endpoint{"mail.test",    "192.0.2.1",       port,
                            Protocol::smtp, TlsMode::starttls, Role::submission};
      r.duration = std::chrono::milliseconds(port);
      out.push_back(r);
    }
    return out;
  }));
  const Report report = run();
  REQUIRE(report.results.size() == 4);
  std::vector<int> ports;
  for (const auto& r : report.results) {
    REQUIRE(r.endpoint);
    ports.push_back(r.endpoint->port);
    CHECK(r.duration == std::chrono::milliseconds(r.endpoint->port));
  }
  CHECK(ports == std::vector<int>{993, 587, 465, 25});
}

TEST_CASE_METHOD(RunnerFixture, "a check with nothing to say gets a skip result", "[runner]") {
  registry_.add(fake("imap.greeting", {}, [](Context&) { return std::vector<CheckResult>{}; }));
  const Report report = run();
  REQUIRE(report.results.size() == 1);
  CHECK(report.results.front().status == Status::skip);
  CHECK(report.results.front().error == "nothing to check");
}

TEST_CASE_METHOD(RunnerFixture, "after the deadline no check starts", "[runner]") {
  std::atomic<int> runs{0};
  const auto counting = [&](Context& ctx) {
    ++runs;
    return std::vector<CheckResult>{FakeCheck::passing(ctx, "x")};
  };
  registry_.add(fake("dns.resolve", {}, counting));
  registry_.add(fake("clock.skew", {}, counting));
  registry_.add(fake("ports.reachability", {"dns.resolve"}, counting));
  options_.deadline = 1ms;
  Context ctx(options_);
  std::this_thread::sleep_for(20ms);
  const Report report = run_checks(registry_.select({}, {}), ctx);

  CHECK(runs == 0);
  REQUIRE(report.results.size() == 3);
  for (const char* id : {"dns.resolve", "clock.skew"}) {
    const auto& r = only_result_of(report, id);
    CHECK(r.status == Status::skip);
    CHECK(r.error == "run deadline reached");
  }
  // A dependent says which need stopped it.
  const auto& ports = only_result_of(report, "ports.reachability");
  CHECK(ports.status == Status::skip);
  CHECK(ports.error == "needs dns.resolve, which could not run");
  // Skips are not errors: nothing was found wrong, so the verdict is ok.
  CHECK(verdict_of(report) == Verdict::ok);
}

namespace {

/// Records what the runner tells it.
class RecordingSink final : public ProgressSink {
 public:
  void check_started(std::string_view check_id) override { started.emplace_back(check_id); }
  void result_ready(const CheckResult& result) override { results.push_back(result.check); }
  std::vector<std::string> started;
  std::vector<std::string> results;
};

}  // namespace

TEST_CASE_METHOD(RunnerFixture, "progress hears of every started check and every result",
                 "[runner]") {
  registry_.add(fake("dns.resolve", {}, logging("dns.resolve")));
  registry_.add(fake("smtp.greeting", {}, logging("smtp.greeting")));
  registry_.add(fake("submission.fallback", {"dns.resolve"}, logging("submission.fallback")));
  RecordingSink sink;
  Context ctx(options_, &sink);
  // dns.resolve is skipped by the user: its dependent does not start, but reports a skip.
  const Report report = run_checks(registry_.select({}, {"dns.resolve"}), ctx);

  CHECK(sink.started == std::vector<std::string>{"smtp.greeting"});
  std::sort(sink.results.begin(), sink.results.end());
  CHECK(sink.results == std::vector<std::string>{"smtp.greeting", "submission.fallback"});
  CHECK(report.results.size() == 2);
}

TEST_CASE_METHOD(RunnerFixture, "the report carries the version, a UTC start and the target",
                 "[runner]") {
  registry_.add(fake("dns.resolve", {}, [](Context&) -> std::vector<CheckResult> {
    throw std::runtime_error("boom");
  }));
  const Report report = run();
  CHECK(report.tool_version == MAILREADY_VERSION);
  CHECK(std::regex_match(report.started_at,
                         std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ")));
  REQUIRE(report.results.size() == 1);
  CHECK(report.results.front().target == "mail.test");
  CHECK(std::regex_match(rfc3339_now(),
                         std::regex("20\\d\\d-[01]\\d-[0-3]\\dT[0-2]\\d:[0-5]\\d:[0-6]\\dZ")));
}

namespace {

/// Two endpoints of one host: a slow one (993) and a quick one (587).
const Endpoint slow_endpoint{"mail.test", "192.0.2.1", 993, Protocol::imap, TlsMode::implicit,
                             Role::incoming};
const Endpoint quick_endpoint{"mail.test", "192.0.2.1", 587, Protocol::smtp, TlsMode::starttls,
                              Role::submission};

/// A whole-run check that sets the run's endpoints, as dns.resolve does.
std::unique_ptr<Check> endpoints_setter() {
  return mailready::testing::fake("dns.resolve", {}, [](Context& ctx) {
    ctx.set_endpoints({slow_endpoint, quick_endpoint});
    return std::vector<CheckResult>{FakeCheck::passing(ctx, "dns.resolve")};
  });
}

}  // namespace

TEST_CASE_METHOD(RunnerFixture,
                 "a per-endpoint check goes ahead on an endpoint once its needs are done there",
                 "[runner][per-endpoint]") {
  registry_.add(endpoints_setter());
  registry_.add(fake_per_endpoint("ports.reachability", {"dns.resolve"},
                                  [&](Context& ctx, const Endpoint& e) {
    if (e.port == 993) std::this_thread::sleep_for(200ms);  // a filtered port, say
    logging("ports " + std::to_string(e.port))(ctx);
    return std::vector<CheckResult>{FakeEndpointCheck::passing(ctx, "ports.reachability", e)};
  }));
  std::atomic<std::size_t> seen_at_quick{99};
  registry_.add(fake_per_endpoint("smtp.greeting", {"ports.reachability"},
                                  [&](Context& ctx, const Endpoint& e) {
    if (e.port == 587) seen_at_quick = ctx.results_at("ports.reachability", e).size();
    logging("greeting " + std::to_string(e.port))(ctx);
    return std::vector<CheckResult>{FakeEndpointCheck::passing(ctx, "smtp.greeting", e)};
  }));
  const Report report = run();

  // 587's greeting did not wait for 993's port probe; each endpoint saw its own need.
  CHECK(ran_at("greeting 587") < ran_at("ports 993"));
  CHECK(ran_at("ports 993") < ran_at("greeting 993"));
  CHECK(seen_at_quick == 1);
  // The report keeps the run's endpoint order within each check, whoever finished first.
  std::vector<std::pair<std::string, int>> order;
  for (const auto& r : report.results) order.emplace_back(r.check, r.endpoint ? r.endpoint->port : 0);
  CHECK(order == std::vector<std::pair<std::string, int>>{{"dns.resolve", 0},
                                                          {"ports.reachability", 993},
                                                          {"ports.reachability", 587},
                                                          {"smtp.greeting", 993},
                                                          {"smtp.greeting", 587}});
}

TEST_CASE_METHOD(RunnerFixture, "a per-endpoint check that throws fails on that endpoint alone",
                 "[runner][per-endpoint]") {
  registry_.add(endpoints_setter());
  registry_.add(fake_per_endpoint("tls.handshake", {"dns.resolve"},
                                  [](Context& ctx, const Endpoint& e) -> std::vector<CheckResult> {
    if (e.port == 993) throw std::runtime_error("bad record");
    return {FakeEndpointCheck::passing(ctx, "tls.handshake", e)};
  }));
  const Report report = run();
  REQUIRE(report.results.size() == 3);
  const auto& thrown = report.results[1];
  CHECK(thrown.status == Status::error);
  CHECK(thrown.error == "check failed: bad record");
  REQUIRE(thrown.endpoint);
  CHECK(thrown.endpoint->port == 993);
  CHECK(report.results[2].status == Status::pass);
}

TEST_CASE_METHOD(RunnerFixture,
                 "conclude sees every endpoint's results and says why none applied",
                 "[runner][per-endpoint]") {
  registry_.add(endpoints_setter());
  std::vector<int> concluded;
  registry_.add(fake_per_endpoint(
      "cert.chain", {"dns.resolve"},
      [](Context& ctx, const Endpoint& e) {
        return std::vector<CheckResult>{FakeEndpointCheck::passing(ctx, "cert.chain", e)};
      },
      [&](Context& ctx, std::vector<CheckResult> results) {
        for (const auto& r : results) concluded.push_back(r.endpoint->port);
        results.push_back(FakeCheck::passing(ctx, "cert.chain"));  // a host-level one
        return results;
      }));
  registry_.add(fake_per_endpoint(
      "imap.mailbox", {"dns.resolve"},
      [](Context&, const Endpoint&) { return std::vector<CheckResult>{}; },
      [](Context& ctx, std::vector<CheckResult> results) {
        if (!results.empty()) return results;
        CheckResult r = FakeCheck::passing(ctx, "imap.mailbox");
        r.status = Status::skip;
        r.error = "needs an accepted IMAP login";
        return std::vector<CheckResult>{r};
      }));
  const Report report = run();
  CHECK(concluded == std::vector<int>{993, 587});
  REQUIRE(report.results.size() == 5);
  CHECK_FALSE(report.results[3].endpoint);
  const auto& none = only_result_of(report, "imap.mailbox");
  CHECK(none.status == Status::skip);
  CHECK(none.error == "needs an accepted IMAP login");
}

TEST_CASE_METHOD(RunnerFixture, "a per-endpoint check whose need only errored is one skip",
                 "[runner][per-endpoint]") {
  registry_.add(endpoints_setter());
  registry_.add(fake_per_endpoint("ports.reachability", {"dns.resolve"},
                                  [](Context& ctx, const Endpoint& e) {
    CheckResult r = FakeEndpointCheck::passing(ctx, "ports.reachability", e);
    r.status = Status::error;
    r.error = "no route";
    return std::vector<CheckResult>{r};
  }));
  registry_.add(fake_per_endpoint("smtp.greeting", {"ports.reachability"},
                                  [](Context& ctx, const Endpoint& e) {
    return std::vector<CheckResult>{FakeEndpointCheck::passing(ctx, "smtp.greeting", e)};
  }));
  const Report report = run();
  const auto& greeting = only_result_of(report, "smtp.greeting");
  CHECK(greeting.status == Status::skip);
  CHECK(greeting.error == "needs ports.reachability, which failed to probe");
}

TEST_CASE_METHOD(RunnerFixture, "an endpoint can wait for another endpoint's result",
                 "[runner][per-endpoint]") {
  registry_.add(endpoints_setter());
  registry_.add(fake_per_endpoint("auth.login", {"dns.resolve"}, [&](Context& ctx, const Endpoint& e) {
    if (e.port == 993) std::this_thread::sleep_for(100ms);
    return std::vector<CheckResult>{FakeEndpointCheck::passing(ctx, "auth.login", e)};
  }));
  std::atomic<std::size_t> seen{0};
  registry_.add(fake_per_endpoint("imap.mailbox", {"auth.login"}, [&](Context& ctx, const Endpoint& e) {
    if (e.port == 587) {
      ctx.await("auth.login", slow_endpoint);
      seen = ctx.results_at("auth.login", slow_endpoint).size();
    }
    return std::vector<CheckResult>{};
  }));
  run();
  CHECK(seen == 1);
}

TEST_CASE("an urgent slot request goes before those already waiting", "[runner][context]") {
  Options o;
  o.per_host = 1;
  Context ctx(o);
  std::vector<std::string> order;
  std::mutex order_mutex;
  std::optional<Slot> held(ctx.acquire_slot("192.0.2.1"));
  const auto waiter = [&](bool urgent, std::string name) {
    return std::thread([&, urgent, name] {
      Slot slot = ctx.acquire_slot("192.0.2.1", 0, urgent);
      std::lock_guard<std::mutex> lock(order_mutex);
      order.push_back(name);
    });
  };
  auto normal = waiter(false, "normal");
  std::this_thread::sleep_for(50ms);  // the normal one is queued first
  auto urgent = waiter(true, "urgent");
  std::this_thread::sleep_for(50ms);
  held.reset();
  normal.join();
  urgent.join();
  CHECK(order == std::vector<std::string>{"urgent", "normal"});
}

TEST_CASE("a server's limit on one port holds that port alone, and only goes down",
          "[runner][context]") {
  Options o;
  o.per_host = 10;
  o.deadline = 300ms;  // a request that cannot be had gives up then
  Context ctx(o);
  ctx.lower_slot_limit("192.0.2.1", 587, 3);
  ctx.lower_slot_limit("192.0.2.1", 587, 1);
  ctx.lower_slot_limit("192.0.2.1", 587, 5);
  CHECK(ctx.slot_limit_seen("192.0.2.1", 587) == 1);
  CHECK(ctx.slot_limit_seen("192.0.2.1", 993) == 0);
  auto first = ctx.acquire_slot("192.0.2.1", 587);
  auto other_port = ctx.acquire_slot("192.0.2.1", 993);
  CHECK(static_cast<bool>(first));
  CHECK(static_cast<bool>(other_port));
  CHECK(ctx.slots_in_use("192.0.2.1") == 2);
  CHECK(ctx.slots_in_use("192.0.2.1", 587) == 1);
  auto second = ctx.acquire_slot("192.0.2.1", 587);  // waits until the deadline
  CHECK_FALSE(static_cast<bool>(second));
}
