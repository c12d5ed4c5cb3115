#include "checks/tls/session.hpp"

#include <fmt/format.h>

namespace mailready::tls {
namespace {

// Apple's "iPhone and IMAP" guide: at least 128-bit ciphers.
constexpr int minimum_cipher_bits = 128;

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

}  // namespace

std::vector<Issue> evaluate_session(const SessionFacts& facts, bool accepts_legacy,
                                    std::vector<std::string> legacy_versions,
                                    bool tls13_supported) {
  std::vector<Issue> out;
  const nlohmann::json session = {
      {"protocol", facts.protocol}, {"cipher", facts.cipher}, {"bits", facts.bits}};

  if (!facts.cipher.empty() && facts.bits < minimum_cipher_bits) {
    nlohmann::json ev = session;
    ev["minimum_bits"] = minimum_cipher_bits;
    out.push_back(Issue{"tls.weak-cipher", Severity::critical,
                        fmt::format("The server negotiated {} with {}, a {}-bit cipher; at least "
                                    "{} bits are required",
                                    facts.cipher, facts.protocol, facts.bits, minimum_cipher_bits),
                        std::move(ev)});
  }

  if (accepts_legacy || !legacy_versions.empty()) {
    const std::string versions =
        legacy_versions.empty() ? std::string("TLS 1.0/1.1") : joined(legacy_versions);
    out.push_back(Issue{"tls.legacy-protocol",
                        Severity::warning,
                        fmt::format("The server accepts {} (deprecated by RFC 8996): "
                                    "disable them once no old clients need them",
                                    versions),
                        {{"legacy_versions", legacy_versions}}});
  }

  if (!tls13_supported && facts.protocol != "TLSv1.3") {
    out.push_back(Issue{"tls.no-tls13", Severity::info,
                        fmt::format("The server does not support TLS 1.3 (negotiated {})",
                                    facts.protocol.empty() ? "nothing" : facts.protocol),
                        session});
  }
  return out;
}

}  // namespace mailready::tls
