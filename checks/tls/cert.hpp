#pragma once
// Certificates and chains as mailready reports and judges them. describe() is the only
// function here that touches OpenSSL; everything else is a pure function over the parsed
// data, so the rules are unit-tested with hand-built certificates and fixed clocks.
//
// Rules implemented (each is one finding id, see checks/modules/findings.cpp):
//   RFC 5280 §6 path validation (as OpenSSL did it; we classify its verdict),
//   RFC 6125 §6.4 host name matching (without the CN fallback, as Apple does),
//   Apple HT210176 (iOS 13 / macOS 10.15 certificate requirements),
//   Apple HT211025 (398-day limit for publicly trusted certificates),
//   CA/Browser Forum Baseline Requirements §6.3.2 (maximum validity, ballot SC-081).

#include <openssl/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "checks/core/model.hpp"
#include "checks/tls/issue.hpp"
#include "checks/tls/session.hpp"  // so that this one header gives the whole tls API

namespace mailready::tls {

/// One certificate, as mailready reports it.
struct CertInfo {
  std::string subject, issuer;         ///< one-line RFC 2253 (XN_FLAG_RFC2253)
  std::string common_name;             ///< the subject's last (most specific) CN, UTF-8; "" if none
  std::vector<std::string> dns_names;  ///< subjectAltName dNSName, as written
  std::vector<std::string> ip_addresses;       ///< subjectAltName iPAddress, textual (inet_ntop)
  std::string serial;                          ///< upper-case hex, no separators
  std::int64_t not_before = 0, not_after = 0;  ///< Unix seconds; not_after is inclusive
  std::string key_type;  ///< "RSA", "RSA-PSS", "EC", "Ed25519", "Ed448", "DSA", ...
  int key_bits = 0;
  std::string signature_algorithm;  ///< OpenSSL long name, "sha256WithRSAEncryption"
  std::string signature_hash;       ///< "SHA256", "SHA1", "MD5", ...; "" for Ed25519 etc.
  std::string sha256_fingerprint;   ///< "AB:CD:..." upper-case hex
  bool is_ca = false;               ///< basicConstraints CA:TRUE
  bool self_issued = false;  ///< subject == issuer and, where checkable, self-signature verifies
  bool has_eku = false;      ///< has an extendedKeyUsage extension
  bool eku_server_auth = false;  ///< ... containing id-kp-serverAuth
  bool eku_any = false;          ///< ... containing anyExtendedKeyUsage
  std::string source;            ///< "server" (sent by the server) or "trust-store"
};

/// Reads every CertInfo field from `cert` (OpenSSL 3 APIs). Fields the certificate lacks
/// stay empty / zero. Throws std::invalid_argument for a null pointer.
CertInfo describe(X509* cert, std::string source);

/// The certificate as report evidence: every CertInfo field, with not_before / not_after
/// as RFC 3339 UTC strings (and as Unix seconds in not_before_unix / not_after_unix), plus
/// "days_left": whole days from `now` to not_after, rounded down (negative once expired).
nlohmann::json to_json(const CertInfo& cert, std::int64_t now);

/// "2026-03-15T00:00:00Z" for Unix seconds (proleptic Gregorian, UTC, any year).
std::string format_rfc3339(std::int64_t unix_seconds);

/// The validity period in days as Apple counts it for HT210176 / HT211025: a day is
/// 86,400 s and a part day is a whole day, over not_after - not_before (see cert.cpp for
/// why no second is added). 0 for a certificate whose not_after precedes not_before.
std::int64_t apple_validity_days(const CertInfo& cert);

/// The validity period in days as the CA/Browser Forum counts it (BR §1.6.1 and §6.3.2):
/// from not_before through not_after inclusive, so one second more than Apple's interval,
/// with a part day counted as a whole day.
std::int64_t cabf_validity_days(const CertInfo& cert);

/// What the TLS handshake learnt about the server's chain.
struct ChainInfo {
  std::vector<CertInfo> sent;      ///< as the server sent it, leaf first
  std::vector<CertInfo> verified;  ///< leaf → root as OpenSSL verified it (may be empty on failure)
  long verify_error = 0;           ///< SSL_get_verify_result: X509_V_OK or X509_V_ERR_*
  int verify_error_depth = -1;
  std::string verify_error_text;      ///< X509_verify_cert_error_string
  bool root_in_system_store = false;  ///< the verified root is publicly trusted (system store)
};

/// What the chain is judged against.
struct Policy {
  std::string host;      ///< the name the phone uses (what must match); "" skips the name check
  std::int64_t now = 0;  ///< Unix seconds (injected: tests pass fixed times)
  int warn_days = 30;    ///< --cert-warn-days
};

/// Judges a chain: trust (cert.untrusted, cert.self-signed, cert.incomplete-chain), dates
/// (cert.expired, cert.not-yet-valid, cert.expires-soon), the host name
/// (cert.hostname-mismatch), strength (cert.weak-key, cert.weak-signature), Apple's rules
/// (cert.apple-no-san, cert.apple-no-server-auth-eku, cert.apple-validity-too-long) and the
/// CA/B Forum's (cert.cabf-validity). A good chain yields no issues. A failed verification
/// always yields at least one critical issue. Issues come in that order; per-certificate
/// issues leaf first. Never throws for odd input (an empty chain is cert.untrusted).
std::vector<Issue> evaluate_chain(const ChainInfo& chain, const Policy& policy);

/// RFC 6125 §6.4 matching of `host` against the leaf's subjectAltName, as Apple does it:
/// dNSName only (never the CN), case-insensitive, one trailing dot ignored, a wildcard only
/// as the complete left-most label of a name with at least two more labels ("*.example.test"
/// matches "a.example.test", never "example.test", "a.b.example.test" or via "x*.example.test");
/// an IP address host (IPv4, IPv6, or "[IPv6]") matches iPAddress entries only.
bool hostname_matches(std::string_view host, const CertInfo& leaf);

/// Every finding id evaluate_chain and evaluate_session can return (for catalog tests).
const std::vector<std::string_view>& issue_ids();

}  // namespace mailready::tls
