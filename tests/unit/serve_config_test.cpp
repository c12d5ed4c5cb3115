// cli/serve_config.hpp: the exporter's config file, /probe's query rules, the probe's
// Options and its deadline from Prometheus' scrape timeout.

#include "cli/serve_config.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "checks/modules/modules.hpp"

using namespace mailready;
using namespace mailready::serve;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

const std::string kCaFile = std::string(MAILREADY_SOURCE_DIR) + "/README.md";  // any readable file

/// The config's error message for `document`, or "" when it is accepted.
std::string error_of(const json& document) {
  try {
    parse_serve_config(document);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

json minimal() {
  return json::parse(R"({"modules": {"default": {}}})");
}

/// The lab's two targets, one module with every setting.
json full() {
  return json::parse(R"({
    "modules": {
      "default": {"timeout_seconds": 5, "from_inside": false, "only": [], "skip": [],
                  "imap_starttls": false, "fallback_order": [587, 465, 25]},
      "inside": {"timeout_seconds": 2.5, "wait_timeout_seconds": 1.5, "from_inside": true,
                 "skip": ["cert.chain"], "imap_starttls": true, "fallback_order": [465, 587],
                 "per_host": 2, "cert_warn_days": 14, "cert_critical_days": 3}
    },
    "targets": {
      "mail.lab.test": {"imap_host": "imap.lab.test", "smtp_host": "smtp.lab.test",
                        "resolve": ["imap.lab.test:127.0.10.10", "smtp.lab.test:[::1]"]},
      "fw.lab.test": {}
    }
  })");
}

ProbeQuery query_of(std::vector<std::pair<std::string, std::string>> parameters) {
  const auto parsed = parse_probe_query(parameters);
  REQUIRE(std::holds_alternative<ProbeQuery>(parsed));
  return std::get<ProbeQuery>(parsed);
}

ProbeRefusal refusal_of(std::vector<std::pair<std::string, std::string>> parameters) {
  const auto parsed = parse_probe_query(parameters);
  REQUIRE(std::holds_alternative<ProbeRefusal>(parsed));
  return std::get<ProbeRefusal>(parsed);
}

milliseconds deadline(std::optional<std::string> header, milliseconds module) {
  const auto d = probe_deadline(header, module);
  REQUIRE(std::holds_alternative<milliseconds>(d));
  return std::get<milliseconds>(d);
}

}  // namespace

TEST_CASE("serve config: every setting of a module and a target", "[serve]") {
  json doc = full();
  doc["modules"]["inside"]["ca_file"] = kCaFile;
  const ServeConfig c = parse_serve_config(doc);
  CHECK_FALSE(c.allow_any_target);
  REQUIRE(c.modules.size() == 2);

  const ModuleConfig& d = c.modules.at("default");
  CHECK(d.timeout == milliseconds(5000));
  CHECK(d.options.timeout == milliseconds(5000));  // per wait: `check --timeout`'s default
  CHECK(d.options.fallback_order == std::vector<int>{587, 465, 25});
  CHECK(d.options.only.empty());

  const ModuleConfig& m = c.modules.at("inside");
  CHECK(m.name == "inside");
  CHECK(m.timeout == milliseconds(2500));
  CHECK(m.options.timeout == milliseconds(1500));
  CHECK(m.options.from_inside);
  CHECK(m.options.imap_starttls);
  CHECK(m.options.ca_file == kCaFile);
  CHECK(m.options.skip == std::set<std::string>{"cert.chain"});
  CHECK(m.options.fallback_order == std::vector<int>{465, 587});
  CHECK(m.options.per_host == 2);
  CHECK(m.options.cert_warn_days == 14);
  CHECK(m.options.cert_critical_days == 3);

  const TargetConfig& t = c.targets.at("mail.lab.test");
  CHECK(t.imap_host == "imap.lab.test");
  CHECK(t.smtp_host == "smtp.lab.test");
  CHECK(t.pinned.at("imap.lab.test") == std::vector<std::string>{"127.0.10.10"});
  CHECK(t.pinned.at("smtp.lab.test") == std::vector<std::string>{"::1"});
  CHECK(c.targets.at("fw.lab.test").imap_host.empty());
}

TEST_CASE("serve config: an empty module takes the check command's defaults", "[serve]") {
  const ServeConfig c = parse_serve_config(minimal());
  const Options defaults;
  const ModuleConfig& m = c.modules.at("default");
  CHECK(m.timeout == milliseconds(5000));
  CHECK(m.options.timeout == defaults.timeout);
  CHECK(m.options.fallback_order == defaults.fallback_order);
  CHECK(m.options.per_host == defaults.per_host);
  CHECK_FALSE(m.options.from_inside);
  CHECK(c.targets.empty());
}

