// describe(): one X509 into a CertInfo, with OpenSSL 3 APIs; to_json() and the validity
// arithmetic. The chain rules are in chain.cpp.

#include "checks/tls/cert.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "checks/tls/civil_time.hpp"

namespace mailready::tls {
namespace {

// Owners for what OpenSSL hands back: each frees with its own function.
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
struct EkuFree {
  void operator()(EXTENDED_KEY_USAGE* e) const { EXTENDED_KEY_USAGE_free(e); }
};
struct BasicConstraintsFree {
  void operator()(BASIC_CONSTRAINTS* b) const { BASIC_CONSTRAINTS_free(b); }
};
struct OpensslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};

// Certificate strings come from the server and end up in JSON, which must be valid
// UTF-8 (nlohmann::json::dump throws otherwise). Valid printable UTF-8 passes through;
// control characters and bytes that are not valid UTF-8 become "\xNN".
std::string sanitize(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(in[i]); };
  std::size_t i = 0;
  while (i < in.size()) {
    const unsigned char c = byte(i);
    std::size_t len = 0;
    if (c >= 0x20 && c < 0x7f) {
      len = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
    }
    bool ok = len > 0 && i + len <= in.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (byte(i + k) & 0xc0) == 0x80;
    // Reject overlong forms, surrogates and code points above U+10FFFF.
    if (ok && len == 3) {
      const unsigned char c1 = byte(i + 1);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      const unsigned char c1 = byte(i + 1);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += fmt::format("\\x{:02X}", c);
      ++i;
    }
  }
  return out;
}

std::string asn1_string(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* data = ASN1_STRING_get0_data(s);
  const int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
}

std::string name_rfc2253(const X509_NAME* name) {
  if (name == nullptr) return {};
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  // BIO_get_mem_data is a macro with a C cast; this is what it expands to.
  char* data = nullptr;
  const long len = BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, &data);
  if (data == nullptr || len <= 0) return {};
  return sanitize(std::string_view(data, static_cast<std::size_t>(len)));
}

// The last CN is the most specific one (RFC 6125 §6.4.4 speaks of "the" CN; certificates
// with several are rare and the last is what OpenSSL's own CN fallback picks).
std::string common_name(const X509_NAME* name) {
  if (name == nullptr) return {};
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    last = i;
  }
  if (last < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  std::unique_ptr<unsigned char, OpensslFree> owner(utf8);
  if (len < 0 || utf8 == nullptr) return sanitize(asn1_string(data));
  return sanitize(
      std::string_view(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len)));
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
  const std::string raw = asn1_string(ip);
  char buf[INET6_ADDRSTRLEN] = {};
  if (raw.size() == 4 && inet_ntop(AF_INET, raw.data(), buf, sizeof buf) != nullptr) return buf;
  if (raw.size() == 16 && inet_ntop(AF_INET6, raw.data(), buf, sizeof buf) != nullptr) return buf;
  // Not an address (a name constraint's address/mask has 8 or 32 bytes; anything else is
  // malformed): keep it visible in the evidence, it can never match a host.
  std::string hex = "invalid:";
  for (const char c : raw) hex += fmt::format("{:02X}", static_cast<unsigned char>(c));
  return hex;
}

void read_subject_alt_names(X509* cert, CertInfo& out) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn == nullptr) continue;
    if (gn->type == GEN_DNS) {
      out.dns_names.push_back(sanitize(asn1_string(gn->d.dNSName)));
    } else if (gn->type == GEN_IPADD) {
      out.ip_addresses.push_back(ip_text(gn->d.iPAddress));
    }
  }
}

std::string serial_hex(const X509* cert) {
  std::unique_ptr<BIGNUM, BnFree> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return {};
  std::unique_ptr<char, OpensslFree> hex(BN_bn2hex(bn.get()));  // upper-case already
  return hex ? std::string(hex.get()) : std::string();
}

