#pragma once
// Reading numbers out of check facts, for the reporters that turn them into metrics.

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mailready::report {

/// A number from the facts: `facts[key]`, or `facts[outer][key]` when outer is given.
inline std::optional<double> number_fact(const nlohmann::json& facts, std::string_view outer,
                                         std::string_view key) {
  const nlohmann::json* scope = &facts;
  if (!outer.empty()) {
    const auto it = facts.find(outer);
    if (it == facts.end() || !it->is_object()) return std::nullopt;
    scope = &*it;
  }
  const auto it = scope->find(key);
  if (it == scope->end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

/// The TLS handshake time: facts.tls.handshake_ms (the greeting checks) or a top-level
/// facts.handshake_ms (tls.handshake), for a handshake that completed.
inline std::optional<double> handshake_ms(const nlohmann::json& facts) {
  if (const auto ms = number_fact(facts, "tls", "handshake_ms")) return ms;
  const auto handshake = facts.find("handshake");
  if (handshake == facts.end() || *handshake != "ok") return std::nullopt;
  return number_fact(facts, "", "handshake_ms");
}

}  // namespace mailready::report
