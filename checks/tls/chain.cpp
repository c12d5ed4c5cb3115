// evaluate_chain() and hostname_matches(): the rules a certificate chain is judged by.
// Pure functions over CertInfo / ChainInfo; the clock comes in through Policy::now.

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <optional>

#include "checks/tls/cert.hpp"
#include "checks/tls/civil_time.hpp"

namespace mailready::tls {
namespace {

// Apple HT210176: certificates issued on or after 2019-07-01 (iOS 13, macOS 10.15).
constexpr std::int64_t apple_2019 = unix_time(2019, 7, 1);
// Apple HT211025: publicly trusted certificates issued on or after 2020-09-01.
constexpr std::int64_t apple_2020 = unix_time(2020, 9, 1);
constexpr std::int64_t apple_max_days = 825;
constexpr std::int64_t apple_public_max_days = 398;

// CA/Browser Forum BR §6.3.2 (ballot SC-081): maximum validity of subscriber certificates
// by issuance date, latest step first.
struct CabfStep {
  std::int64_t from;
  std::int64_t max_days;
};
constexpr std::array<CabfStep, 3> cabf_steps = {{
    {unix_time(2029, 3, 15), 47},
    {unix_time(2027, 3, 15), 100},
    {unix_time(2026, 3, 15), 200},
}};

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Lower-case, one trailing dot removed: the form names are compared in.
std::string normalize_name(std::string_view s) {
  std::string out = lower_ascii(s);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// An IP address in binary form (4 or 16 bytes), or nothing if `text` is not one.
// Accepts "[v6]" as written in URLs.
std::optional<std::string> parse_ip(std::string_view text) {
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return std::nullopt;
}

// RFC 6125 §6.4.3 as Apple and the browsers apply it: "*" is allowed only as the whole
// left-most label and matches exactly one non-empty label; the rest of the pattern must
// have at least two labels, so "*.test" matches nothing. Partial-label wildcards
// ("x*.example.test", "*x.example.test") and wildcards elsewhere never match.
bool dns_name_matches(const std::string& host, const std::string& pattern) {
  if (pattern.empty()) return false;
  if (pattern.compare(0, 2, "*.") != 0) return pattern == host;
  const std::string rest = pattern.substr(2);
  if (rest.find('*') != std::string::npos) return false;
  const auto rest_dot = rest.find('.');
  if (rest_dot == std::string::npos || rest_dot == 0 || rest.back() == '.') return false;
  const auto host_dot = host.find('.');
  if (host_dot == std::string::npos || host_dot == 0) return false;
  return host.compare(host_dot + 1, std::string::npos, rest) == 0;
}

// --- naming certificates in messages -------------------------------------------------

std::string name_of(const CertInfo& c) {
  if (!c.common_name.empty()) return c.common_name;
  if (!c.dns_names.empty()) return c.dns_names.front();
  if (!c.ip_addresses.empty()) return c.ip_addresses.front();
  if (!c.subject.empty()) return c.subject;
  return "(unnamed)";
}

// A judged chain: the certificates in path order (leaf first) and where the root is.
struct Path {
  std::vector<const CertInfo*> certs;
  bool has_root = false;  // certs.back() is the root (trust anchor), exempt from some rules

  bool is_root(std::size_t i) const { return has_root && i + 1 == certs.size(); }
  std::string role(std::size_t i) const {
    if (i == 0) return "leaf";
    return is_root(i) ? "root" : "intermediate";
  }
  std::string label(std::size_t i) const {
    return fmt::format("{} certificate \"{}\"", role(i), name_of(*certs[i]));
  }
};

// The chain the server sent, put in order: from the leaf, each next certificate is a sent
// certificate whose subject is the current one's issuer. Unrelated and duplicate
// certificates are left out; a self-issued certificate ends the path.
std::vector<const CertInfo*> sent_path(const std::vector<CertInfo>& sent) {
  std::vector<const CertInfo*> path;
  if (sent.empty()) return path;
  path.push_back(&sent.front());
  std::vector<bool> used(sent.size(), false);
  used[0] = true;
  while (!path.back()->self_issued && path.size() < sent.size()) {
    const CertInfo& cur = *path.back();
    const CertInfo* next = nullptr;
    for (std::size_t i = 0; i < sent.size() && next == nullptr; ++i) {
      if (!used[i] && !sent[i].subject.empty() && sent[i].subject == cur.issuer) {
        used[i] = true;
        next = &sent[i];
      }
    }
    if (next == nullptr) break;
    path.push_back(next);
  }
  return path;
}

// What the date, strength and Apple rules look at. When OpenSSL built a chain, that chain
// (it is what a client uses; a sent certificate outside it, such as an expired cross-sign,
// does not matter). Otherwise the sent chain put in order.
Path judged_path(const ChainInfo& chain) {
  Path p;
  if (!chain.verified.empty()) {
    for (const CertInfo& c : chain.verified) p.certs.push_back(&c);
    // The last certificate of a successful verification is the trust anchor, self-signed
    // or not; of a partial one only if it is self-issued.
    p.has_root =
        p.certs.size() > 1 && (chain.verify_error == X509_V_OK || p.certs.back()->self_issued);
  } else {
    p.certs = sent_path(chain.sent);
    p.has_root = p.certs.size() > 1 && p.certs.back()->self_issued;
  }
  return p;
}

nlohmann::json brief_json(const CertInfo& c) {
  return {{"subject", c.subject},
          {"issuer", c.issuer},
          {"is_ca", c.is_ca},
          {"self_issued", c.self_issued},
          {"sha256_fingerprint", c.sha256_fingerprint},
          {"source", c.source}};
}

nlohmann::json cert_evidence(const Path& p, std::size_t i, std::int64_t now) {
  return {{"depth", i}, {"role", p.role(i)}, {"certificate", to_json(*p.certs[i], now)}};
}

Issue make_issue(std::string id, Severity severity, std::string message, nlohmann::json evidence) {
  return Issue{std::move(id), severity, std::move(message), std::move(evidence)};
}

std::string plural_days(std::int64_t n) {
  return fmt::format("{} day{}", n, n == 1 ? "" : "s");
}

// --- trust ------------------------------------------------------------------------------

nlohmann::json verify_evidence(const ChainInfo& chain) {
  nlohmann::json sent = nlohmann::json::array();
  for (const CertInfo& c : chain.sent) sent.push_back(brief_json(c));
  return {{"verify_error", chain.verify_error},
          {"verify_error_depth", chain.verify_error_depth},
          {"verify_error_text", chain.verify_error_text},
          {"sent_chain", sent}};
}

bool is_issuer_missing(long e) {
  return e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
         e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
         e == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

bool is_self_signed_error(long e) {
  return e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
}

// Verification errors that a more specific rule below reports on its own (dates, key and
// hash strength, the host name). They become cert.untrusted only if that rule found
// nothing, so a failed verification never passes silently.
bool is_covered_elsewhere(long e) {
  switch (e) {
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return true;
    default: return false;
  }
}

// Why the chain does not lead to a trusted root, as one of three findings.
//
//   cert.self-signed      the leaf is its own issuer (OpenSSL error 18, or 19 with a
//                         self-issued leaf): there is no CA at all.
//   cert.incomplete-chain the server sent no certificate that issued its last certificate,
//                         and that last certificate is not a CA. (Errors 2, 20, 21: the
//                         issuer is missing; "last" is the end of the sent chain followed
//                         from the leaf, so unrelated extra certificates do not count.) The
//                         server must send the intermediates; no client store has them.
//   cert.untrusted        the chain ends at a CA the client does not trust: a self-signed
//                         root not in the store (error 19), or a CA certificate whose
//                         issuer is unknown here (which may also be a public intermediate
//                         the server forgot; the message says so), or any other failure.
//
// Also cert.incomplete-chain: verification succeeded against a publicly trusted root only
// because the local store supplied an intermediate the server did not send (no sent
// certificate has its subject). Phones hold roots, not intermediates, so they fail where
// this machine succeeded. Not applied to private roots from --ca-file: whoever installs
// the root on the phones may install the intermediates with it.
std::optional<Issue> trust_issue(const ChainInfo& chain, const Path& path) {
  const long err = chain.verify_error;
  if (err == X509_V_OK) {
    if (!chain.root_in_system_store || chain.verified.size() < 3) return std::nullopt;
    for (std::size_t i = 1; i + 1 < chain.verified.size(); ++i) {
      const CertInfo& ca = chain.verified[i];
      const bool sent = std::any_of(chain.sent.begin(), chain.sent.end(),
                                    [&](const CertInfo& s) { return s.subject == ca.subject; });
      if (sent) continue;
      nlohmann::json ev = verify_evidence(chain);
      ev["missing"] = brief_json(ca);
      ev["depth"] = i;
      return make_issue("cert.incomplete-chain", Severity::critical,
                        fmt::format("The server does not send intermediate certificate \"{}\" "
                                    "(verification here found it in the local store; phones "
                                    "will not): the server must send it after its leaf",
                                    name_of(ca)),
                        std::move(ev));
    }
    return std::nullopt;
  }

  const CertInfo& leaf = *path.certs.front();
  nlohmann::json ev = verify_evidence(chain);
  if (err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
      ((is_self_signed_error(err) || is_issuer_missing(err)) && leaf.self_issued)) {
    return make_issue("cert.self-signed", Severity::critical,
                      fmt::format("The server's certificate \"{}\" is self-signed: no phone "
                                  "trusts it unless it is installed by a configuration profile",
                                  name_of(leaf)),
                      std::move(ev));
  }
  if (is_issuer_missing(err) && !chain.sent.empty()) {
    const std::vector<const CertInfo*> sent = sent_path(chain.sent);
    const CertInfo& last = *sent.back();
    ev["last_sent"] = brief_json(last);
    if (!last.is_ca && !last.self_issued) {
      return make_issue(
          "cert.incomplete-chain", Severity::critical,
          fmt::format("Incomplete chain: the server sent no certificate that issued \"{}\" "
                      "(issuer {}), and that certificate is not a CA: the server must send the "
                      "intermediate certificates after its leaf",
                      name_of(last), last.issuer),
          std::move(ev));
    }
    return make_issue(
        "cert.untrusted", Severity::critical,
        fmt::format("Untrusted chain: it ends at CA \"{}\", whose issuer {} is not a trusted "
                    "root here (if that issuer is an intermediate, the server must send it too)",
                    name_of(last), last.issuer),
        std::move(ev));
  }
  if (err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN) {
    const CertInfo& root = *path.certs.back();
    return make_issue("cert.untrusted", Severity::critical,
                      fmt::format("Untrusted chain: it ends at root \"{}\", which is not a "
                                  "trusted root (OpenSSL: {})",
                                  name_of(root), chain.verify_error_text),
                      std::move(ev));
  }
  return make_issue(
      "cert.untrusted", Severity::critical,
      fmt::format("The chain does not verify: {} (error {} at depth {})",
                  chain.verify_error_text.empty() ? "unknown error" : chain.verify_error_text, err,
                  chain.verify_error_depth),
      std::move(ev));
}

// --- dates ------------------------------------------------------------------------------

void date_issues(const Path& p, const Policy& policy, std::vector<Issue>& out) {
  const std::int64_t now = policy.now;
  // OpenSSL's rule (X509_cmp_time): valid from not_before through not_after inclusive.
  for (std::size_t i = 0; i < p.certs.size(); ++i) {
    const CertInfo& c = *p.certs[i];
    if (c.not_after >= now) continue;
    const std::int64_t ago = floor_div(now - c.not_after, seconds_per_day);
    out.push_back(make_issue("cert.expired", Severity::critical,
                             fmt::format("The {} expired on {} ({} ago)", p.label(i),
                                         format_rfc3339(c.not_after), plural_days(ago)),
                             cert_evidence(p, i, now)));
  }
  for (std::size_t i = 0; i < p.certs.size(); ++i) {
    const CertInfo& c = *p.certs[i];
    if (c.not_before <= now) continue;
    const std::int64_t in = ceil_div(c.not_before - now, seconds_per_day);
    out.push_back(make_issue("cert.not-yet-valid", Severity::critical,
                             fmt::format("The {} is not valid until {} (in {}); check the "
                                         "server's and the CA's clocks",
                                         p.label(i), format_rfc3339(c.not_before), plural_days(in)),
                             cert_evidence(p, i, now)));
  }
  if (policy.warn_days <= 0) return;
  const std::int64_t window = std::int64_t{policy.warn_days} * seconds_per_day;
  for (std::size_t i = 0; i < p.certs.size(); ++i) {
    const CertInfo& c = *p.certs[i];
    if (c.not_after < now || c.not_before > now || c.not_after - now > window) continue;
    const std::int64_t left = floor_div(c.not_after - now, seconds_per_day);
    nlohmann::json ev = cert_evidence(p, i, now);
    ev["warn_days"] = policy.warn_days;
    out.push_back(make_issue(
        "cert.expires-soon", Severity::warning,
        fmt::format("The {} expires on {} ({} left; warning at {})", p.label(i),
                    format_rfc3339(c.not_after), plural_days(left), plural_days(policy.warn_days)),
        std::move(ev)));
  }
}

// --- names ------------------------------------------------------------------------------

std::string joined(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::string out;
  for (const auto* v : {&a, &b}) {
    for (const std::string& s : *v) {
      if (!out.empty()) out += ", ";
      out += s;
    }
  }
  return out;
}

void name_issues(const Path& p, const Policy& policy, std::vector<Issue>& out) {
  const CertInfo& leaf = *p.certs.front();
  const bool no_san = leaf.dns_names.empty() && leaf.ip_addresses.empty();
  nlohmann::json names = {{"host", policy.host},
                          {"dns_names", leaf.dns_names},
                          {"ip_addresses", leaf.ip_addresses},
                          {"common_name", leaf.common_name},
                          {"subject", leaf.subject}};
  if (!policy.host.empty() && !hostname_matches(policy.host, leaf)) {
    const std::string msg =
        no_san ? fmt::format(
                     "The leaf certificate \"{}\" has no subjectAltName, so it is valid "
                     "for no name at all: phones ignore the CN (\"{}\") and reject it "
                     "for {}",
                     name_of(leaf), leaf.common_name, policy.host)
               : fmt::format("The leaf certificate \"{}\" is not valid for {}: it names {}",
                             name_of(leaf), policy.host, joined(leaf.dns_names, leaf.ip_addresses));
    out.push_back(make_issue("cert.hostname-mismatch", Severity::critical, msg, names));
  }
  if (no_san) {
    out.push_back(make_issue(
        "cert.apple-no-san", Severity::critical,
        fmt::format("The leaf certificate \"{}\" has no subjectAltName; Apple requires the "
                    "server's names there (HT210176) and ignores the CN",
                    name_of(leaf)),
        names));
  }
}

// --- strength -----------------------------------------------------------------------------

bool is_rsa(const std::string& key_type) {
  const std::string k = lower_ascii(key_type);
  return k == "rsa" || k == "rsa-pss" || k == "rsassa-pss";
}

// SHA-1 and MD5 (and their ancestors). Falls back to the algorithm's name when the hash
// was not recorded.
bool is_weak_hash(const CertInfo& c) {
  const std::string h = lower_ascii(c.signature_hash);
  if (!h.empty()) return h == "sha1" || h == "sha-1" || h == "md5" || h == "md4" || h == "md2";
  const std::string a = lower_ascii(c.signature_algorithm);
  return a.find("sha1") != std::string::npos || a.find("sha-1") != std::string::npos ||
         a.find("md5") != std::string::npos || a.find("md2") != std::string::npos ||
         a.find("md4") != std::string::npos;
}

// Apple HT210176 covers "TLS server certificates and issuing CAs": the leaf and every
// intermediate. The root is not checked: its key and self-signature are not verified by
// clients (a trust anchor is trusted by being in the store), and Apple removes weak roots
// from the store instead. A single self-signed leaf is a leaf, and is checked.
void strength_issues(const Path& p, std::int64_t now, std::vector<Issue>& out) {
  for (std::size_t i = 0; i < p.certs.size(); ++i) {
    if (p.is_root(i)) continue;
    const CertInfo& c = *p.certs[i];
    if (c.key_bits <= 0) continue;
    const bool rsa = is_rsa(c.key_type);
    const bool ec = lower_ascii(c.key_type) == "ec";
    const int minimum = rsa ? 2048 : 256;
    if ((rsa || ec) && c.key_bits < minimum) {
      nlohmann::json ev = cert_evidence(p, i, now);
      ev["minimum_bits"] = minimum;
      out.push_back(make_issue("cert.weak-key", Severity::critical,
                               fmt::format("The {} has a {}-bit {} key; Apple requires at least "
                                           "{} bits (HT210176)",
                                           p.label(i), c.key_bits, c.key_type, minimum),
                               std::move(ev)));
    }
  }
  for (std::size_t i = 0; i < p.certs.size(); ++i) {
    if (p.is_root(i)) continue;
    const CertInfo& c = *p.certs[i];
    if (!is_weak_hash(c)) continue;
    out.push_back(make_issue(
        "cert.weak-signature", Severity::critical,
        fmt::format("The {} is signed with {} ({}); Apple requires a SHA-2 signature (HT210176)",
                    p.label(i), c.signature_hash.empty() ? "a weak hash" : c.signature_hash,
                    c.signature_algorithm),
        cert_evidence(p, i, now)));
  }
}

// --- Apple's and the CA/B Forum's leaf rules ---------------------------------------------

// HT210176: a leaf issued on or after 2019-07-01 must have an EKU extension containing
// id-kp-serverAuth. anyExtendedKeyUsage does not count: the requirement names the
// serverAuth OID itself, so we read "anyEKU but no serverAuth" as not meeting it (an anyEKU
// leaf also breaks the Baseline Requirements, which forbid anyEKU in server certificates).
void eku_issue(const Path& p, std::int64_t now, std::vector<Issue>& out) {
  const CertInfo& leaf = *p.certs.front();
  if (leaf.not_before < apple_2019 || leaf.eku_server_auth) return;
  std::string what;
  if (!leaf.has_eku) {
    what = "has no extended key usage extension";
  } else if (leaf.eku_any) {
    what = "has anyExtendedKeyUsage but not id-kp-serverAuth in its extended key usage";
  } else {
    what = "has an extended key usage without id-kp-serverAuth";
  }
  out.push_back(make_issue("cert.apple-no-server-auth-eku", Severity::critical,
                           fmt::format("The leaf certificate \"{}\" (issued {}) {}; Apple requires "
                                       "serverAuth for certificates issued since 2019-07-01 "
                                       "(HT210176)",
                                       name_of(leaf), format_rfc3339(leaf.not_before), what),
                           cert_evidence(p, 0, now)));
}

// HT210176: at most 825 days for leaves issued on or after 2019-07-01. HT211025: at most
// 398 days for leaves issued on or after 2020-09-01 that chain to a root in Apple's
// store; roots the user or the MDM installed are exempt. Days per apple_validity_days.
void validity_issues(const ChainInfo& chain, const Path& p, std::int64_t now,
                     std::vector<Issue>& out) {
  const CertInfo& leaf = *p.certs.front();
  if (leaf.not_before >= apple_2019) {
    const bool public_rule = leaf.not_before >= apple_2020 && chain.root_in_system_store;
    const std::int64_t limit = public_rule ? apple_public_max_days : apple_max_days;
    const std::int64_t days = apple_validity_days(leaf);
    if (days > limit) {
      nlohmann::json ev = cert_evidence(p, 0, now);
      ev["validity_days"] = days;
      ev["max_days"] = limit;
      ev["publicly_trusted"] = chain.root_in_system_store;
      out.push_back(make_issue(
          "cert.apple-validity-too-long", Severity::critical,
          fmt::format("The leaf certificate \"{}\" is valid for {} days ({} to {}); Apple "
                      "accepts at most {} days for {} (HT{})",
                      name_of(leaf), days, format_rfc3339(leaf.not_before),
                      format_rfc3339(leaf.not_after), limit,
                      public_rule ? "publicly trusted certificates issued since 2020-09-01"
                                  : "certificates issued since 2019-07-01",
                      public_rule ? "211025" : "210176"),
          std::move(ev)));
    }
  }

  if (!chain.root_in_system_store) return;
  for (const CabfStep& step : cabf_steps) {
    if (leaf.not_before < step.from) continue;
    const std::int64_t days = cabf_validity_days(leaf);
    if (days > step.max_days) {
      nlohmann::json ev = cert_evidence(p, 0, now);
      ev["validity_days"] = days;
      ev["max_days"] = step.max_days;
      ev["rule_from"] = format_rfc3339(step.from);
      out.push_back(make_issue(
          "cert.cabf-validity", Severity::info,
          fmt::format("The leaf certificate \"{}\" is valid for {} days (counted through "
                      "notAfter inclusive); the CA/Browser Forum allows at most {} days for "
                      "certificates issued since {}",
                      name_of(leaf), days, step.max_days, format_rfc3339(step.from).substr(0, 10)),
          std::move(ev)));
    }
    break;  // only the latest step that applies
  }
}

}  // namespace

bool hostname_matches(std::string_view host, const CertInfo& leaf) {
  const std::string h = normalize_name(host);
  if (h.empty()) return false;
  if (const auto ip = parse_ip(h)) {
    return std::any_of(leaf.ip_addresses.begin(), leaf.ip_addresses.end(),
                       [&](const std::string& a) { return parse_ip(a) == ip; });
  }
  if (h.find('*') != std::string::npos) return false;
  return std::any_of(leaf.dns_names.begin(), leaf.dns_names.end(),
                     [&](const std::string& n) { return dns_name_matches(h, normalize_name(n)); });
}

std::vector<Issue> evaluate_chain(const ChainInfo& chain, const Policy& policy) {
  std::vector<Issue> out;
  const Path path = judged_path(chain);
  if (path.certs.empty()) {
    nlohmann::json ev = verify_evidence(chain);
    out.push_back(make_issue("cert.untrusted", Severity::critical,
                             "The server presented no certificate", std::move(ev)));
    return out;
  }

  // 1. Trust: why the chain does not lead to a trusted root (at most one issue).
  std::optional<Issue> trust;
  if (!is_covered_elsewhere(chain.verify_error)) trust = trust_issue(chain, path);
  if (trust) out.push_back(std::move(*trust));

  // 2. Dates, 3. names, 4. strength, 5. Apple's and the CA/B Forum's leaf rules.
  const std::size_t before = out.size();
  date_issues(path, policy, out);
  name_issues(path, policy, out);
  strength_issues(path, policy.now, out);
  eku_issue(path, policy.now, out);
  validity_issues(chain, path, policy.now, out);

  // A covered verification failure that no rule above explained with a critical issue
  // (e.g. expired by a clock other than ours, or a key size OpenSSL's security level
  // rejects but our rules let pass): report it as it is, a failed chain never passes.
  const bool failed = chain.verify_error != X509_V_OK;
  const bool critical_found =
      std::any_of(out.begin() + static_cast<std::ptrdiff_t>(before), out.end(),
                  [](const Issue& i) { return i.severity == Severity::critical; });
  if (failed && is_covered_elsewhere(chain.verify_error) && !critical_found) {
    out.insert(out.begin(),
               make_issue("cert.untrusted", Severity::critical,
                          fmt::format("The chain does not verify: {} (error {} at depth {})",
                                      chain.verify_error_text.empty() ? "unknown error"
                                                                      : chain.verify_error_text,
                                      chain.verify_error, chain.verify_error_depth),
                          verify_evidence(chain)));
  }
  return out;
}

const std::vector<std::string_view>& issue_ids() {
  static const std::vector<std::string_view> ids = {
      "cert.untrusted",
      "cert.self-signed",
      "cert.incomplete-chain",
      "cert.expired",
      "cert.not-yet-valid",
      "cert.expires-soon",
      "cert.hostname-mismatch",
      "cert.weak-key",
      "cert.weak-signature",
      "cert.apple-no-san",
      "cert.apple-no-server-auth-eku",
      "cert.apple-validity-too-long",
      "cert.cabf-validity",
      "tls.weak-cipher",
      "tls.legacy-protocol",
      "tls.no-tls13",
  };
  return ids;
}

}  // namespace mailready::tls
