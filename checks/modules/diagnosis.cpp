#include "checks/modules/diagnosis.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

namespace mailready::checks {
namespace {

constexpr std::array<std::string_view, 7> path = {"dns",       "firewall",    "tls", "gateway",
                                                  "directory", "mail-server", "mta"};

int position(std::string_view hop) {
  const auto it = std::find(path.begin(), path.end(), hop);
  return it == path.end() ? static_cast<int>(path.size()) : static_cast<int>(it - path.begin());
}

bool starts(std::string_view s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

bool contains_ci(std::string haystack, std::string needle) {
  const auto lower = [](std::string& s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  lower(haystack);
  lower(needle);
  return haystack.find(needle) != std::string::npos;
}

/// A refused login, read from the server's words: "directory" when it could not check
/// the password (the directory did not answer), "mail-server" when it checked it but the
/// backend behind the gateway is unavailable, "directory" as well when it simply said no
/// (wrong credentials: the directory's answer).
std::string login_hop(const CheckResult& r) {
  const std::string reply = r.facts.value("reply", "");
  const std::string code = r.facts.value("code", "");
  // IMAP: [UNAVAILABLE] is "try later": the gateway could not reach what it needs.
  // Dovecot says "Temporary authentication failure" when its passdb (the directory) is
  // down, and "Account is temporarily unavailable" / proxy errors when the backend is.
  if (code == "UNAVAILABLE" || starts(code, "4.") || contains_ci(reply, "temporar")) {
    if (contains_ci(reply, "authentication failure") || contains_ci(reply, "auth")) {
      return "directory";
    }
    return "mail-server";
  }
  return "directory";
}

}  // namespace

std::string hop_of(const CheckResult& r, const Finding& f) {
  const std::string& id = f.id;
  if (starts(id, "dns.")) return "dns";
  if (starts(id, "port.")) return "firewall";
  if (starts(id, "tls.") || starts(id, "cert.")) return "tls";
  if (id == "submission.unreachable") {
    // Nothing open at all is the firewall; open but not speaking SMTP is the gateway.
    for (const auto& a : r.facts.value("attempts", nlohmann::json::array())) {
      if (a.value("state", "") == "open") return "gateway";
    }
    return "firewall";
  }
  if (starts(id, "submission.")) return "firewall";
  if (starts(id, "protocol.") || id == "rate-limited") return "gateway";
  if (id == "auth.plaintext-before-tls" || id == "auth.no-iphone-mechanism" ||
      id == "auth.server-unverified") {
    return "gateway";
  }
  if (id == "auth.failed") return login_hop(r);
  // Greeting and TLS worked, the login got no answer: see hop_of_error's timeouts.
  if (id == "auth.no-answer") return "firewall";
  if (id == "auth.accepts-bad-password") return "directory";
  if (starts(id, "imap.")) return "mail-server";
  if (starts(id, "roundtrip.") || starts(id, "smtp.")) return "mta";
  return {};
}

std::string hop_of_error(const CheckResult& r) {
  const std::string& c = r.check;
  if (c == "dns.resolve") return "dns";
  if (c == "ports.reachability") return "firewall";
  if (c == "tls.handshake" || c == "cert.chain") return "tls";
  // Greeting and TLS worked (the login check only runs then), but the login never got an
  // answer: the gateway is waiting on a backend whose packets the inner firewall drops
  // (Dovecot's proxy only gives up after 30 s). A session that is closed on us instead
  // points at the mail server behind the gateway.
  if (starts(c, "auth.") || starts(c, "imap.mailbox")) {
    if (contains_ci(r.error, "timeout") || contains_ci(r.error, "no complete line")) return "firewall";
    if (contains_ci(r.error, "closed")) return "mail-server";
  }
  if (starts(c, "roundtrip.") || starts(c, "smtp.auth") || starts(c, "smtp.open")) return "mta";
  return "gateway";
}

std::string_view hop_advice(std::string_view hop) {
  if (hop == "dns") {
    return "Make the mail host name resolve from the networks the phones use: public DNS "
           "with the address of the firewall in front of the gateway.";
  }
  if (hop == "firewall") {
    return "Open the firewall to the proxy / secure gateway in the DMZ for IMAP over TLS on "
           "993 and for sending on 587 (the phone falls back to 465, then 25), and the firewall "
           "between the DMZ and the inside for what the gateway needs (IMAP and SMTP to the "
           "mail server, LDAP to the directory).";
  }
  if (hop == "tls") {
    return "Install on the gateway a certificate chain that leads to a root the iPhone trusts, "
           "for the host name the phones use, and offer TLS 1.2 or later.";
  }
  if (hop == "gateway") {
    return "Check the proxy / secure gateway in the DMZ: it must answer IMAP over TLS on 993 "
           "and SMTP on 587, offer an authentication the iPhone supports, and pass users on to "
           "the mail server.";
  }
  if (hop == "directory") {
    return "Check the user's credentials and the directory service the gateway authenticates "
           "against: that it runs, that the gateway reaches it, and that the account exists.";
  }
  if (hop == "mail-server") {
    return "Check the mail server behind the gateway: that it runs, that the gateway reaches "
           "it through the inner firewall, and that the mailbox has a Sent folder.";
  }
  if (hop == "mta") {
    return "Check the MTA: submission must require authentication, it must not relay for "
           "others, and it must deliver the mail it accepts.";
  }
  return "";
}

void diagnose(Report& report) {
  report.diagnosis.reset();
  int best = 2 * static_cast<int>(path.size()) + 2;  // past every warning
  for (auto& r : report.results) {
    std::string hop;
    const Finding* worst = nullptr;
    for (const auto& f : r.findings) {
      if (f.severity == Severity::info) continue;
      if (worst == nullptr || f.severity > worst->severity) worst = &f;
    }
    if (worst != nullptr) {
      hop = hop_of(r, *worst);
    } else if (r.status == Status::error) {
      hop = hop_of_error(r);
    }
    if (hop.empty()) continue;
    r.facts["hop"] = hop;
    // The first broken hop is the earliest along the path with a critical finding or an
    // error; warnings count only when nothing is broken.
    const bool broken = r.status == Status::fail || r.status == Status::error;
    const int at = position(hop) + (broken ? 0 : static_cast<int>(path.size()) + 1);
    if (at < best) {
      best = at;
      Diagnosis d;
      d.hop = hop;
      d.check = r.check;
      d.where = r.where();
      d.finding = worst != nullptr ? worst->id : "";
      d.message = worst != nullptr ? worst->message : r.error;
      d.advice = std::string(hop_advice(hop));
      report.diagnosis = d;
    }
  }
}

}  // namespace mailready::checks
