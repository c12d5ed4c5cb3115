#include "checks/core/options.hpp"

#include <algorithm>
#include <cmath>

namespace mailready {

std::vector<std::string> Options::hosts() const {
  std::vector<std::string> out{imap_host};
  if (smtp_host != imap_host) out.push_back(smtp_host);
  return out;
}

std::chrono::milliseconds from_seconds(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(std::llround(seconds * 1000.0)));
}

std::vector<PortSpec> planned_ports(const Options& options) {
  std::vector<PortSpec> ports;
  ports.push_back({options.imap_host, 993, Protocol::imap, TlsMode::implicit, Role::incoming});
  if (options.imap_starttls) {
    ports.push_back({options.imap_host, 143, Protocol::imap, TlsMode::starttls, Role::incoming});
  }
  // Submission ports in the order the phone tries them. 465 is implicit TLS; 587 and 25
  // upgrade with STARTTLS when the server offers it.
  for (const int port : options.fallback_order) {
    const TlsMode tls = port == 465 ? TlsMode::implicit : TlsMode::starttls;
    const Role role = port == 25 ? Role::relay : Role::submission;
    ports.push_back({options.smtp_host, port, Protocol::smtp, tls, role});
  }
  return ports;
}

std::vector<Endpoint> plan_endpoints(const Options& options,
                                     const std::map<std::string, std::vector<std::string>>& addresses) {
  std::vector<Endpoint> out;
  for (const auto& spec : planned_ports(options)) {
    const auto it = addresses.find(spec.host);
    if (it == addresses.end() || it->second.empty()) {
      out.push_back({spec.host, "", spec.port, spec.protocol, spec.tls, spec.role});
      continue;
    }
    for (const auto& address : it->second) {
      out.push_back({spec.host, address, spec.port, spec.protocol, spec.tls, spec.role});
    }
  }
  return out;
}

}  // namespace mailready
