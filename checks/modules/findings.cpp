#include "checks/modules/findings.hpp"

#include <algorithm>
#include <stdexcept>

namespace mailready::checks {

const std::vector<FindingInfo>& finding_catalog() {
  static const std::vector<FindingInfo> catalog = [] {
    std::vector<FindingInfo> c = {
        {"dns.unresolved", "The host name does not resolve", Severity::critical,
         "The name the phones are configured with has no A or AAAA record, so no device can "
         "connect at all. Phones resolve the name through the carrier's or the Wi-Fi's "
         "resolver, so it must be in public DNS (or in the internal DNS for internal-only "
         "rollouts).",
         "Publish an A (and ideally AAAA) record for the host, or correct the host name in the "
         "account settings or configuration profile."},
        {"dns.private-address", "The host resolves only to private or loopback addresses",
         Severity::warning,
         "Every address of the host is loopback, RFC 1918 private, link-local, unique-local "
         "IPv6 or carrier-grade NAT space. A phone on a cellular network cannot reach such an "
         "address; only devices on the internal network (or a VPN) can. Pass --from-inside "
         "when you run mailready on the internal network on purpose.",
         "Publish the public address of the firewall / secure gateway in public DNS (split "
         "horizon), or make sure the phones reach the network over VPN."},
        {"port.closed", "The port refuses connections", Severity::info,
         "The TCP connection was refused (RST): nothing listens on the port, or a firewall "
         "rejects it. For IMAP on 993 the phone cannot fetch mail; for a submission port the "
         "phone falls back to the next port (see submission.fallback).",
         "Open the port on the firewall and point it at the gateway or mail server, or start "
         "the service that should listen there."},
        {"port.filtered", "The port does not answer", Severity::info,
         "No answer came before the timeout: a firewall silently drops the packets. The phone "
         "waits for its own timeout before it tries anything else, which users see as a hang.",
         "Allow the port on the firewall in front of the gateway, or make the firewall reject "
         "instead of drop so clients fail fast."},
        {"port.unreachable", "The address is unreachable", Severity::info,
         "The network reported the host or network unreachable (ICMP unreachable, no route).",
         "Check routing and firewall rules between the client network and the host."},
        {"protocol.no-greeting", "The server accepts connections but says nothing",
         Severity::critical,
         "The TCP (and TLS) connection succeeded but no greeting came before the timeout, or "
         "the server closed the connection without one. A mail client waits for the greeting "
         "and gives up.",
         "Check that the right service listens on the port (and not, say, a TLS port answered "
         "by a plain service or the reverse), and that the server is not overloaded."},
        {"protocol.unexpected-greeting", "The port does not speak the expected protocol",
         Severity::critical,
         "Something answers on the port, but not with an IMAP '* OK' greeting or an SMTP 220 "
         "banner (for example a web server, or a plain-text service on a TLS port).",
         "Point the port at the IMAP or SMTP service (check the firewall's port forwarding "
         "and the gateway's listeners)."},
        {"protocol.service-refused", "The server refuses service", Severity::critical,
         "The server answered with a refusal instead of a greeting: an SMTP 5xx banner "
         "(RFC 5321 §3.1: no SMTP service here) or an IMAP '* BYE'.",
         "Read the server's words in the evidence; check access rules for the client network "
         "(postscreen, smtpd_client_restrictions, login_trusted_networks)."},
        {"rate-limited", "The server is rate-limiting this client", Severity::warning,
         "The server answered 421 or an enhanced status code 4.7.x, or closed with a 'too "
         "many connections' message: it limits connections or commands per client address. "
         "mailready stops on this endpoint instead of producing a cascade of failures; the "
         "results for it are incomplete.",
         "Wait and run again with fewer concurrent connections (--per-host 1), or add the "
         "monitoring host to the server's allow list."},
        {"tls.handshake-failed", "The TLS handshake failed", Severity::critical,
         "The TLS handshake (implicit TLS on 993/465, or after STARTTLS) did not complete. "
         "The phone cannot connect securely.",
         "Check the server's TLS configuration: certificate and key files, enabled protocol "
         "versions (TLS 1.2 or later) and ciphers."},
        {"submission.fallback-465", "Phones will send through port 465", Severity::info,
         "Port 587 does not give a working SMTP greeting, so a phone falls back to 465 "
         "(implicit TLS), which works. This is fine, but 587 with STARTTLS is what Apple's "
         "guide names first.",
         "Open submission on port 587 (STARTTLS and AUTH) if you want phones to use the "
         "guide's first choice."},
        {"submission.fallback-25", "Phones will send through port 25", Severity::warning,
         "Neither 587 nor 465 gives a working SMTP greeting, so a phone falls back to port "
         "25. Carriers and public Wi-Fi often block 25, and it is the least secure choice.",
         "Open submission on port 587 (STARTTLS, AUTH required) and/or 465 (implicit TLS) on "
         "the firewall and the gateway."},
        {"submission.unreachable", "Phones cannot send mail", Severity::critical,
         "None of the submission ports (587, 465, 25 in the phone's order) gives a working "
         "SMTP greeting: outgoing mail fails.",
         "Open port 587 (STARTTLS, AUTH required) on the firewall and the gateway, and make "
         "sure the MTA listens there."},
    };
    std::sort(c.begin(), c.end(),
              [](const FindingInfo& a, const FindingInfo& b) { return a.id < b.id; });
    return c;
  }();
  return catalog;
}

const FindingInfo* find_finding_info(std::string_view id) {
  const auto& c = finding_catalog();
  const auto it = std::lower_bound(c.begin(), c.end(), id,
                                   [](const FindingInfo& f, std::string_view v) { return f.id < v; });
  return it != c.end() && it->id == id ? &*it : nullptr;
}

Finding make_finding(std::string_view id, Severity severity, std::string message,
                     nlohmann::json evidence) {
  const FindingInfo* info = find_finding_info(id);
  if (info == nullptr) throw std::logic_error("finding id not in the catalog: " + std::string(id));
  Finding f;
  f.id = std::string(id);
  f.severity = severity;
  f.message = std::move(message);
  f.evidence = evidence.is_object() ? std::move(evidence) : nlohmann::json::object();
  f.remediation = std::string(info->remediation);
  return f;
}

Finding make_finding(std::string_view id, std::string message, nlohmann::json evidence) {
  const FindingInfo* info = find_finding_info(id);
  if (info == nullptr) throw std::logic_error("finding id not in the catalog: " + std::string(id));
  return make_finding(id, info->severity, std::move(message), std::move(evidence));
}

}  // namespace mailready::checks