TEST_CASE("serve config: unknown keys are errors that name the key", "[serve]") {
  json doc = minimal();
  doc["scrape"] = 1;
  CHECK(error_of(doc).rfind("scrape: unknown key (known here: modules, targets, "
                            "allow_any_target)",
                            0) == 0);

  doc = minimal();
  doc["modules"]["default"]["timeout"] = 5;
  CHECK(error_of(doc).rfind("modules.default.timeout: unknown key", 0) == 0);

  doc = full();
  doc["targets"]["mail.lab.test"]["password"] = "hunter2";
  const std::string error = error_of(doc);
  CHECK(error.rfind(R"(targets["mail.lab.test"].password: unknown key)", 0) == 0);
  CHECK(error.find("hunter2") == std::string::npos);
}

TEST_CASE("serve config: bad values are one-line errors", "[serve]") {
  const auto with = [](const std::string& pointer, json value) {
    json doc = full();
    doc[json::json_pointer(pointer)] = std::move(value);
    return error_of(doc);
  };
  CHECK(with("/modules/default/timeout_seconds", 0) ==
        "modules.default.timeout_seconds: must be a number of seconds from 0.1 to 600");
  CHECK(with("/modules/default/timeout_seconds", "5") ==
        "modules.default.timeout_seconds: must be a number of seconds from 0.1 to 600");
  CHECK(with("/modules/default/from_inside", 1) ==
        "modules.default.from_inside: must be true or false");
  CHECK(with("/modules/default/fallback_order", json::array({587, 70000})) ==
        "modules.default.fallback_order[1]: must be a whole number from 1 to 65535");
  CHECK(with("/modules/default/fallback_order", json::array({587, 587})) ==
        "modules.default.fallback_order: lists a port twice");
  CHECK(with("/modules/default/fallback_order", json::array()) ==
        "modules.default.fallback_order: must be a non-empty list of ports");
  CHECK(with("/modules/default/only", "ports.reachability") ==
        "modules.default.only: must be a list of strings");
  CHECK(with("/modules/default/per_host", 2.5) ==
        "modules.default.per_host: must be a whole number from 1 to 64");
  CHECK(with("/modules/default/ca_file", "/nonexistent/root.pem")
            .rfind("modules.default.ca_file: cannot read /nonexistent/root.pem: ", 0) == 0);
  CHECK(with("/targets/fw.lab.test/imap_host", "bad host") ==
        R"(targets["fw.lab.test"].imap_host: 'bad host' is not a host name or IP address)");
  CHECK(with("/targets/fw.lab.test/resolve", json::array({"fw.lab.test"})) ==
        R"(targets["fw.lab.test"].resolve[0]: wants HOST:ADDRESS, got 'fw.lab.test')");
  CHECK(with("/allow_any_target", "yes") == "allow_any_target: must be true or false");

  CHECK(error_of(json::parse(R"({"modules": {}})")).rfind("modules: must be an object", 0) == 0);
  CHECK(error_of(json::parse(R"({"targets": {}})")).rfind("modules: must be an object", 0) == 0);
  CHECK(error_of(json::parse(R"({"modules": {"a b": {}}})")).rfind(R"(modules["a b"]: )", 0) == 0);
  CHECK(error_of(json::parse(R"({"modules": {"default": {}}, "targets": {"-x": {}}})")) ==
        "targets.-x: a target is a host name or IP address");
  CHECK(error_of(json::array()) == R"(must be a JSON object with "modules")");
}

TEST_CASE("serve config: a file that is not there or not JSON", "[serve]") {
  CHECK_THROWS_WITH(load_serve_config("/nonexistent/mailready.json"),
                    Catch::StartsWith("config /nonexistent/mailready.json: cannot read: "));
  CHECK_THROWS_WITH(load_serve_config(kCaFile),
                    Catch::StartsWith("config " + kCaFile + ": not JSON: parse error at line 1"));
}

TEST_CASE("serve config: check ids in only and skip must exist", "[serve]") {
  const auto registry = checks::default_registry();
  json doc = minimal();
  doc["modules"]["default"]["only"] = {"ports.reachability"};
  CHECK_NOTHROW(validate_check_ids(parse_serve_config(doc), registry));
  doc["modules"]["default"]["skip"] = {"no.such.check"};
  CHECK_THROWS_WITH(validate_check_ids(parse_serve_config(doc), registry),
                    Catch::StartsWith("modules.default: ") && Catch::Contains("no.such.check"));
}

