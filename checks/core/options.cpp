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

}  // namespace mailready