std::int64_t unix_seconds(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return unix_time(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void read_key(X509* cert, CertInfo& out) {
  EVP_PKEY* key = X509_get0_pubkey(cert);  // not owned
  if (key == nullptr) {
    // A key algorithm OpenSSL cannot decode: name it by the certificate's OID.
    const X509_PUBKEY* pub = X509_get_X509_PUBKEY(cert);
    ASN1_OBJECT* alg = nullptr;
    if (pub != nullptr && X509_PUBKEY_get0_param(&alg, nullptr, nullptr, nullptr, pub) == 1) {
      out.key_type = OBJ_nid2sn(OBJ_obj2nid(alg));
    }
    return;
  }
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: out.key_type = "RSA"; break;
    case EVP_PKEY_RSA_PSS: out.key_type = "RSA-PSS"; break;
    case EVP_PKEY_EC: out.key_type = "EC"; break;
    case EVP_PKEY_ED25519: out.key_type = "Ed25519"; break;
    case EVP_PKEY_ED448: out.key_type = "Ed448"; break;
    case EVP_PKEY_DSA: out.key_type = "DSA"; break;
    default: {
      const char* name = EVP_PKEY_get0_type_name(key);
      out.key_type = name != nullptr ? name : "unknown";
    }
  }
  out.key_bits = EVP_PKEY_get_bits(key);
}

void read_signature(X509* cert, CertInfo& out) {
  const int sig_nid = X509_get_signature_nid(cert);
  if (sig_nid != NID_undef) out.signature_algorithm = OBJ_nid2ln(sig_nid);
  // X509_get_signature_info also reads the hash inside RSA-PSS parameters, which the
  // signature OID alone does not name.
  int md_nid = NID_undef;
  int pk_nid = NID_undef;
  if (X509_get_signature_info(cert, &md_nid, &pk_nid, nullptr, nullptr) != 1) {
    md_nid = NID_undef;
    if (OBJ_find_sigid_algs(sig_nid, &md_nid, &pk_nid) != 1) md_nid = NID_undef;
  }
  if (md_nid != NID_undef) out.signature_hash = OBJ_nid2sn(md_nid);  // "SHA256", "SHA1", "MD5"
}

std::string sha256_fingerprint(const X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out += ':';
    out += fmt::format("{:02X}", md[i]);
  }
  return out;
}

void read_extensions(X509* cert, CertInfo& out) {
  std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsFree> bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert, NID_basic_constraints, nullptr, nullptr)));
  out.is_ca = bc && bc->ca != 0;

  // has_eku is "the extension is present", even if it does not parse: a client that cannot
  // read it will not find serverAuth in it either.
  out.has_eku = X509_get_ext_by_NID(cert, NID_ext_key_usage, -1) >= 0;
  std::unique_ptr<EXTENDED_KEY_USAGE, EkuFree> eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  if (eku) {
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
      const int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i));
      if (nid == NID_server_auth) out.eku_server_auth = true;
      if (nid == NID_anyExtendedKeyUsage) out.eku_any = true;
    }
  }
}

// Self-issued (RFC 5280 §3.2: subject and issuer names equal), and where the signature can
// be checked with the certificate's own key, self-signed too: a CA certificate re-issued
// under the same name by a different key (key rollover) is not a root.
bool self_issued(X509* cert) {
  if (X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) != 0) return false;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return true;  // cannot check
  const int verified = X509_verify(cert, key);
  return verified != 0;  // 1: verifies; -1: could not be checked (e.g. unsupported algorithm)
}

/// Everything describe() says of a certificate but its source.
CertInfo describe_anew(X509* cert) {
  CertInfo c;
  c.subject = name_rfc2253(X509_get_subject_name(cert));
  c.issuer = name_rfc2253(X509_get_issuer_name(cert));
  c.common_name = common_name(X509_get_subject_name(cert));
  read_subject_alt_names(cert, c);
  c.serial = serial_hex(cert);
  c.not_before = unix_seconds(X509_get0_notBefore(cert));
  c.not_after = unix_seconds(X509_get0_notAfter(cert));
  read_key(cert, c);
  read_signature(cert, c);
  read_extensions(cert, c);
  c.self_issued = self_issued(cert);
  return c;
}

