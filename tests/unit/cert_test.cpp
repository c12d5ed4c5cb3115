// tls::describe over certificates made in-process with OpenSSL (no files, no network),
// and evaluate_chain over what OpenSSL's own verifier makes of them: the trust
// classification (self-signed / incomplete / untrusted) against real X509_V_ERR codes.
//
// The PKI: an EC P-256 root → an RSA-2048 intermediate → an RSA-2048 SHA-256 leaf for
// mail.example.test with SANs and serverAuth; and a self-signed RSA-1024 SHA-1 certificate.

#include "checks/tls/cert.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <catch2/catch.hpp>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "checks/tls/civil_time.hpp"

using namespace mailready;
using namespace mailready::tls;

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

KeyPtr rsa_key(std::size_t bits) {
  KeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  REQUIRE(k);
  return k;
}

KeyPtr ec_key(const char* curve) {
  KeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  REQUIRE(k);
  return k;
}

KeyPtr ed25519_key() {
  KeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  REQUIRE(k);
  return k;
}

/// What goes into one test certificate.
struct Spec {
  std::vector<std::pair<std::string, std::string>> subject;  ///< (field, UTF-8 value), in order
  long serial = 1;
  std::int64_t not_before = 0, not_after = 0;
  std::vector<std::pair<int, std::string>> extensions;  ///< (NID, OpenSSL config text)
  const EVP_MD* md = nullptr;                           ///< nullptr for Ed25519
};

void set_name(X509_NAME* name, const Spec& spec) {
  for (const auto& [field, value] : spec.subject) {
    REQUIRE(X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                       -1, 0) == 1);
  }
}

/// A certificate for `key`, issued by `issuer` (signed with `issuer_key`), or self-signed
/// when issuer is null.
CertPtr make_cert(const Spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  CertPtr cert(X509_new());
  REQUIRE(cert);
  X509* x = cert.get();
  REQUIRE(X509_set_version(x, 2) == 1);  // v3
  REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(x), spec.serial) == 1);
  REQUIRE(ASN1_TIME_set(X509_getm_notBefore(x), static_cast<time_t>(spec.not_before)) != nullptr);
  REQUIRE(ASN1_TIME_set(X509_getm_notAfter(x), static_cast<time_t>(spec.not_after)) != nullptr);
  set_name(X509_get_subject_name(x), spec);
  REQUIRE(X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer)
                                                    : X509_get_subject_name(x)) == 1);
  REQUIRE(X509_set_pubkey(x, key) == 1);
  X509V3_CTX ctx{};
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
  for (const auto& [nid, text] : spec.extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, text.c_str());
    REQUIRE(ext != nullptr);
    REQUIRE(X509_add_ext(x, ext, -1) == 1);
    X509_EXTENSION_free(ext);
  }
  REQUIRE(X509_sign(x, issuer_key != nullptr ? issuer_key : key, spec.md) > 0);
  return cert;
}

// Fixed dates: the tests judge on 2025-04-15.
constexpr std::int64_t now = unix_time(2025, 4, 15);
constexpr std::int64_t leaf_from = unix_time(2025, 3, 1);
constexpr std::int64_t leaf_until = unix_time(2025, 5, 30, 12, 0, 0);
constexpr std::int64_t root_from = unix_time(2020, 1, 1);
constexpr std::int64_t root_until = unix_time(2055, 1, 1);  // GeneralizedTime (>= 2050)

/// The PKI, made once for the whole test binary (RSA key generation is slow).
struct Pki {
  KeyPtr root_key = ec_key("P-256");
  KeyPtr inter_key = rsa_key(2048);
  KeyPtr leaf_key = rsa_key(2048);
  KeyPtr legacy_key = rsa_key(1024);
  CertPtr root, inter, leaf, legacy;

  Pki() {
    Spec r;
    r.subject = {{"O", "Example Test PKI"}, {"CN", "Example Root CA"}};
    r.serial = 0x0102030405060708L;
    r.not_before = root_from;
    r.not_after = root_until;
    r.extensions = {{NID_basic_constraints, "critical,CA:TRUE"},
                    {NID_key_usage, "critical,keyCertSign,cRLSign"}};
    r.md = EVP_sha256();
    root = make_cert(r, root_key.get(), nullptr, nullptr);

    Spec i;
    i.subject = {{"O", "Example Test PKI"}, {"CN", "Example Issuing CA"}};
    i.serial = 2;
    i.not_before = root_from;
    i.not_after = unix_time(2030, 1, 1);
    i.extensions = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                    {NID_key_usage, "critical,keyCertSign,cRLSign"}};
    i.md = EVP_sha256();
    inter = make_cert(i, inter_key.get(), root.get(), root_key.get());

