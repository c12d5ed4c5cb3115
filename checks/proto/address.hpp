#pragma once
// IP address helpers: classification for dns.private-address, and --resolve parsing.

#include <optional>
#include <string>
#include <utility>

namespace mailready::proto {

/// True for an address a phone on a carrier network cannot reach: loopback, RFC 1918
/// private, link-local, unique-local IPv6 (fc00::/7), carrier-grade NAT (100.64.0.0/10),
/// unspecified. False for anything else, including a string that is not an address.
bool is_internal_address(const std::string& address);

/// True when `text` is an IPv4 or IPv6 literal (no brackets).
bool is_ip_literal(const std::string& text);

/// True for a host name as RFC 1123 allows it (letters, digits, '-', '.', and '_' for lab
/// names; no empty label, not over 253 characters) or an IP literal.
bool is_host_name(const std::string& text);

/// Parses curl-style "HOST:ADDRESS" (IPv6 as "HOST:[::1]" or "HOST:::1").
/// Returns nullopt when the host is empty or the address is not an IP literal.
std::optional<std::pair<std::string, std::string>> parse_pin(const std::string& text);

}  // namespace mailready::proto