TEST_CASE("probe query: target and module only, each once", "[serve]") {
  CHECK(query_of({{"target", "mail.lab.test"}}).module == "default");
  const ProbeQuery q = query_of({{"module", "inside"}, {"target", "fw.lab.test"}});
  CHECK(q.target == "fw.lab.test");
  CHECK(q.module == "inside");

  // Credentials never come from the URL, and a refusal never repeats the request.
  for (const auto& key : {"password", "user", "hunter2", ""}) {
    const ProbeRefusal r = refusal_of({{"target", "mail.lab.test"}, {key, "hunter2"}});
    CHECK(r.status == 400);
    CHECK(r.reason == "bad_request");
    CHECK(r.message.find("hunter2") == std::string::npos);
  }
  CHECK(refusal_of({}).message == "target parameter is missing");
  CHECK(refusal_of({{"target", ""}}).message == "target parameter is missing");
  CHECK(refusal_of({{"target", "a"}, {"target", "b"}}).message == "target given more than once");
  CHECK(refusal_of({{"target", "a"}, {"module", ""}}).status == 400);
}

TEST_CASE("probe plan: the target's hosts and pins over the module's settings", "[serve]") {
  ServeConfig c = parse_serve_config(full());

  auto planned = plan_probe(c, {"mail.lab.test", "inside"});
  REQUIRE(std::holds_alternative<ProbePlan>(planned));
  const ProbePlan& p = std::get<ProbePlan>(planned);
  CHECK(p.module == &c.modules.at("inside"));
  CHECK(p.options.target == "mail.lab.test");
  CHECK(p.options.imap_host == "imap.lab.test");
  CHECK(p.options.smtp_host == "smtp.lab.test");
  CHECK(p.options.pinned.size() == 2);
  CHECK(p.options.from_inside);
  CHECK(p.options.skip == std::set<std::string>{"cert.chain"});
  CHECK_FALSE(p.options.deadline);

  planned = plan_probe(c, {"fw.lab.test", "default"});
  REQUIRE(std::holds_alternative<ProbePlan>(planned));
  CHECK(std::get<ProbePlan>(planned).options.imap_host == "fw.lab.test");
  CHECK(std::get<ProbePlan>(planned).options.smtp_host == "fw.lab.test");

  const auto refused = [&](const ProbeQuery& q) {
    const auto r = plan_probe(c, q);
    REQUIRE(std::holds_alternative<ProbeRefusal>(r));
    return std::get<ProbeRefusal>(r);
  };
  CHECK(refused({"mail.lab.test", "nope"}).status == 400);
  CHECK(refused({"mail.lab.test", "nope"}).message == "unknown module 'nope'");
  CHECK(refused({"mail.lab.test", "se cret"}).message == "unknown module");
  CHECK(refused({"other.lab.test", "default"}).status == 403);
  CHECK(refused({"other.lab.test", "default"}).reason == "forbidden");

  // allow_any_target: any host name, with the module's settings only.
  c.allow_any_target = true;
  planned = plan_probe(c, {"other.lab.test", "default"});
  REQUIRE(std::holds_alternative<ProbePlan>(planned));
  CHECK(std::get<ProbePlan>(planned).options.imap_host == "other.lab.test");
  CHECK(std::get<ProbePlan>(planned).options.pinned.empty());
  CHECK(refused({"a b;c", "default"}).status == 400);
}

TEST_CASE("probe deadline: the scrape timeout less blackbox's margin, capped by the module",
          "[serve]") {
  // No header (curl, a browser): the module's timeout.
  CHECK(deadline(std::nullopt, milliseconds(5000)) == milliseconds(5000));
  // Prometheus' scrape_timeout 4s: 3.5 s, under a longer module timeout.
  CHECK(deadline("4", milliseconds(10000)) == milliseconds(3500));
  CHECK(deadline("9.75", milliseconds(60000)) == milliseconds(9250));
  // The module's timeout when it is the shorter.
  CHECK(deadline("10", milliseconds(5000)) == milliseconds(5000));
  CHECK(deadline("5.5", milliseconds(5000)) == milliseconds(5000));
  // A scrape timeout under twice the margin keeps half of it for the answer.
  CHECK(deadline("0.6", milliseconds(5000)) == milliseconds(300));
  CHECK(deadline("1", milliseconds(5000)) == milliseconds(500));

  for (const auto* bad : {"", "abc", "-4", "4s", " 4", "1e3", "inf", "nan", ".", "1.2.3", "0"}) {
    const auto d = probe_deadline(std::string(bad), milliseconds(5000));
    CHECK(std::holds_alternative<std::string>(d));
  }
  CHECK(std::get<std::string>(probe_deadline(std::string("0.01"), milliseconds(5000))) ==
        "X-Prometheus-Scrape-Timeout-Seconds leaves no time to probe");
}