/// What describe() found, by the certificate's SHA-256 fingerprint: one server's chain
/// comes back on each of its endpoints, a fleet's wildcard leaf on every target. Bounded:
/// emptied when full.
class Described {
 public:
  std::optional<CertInfo> find(const std::string& fingerprint) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = seen_.find(fingerprint);
    if (it == seen_.end()) return std::nullopt;
    return it->second;
  }
  void add(const CertInfo& c) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (seen_.size() >= 4096) seen_.clear();
    seen_.emplace(c.sha256_fingerprint, c);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, CertInfo> seen_;
};

Described& described() {
  static auto* d = new Described();  // never destroyed: worker threads may outlive main
  return *d;
}

}  // namespace

CertInfo describe(X509* cert, std::string source) {
  if (cert == nullptr) throw std::invalid_argument("tls::describe: null certificate");
  // Leave OpenSSL's per-thread error queue as we found it: a stale error there makes the
  // next SSL_get_error on this thread (inside Poco) misreport.
  ERR_set_mark();
  const std::string fingerprint = sha256_fingerprint(cert);
  if (auto known = described().find(fingerprint)) {
    ERR_pop_to_mark();
    known->source = std::move(source);
    return *known;
  }
  CertInfo c = describe_anew(cert);
  c.sha256_fingerprint = fingerprint;
  ERR_pop_to_mark();
  if (!fingerprint.empty()) described().add(c);
  c.source = std::move(source);
  return c;
}


std::string format_rfc3339(std::int64_t unix_seconds) {
  const CivilTime t = civil_from_unix(unix_seconds);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year, t.month, t.day, t.hour,
                     t.minute, t.second);
}

// Apple (HT210176, HT211025) states limits in days ("825 days or fewer", "greater than 398
// days") and, like the Baseline Requirements, counts a day as 86,400 s with any part day
// counting as a whole one. We measure the period as not_after - not_before, without the
// extra second that RFC 5280's inclusive not_after would add: a certificate issued at
// 00:00:00 and expiring at 00:00:00 825 days later is the canonical "825-day certificate",
// and counting it as 826 days would flag certificates Apple's own statement admits. The
// CA/B Forum defines its Validity Period as inclusive, so cabf_validity_days adds the second.
std::int64_t apple_validity_days(const CertInfo& cert) {
  const std::int64_t seconds = cert.not_after - cert.not_before;
  return seconds <= 0 ? 0 : ceil_div(seconds, seconds_per_day);
}

std::int64_t cabf_validity_days(const CertInfo& cert) {
  const std::int64_t seconds = cert.not_after - cert.not_before + 1;
  return seconds <= 0 ? 0 : ceil_div(seconds, seconds_per_day);
}

nlohmann::json to_json(const CertInfo& cert, std::int64_t now) {
  return {
      {"subject", cert.subject},
      {"issuer", cert.issuer},
      {"common_name", cert.common_name},
      {"dns_names", cert.dns_names},
      {"ip_addresses", cert.ip_addresses},
      {"serial", cert.serial},
      {"not_before", format_rfc3339(cert.not_before)},
      {"not_after", format_rfc3339(cert.not_after)},
      {"not_before_unix", cert.not_before},
      {"not_after_unix", cert.not_after},
      {"days_left", floor_div(cert.not_after - now, seconds_per_day)},
      {"key_type", cert.key_type},
      {"key_bits", cert.key_bits},
      {"signature_algorithm", cert.signature_algorithm},
      {"signature_hash", cert.signature_hash},
      {"sha256_fingerprint", cert.sha256_fingerprint},
      {"is_ca", cert.is_ca},
      {"self_issued", cert.self_issued},
      {"has_eku", cert.has_eku},
      {"eku_server_auth", cert.eku_server_auth},
      {"eku_any", cert.eku_any},
      {"source", cert.source},
  };
}

}  // namespace mailready::tls
