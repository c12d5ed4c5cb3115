#include "cli/serve_config.hpp"

#include "cli/credentials.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "checks/proto/address.hpp"

namespace mailready::serve {
namespace {

using nlohmann::json;

/// A name for error messages: modules.default, targets["mail.example.test"].
std::string member(const std::string& where, const std::string& key) {
  const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  if (plain) return where.empty() ? key : where + "." + key;
  return fmt::format("{}[{}]", where, json(key).dump());  // an empty where gives ["key"]
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError(fmt::format("{}: {}", where, what));
}

/// `value` must be an object with no keys besides `known`.
void expect_object(const json& value, const std::string& where,
                   std::initializer_list<std::string_view> known) {
  if (!value.is_object()) fail(where, "must be an object");
  for (const auto& [key, ignored] : value.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string names;
    for (const auto k : known) names += (names.empty() ? "" : ", ") + std::string(k);
    fail(member(where, key), fmt::format("unknown key (known here: {})", names));
  }
}

/// The member `key` of `object`, or nullptr when absent.
const json* find(const json& object, std::string_view key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

void read_bool(const json& object, std::string_view key, const std::string& where, bool& out) {
  const json* v = find(object, key);
  if (v == nullptr) return;
  if (!v->is_boolean()) fail(member(where, std::string(key)), "must be true or false");
  out = v->get<bool>();
}

void read_seconds(const json& object, std::string_view key, const std::string& where, double low,
                  double high, std::chrono::milliseconds& out) {
  const json* v = find(object, key);
  if (v == nullptr) return;
  if (!v->is_number() || v->get<double>() < low || v->get<double>() > high) {
    fail(member(where, std::string(key)),
         fmt::format("must be a number of seconds from {} to {}", low, high));
  }
  out = from_seconds(v->get<double>());
}

int read_int(const json& value, const std::string& where, int low, int high) {
  if (!value.is_number_integer() || value.get<long long>() < low || value.get<long long>() > high) {
    fail(where, fmt::format("must be a whole number from {} to {}", low, high));
  }
  return static_cast<int>(value.get<long long>());
}

std::vector<std::string> read_strings(const json& value, const std::string& where) {
  if (!value.is_array()) fail(where, "must be a list of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string() || value[i].get<std::string>().empty()) {
      fail(fmt::format("{}[{}]", where, i), "must be a non-empty string");
    }
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

std::string read_host(const json& object, std::string_view key, const std::string& where) {
  const json* v = find(object, key);
  if (v == nullptr) return {};
  const std::string name = member(where, std::string(key));
  if (!v->is_string()) fail(name, "must be a host name or IP address");
  if (!proto::is_host_name(v->get<std::string>())) {
    fail(name, fmt::format("'{}' is not a host name or IP address", v->get<std::string>()));
  }
  return v->get<std::string>();
}

/// A module name: what ?module= may say.
bool valid_module_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

ModuleConfig parse_module(const std::string& name, const json& value, const std::string& where) {
  // Each key is one line here and one member of Options: adding a setting is adding both.
  expect_object(
      value, where,
      {"timeout_seconds", "wait_timeout_seconds", "from_inside", "ca_file", "only", "skip",
       "imap_starttls", "fallback_order", "per_host", "cert_warn_days", "cert_critical_days"});
  ModuleConfig m;
  m.name = name;
  Options& o = m.options;
  read_seconds(value, "timeout_seconds", where, 0.1, 600, m.timeout);
  read_seconds(value, "wait_timeout_seconds", where, 0.05, 600, o.timeout);
  read_bool(value, "from_inside", where, o.from_inside);
  read_bool(value, "imap_starttls", where, o.imap_starttls);
  if (const json* v = find(value, "ca_file")) {
    const std::string at = member(where, "ca_file");
    if (!v->is_string() || v->get<std::string>().empty()) fail(at, "must be a file name");
    o.ca_file = v->get<std::string>();
    // Read now: a probe must not be the first to find out that the trust anchors are gone.
    if (::access(o.ca_file.c_str(), R_OK) != 0) {
      fail(at, fmt::format("cannot read {}: {}", o.ca_file, std::strerror(errno)));
    }
  }
  if (const json* v = find(value, "only")) {
    const auto ids = read_strings(*v, member(where, "only"));
    o.only = std::set<std::string>(ids.begin(), ids.end());
  }
  if (const json* v = find(value, "skip")) {
    const auto ids = read_strings(*v, member(where, "skip"));
    o.skip = std::set<std::string>(ids.begin(), ids.end());
  }
  if (const json* v = find(value, "fallback_order")) {
    const std::string at = member(where, "fallback_order");
    if (!v->is_array() || v->empty()) fail(at, "must be a non-empty list of ports");
    std::vector<int> ports;
    for (std::size_t i = 0; i < v->size(); ++i) {
      ports.push_back(read_int((*v)[i], fmt::format("{}[{}]", at, i), 1, 65535));
    }
    if (std::set<int>(ports.begin(), ports.end()).size() != ports.size()) {
      fail(at, "lists a port twice");
    }
    o.fallback_order = ports;
  }
  if (const json* v = find(value, "per_host")) {
    o.per_host = read_int(*v, member(where, "per_host"), 1, 64);
  }
  if (const json* v = find(value, "cert_warn_days")) {
    o.cert_warn_days = read_int(*v, member(where, "cert_warn_days"), 0, 3650);
  }
  if (const json* v = find(value, "cert_critical_days")) {
    o.cert_critical_days = read_int(*v, member(where, "cert_critical_days"), 0, 3650);
  }
  return m;
}

TargetConfig parse_target(const std::string& name, const json& value, const std::string& where) {
  expect_object(value, where, {"imap_host", "smtp_host", "resolve", "user", "password_file",
                               "password_env", "password_credential"});
  TargetConfig t;
  t.name = name;
  // The login: a user and exactly one password source, read now (start-up), so a missing
  // file, variable or credential stops the exporter before it answers anything.
  const auto string_of = [&](std::string_view key) -> std::string {
    const json* v = find(value, key);
    if (v == nullptr) return {};
    if (!v->is_string() || v->get<std::string>().empty()) {
      fail(member(where, std::string(key)), "must be a non-empty string");
    }
    return v->get<std::string>();
  };
  t.user = string_of("user");
  cli::PasswordSource source;
  source.file = string_of("password_file");
  source.env = string_of("password_env");
  source.credential = string_of("password_credential");
  const int sources = static_cast<int>(!source.file.empty()) +
                      static_cast<int>(!source.env.empty()) +
                      static_cast<int>(!source.credential.empty());
  if (sources > 1) {
    fail(where, "give one of password_file, password_env and password_credential, not two");
  }
  const bool has_source = sources == 1;
  if (t.user.empty() != !has_source) fail(where, "user and a password source go together");
  if (has_source) {
    try {
      t.password = cli::read_password(source, t.user);
    } catch (const std::runtime_error& e) {
      fail(where, e.what());
    }
  }
  t.imap_host = read_host(value, "imap_host", where);
  t.smtp_host = read_host(value, "smtp_host", where);
  if (const json* v = find(value, "resolve")) {
    const std::string at = member(where, "resolve");
    const auto pins = read_strings(*v, at);
    for (std::size_t i = 0; i < pins.size(); ++i) {
      const auto pin = proto::parse_pin(pins[i]);
      if (!pin) {
        fail(fmt::format("{}[{}]", at, i), fmt::format("wants HOST:ADDRESS, got '{}'", pins[i]));
      }
      t.pinned[pin->first].push_back(pin->second);
    }
  }
  return t;
}

ProbeRefusal refuse(int status, std::string reason, std::string message) {
  return ProbeRefusal{status, std::move(reason), std::move(message)};
}

}  // namespace


ServeConfig parse_serve_config(const json& document) {
  if (!document.is_object()) throw ConfigError("must be a JSON object with \"modules\"");
  expect_object(document, "", {"modules", "targets", "allow_any_target"});
  ServeConfig config;
  read_bool(document, "allow_any_target", "", config.allow_any_target);

  const json* modules = find(document, "modules");
  if (modules == nullptr || !modules->is_object() || modules->empty()) {
    fail("modules", "must be an object with at least one module (e.g. \"default\": {})");
  }
  for (const auto& [name, value] : modules->items()) {
    const std::string where = member("modules", name);
    if (!valid_module_name(name)) {
      fail(where, "a module name is letters, digits, '_', '-' and '.' (at most 64)");
    }
    config.modules.emplace(name, parse_module(name, value, where));
  }

  if (const json* targets = find(document, "targets")) config.targets = parse_targets(*targets);
  return config;
}

std::map<std::string, TargetConfig> parse_targets(const json& targets) {
  if (!targets.is_object()) fail("targets", "must be an object of target names");
  std::map<std::string, TargetConfig> out;
  for (const auto& [name, value] : targets.items()) {
    const std::string where = member("targets", name);
    if (!proto::is_host_name(name)) fail(where, "a target is a host name or IP address");
    out.emplace(name, parse_target(name, value, where));
  }
  return out;
}

ServeConfig load_serve_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("config {}: cannot read: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return parse_serve_config(json::parse(text.str()));
  } catch (const json::parse_error& e) {
    // nlohmann's text: "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    std::string what = e.what();
    if (const auto close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
    throw ConfigError(fmt::format("config {}: not JSON: {}", path, what));
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("config {}: {}", path, e.what()));
  }
}

void validate_check_ids(const ServeConfig& config, const Registry& registry) {
  for (const auto& [name, module] : config.modules) {
    try {
      registry.select(module.options.only, module.options.skip);
    } catch (const UsageError& e) {
      throw ConfigError(fmt::format("{}: {}", member("modules", name), e.what()));
    }
  }
}

std::variant<ProbeQuery, ProbeRefusal> parse_probe_query(
    const std::vector<std::pair<std::string, std::string>>& parameters) {
  ProbeQuery query;
  bool have_target = false;
  bool have_module = false;
  for (const auto& [key, value] : parameters) {
    // Neither the key nor the value goes back into the answer: "?hunter2" is a key.
    if (key != "target" && key != "module") {
      return refuse(400, "bad_request",
                    "unknown query parameter: /probe takes only target and module "
                    "(credentials belong in the exporter's config file)");
    }
    bool& seen = key == "target" ? have_target : have_module;
    if (seen) return refuse(400, "bad_request", fmt::format("{} given more than once", key));
    seen = true;
    (key == "target" ? query.target : query.module) = value;
  }
  if (!have_target || query.target.empty()) {
    return refuse(400, "bad_request", "target parameter is missing");
  }
  if (query.module.empty()) return refuse(400, "bad_request", "module parameter is empty");
  return query;
}

std::variant<ProbePlan, ProbeRefusal> plan_probe(const ServeConfig& config,
                                                 const ProbeQuery& query) {
  const auto module = config.modules.find(query.module);
  if (module == config.modules.end()) {
    // Echo the name only when it could be a module name at all.
    return refuse(400, "bad_request",
                  valid_module_name(query.module) ? fmt::format("unknown module '{}'", query.module)
                                                  : std::string("unknown module"));
  }
  const auto target = config.targets.find(query.target);
  if (target == config.targets.end() && !config.allow_any_target) {
    return refuse(403, "forbidden",
                  "target is not in the exporter's config (and allow_any_target is off)");
  }
  if (target == config.targets.end() && !proto::is_host_name(query.target)) {
    return refuse(400, "bad_request", "target is not a host name or IP address");
  }

  ProbePlan plan;
  plan.module = &module->second;
  Options& o = plan.options;
  o = module->second.options;
  o.target = query.target;
  if (target != config.targets.end()) {
    o.imap_host = target->second.imap_host;
    o.smtp_host = target->second.smtp_host;
    o.pinned = target->second.pinned;
    o.imap_user = target->second.user;
    o.smtp_user = target->second.user;
    o.password = target->second.password;
  }
  if (o.imap_host.empty()) o.imap_host = o.target;
  if (o.smtp_host.empty()) o.smtp_host = o.target;
  return plan;
}

std::variant<std::chrono::milliseconds, std::string> probe_deadline(
    const std::optional<std::string>& scrape_timeout_header,
    std::chrono::milliseconds module_timeout) {
  if (!scrape_timeout_header) return module_timeout;
  const std::string& text = *scrape_timeout_header;
  // Prometheus sends a plain decimal ("4", "9.5"); strtod would also take hex, "inf" and
  // leading blanks, which no Prometheus sends.
  const bool plain =
      !text.empty() && text.size() <= 32 &&
      std::all_of(text.begin(), text.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }) &&
      std::count(text.begin(), text.end(), '.') <= 1 && text != ".";
  if (!plain) return std::string("X-Prometheus-Scrape-Timeout-Seconds is not a number of seconds");
  const double seconds = std::strtod(text.c_str(), nullptr);
  const auto scrape = from_seconds(seconds);
  const auto margin = std::min(kScrapeTimeoutMargin, scrape / 2);
  const auto budget = std::min(module_timeout, scrape - margin);
  if (budget < std::chrono::milliseconds(10)) {
    return std::string("X-Prometheus-Scrape-Timeout-Seconds leaves no time to probe");
  }
  return budget;
}

std::optional<std::pair<std::string, int>> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return std::nullopt;
  }
  const int port = std::stoi(port_text);
  if (port < 1 || port > 65535) return std::nullopt;
  if (host.empty()) host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!proto::is_ip_literal(host) || host.find(':') == std::string::npos) return std::nullopt;
    return std::make_pair(host, port);
  }
  // An IPv6 address needs its brackets: "::1:9731" is ambiguous.
  if (host.find(':') != std::string::npos || !proto::is_host_name(host)) return std::nullopt;
  return std::make_pair(host, port);
}

}  // namespace mailready::serve
