#include "checks/proto/connect.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocketImpl.h>
#include <Poco/Timespan.h>
#include <Poco/Exception.h>

namespace mailready::proto {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

PortState state_for_errno(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET: return PortState::closed;
    case ETIMEDOUT: return PortState::filtered;
    default: return PortState::unreachable;  // EHOSTUNREACH, ENETUNREACH, EACCES, ...
  }
}

/// One connect in flight.
struct Attempt {
  int fd = -1;
  Clock::time_point started;
};

}  // namespace

const char* to_string(PortState s) {
  switch (s) {
    case PortState::open: return "open";
    case PortState::closed: return "closed";
    case PortState::filtered: return "filtered";
    case PortState::unreachable: return "unreachable";
  }
  return "?";
}

// Raw non-blocking sockets and poll() rather than Poco's connectNB and PollSet: we need
// the exact errno of each connect (refused vs unreachable vs timed out), which Poco turns
// into exception texts, and one poll over all sockets makes a filtered port cost one
// timeout in total instead of one per port.
std::vector<PortProbe> probe_ports(const std::vector<PortTarget>& targets, milliseconds timeout,
                                   int per_address, std::vector<int>* kept) {
  if (kept != nullptr) kept->assign(targets.size(), -1);
  std::vector<PortProbe> out(targets.size());
  std::vector<Attempt> attempts(targets.size());
  std::map<std::string, int> in_flight;
  std::size_t finished = 0;
  std::vector<bool> started(targets.size(), false);

  const auto finish = [&](std::size_t i, PortState state, std::string detail) {
    out[i].state = state;
    out[i].connect_ms =
        std::chrono::duration_cast<milliseconds>(Clock::now() - attempts[i].started);
    out[i].detail = std::move(detail);
    if (kept != nullptr && state == PortState::open) {
      (*kept)[i] = attempts[i].fd;
    } else if (attempts[i].fd >= 0) {
      ::close(attempts[i].fd);
    }
    attempts[i].fd = -1;
    --in_flight[targets[i].address];
    ++finished;
  };

  const auto start = [&](std::size_t i) {
    started[i] = true;
    ++in_flight[targets[i].address];
    attempts[i].started = Clock::now();
    Poco::Net::SocketAddress sa;
    try {
      sa = Poco::Net::SocketAddress(targets[i].address, static_cast<Poco::UInt16>(targets[i].port));
    } catch (const Poco::Exception& e) {
      finish(i, PortState::unreachable, e.displayText());
      return;
    }
    const int fd = ::socket(sa.af(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      finish(i, PortState::unreachable, std::strerror(errno));
      return;
    }
    attempts[i].fd = fd;
    if (::connect(fd, sa.addr(), sa.length()) == 0) {
      finish(i, PortState::open, {});
    } else if (errno != EINPROGRESS) {
      const int err = errno;
      finish(i, state_for_errno(err), std::strerror(err));
    }
  };

  const int limit = per_address < 1 ? 1 : per_address;
  while (finished < targets.size()) {
    // Start whatever the per-address bound allows, in order.
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (!started[i] && in_flight[targets[i].address] < limit) start(i);
    }

    std::vector<pollfd> fds;
    std::vector<std::size_t> index;
    auto wait = timeout;
    const auto now = Clock::now();
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (attempts[i].fd < 0) continue;
      fds.push_back({attempts[i].fd, POLLOUT, 0});
      index.push_back(i);
      const auto left = timeout - std::chrono::duration_cast<milliseconds>(now - attempts[i].started);
      if (left < wait) wait = left;
    }
    if (fds.empty()) continue;
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(0, wait.count())));
    if (n < 0 && errno != EINTR) {
      const int err = errno;
      for (const auto i : index) finish(i, PortState::unreachable, std::strerror(err));
      continue;
    }
    for (std::size_t k = 0; k < fds.size(); ++k) {
      const auto i = index[k];
      if (fds[k].revents != 0) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(attempts[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          finish(i, PortState::open, {});
        } else {
          finish(i, state_for_errno(err), std::strerror(err));
        }
      } else if (Clock::now() - attempts[i].started >= timeout) {
        finish(i, PortState::filtered, "no answer before the timeout");
      }
    }
  }
  return out;
}

PortProbe probe_port(const PortTarget& target, milliseconds timeout, Poco::Net::StreamSocket& open) {
  std::vector<int> kept;
  auto probes = probe_ports({target}, timeout, 1, &kept);
  if (kept[0] >= 0) {
    try {
      Poco::Net::StreamSocket socket(new Poco::Net::StreamSocketImpl(kept[0]));
      socket.setBlocking(true);
      socket.setNoDelay(true);
      open = socket;
    } catch (const Poco::Exception&) {
      // The socket went bad between connect and now: the session will connect afresh.
    }
  }
  return probes[0];
}

Result<Poco::Net::StreamSocket> connect_tcp(const std::string& address, int port,
                                            milliseconds timeout) {
  if (timeout.count() <= 0) return fail(Failure::Kind::timeout, "no time left to connect (the run's deadline)");
  try {
    const Poco::Net::SocketAddress sa(address, static_cast<Poco::UInt16>(port));
    Poco::Net::StreamSocket socket(sa.family());
    socket.connect(sa, Poco::Timespan(timeout.count() * 1000));
    socket.setNoDelay(true);
    return socket;
  } catch (const Poco::Net::ConnectionRefusedException& e) {
    return fail(Failure::Kind::refused, e.displayText());
  } catch (const Poco::TimeoutException& e) {
    return fail(Failure::Kind::timeout, "no answer before the timeout");
  } catch (const Poco::Net::NoAddressFoundException& e) {
    return fail(Failure::Kind::unreachable, e.displayText());
  } catch (const Poco::Exception& e) {
    return fail(Failure::Kind::unreachable, e.displayText());
  }
}

}  // namespace mailready::proto