    Spec l;
    l.subject = {{"O", "Example Mail"}, {"CN", "mail.example.test"}};
    l.serial = 0x1234ABCDL;
    l.not_before = leaf_from;
    l.not_after = leaf_until;
    l.extensions = {{NID_basic_constraints, "critical,CA:FALSE"},
                    {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                    {NID_ext_key_usage, "serverAuth"},
                    {NID_subject_alt_name,
                     "DNS:mail.example.test,DNS:*.mail.example.test,IP:192.0.2.10,IP:2001:db8::1"}};
    l.md = EVP_sha256();
    leaf = make_cert(l, leaf_key.get(), inter.get(), inter_key.get());

    Spec g;
    g.subject = {{"CN", "L\xC3\xA9gacy Server"}};  // "Légacy Server", UTF-8
    g.serial = 3;
    g.not_before = unix_time(2018, 1, 1);
    g.not_after = unix_time(2028, 1, 1);
    g.extensions = {{NID_ext_key_usage, "clientAuth,anyExtendedKeyUsage"}};
    g.md = EVP_sha1();
    legacy = make_cert(g, legacy_key.get(), nullptr, nullptr);
  }
};

const Pki& pki() {
  static const Pki p;
  return p;
}

/// The SHA-256 fingerprint computed independently of describe(): DER, digest, hex.
std::string fingerprint_of(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  REQUIRE(len > 0);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  const int ok = EVP_Digest(der, static_cast<std::size_t>(len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  REQUIRE(ok == 1);
  std::string out;
  static const char hex[] = "0123456789ABCDEF";
  for (unsigned int i = 0; i < md_len; ++i) {
    if (i > 0) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 0x0f];
  }
  return out;
}

/// What the probe does with a server's chain: verify it with OpenSSL against `roots` at
/// the fixed time, then describe what was sent and what was verified.
ChainInfo verify(X509* leaf, const std::vector<X509*>& untrusted, const std::vector<X509*>& roots) {
  X509_STORE* store = X509_STORE_new();
  for (X509* r : roots) REQUIRE(X509_STORE_add_cert(store, r) == 1);
  STACK_OF(X509)* chain_in = sk_X509_new_null();
  for (X509* c : untrusted) sk_X509_push(chain_in, c);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  REQUIRE(X509_STORE_CTX_init(ctx, store, leaf, chain_in) == 1);
  X509_STORE_CTX_set_time(ctx, 0, static_cast<time_t>(now));

  ChainInfo info;
  info.sent.push_back(describe(leaf, "server"));
  for (X509* c : untrusted) info.sent.push_back(describe(c, "server"));
  if (X509_verify_cert(ctx) == 1) {
    STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx);
    for (int i = 0; i < sk_X509_num(built); ++i) {
      X509* c = sk_X509_value(built, i);
      bool sent = c == leaf;
      for (X509* u : untrusted) sent = sent || c == u;
      info.verified.push_back(describe(c, sent ? "server" : "trust-store"));
    }
  } else {
    info.verify_error = X509_STORE_CTX_get_error(ctx);
    info.verify_error_depth = X509_STORE_CTX_get_error_depth(ctx);
    info.verify_error_text = X509_verify_cert_error_string(info.verify_error);
  }
  X509_STORE_CTX_free(ctx);
  sk_X509_free(chain_in);
  X509_STORE_free(store);
  return info;
}

std::vector<std::string> ids(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues) out.push_back(i.id);
  return out;
}

Policy policy_for(std::string host) {
  Policy p;
  p.host = std::move(host);
  p.now = now;
  return p;
}

const std::regex fingerprint_format("^([0-9A-F]{2}:){31}[0-9A-F]{2}$");

}  // namespace

