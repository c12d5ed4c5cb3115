#pragma once
// TCP connections: a concurrent port probe (all ports at once, one timeout for all) and a
// single connect with a timeout for protocol sessions.

#include <chrono>
#include <string>
#include <vector>

#include <Poco/Net/StreamSocket.h>

#include "checks/proto/result.hpp"

namespace mailready::proto {

/// What a TCP connect found.
enum class PortState {
  open,         ///< the handshake completed
  closed,       ///< refused (RST): nothing listens, or a firewall rejects
  filtered,     ///< no answer before the timeout: a firewall drops
  unreachable,  ///< ICMP unreachable / no route / address family not available
};

const char* to_string(PortState s);

struct PortTarget {
  std::string address;
  int port = 0;
};

struct PortProbe {
  PortState state = PortState::filtered;
  std::chrono::milliseconds connect_ms{0};
  std::string detail;  ///< the system's words for a failure ("Connection refused")
};

/// Connects to every target concurrently with non-blocking sockets and one poll loop, at
/// most `per_address` connects in flight per address; each connect gets `timeout` from
/// its own start. Results are in the order of `targets`. With `kept`, the descriptors of
/// the open ones are left open there (-1 for the others; the caller closes them).
/// Never throws.
std::vector<PortProbe> probe_ports(const std::vector<PortTarget>& targets,
                                   std::chrono::milliseconds timeout, int per_address,
                                   std::vector<int>* kept = nullptr);

/// One port, as probe_ports; when it is open, `open` holds the connected socket (blocking,
/// no Nagle) so the probe's connection can become the endpoint's first session.
PortProbe probe_port(const PortTarget& target, std::chrono::milliseconds timeout,
                     Poco::Net::StreamSocket& open);

/// Connects one socket within `timeout` (Poco's host/port constructors have no timeout,
/// see PITFALLS). Fails with refused, timeout or unreachable.
Result<Poco::Net::StreamSocket> connect_tcp(const std::string& address, int port,
                                            std::chrono::milliseconds timeout);

}  // namespace mailready::proto
