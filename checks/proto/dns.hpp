#pragma once
// Name resolution through the system resolver (getaddrinfo), so /etc/hosts, nsswitch and
// the network namespace's own hosts file all apply, as they do for other mail clients.

#include <chrono>
#include <string>
#include <vector>

#include "checks/proto/result.hpp"

namespace mailready::proto {

/// The addresses of one name, split by family, in resolver order.
struct Addresses {
  std::vector<std::string> v4;  ///< A
  std::vector<std::string> v6;  ///< AAAA
};

/// Resolves `host` (family 0: both, 4 or 6: one) within `timeout`. Unlike Poco's
/// DNS::hostByName it does not pass AI_ADDRCONFIG (which drops AAAA on hosts without
/// IPv6) and it bounds the wait. Fails with Kind::resolve when the name has no address,
/// Kind::timeout when the resolver did not answer in time.
Result<Addresses> resolve(const std::string& host, int family, std::chrono::milliseconds timeout);

}  // namespace mailready::proto