TEST_CASE("cert: describe an RSA-2048 SHA-256 leaf with SANs and serverAuth", "[cert]") {
  const Pki& p = pki();
  const CertInfo c = describe(p.leaf.get(), "server");
  CHECK(c.subject == "CN=mail.example.test,O=Example Mail");  // RFC 2253: most specific first
  CHECK(c.issuer == "CN=Example Issuing CA,O=Example Test PKI");
  CHECK(c.common_name == "mail.example.test");
  CHECK(c.dns_names == std::vector<std::string>{"mail.example.test", "*.mail.example.test"});
  CHECK(c.ip_addresses == std::vector<std::string>{"192.0.2.10", "2001:db8::1"});
  CHECK(c.serial == "1234ABCD");
  CHECK(c.not_before == leaf_from);
  CHECK(c.not_after == leaf_until);
  CHECK(c.key_type == "RSA");
  CHECK(c.key_bits == 2048);
  CHECK(c.signature_algorithm == "sha256WithRSAEncryption");
  CHECK(c.signature_hash == "SHA256");
  CHECK(std::regex_match(c.sha256_fingerprint, fingerprint_format));
  CHECK(c.sha256_fingerprint == fingerprint_of(p.leaf.get()));
  CHECK_FALSE(c.is_ca);
  CHECK_FALSE(c.self_issued);
  CHECK(c.has_eku);
  CHECK(c.eku_server_auth);
  CHECK_FALSE(c.eku_any);
  CHECK(c.source == "server");

  const auto j = to_json(c, now);
  CHECK(j.at("not_before") == "2025-03-01T00:00:00Z");
  CHECK(j.at("not_after") == "2025-05-30T12:00:00Z");
  CHECK(j.at("days_left") == 45);
  CHECK_NOTHROW(j.dump());
}

TEST_CASE("cert: describe a self-signed RSA-1024 SHA-1 certificate", "[cert]") {
  const Pki& p = pki();
  const CertInfo c = describe(p.legacy.get(), "server");
  CHECK(c.subject == "CN=L\\C3\\A9gacy Server");  // XN_FLAG_RFC2253 escapes non-ASCII bytes
  CHECK(c.issuer == c.subject);
  CHECK(c.common_name == "L\xC3\xA9gacy Server");
  CHECK(c.dns_names.empty());
  CHECK(c.ip_addresses.empty());
  CHECK(c.serial == "03");
  CHECK(c.key_type == "RSA");
  CHECK(c.key_bits == 1024);
  CHECK(c.signature_algorithm == "sha1WithRSAEncryption");
  CHECK(c.signature_hash == "SHA1");
  CHECK(c.sha256_fingerprint == fingerprint_of(p.legacy.get()));
  CHECK_FALSE(c.is_ca);
  CHECK(c.self_issued);
  CHECK(c.has_eku);
  CHECK_FALSE(c.eku_server_auth);
  CHECK(c.eku_any);
  CHECK(c.not_before == unix_time(2018, 1, 1));
  CHECK(c.not_after == unix_time(2028, 1, 1));
}

TEST_CASE("cert: describe an EC P-256 root CA", "[cert]") {
  const Pki& p = pki();
  const CertInfo c = describe(p.root.get(), "trust-store");
  CHECK(c.subject == "CN=Example Root CA,O=Example Test PKI");
  CHECK(c.issuer == c.subject);
  CHECK(c.common_name == "Example Root CA");
  CHECK(c.serial == "0102030405060708");
  CHECK(c.key_type == "EC");
  CHECK(c.key_bits == 256);
  CHECK(c.signature_algorithm == "ecdsa-with-SHA256");
  CHECK(c.signature_hash == "SHA256");
  CHECK(std::regex_match(c.sha256_fingerprint, fingerprint_format));
  CHECK(c.is_ca);
  CHECK(c.self_issued);
  CHECK_FALSE(c.has_eku);
  CHECK_FALSE(c.eku_server_auth);
  CHECK_FALSE(c.eku_any);
  CHECK(c.not_before == root_from);
  CHECK(c.not_after == root_until);  // a GeneralizedTime date
  CHECK(c.source == "trust-store");
  CHECK(to_json(c, now).at("not_after") == "2055-01-01T00:00:00Z");

  const CertInfo i = describe(p.inter.get(), "server");
  CHECK(i.is_ca);
  CHECK_FALSE(i.self_issued);
  CHECK(i.signature_algorithm == "ecdsa-with-SHA256");
  CHECK(i.key_type == "RSA");
}

