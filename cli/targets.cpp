#include "cli/targets.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "checks/core/registry.hpp"
#include "checks/proto/address.hpp"

namespace mailready::cli {
namespace {

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

/// A host per line; '#' at the start of a line or after white space starts a comment.
std::vector<std::pair<std::string, int>> plain_entries(const std::string& text, const std::string& name) {
  std::vector<std::pair<std::string, int>> out;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line.resize(i);
        break;
      }
    }
    const std::string host = trim(line);
    if (host.empty()) continue;
    if (host.find_first_of(" \t") != std::string::npos) {
      throw UsageError(fmt::format("targets {}:{}: one host per line, got '{}'", name, number, host));
    }
    if (!proto::is_host_name(host)) {
      throw UsageError(fmt::format("targets {}:{}: '{}' is not a host name or IP address", name,
                                   number, host));
    }
    out.emplace_back(host, number);
  }
  return out;
}

}  // namespace

TargetList parse_targets_file(std::istream& in, const std::string& name) {
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UsageError(fmt::format("targets {}: cannot read it", name));
  TargetList list;
  std::set<std::string> seen;
  const auto add = [&](serve::TargetConfig t) {
    if (!seen.insert(t.name).second) {
      list.duplicates.push_back(t.name);
      return;
    }
    list.targets.push_back(std::move(t));
  };

  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (text[first] == '{' || text[first] == '[')) {
    nlohmann::json document;
    try {
      document = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      std::string what = e.what();
      if (const auto close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
      throw UsageError(fmt::format("targets {}: not JSON: {}", name, what));
    }
    if (!document.is_object() || !document.contains("targets")) {
      throw UsageError(fmt::format(
          "targets {}: a JSON targets file is an object with \"targets\" (as the exporter's config)",
          name));
    }
    try {
      for (auto& [host, target] : serve::parse_targets(document["targets"])) add(std::move(target));
    } catch (const serve::ConfigError& e) {
      throw UsageError(fmt::format("targets {}: {}", name, e.what()));
    }
  } else {
    for (const auto& [host, line] : plain_entries(text, name)) {
      serve::TargetConfig t;
      t.name = host;
      add(std::move(t));
    }
  }
  if (list.targets.empty()) throw UsageError(fmt::format("targets {}: no targets in it", name));
  return list;
}

TargetList load_targets(const std::string& path) {
  if (path == "-") return parse_targets_file(std::cin, "(stdin)");
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("targets {}: cannot read: {}", path, std::strerror(errno)));
  return parse_targets_file(in, path);
}

}  // namespace mailready::cli
