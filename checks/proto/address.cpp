#include "checks/proto/address.hpp"

#include <cctype>

#include <arpa/inet.h>

#include <Poco/Net/IPAddress.h>

namespace mailready::proto {
namespace {

/// Parses an IPv4 dotted quad or an IPv6 literal. Stricter than Poco's tryParse, which
/// takes inet_aton's shorthand ("993" is 0.0.3.225, "127.1" is 127.0.0.1) and rejects
/// "::". Scoped IPv6 ("fe80::1%eth0") is left to Poco, which knows interface names.
bool parse_ip(const std::string& text, Poco::Net::IPAddress& ip) {
  if (text.find('%') != std::string::npos) return Poco::Net::IPAddress::tryParse(text, ip);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    ip = Poco::Net::IPAddress(&v4, sizeof v4);
    return true;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    ip = Poco::Net::IPAddress(&v6, sizeof v6);
    return true;
  }
  return false;
}

}  // namespace

bool is_ip_literal(const std::string& text) {
  Poco::Net::IPAddress ip;
  return parse_ip(text, ip);
}

bool is_internal_address(const std::string& address) {
  Poco::Net::IPAddress ip;
  if (!parse_ip(address, ip)) return false;
  if (ip.family() == Poco::Net::IPAddress::IPv6 && ip.isIPv4Mapped()) {
    // ::ffff:a.b.c.d (also written ::ffff:a00:1) is judged by its IPv4 part, the last
    // four bytes.
    const auto* bytes = static_cast<const unsigned char*>(ip.addr());
    return is_internal_address(Poco::Net::IPAddress(bytes + 12, 4).toString());
  }
  if (ip.isLoopback() || ip.isWildcard() || ip.isLinkLocal() || ip.isSiteLocal()) return true;
  if (ip.family() == Poco::Net::IPAddress::IPv4) {
    // 100.64.0.0/10, shared address space (RFC 6598), is not routed on the internet.
    const Poco::Net::IPAddress cgnat("100.64.0.0");
    const Poco::Net::IPAddress mask("255.192.0.0");
    return (ip & mask) == cgnat;
  }
  // fc00::/7 unique local (RFC 4193). Poco's isSiteLocal covers fec0::/10 and fc00::/8
  // (not fd00::/8 in every version), so test the prefix here.
  const auto* bytes = static_cast<const unsigned char*>(ip.addr());
  return (bytes[0] & 0xfe) == 0xfc;
}

bool is_host_name(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  if (is_ip_literal(host)) return true;
  for (const char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) {
      return false;
    }
  }
  return host.front() != '.' && host.front() != '-' && host.find("..") == std::string::npos;
}

std::optional<std::pair<std::string, std::string>> parse_pin(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string host = text.substr(0, colon);
  std::string address = text.substr(colon + 1);
  if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  if (!is_ip_literal(address)) return std::nullopt;
  return std::make_pair(std::move(host), std::move(address));
}

}  // namespace mailready::proto
