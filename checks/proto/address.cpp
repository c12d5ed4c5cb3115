#include "checks/proto/address.hpp"

#include <Poco/Net/IPAddress.h>

namespace mailready::proto {

bool is_ip_literal(const std::string& text) {
  Poco::Net::IPAddress ip;
  return !text.empty() && Poco::Net::IPAddress::tryParse(text, ip);
}

bool is_internal_address(const std::string& address) {
  Poco::Net::IPAddress ip;
  if (!Poco::Net::IPAddress::tryParse(address, ip)) return false;
  if (ip.family() == Poco::Net::IPAddress::IPv6 && ip.isIPv4Mapped()) {
    // ::ffff:a.b.c.d is judged by its IPv4 part.
    return is_internal_address(address.substr(address.rfind(':') + 1));
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
