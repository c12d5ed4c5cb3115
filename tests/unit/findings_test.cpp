// checks/modules/findings.hpp: the catalog behind `mailready explain ID`, and that every
// finding the modules emit is in it.

#include "checks/modules/findings.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include "checks/proto/connect.hpp"

using namespace mailready;
using namespace mailready::checks;

TEST_CASE("catalog ids are lowercase, dotted or hyphenated, unique and sorted", "[findings]") {
  const auto& catalog = finding_catalog();
  REQUIRE_FALSE(catalog.empty());
  const std::regex id_form("[a-z][a-z0-9]*([.-][a-z0-9]+)*");
  std::set<std::string_view> seen;
  std::string_view previous;
  for (const auto& f : catalog) {
    INFO("finding " << f.id);
    CHECK(std::regex_match(std::string(f.id), id_form));
    CHECK(seen.insert(f.id).second);
    // find_finding_info binary-searches: the catalog must be sorted.
    CHECK(previous < f.id);
    previous = f.id;
  }
}

TEST_CASE("every catalog entry explains itself and says what to do", "[findings]") {
  for (const auto& f : finding_catalog()) {
    INFO("finding " << f.id);
    CHECK_FALSE(f.title.empty());
    CHECK_FALSE(f.explanation.empty());
    CHECK_FALSE(f.remediation.empty());
    // One line each for title and remediation; they are printed after a label.
    CHECK(f.title.find('\n') == std::string_view::npos);
    CHECK(f.remediation.find('\n') == std::string_view::npos);
  }
}

TEST_CASE("find_finding_info finds every entry and nothing else", "[findings]") {
  for (const auto& f : finding_catalog()) {
    const FindingInfo* found = find_finding_info(f.id);
    REQUIRE(found != nullptr);
    CHECK(found->id == f.id);
  }
  CHECK(find_finding_info("port") == nullptr);
  CHECK(find_finding_info("port.open") == nullptr);
  CHECK(find_finding_info("") == nullptr);
  CHECK(find_finding_info("zzz.last") == nullptr);
}

TEST_CASE("make_finding fills id, severity and the catalog's remediation", "[findings]") {
  const Finding f = make_finding("port.filtered", Severity::critical, "993 does not answer",
                                 {{"state", "filtered"}, {"connect_ms", 5000}});
  CHECK(f.id == "port.filtered");
  CHECK(f.severity == Severity::critical);
  CHECK(f.message == "993 does not answer");
  CHECK(f.evidence == nlohmann::json{{"state", "filtered"}, {"connect_ms", 5000}});
  CHECK(f.remediation == find_finding_info("port.filtered")->remediation);

  // Without a severity: the catalog's usual one.
  const Finding usual = make_finding("submission.fallback-25", "Phones will send through 25");
  CHECK(usual.severity == Severity::warning);
  CHECK(usual.evidence == nlohmann::json::object());

  // Evidence is always an object, so reporters can rely on it.
  const Finding odd = make_finding("rate-limited", "busy", nlohmann::json::array({1, 2}));
  CHECK(odd.evidence.is_object());
  CHECK(odd.evidence.empty());
}

TEST_CASE("make_finding refuses an id missing from the catalog", "[findings]") {
  CHECK_THROWS_AS(make_finding("port.open", Severity::info, "open"), std::logic_error);
  CHECK_THROWS_AS(make_finding("Port.Closed", "closed"), std::logic_error);
  CHECK_THROWS_WITH(make_finding("tls.expird", "typo"),
                    "finding id not in the catalog: tls.expird");
}

TEST_CASE("every id the port probe can produce is in the catalog", "[findings]") {
  // ports.reachability builds "port.<state>" for every state but open.
  using proto::PortState;
  for (const PortState s : {PortState::closed, PortState::filtered, PortState::unreachable}) {
    const std::string id = std::string("port.") + proto::to_string(s);
    INFO(id);
    CHECK(find_finding_info(id) != nullptr);
  }
}

TEST_CASE("every literal finding id in checks/modules is in the catalog", "[findings]") {
  // make_finding throws for an unknown id only when that code path runs, which for a
  // rare server behaviour may be never in the tests. Read the sources instead.
  namespace fs = std::filesystem;
  const fs::path modules = fs::path(MAILREADY_SOURCE_DIR) / "checks" / "modules";
  REQUIRE(fs::is_directory(modules));
  // make_finding("id", ...) and make_finding(cond ? "id1" : "id2", ...). Ids computed
  // at run time (ports.reachability's "port.<state>") are tested on their own.
  const std::regex call(R"re(make_finding\(\s*(?:[^",;]*?\?\s*)?"([^"]+)"(?:\s*:\s*"([^"]+)")?)re");
  int found = 0;
  for (const auto& entry : fs::directory_iterator(modules)) {
    if (entry.path().extension() != ".cpp") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    for (std::sregex_iterator it(source.begin(), source.end(), call), end; it != end; ++it) {
      for (std::size_t group = 1; group <= 2; ++group) {
        if (!(*it)[group].matched) continue;
        const std::string id = (*it)[group].str();
        INFO(entry.path().filename().string() << ": " << id);
        CHECK(find_finding_info(id) != nullptr);
        ++found;
      }
    }
  }
  // The scan found the calls (dns, ports, greetings, fallback all emit findings).
  CHECK(found >= 10);
}
