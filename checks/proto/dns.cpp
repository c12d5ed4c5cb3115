#include "checks/proto/dns.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <future>
#include <memory>
#include <thread>

#include <Poco/Net/SocketAddress.h>

#include "checks/core/workers.hpp"

namespace mailready::proto {
namespace {

struct Lookup {
  int rc = 0;
  Addresses addresses;
};

Lookup lookup(const std::string& host, int family) {
  addrinfo hints{};
  hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  Lookup out;
  out.rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (out.rc != 0) return out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    const Poco::Net::SocketAddress sa(ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen));
    auto& bucket = ai->ai_family == AF_INET6 ? out.addresses.v6 : out.addresses.v4;
    const auto text = sa.host().toString();
    if (std::find(bucket.begin(), bucket.end(), text) == bucket.end()) bucket.push_back(text);
  }
  freeaddrinfo(list);
  return out;
}

}  // namespace

Result<Addresses> resolve(const std::string& host, int family,
                          std::chrono::milliseconds timeout) {
  // getaddrinfo has no timeout. Run it on a thread of the cache, as a task that owns its inputs; if it
  // outlives the wait, its answer is dropped when it finally returns.
  auto task = std::make_shared<std::packaged_task<Lookup()>>(
      [host, family] { return lookup(host, family); });
  auto answer = task->get_future();
  run_detached([task] { (*task)(); });
  if (answer.wait_for(timeout) != std::future_status::ready) {
    return fail(Failure::Kind::timeout, "the resolver did not answer in time");
  }
  const Lookup got = answer.get();
  if (got.rc != 0) return fail(Failure::Kind::resolve, gai_strerror(got.rc));
  if (got.addresses.v4.empty() && got.addresses.v6.empty()) {
    return fail(Failure::Kind::resolve, "no address for this name");
  }
  return got.addresses;
}

}  // namespace mailready::proto
