// The one name->factory table (like mechtable in curl's lib/curl_sasl.c), in preference
// order, and the iPhone setting names.

#include "checks/proto/sasl/sasl.hpp"

#include <algorithm>
#include <cctype>

#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {

struct MechanismEntry {
  std::string_view name;
  std::unique_ptr<Mechanism> (*make)(const Credentials&);
};

// Strongest first. SCRAM proves both sides know the password without revealing it;
// the OAuth tokens are scoped and revocable; NTLMv2 and CRAM-MD5 keep the password off
// the wire but are offline-crackable from a capture; PLAIN and LOGIN send it as it is.
// DIGEST-MD5 (RFC 6331: historic) and GSSAPI are deliberately absent.
constexpr MechanismEntry kMechanisms[] = {
    {"SCRAM-SHA-256", [](const Credentials& c) { return make_scram(ScramHash::sha256, c); }},
    {"SCRAM-SHA-1", [](const Credentials& c) { return make_scram(ScramHash::sha1, c); }},
    {"OAUTHBEARER", make_oauthbearer},
    {"XOAUTH2", make_xoauth2},
    {"NTLM", [](const Credentials& c) { return make_ntlm(c); }},
    {"CRAM-MD5", make_cram_md5},
    {"PLAIN", make_plain},
    {"LOGIN", make_login},
};

/// Mechanism names are case-insensitive ASCII (RFC 4422 §3.1).
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::unique_ptr<Mechanism> make(std::string_view name, const Credentials& credentials) {
  for (const auto& entry : kMechanisms) {
    if (iequals(entry.name, name)) return entry.make(credentials);
  }
  return nullptr;
}

const std::vector<std::string_view>& supported() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& entry : kMechanisms) out.push_back(entry.name);
    return out;
  }();
  return names;
}

std::string iphone_setting(std::string_view mechanism) {
  // The choices under Mail > Account > Advanced > Authentication, and what each sends.
  struct Setting {
    std::string_view mechanism;
    std::string_view label;
  };
  static constexpr Setting kSettings[] = {
      {"PLAIN", "Password"},      {"LOGIN", "Password"},
      {"IMAP-LOGIN", "Password"}, {"CRAM-MD5", "MD5 Challenge-Response"},
      {"NTLM", "NTLM"},           {"DIGEST-MD5", "HTTP MD5 Digest"},
  };
  for (const auto& s : kSettings) {
    if (iequals(s.mechanism, mechanism)) return std::string(s.label);
  }
  return "";
}

std::string saslname(std::string_view name) {
  std::string out;
  for (const char ch : name) {
    if (ch == ',') {
      out += "=2C";
    } else if (ch == '=') {
      out += "=3D";
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace mailready::proto::sasl