TEST_CASE("cert: describe Ed25519, MD5 and a same-name CA under another key", "[cert]") {
  SECTION("Ed25519 has no separate signature hash") {
    KeyPtr key = ed25519_key();
    Spec s;
    s.subject = {{"CN", "ed.example.test"}};
    s.not_before = leaf_from;
    s.not_after = leaf_until;
    const CertPtr cert = make_cert(s, key.get(), nullptr, nullptr);
    const CertInfo c = describe(cert.get(), "server");
    CHECK(c.key_type == "Ed25519");
    CHECK(c.key_bits == 256);  // OpenSSL 3 reports 256 (1.1.1 said 253)
    CHECK(c.signature_algorithm == "ED25519");
    CHECK(c.signature_hash.empty());
    CHECK(c.self_issued);
    CHECK_FALSE(c.has_eku);
  }
  SECTION("an MD5 signature is named MD5") {
    Spec s;
    s.subject = {{"CN", "md5.example.test"}};
    s.not_before = leaf_from;
    s.not_after = leaf_until;
    s.md = EVP_md5();
    const CertPtr cert = make_cert(s, pki().legacy_key.get(), nullptr, nullptr);
    const CertInfo c = describe(cert.get(), "server");
    CHECK(c.signature_algorithm == "md5WithRSAEncryption");
    CHECK(c.signature_hash == "MD5");
  }
  SECTION("subject == issuer but signed by another key is not self-issued here") {
    KeyPtr other = ec_key("P-256");
    Spec s;
    s.subject = {{"O", "Example Test PKI"}, {"CN", "Example Root CA"}};
    s.not_before = leaf_from;
    s.not_after = leaf_until;
    s.extensions = {{NID_basic_constraints, "critical,CA:TRUE"}};
    s.md = EVP_sha256();
    // Same name as the root, the root's key signs a certificate for another key.
    const CertPtr cert = make_cert(s, other.get(), pki().root.get(), pki().root_key.get());
    const CertInfo c = describe(cert.get(), "server");
    CHECK(c.subject == c.issuer);
    CHECK_FALSE(c.self_issued);
    CHECK(c.is_ca);
  }
  SECTION("a null certificate is a programming error") {
    CHECK_THROWS_AS(describe(nullptr, "server"), std::invalid_argument);
  }
}

// The trust classification against what OpenSSL's verifier really reports.

TEST_CASE("cert: a complete chain to a trusted root has no issues", "[cert][chain]") {
  const Pki& p = pki();
  const ChainInfo chain = verify(p.leaf.get(), {p.inter.get()}, {p.root.get()});
  REQUIRE(chain.verify_error == X509_V_OK);
  REQUIRE(chain.verified.size() == 3);
  CHECK(chain.verified.back().source == "trust-store");
  CHECK(ids(evaluate_chain(chain, policy_for("mail.example.test"))).empty());
  CHECK(ids(evaluate_chain(chain, policy_for("x.mail.example.test"))).empty());
  CHECK(ids(evaluate_chain(chain, policy_for("192.0.2.10"))).empty());
  CHECK(ids(evaluate_chain(chain, policy_for("smtp.example.test"))) ==
        std::vector<std::string>{"cert.hostname-mismatch"});
}

TEST_CASE("cert: a leaf sent without its intermediate is an incomplete chain", "[cert][chain]") {
  const Pki& p = pki();
  const ChainInfo chain = verify(p.leaf.get(), {}, {p.root.get()});
  CHECK(chain.verify_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  CHECK(chain.verify_error_depth == 0);
  CHECK(ids(evaluate_chain(chain, policy_for("mail.example.test"))) ==
        std::vector<std::string>{"cert.incomplete-chain"});
}

TEST_CASE("cert: a chain to a root the client lacks is untrusted", "[cert][chain]") {
  const Pki& p = pki();
  SECTION("the server sends leaf and intermediate") {
    const ChainInfo chain = verify(p.leaf.get(), {p.inter.get()}, {});
    CHECK(chain.verify_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    CHECK(chain.verify_error_depth == 1);
    CHECK(ids(evaluate_chain(chain, policy_for("mail.example.test"))) ==
          std::vector<std::string>{"cert.untrusted"});
  }
  SECTION("the server sends its private root too") {
    const ChainInfo chain = verify(p.leaf.get(), {p.inter.get(), p.root.get()}, {});
    CHECK(chain.verify_error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
    CHECK(ids(evaluate_chain(chain, policy_for("mail.example.test"))) ==
          std::vector<std::string>{"cert.untrusted"});
  }
}

TEST_CASE("cert: a self-signed legacy certificate", "[cert][chain]") {
  const Pki& p = pki();
  const ChainInfo chain = verify(p.legacy.get(), {}, {p.root.get()});
  CHECK(chain.verify_error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  CHECK(ids(evaluate_chain(chain, policy_for("legacy.example.test"))) ==
        std::vector<std::string>{"cert.self-signed", "cert.hostname-mismatch", "cert.apple-no-san",
                                 "cert.weak-key", "cert.weak-signature"});
  // Issued 2018: before Apple's EKU and 825-day rules.

  SECTION("trusted explicitly (--ca-file), it still fails Apple's rules") {
    const ChainInfo trusted = verify(p.legacy.get(), {}, {p.legacy.get()});
    REQUIRE(trusted.verify_error == X509_V_OK);
    CHECK(ids(evaluate_chain(trusted, policy_for("legacy.example.test"))) ==
          std::vector<std::string>{"cert.hostname-mismatch", "cert.apple-no-san", "cert.weak-key",
                                   "cert.weak-signature"});
  }
}
