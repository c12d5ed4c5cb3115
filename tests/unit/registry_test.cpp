// checks/core/registry.hpp with fake checks, and the real table in checks/modules/all.cpp.

#include "checks/core/registry.hpp"

#include <catch2/catch.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "checks/modules/modules.hpp"
#include "fake_check.hpp"

using namespace mailready;
using mailready::testing::fake;

namespace {

std::vector<std::string> ids(const std::vector<const Check*>& checks) {
  std::vector<std::string> out;
  for (const auto* c : checks) out.emplace_back(c->info().id);
  return out;
}

}  // namespace

/// dns → ports → {imap, smtp → fallback}, plus an unrelated check.
class RegistryFixture {
 protected:
  RegistryFixture() {
    registry_.add(fake("dns.resolve"));
    registry_.add(fake("ports.reachability", {"dns.resolve"}));
    registry_.add(fake("imap.greeting", {"ports.reachability"}));
    registry_.add(fake("smtp.greeting", {"ports.reachability"}));
    registry_.add(fake("submission.fallback", {"ports.reachability", "smtp.greeting"}));
    registry_.add(fake("clock.skew"));
  }
  Registry registry_;
};

TEST_CASE_METHOD(RegistryFixture, "select without only or skip runs everything in order",
                 "[registry]") {
  CHECK(ids(registry_.select({}, {})) ==
        std::vector<std::string>{"dns.resolve", "ports.reachability", "imap.greeting",
                                 "smtp.greeting", "submission.fallback", "clock.skew"});
}

TEST_CASE_METHOD(RegistryFixture, "select --only adds what the checks need, transitively",
                 "[registry]") {
  CHECK(ids(registry_.select({"submission.fallback"}, {})) ==
        std::vector<std::string>{"dns.resolve", "ports.reachability", "smtp.greeting",
                                 "submission.fallback"});
  CHECK(ids(registry_.select({"clock.skew"}, {})) == std::vector<std::string>{"clock.skew"});
  // Registry order, not the order of `only`.
  CHECK(ids(registry_.select({"imap.greeting", "dns.resolve"}, {})) ==
        std::vector<std::string>{"dns.resolve", "ports.reachability", "imap.greeting"});
}

TEST_CASE_METHOD(RegistryFixture, "select --skip removes a check but not its dependents",
                 "[registry]") {
  // The runner turns the dependents into skips that say why.
  CHECK(ids(registry_.select({}, {"smtp.greeting", "clock.skew"})) ==
        std::vector<std::string>{"dns.resolve", "ports.reachability", "imap.greeting",
                                 "submission.fallback"});
  CHECK(ids(registry_.select({"submission.fallback"}, {"dns.resolve"})) ==
        std::vector<std::string>{"ports.reachability", "smtp.greeting", "submission.fallback"});
}

TEST_CASE_METHOD(RegistryFixture, "select names an unknown id in a UsageError", "[registry]") {
  CHECK_THROWS_MATCHES(
      registry_.select({"tls.cert"}, {}), UsageError,
      Catch::Matchers::Message("unknown check id 'tls.cert' (see 'mailready checks')"));
  CHECK_THROWS_AS(registry_.select({}, {"dns.reslove"}), UsageError);
}

TEST_CASE_METHOD(RegistryFixture, "find returns the check or nullptr", "[registry]") {
  const Check* c = registry_.find("smtp.greeting");
  REQUIRE(c != nullptr);
  CHECK(c->info().id == "smtp.greeting");
  CHECK(registry_.find("smtp") == nullptr);
  CHECK(registry_.find("") == nullptr);
}

TEST_CASE("Registry::add refuses a duplicate id and a need not registered before", "[registry]") {
  Registry r;
  r.add(fake("dns.resolve"));
  CHECK_THROWS_AS(r.add(fake("dns.resolve")), std::logic_error);
  CHECK_THROWS_AS(r.add(fake("ports.reachability", {"dns.reslove"})), std::logic_error);
  // A check cannot need itself either.
  CHECK_THROWS_AS(r.add(fake("loop.self", {"loop.self"})), std::logic_error);
  // The refused checks were not added.
  CHECK(r.checks().size() == 1);
}

TEST_CASE("default_registry: ids are unique, lowercase and dotted", "[registry][modules]") {
  const Registry r = checks::default_registry();
  REQUIRE_FALSE(r.checks().empty());
  const std::regex dotted("[a-z][a-z0-9]*(\\.[a-z][a-z0-9-]*)+");
  std::set<std::string> seen;
  for (const auto& c : r.checks()) {
    const std::string id(c->info().id);
    INFO("check " << id);
    CHECK(std::regex_match(id, dotted));
    CHECK(seen.insert(id).second);
    CHECK_FALSE(c->info().title.empty());
  }
}

TEST_CASE("default_registry: every need is registered before its dependent",
          "[registry][modules]") {
  const Registry r = checks::default_registry();
  std::set<std::string> earlier;
  for (const auto& c : r.checks()) {
    for (const auto need : c->info().needs) {
      INFO("check " << c->info().id << " needs " << need);
      CHECK(earlier.count(std::string(need)) == 1);
    }
    earlier.emplace(c->info().id);
  }
}

TEST_CASE("default_registry: --only submission.fallback brings the SMTP path only",
          "[registry][modules]") {
  const auto selected = ids(checks::default_registry().select({"submission.fallback"}, {}));
  const std::set<std::string> got(selected.begin(), selected.end());
  CHECK(got == std::set<std::string>{"dns.resolve", "ports.reachability", "smtp.greeting",
                                     "submission.fallback"});
  CHECK(selected.front() == "dns.resolve");
  CHECK(selected.back() == "submission.fallback");
}