TEST_CASE("listen address: ADDRESS:PORT", "[serve]") {
  using Listen = std::optional<std::pair<std::string, int>>;
  CHECK(parse_listen("127.0.0.1:9731") == Listen({"127.0.0.1", 9731}));
  CHECK(parse_listen("localhost:9731") == Listen({"localhost", 9731}));
  CHECK(parse_listen(":9731") == Listen({"0.0.0.0", 9731}));
  CHECK(parse_listen("[::1]:9731") == Listen({"::1", 9731}));
  for (const auto* bad : {"9731", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "::1:9731", "[x]:9731", "bad host:1", "h:12a"}) {
    CHECK_FALSE(parse_listen(bad));
  }
}

TEST_CASE("serve config: the example in ci/examples is valid", "[serve]") {
  const ServeConfig c =
      load_serve_config(std::string(MAILREADY_SOURCE_DIR) + "/ci/examples/mailready-exporter.json");
  CHECK(c.modules.count("default") == 1);
  CHECK(c.targets.at("mx2.example.com").pinned.size() == 2);
  CHECK_NOTHROW(validate_check_ids(c, checks::default_registry()));
}

TEST_CASE("serve config: a target's login is read at start-up, from a file or a variable",
          "[serve]") {
  const std::string file = std::string(MAILREADY_SOURCE_DIR) + "/tests/golden/report_good.txt";
  json doc = minimal();
  doc["targets"]["mail.lab.test"] = {{"user", "alice@lab.test"}, {"password_file", file}};
  ServeConfig c = parse_serve_config(doc);
  const auto planned = plan_probe(c, {"mail.lab.test", "default"});
  REQUIRE(std::holds_alternative<ProbePlan>(planned));
  const Options& o = std::get<ProbePlan>(planned).options;
  CHECK(o.imap_user == "alice@lab.test");
  CHECK(o.smtp_user == "alice@lab.test");
  CHECK_FALSE(o.password.empty());

  ::setenv("MAILREADY_TEST_TARGET_PW", "s3cret", 1);
  doc["targets"]["mail.lab.test"] = {{"user", "alice"}, {"password_env", "MAILREADY_TEST_TARGET_PW"}};
  c = parse_serve_config(doc);
  CHECK(std::get<ProbePlan>(plan_probe(c, {"mail.lab.test", "default"})).options.password == "s3cret");

  doc["targets"]["mail.lab.test"] = {{"user", "alice"}};
  CHECK(error_of(doc).find("go together") != std::string::npos);
  doc["targets"]["mail.lab.test"] = {{"password_env", "MAILREADY_TEST_TARGET_PW"}};
  CHECK(error_of(doc).find("go together") != std::string::npos);
  doc["targets"]["mail.lab.test"] = {
      {"user", "a"}, {"password_env", "MAILREADY_TEST_TARGET_PW"}, {"password_file", file}};
  CHECK(error_of(doc).find("not two") != std::string::npos);
  doc["targets"]["mail.lab.test"] = {{"user", "a"}, {"password_env", "MAILREADY_NO_SUCH_VAR_X"}};
  const auto missing = error_of(doc);
  CHECK(missing.find("MAILREADY_NO_SUCH_VAR_X") != std::string::npos);
  CHECK(missing.find("s3cret") == std::string::npos);
}

TEST_CASE("serve config: password_credential reads $CREDENTIALS_DIRECTORY/NAME (systemd's "
          "LoadCredential=)",
          "[serve]") {
  char dir_template[] = "/tmp/mailready-credentials-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/alice.password";
  {
    std::ofstream(path) << "s3cret-from-systemd\n";
  }
  json doc = minimal();
  doc["targets"]["mail.lab.test"] = {{"user", "alice@lab.test"},
                                     {"password_credential", "alice.password"}};

  ::unsetenv("CREDENTIALS_DIRECTORY");
  const auto unset = error_of(doc);
  CHECK(unset.find("CREDENTIALS_DIRECTORY is not set") != std::string::npos);
  CHECK(unset.find("LoadCredential=alice.password:") != std::string::npos);

  ::setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
  const ServeConfig c = parse_serve_config(doc);
  const auto planned = plan_probe(c, {"mail.lab.test", "default"});
  REQUIRE(std::holds_alternative<ProbePlan>(planned));
  CHECK(std::get<ProbePlan>(planned).options.password == "s3cret-from-systemd");

  // Only a name in that directory: no path, no way out of it.
  for (const auto* name : {"../alice.password", "/etc/shadow", "..", "."}) {
    doc["targets"]["mail.lab.test"]["password_credential"] = name;
    CHECK(error_of(doc).find("is not a file name") != std::string::npos);
  }
  doc["targets"]["mail.lab.test"]["password_credential"] = "bob.password";
  const auto missing = error_of(doc);
  CHECK(missing.find("cannot read the credential bob.password") != std::string::npos);
  doc["targets"]["mail.lab.test"]["password_file"] = path;
  CHECK(error_of(doc).find("not two") != std::string::npos);

  ::unsetenv("CREDENTIALS_DIRECTORY");
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}
