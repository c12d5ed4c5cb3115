// The certificate and session rules (checks/tls/cert.hpp, session.hpp) over hand-built
// CertInfo / ChainInfo and a fixed clock. Real certificates are in cert_test.cpp.

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "checks/modules/findings.hpp"
#include "checks/tls/cert.hpp"
#include "checks/tls/civil_time.hpp"
#include "checks/tls/session.hpp"

using namespace mailready;
using namespace mailready::tls;

namespace {

constexpr std::int64_t day = 86400;

/// A good, publicly trusted chain: RSA leaf → EC intermediate → RSA root, judged on
/// 2025-04-15 for mail.example.test.
class ChainFixture {
 public:
  ChainFixture() {
    leaf.subject = "CN=mail.example.test";
    leaf.issuer = "CN=Example Issuing CA,O=Example";
    leaf.common_name = "mail.example.test";
    leaf.dns_names = {"mail.example.test", "imap.example.test"};
    leaf.serial = "0A1B";
    leaf.not_before = unix_time(2025, 3, 1);
    leaf.not_after = leaf.not_before + 90 * day;
    leaf.key_type = "RSA";
    leaf.key_bits = 2048;
    leaf.signature_algorithm = "ecdsa-with-SHA384";
    leaf.signature_hash = "SHA384";
    leaf.sha256_fingerprint = "AA:BB";
    leaf.has_eku = true;
    leaf.eku_server_auth = true;
    leaf.source = "server";

    inter.subject = "CN=Example Issuing CA,O=Example";
    inter.issuer = "CN=Example Root CA,O=Example";
    inter.common_name = "Example Issuing CA";
    inter.not_before = unix_time(2010, 1, 1);
    inter.not_after = unix_time(2030, 1, 1);
    inter.key_type = "EC";
    inter.key_bits = 384;
    inter.signature_algorithm = "sha256WithRSAEncryption";
    inter.signature_hash = "SHA256";
    inter.is_ca = true;
    inter.source = "server";

    root.subject = "CN=Example Root CA,O=Example";
    root.issuer = root.subject;
    root.common_name = "Example Root CA";
    root.not_before = unix_time(2015, 1, 1);
    root.not_after = unix_time(2040, 1, 1);
    root.key_type = "RSA";
    root.key_bits = 4096;
    root.signature_algorithm = "sha256WithRSAEncryption";
    root.signature_hash = "SHA256";
    root.is_ca = true;
    root.self_issued = true;
    root.source = "trust-store";

    policy.host = "mail.example.test";
    policy.now = unix_time(2025, 4, 15);  // 45 days before the leaf expires
    policy.warn_days = 30;
  }

  /// The chain as the server sends it (leaf, intermediate) and as verified (+ root).
  ChainInfo chain(bool publicly_trusted = true) const {
    ChainInfo c;
    c.sent = {leaf, inter};
    c.verified = {leaf, inter, root};
    c.root_in_system_store = publicly_trusted;
    return c;
  }

  /// A chain that failed verification with OpenSSL error `code` at `depth`.
  static ChainInfo failed(std::vector<CertInfo> sent, long code, int depth, std::string text) {
    ChainInfo c;
    c.sent = std::move(sent);
    c.verify_error = code;
    c.verify_error_depth = depth;
    c.verify_error_text = std::move(text);
    return c;
  }

  std::vector<Issue> run(const ChainInfo& c) const { return evaluate_chain(c, policy); }

  CertInfo leaf, inter, root;
  Policy policy;
};

std::vector<std::string> ids(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues) out.push_back(i.id);
  return out;
}

std::size_t count(const std::vector<Issue>& issues, const std::string& id) {
  return static_cast<std::size_t>(
      std::count_if(issues.begin(), issues.end(), [&](const Issue& i) { return i.id == id; }));
}

const Issue& first(const std::vector<Issue>& issues, const std::string& id) {
  const auto it =
      std::find_if(issues.begin(), issues.end(), [&](const Issue& i) { return i.id == id; });
  REQUIRE(it != issues.end());
  return *it;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

CertInfo with_names(std::vector<std::string> dns, std::vector<std::string> ips = {}) {
  CertInfo c;
  c.dns_names = std::move(dns);
  c.ip_addresses = std::move(ips);
  return c;
}

}  // namespace

// --- the good case ------------------------------------------------------------------------

TEST_CASE_METHOD(ChainFixture, "tls: a good public chain yields no issues", "[tls][chain]") {
  CHECK(ids(run(chain(true))).empty());
  CHECK(ids(run(chain(false))).empty());
  policy.host = "IMAP.Example.Test.";
  CHECK(ids(run(chain(true))).empty());
}

TEST_CASE_METHOD(ChainFixture, "tls: an empty host skips only the name check", "[tls][chain]") {
  policy.host.clear();
  CHECK(ids(run(chain())).empty());
}

// --- RFC 6125 name matching ---------------------------------------------------------------

TEST_CASE("tls: hostname_matches exact names, case and trailing dots", "[tls][hostname]") {
  const CertInfo c = with_names({"mail.example.test", "Other.Example.TEST."});
  CHECK(hostname_matches("mail.example.test", c));
  CHECK(hostname_matches("MAIL.example.Test", c));
  CHECK(hostname_matches("mail.example.test.", c));
  CHECK(hostname_matches("other.example.test", c));
  CHECK_FALSE(hostname_matches("example.test", c));
  CHECK_FALSE(hostname_matches("mail.example.test.evil", c));
  CHECK_FALSE(hostname_matches("xmail.example.test", c));
  CHECK_FALSE(hostname_matches("", c));
  CHECK_FALSE(hostname_matches(".", c));
}

TEST_CASE("tls: wildcards match exactly one whole left-most label", "[tls][hostname]") {
  const CertInfo c = with_names({"*.example.test"});
  CHECK(hostname_matches("a.example.test", c));
  CHECK(hostname_matches("IMAP.EXAMPLE.TEST.", c));
  CHECK_FALSE(hostname_matches("example.test", c));
  CHECK_FALSE(hostname_matches("a.b.example.test", c));
  CHECK_FALSE(hostname_matches(".example.test", c));
  CHECK_FALSE(hostname_matches("*.example.test", c));  // a host is never a pattern
  CHECK_FALSE(hostname_matches("xa.example.tes", c));

  SECTION("partial-label wildcards are not accepted") {
    for (const char* p : {"x*.example.test", "*x.example.test", "a*b.example.test"}) {
      const CertInfo partial = with_names({p});
      CHECK_FALSE(hostname_matches("xa.example.test", partial));
      CHECK_FALSE(hostname_matches("ax.example.test", partial));
      CHECK_FALSE(hostname_matches("axb.example.test", partial));
    }
  }
  SECTION("wildcards anywhere but the left-most label match nothing") {
    CHECK_FALSE(hostname_matches("a.b.test", with_names({"a.*.test"})));
    CHECK_FALSE(hostname_matches("a.b.test", with_names({"*.*.test"})));
    CHECK_FALSE(hostname_matches("a", with_names({"*"})));
  }
  SECTION("a wildcard over a single label (a TLD) matches nothing") {
    CHECK_FALSE(hostname_matches("example.test", with_names({"*.test"})));
    CHECK_FALSE(hostname_matches("example.test", with_names({"*.test."})));
  }
}

TEST_CASE("tls: IP hosts match iPAddress entries only", "[tls][hostname]") {
  const CertInfo c = with_names({"192.0.2.20", "mail.example.test"}, {"192.0.2.10", "2001:db8::1"});
  CHECK(hostname_matches("192.0.2.10", c));
  CHECK(hostname_matches("2001:db8::1", c));
  CHECK(hostname_matches("2001:DB8:0:0:0:0:0:1", c));  // textual forms differ, address equal
  CHECK(hostname_matches("[2001:db8::1]", c));
  CHECK_FALSE(hostname_matches("192.0.2.20", c));  // an IP in a dNSName does not count
  CHECK_FALSE(hostname_matches("192.0.2.11", c));
  CHECK_FALSE(hostname_matches("::ffff:192.0.2.10", c));
  CHECK_FALSE(hostname_matches("mail.example.test.", with_names({}, {"192.0.2.10"})));
}

TEST_CASE("tls: the subject CN is never used for the name", "[tls][hostname]") {
  CertInfo c;
  c.common_name = "mail.example.test";
  c.subject = "CN=mail.example.test";
  CHECK_FALSE(hostname_matches("mail.example.test", c));
  c.ip_addresses = {"192.0.2.10"};  // SANs exist but no dNSName: still no CN fallback
  CHECK_FALSE(hostname_matches("mail.example.test", c));
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.hostname-mismatch", "[tls][chain]") {
  SECTION("positive: the host is not among the SANs") {
    policy.host = "smtp.example.test";
    const auto issues = run(chain());
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.hostname-mismatch"});
    const Issue& i = issues.front();
    CHECK(i.severity == Severity::critical);
    CHECK(contains(i.message, "smtp.example.test"));
    CHECK(contains(i.message, "mail.example.test, imap.example.test"));
    CHECK(i.evidence.at("host") == "smtp.example.test");
  }
  SECTION("negative: a wildcard SAN covers the host") {
    leaf.dns_names = {"*.example.test"};
    policy.host = "smtp.example.test";
    CHECK(count(run(chain()), "cert.hostname-mismatch") == 0);
  }
  SECTION("an IP host against an IP SAN") {
    leaf.ip_addresses = {"192.0.2.10"};
    policy.host = "192.0.2.10";
    CHECK(ids(run(chain())).empty());
    policy.host = "192.0.2.11";
    CHECK(ids(run(chain())) == std::vector<std::string>{"cert.hostname-mismatch"});
  }
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.apple-no-san", "[tls][chain][apple]") {
  SECTION("positive: no SAN at all is a mismatch and apple-no-san") {
    leaf.dns_names.clear();
    const auto issues = run(chain());
    CHECK(ids(issues) == std::vector<std::string>{"cert.hostname-mismatch", "cert.apple-no-san"});
    CHECK(contains(first(issues, "cert.apple-no-san").message, "mail.example.test"));
    CHECK(contains(first(issues, "cert.hostname-mismatch").message, "CN"));
  }
  SECTION("positive even without a host to match") {
    leaf.dns_names.clear();
    policy.host.clear();
    CHECK(ids(run(chain())) == std::vector<std::string>{"cert.apple-no-san"});
  }
  SECTION("negative: an iPAddress SAN alone is a SAN") {
    leaf.dns_names.clear();
    leaf.ip_addresses = {"192.0.2.10"};
    policy.host = "192.0.2.10";
    CHECK(ids(run(chain())).empty());
  }
}

// --- dates ----------------------------------------------------------------------------------

TEST_CASE_METHOD(ChainFixture, "tls: cert.expired at the not_after boundary", "[tls][chain]") {
  SECTION("not_after == now is still valid (OpenSSL: inclusive)") {
    policy.now = leaf.not_after;
    CHECK(count(run(chain()), "cert.expired") == 0);
  }
  SECTION("one second later the leaf has expired") {
    policy.now = leaf.not_after + 1;
    const auto issues = run(chain());
    CHECK(ids(issues) == std::vector<std::string>{"cert.expired"});
    const Issue& i = issues.front();
    CHECK(i.severity == Severity::critical);
    CHECK(contains(i.message, "leaf certificate \"mail.example.test\""));
    CHECK(contains(i.message, "2025-05-30T00:00:00Z"));
    CHECK(i.evidence.at("depth") == 0);
    CHECK(i.evidence.at("certificate").at("days_left") == -1);
  }
  SECTION("an expired intermediate is named as such, with no expires-soon for it") {
    inter.not_after = policy.now - 10 * day;
    const auto issues = run(chain());
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.expired"});
    CHECK(contains(issues.front().message, "intermediate certificate \"Example Issuing CA\""));
    CHECK(contains(issues.front().message, "10 days ago"));
  }
  SECTION("an expired root counts too") {
    root.not_after = policy.now - day;
    CHECK(contains(first(run(chain()), "cert.expired").message, "root certificate"));
  }
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.not-yet-valid", "[tls][chain]") {
  policy.now = leaf.not_before;
  CHECK(ids(run(chain())).empty());
  policy.now = leaf.not_before - 1;
  const auto issues = run(chain());
  REQUIRE(ids(issues) == std::vector<std::string>{"cert.not-yet-valid"});
  CHECK(contains(issues.front().message, "2025-03-01T00:00:00Z"));
  CHECK(contains(issues.front().message, "in 1 day"));
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.expires-soon at the warning boundary", "[tls][chain]") {
  SECTION("exactly warn_days left warns") {
    policy.now = leaf.not_after - 30 * day;
    const auto issues = run(chain());
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.expires-soon"});
    CHECK(issues.front().severity == Severity::warning);
    CHECK(contains(issues.front().message, "30 days left"));
    CHECK(issues.front().evidence.at("warn_days") == 30);
  }
  SECTION("one second more does not") {
    policy.now = leaf.not_after - 30 * day - 1;
    CHECK(ids(run(chain())).empty());
  }
  SECTION("an intermediate within the window warns") {
    inter.not_after = policy.now + 5 * day;
    const auto issues = run(chain());
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.expires-soon"});
    CHECK(contains(issues.front().message, "intermediate"));
  }
  SECTION("warn_days 0 turns the warning off") {
    policy.now = leaf.not_after - day;
    policy.warn_days = 0;
    CHECK(ids(run(chain())).empty());
  }
}

// --- trust ----------------------------------------------------------------------------------

TEST_CASE_METHOD(ChainFixture, "tls: cert.self-signed", "[tls][chain][trust]") {
  CertInfo self = leaf;
  self.issuer = self.subject;
  self.self_issued = true;
  SECTION("positive: error 18 with one self-signed certificate") {
    const auto issues = run(failed({self}, 18, 0, "self-signed certificate"));
    CHECK(ids(issues) == std::vector<std::string>{"cert.self-signed"});
    CHECK(contains(issues.front().message, "mail.example.test"));
    CHECK(issues.front().evidence.at("verify_error") == 18);
  }
  SECTION("positive: error 19 with a self-issued leaf") {
    CHECK(ids(run(failed({self, root}, 19, 1, "self-signed certificate in certificate chain"))) ==
          std::vector<std::string>{"cert.self-signed"});
  }
  SECTION("negative: a self-signed leaf the admin trusts (--ca-file) verifies") {
    ChainInfo c;
    c.sent = {self};
    c.verified = {self};
    CHECK(ids(run(c)).empty());
  }
  SECTION("negative: error 19 with a CA root is untrusted, not self-signed") {
    CHECK(ids(run(failed({leaf, inter, root}, 19, 2,
                         "self-signed certificate in certificate "
                         "chain"))) == std::vector<std::string>{"cert.untrusted"});
  }
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.incomplete-chain", "[tls][chain][trust]") {
  SECTION("positive: only the leaf was sent (error 20)") {
    const auto issues = run(failed({leaf}, 20, 0, "unable to get local issuer certificate"));
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.incomplete-chain"});
    CHECK(issues.front().severity == Severity::critical);
    CHECK(
        contains(issues.front().message, "sent no certificate that issued \"mail.example.test\""));
    CHECK(contains(issues.front().message, "not a CA"));
    CHECK(issues.front().evidence.at("last_sent").at("subject") == leaf.subject);
  }
  SECTION("positive: the leaf plus an unrelated CA certificate (error 2)") {
    CertInfo unrelated = inter;
    unrelated.subject = "CN=Some Other CA";
    CHECK(ids(run(failed({leaf, unrelated}, 2, 0, "unable to get issuer certificate"))) ==
          std::vector<std::string>{"cert.incomplete-chain"});
  }
  SECTION("negative: the chain ends at a CA whose issuer is unknown: untrusted") {
    const auto issues = run(failed({leaf, inter}, 20, 1, "unable to get local issuer certificate"));
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.untrusted"});
    CHECK(contains(issues.front().message, "Example Issuing CA"));
    CHECK(contains(issues.front().message, "CN=Example Root CA,O=Example"));
  }
  SECTION("positive: verified only with an intermediate from the local store") {
    ChainInfo c = chain(true);
    c.sent = {leaf};
    c.verified[1].source = "trust-store";
    const auto issues = run(c);
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.incomplete-chain"});
    CHECK(contains(issues.front().message, "Example Issuing CA"));
  }
  SECTION("negative: the same with a private root (--ca-file) is accepted") {
    ChainInfo c = chain(false);
    c.sent = {leaf};
    CHECK(ids(run(c)).empty());
  }
  SECTION("negative: extra or out-of-order certificates do not matter") {
    ChainInfo c = chain(true);
    c.sent = {leaf, root, inter};
    CHECK(ids(run(c)).empty());
  }
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.untrusted", "[tls][chain][trust]") {
  SECTION("positive: a private root not in the store (error 19)") {
    CertInfo private_root = root;
    private_root.source = "server";
    const auto issues = run(
        failed({leaf, inter, private_root}, 19, 2, "self-signed certificate in certificate chain"));
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.untrusted"});
    CHECK(contains(issues.front().message, "Example Root CA"));
  }
  SECTION("positive: any other failure carries OpenSSL's words") {
    const auto issues = run(failed({leaf, inter}, 7, 0, "certificate signature failure"));
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.untrusted"});
    CHECK(contains(issues.front().message, "certificate signature failure"));
    CHECK(issues.front().evidence.at("verify_error_depth") == 0);
  }
  SECTION("positive: no certificate at all") {
    CHECK(ids(run(ChainInfo{})) == std::vector<std::string>{"cert.untrusted"});
  }
  SECTION("negative: an expiry failure is reported as cert.expired alone") {
    policy.now = leaf.not_after + day;
    CHECK(ids(run(failed({leaf, inter}, 10, 0, "certificate has expired"))) ==
          std::vector<std::string>{"cert.expired"});
  }
  SECTION("positive: an expiry failure our clock does not see still fails") {
    CHECK(ids(run(failed({leaf, inter}, 10, 0, "certificate has expired"))) ==
          std::vector<std::string>{"cert.untrusted"});
  }
  SECTION("negative: a good chain") {
    CHECK(count(run(chain()), "cert.untrusted") == 0);
  }
}

// --- strength -------------------------------------------------------------------------------

TEST_CASE_METHOD(ChainFixture, "tls: cert.weak-key", "[tls][chain][apple]") {
  SECTION("positive: a 1024-bit RSA leaf") {
    leaf.key_bits = 1024;
    const auto issues = run(chain());
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.weak-key"});
    CHECK(contains(issues.front().message, "1024-bit RSA"));
    CHECK(contains(issues.front().message, "2048"));
    CHECK(issues.front().evidence.at("minimum_bits") == 2048);
  }
  SECTION("positive: a 2047-bit RSA-PSS intermediate") {
    inter.key_type = "RSA-PSS";
    inter.key_bits = 2047;
    CHECK(contains(first(run(chain()), "cert.weak-key").message, "intermediate"));
  }
  SECTION("positive: a P-224 EC leaf") {
    leaf.key_type = "EC";
    leaf.key_bits = 224;
    CHECK(first(run(chain()), "cert.weak-key").evidence.at("minimum_bits") == 256);
  }
  SECTION("positive: a self-signed leaf is a leaf") {
    leaf.key_bits = 1024;
    leaf.self_issued = true;
    ChainInfo c;
    c.sent = {leaf};
    c.verified = {leaf};
    CHECK(ids(run(c)) == std::vector<std::string>{"cert.weak-key"});
  }
  SECTION("negative: boundaries and the root") {
    leaf.key_bits = 2048;
    inter.key_type = "EC";
    inter.key_bits = 256;
    root.key_bits = 1024;  // roots are not checked (Apple HT210176 covers leaf and issuing CAs)
    CHECK(ids(run(chain())).empty());
  }
  SECTION("negative: other key types are not judged by size") {
    leaf.key_type = "Ed25519";
    leaf.key_bits = 256;
    CHECK(ids(run(chain())).empty());
  }
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.weak-signature", "[tls][chain][apple]") {
  SECTION("positive: a SHA-1 leaf") {
    leaf.signature_algorithm = "sha1WithRSAEncryption";
    leaf.signature_hash = "SHA1";
    const auto issues = run(chain());
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.weak-signature"});
    CHECK(contains(issues.front().message, "SHA1"));
    CHECK(contains(issues.front().message, "leaf"));
  }
  SECTION("positive: an MD5 intermediate") {
    inter.signature_algorithm = "md5WithRSAEncryption";
    inter.signature_hash = "MD5";
    CHECK(contains(first(run(chain()), "cert.weak-signature").message, "intermediate"));
  }
  SECTION("positive: named by the algorithm when the hash is unknown") {
    leaf.signature_algorithm = "ecdsa-with-SHA1";
    leaf.signature_hash.clear();
    CHECK(count(run(chain()), "cert.weak-signature") == 1);
  }
  SECTION("negative: a SHA-1 self-signature on the root") {
    root.signature_algorithm = "sha1WithRSAEncryption";
    root.signature_hash = "SHA1";
    CHECK(ids(run(chain())).empty());
  }
  SECTION("negative: Ed25519 has no separate hash") {
    leaf.signature_algorithm = "ED25519";
    leaf.signature_hash.clear();
    CHECK(ids(run(chain())).empty());
  }
}

// --- Apple's leaf rules ----------------------------------------------------------------------

TEST_CASE_METHOD(ChainFixture, "tls: cert.apple-no-server-auth-eku", "[tls][chain][apple]") {
  leaf.not_before = unix_time(2019, 7, 1);
  leaf.not_after = leaf.not_before + 300 * day;
  policy.now = leaf.not_before + 100 * day;
  SECTION("negative: serverAuth present") {
    CHECK(ids(run(chain(false))).empty());
  }
  SECTION("positive: issued 2019-07-01T00:00:00Z without EKU") {
    leaf.has_eku = false;
    leaf.eku_server_auth = false;
    const auto issues = run(chain(false));
    REQUIRE(ids(issues) == std::vector<std::string>{"cert.apple-no-server-auth-eku"});
    CHECK(contains(issues.front().message, "no extended key usage"));
    CHECK(contains(issues.front().message, "2019-07-01T00:00:00Z"));
  }
  SECTION("positive: anyExtendedKeyUsage does not count") {
    leaf.eku_server_auth = false;
    leaf.eku_any = true;
    CHECK(contains(first(run(chain(false)), "cert.apple-no-server-auth-eku").message,
                   "anyExtendedKeyUsage"));
  }
  SECTION("negative: issued 2019-06-30T23:59:59Z is exempt") {
    leaf.not_before = unix_time(2019, 6, 30, 23, 59, 59);
    leaf.has_eku = false;
    leaf.eku_server_auth = false;
    CHECK(ids(run(chain(false))).empty());
  }
}

TEST_CASE("tls: apple_validity_days counts part days as whole days", "[tls][apple]") {
  CertInfo c;
  c.not_before = unix_time(2021, 1, 1);
  c.not_after = c.not_before + 825 * day;
  CHECK(apple_validity_days(c) == 825);
  CHECK(cabf_validity_days(c) == 826);  // the BR count includes the not_after second
  c.not_after += 1;
  CHECK(apple_validity_days(c) == 826);
  c.not_after = c.not_before + 825 * day - 1;
  CHECK(apple_validity_days(c) == 825);
  CHECK(cabf_validity_days(c) == 825);
  c.not_after = c.not_before - 5;
  CHECK(apple_validity_days(c) == 0);
  CHECK(cabf_validity_days(c) == 0);
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.apple-validity-too-long boundaries",
                 "[tls][chain][apple]") {
  const auto with_validity = [&](std::int64_t not_before, std::int64_t seconds, bool public_root) {
    leaf.not_before = not_before;
    leaf.not_after = not_before + seconds;
    policy.now = not_before + day;
    return run(chain(public_root));
  };
  const std::string id = "cert.apple-validity-too-long";
  const std::int64_t y2021 = unix_time(2021, 1, 1);

  SECTION("825 days: exactly passes, one second more fails (private root)") {
    CHECK(ids(with_validity(y2021, 825 * day, false)).empty());
    const auto issues = with_validity(y2021, 825 * day + 1, false);
    REQUIRE(ids(issues) == std::vector<std::string>{id});
    CHECK(issues.front().severity == Severity::critical);
    CHECK(contains(issues.front().message, "826 days"));
    CHECK(contains(issues.front().message, "at most 825 days"));
    CHECK(contains(issues.front().message, "HT210176"));
    CHECK(issues.front().evidence.at("validity_days") == 826);
    CHECK(issues.front().evidence.at("max_days") == 825);
  }
  SECTION("398 days: exactly passes, one second more fails (public root)") {
    CHECK(ids(with_validity(y2021, 398 * day, true)).empty());
    const auto issues = with_validity(y2021, 398 * day + 1, true);
    REQUIRE(ids(issues) == std::vector<std::string>{id});
    CHECK(contains(issues.front().message, "399 days"));
    CHECK(contains(issues.front().message, "HT211025"));
    CHECK(issues.front().evidence.at("max_days") == 398);
  }
  SECTION("a root the admin installed is exempt from the 398-day rule") {
    CHECK(ids(with_validity(y2021, 500 * day, false)).empty());
    CHECK(ids(with_validity(unix_time(2020, 9, 1), 825 * day, false)).empty());
  }
  SECTION("issued 2019-06-30T23:59:59Z is exempt from both") {
    CHECK(ids(with_validity(unix_time(2019, 6, 30, 23, 59, 59), 2000 * day, true)).empty());
    CHECK(ids(with_validity(unix_time(2019, 6, 30, 23, 59, 59), 2000 * day, false)).empty());
  }
  SECTION("issued 2019-07-01T00:00:00Z gets the 825-day rule") {
    CHECK(ids(with_validity(unix_time(2019, 7, 1), 826 * day, false)) ==
          std::vector<std::string>{id});
  }
  SECTION("issued 2020-08-31T23:59:59Z gets only the 825-day rule") {
    const std::int64_t nb = unix_time(2020, 8, 31, 23, 59, 59);
    CHECK(ids(with_validity(nb, 825 * day, true)).empty());
    const auto issues = with_validity(nb, 825 * day + 1, true);
    REQUIRE(ids(issues) == std::vector<std::string>{id});
    CHECK(issues.front().evidence.at("max_days") == 825);
  }
  SECTION("issued 2020-09-01T00:00:00Z with a public root gets the 398-day rule") {
    CHECK(ids(with_validity(unix_time(2020, 9, 1), 399 * day, true)) ==
          std::vector<std::string>{id});
  }
}

TEST_CASE_METHOD(ChainFixture, "tls: cert.cabf-validity (info, public roots only)",
                 "[tls][chain][cabf]") {
  const auto with_validity = [&](std::int64_t not_before, std::int64_t seconds, bool public_root) {
    leaf.not_before = not_before;
    leaf.not_after = not_before + seconds;
    policy.now = not_before + day;
    return run(chain(public_root));
  };
  const std::string id = "cert.cabf-validity";
  const std::int64_t mar2026 = unix_time(2026, 3, 15);

  SECTION("200 days from 2026-03-15, counted through not_after inclusive") {
    CHECK(ids(with_validity(mar2026, 200 * day - 1, true)).empty());
    const auto issues = with_validity(mar2026, 200 * day, true);
    REQUIRE(ids(issues) == std::vector<std::string>{id});
    CHECK(issues.front().severity == Severity::info);
    CHECK(contains(issues.front().message, "201 days"));
    CHECK(contains(issues.front().message, "at most 200 days"));
    CHECK(contains(issues.front().message, "2026-03-15"));
  }
  SECTION("issued the second before 2026-03-15: not yet") {
    CHECK(ids(with_validity(mar2026 - 1, 398 * day, true)).empty());
  }
  SECTION("private roots are not judged") {
    CHECK(ids(with_validity(mar2026, 300 * day, false)).empty());
  }
  SECTION("100 days from 2027-03-15, 47 days from 2029-03-15") {
    CHECK(ids(with_validity(unix_time(2027, 3, 15), 100 * day - 1, true)).empty());
    CHECK(
        first(with_validity(unix_time(2027, 3, 15), 150 * day, true), id).evidence.at("max_days") ==
        100);
    CHECK(ids(with_validity(unix_time(2029, 3, 15), 47 * day - 1, true)).empty());
    CHECK(
        first(with_validity(unix_time(2029, 3, 15), 47 * day, true), id).evidence.at("max_days") ==
        47);
  }
}

TEST_CASE_METHOD(ChainFixture, "tls: issues come in a fixed order", "[tls][chain]") {
  leaf.dns_names.clear();
  leaf.key_bits = 1024;
  leaf.signature_hash = "SHA1";
  leaf.has_eku = false;
  leaf.eku_server_auth = false;
  leaf.not_after = leaf.not_before + 900 * day;
  policy.now = leaf.not_after - day;
  CHECK(ids(run(failed({leaf}, 20, 0, "unable to get local issuer certificate"))) ==
        std::vector<std::string>{"cert.incomplete-chain", "cert.expires-soon",
                                 "cert.hostname-mismatch", "cert.apple-no-san", "cert.weak-key",
                                 "cert.weak-signature", "cert.apple-no-server-auth-eku",
                                 "cert.apple-validity-too-long"});
}

// --- evidence --------------------------------------------------------------------------------

TEST_CASE("tls: format_rfc3339 over the calendar", "[tls]") {
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(-1) == "1969-12-31T23:59:59Z");
  CHECK(format_rfc3339(unix_time(2024, 2, 29, 12, 34, 56)) == "2024-02-29T12:34:56Z");
  CHECK(format_rfc3339(1561939200) == "2019-07-01T00:00:00Z");
  CHECK(format_rfc3339(unix_time(9999, 12, 31, 23, 59, 59)) == "9999-12-31T23:59:59Z");
  CHECK(format_rfc3339(unix_time(1950, 1, 1)) == "1950-01-01T00:00:00Z");
}

TEST_CASE_METHOD(ChainFixture, "tls: to_json holds every field", "[tls]") {
  leaf.ip_addresses = {"192.0.2.10"};
  const auto j = to_json(leaf, unix_time(2025, 5, 29, 12));
  for (const char* key : {"subject",
                          "issuer",
                          "common_name",
                          "dns_names",
                          "ip_addresses",
                          "serial",
                          "not_before",
                          "not_after",
                          "key_type",
                          "key_bits",
                          "signature_algorithm",
                          "signature_hash",
                          "sha256_fingerprint",
                          "is_ca",
                          "self_issued",
                          "has_eku",
                          "eku_server_auth",
                          "eku_any",
                          "source",
                          "days_left"}) {
    CHECK(j.contains(key));
  }
  CHECK(j.at("not_before") == "2025-03-01T00:00:00Z");
  CHECK(j.at("not_after") == "2025-05-30T00:00:00Z");
  CHECK(j.at("not_after_unix") == leaf.not_after);
  CHECK(j.at("days_left") == 0);  // 12 hours left: whole days, rounded down
  CHECK(to_json(leaf, leaf.not_after + 1).at("days_left") == -1);
  CHECK(j.at("dns_names") == nlohmann::json({"mail.example.test", "imap.example.test"}));
  CHECK(j.at("ip_addresses") == nlohmann::json({"192.0.2.10"}));
  CHECK(j.at("eku_server_auth") == true);
  CHECK(j.at("source") == "server");
  CHECK_NOTHROW(j.dump());
}

// --- sessions ---------------------------------------------------------------------------------

TEST_CASE("tls: evaluate_session", "[tls][session]") {
  const SessionFacts good{"TLSv1.3", "TLS_AES_256_GCM_SHA384", 256};
  CHECK(evaluate_session(good, false, {}, true).empty());

  SECTION("tls.weak-cipher below 128 bits") {
    const auto issues = evaluate_session({"TLSv1.2", "DES-CBC3-SHA", 112}, false, {}, true);
    REQUIRE(ids(issues) == std::vector<std::string>{"tls.weak-cipher"});
    CHECK(issues.front().severity == Severity::critical);
    CHECK(contains(issues.front().message, "DES-CBC3-SHA"));
    CHECK(contains(issues.front().message, "112-bit"));
    CHECK(ids(evaluate_session({"TLSv1.2", "AES128-GCM-SHA256", 128}, false, {}, true)).empty());
    CHECK(ids(evaluate_session({"", "", 0}, false, {}, true)).empty());  // nothing negotiated
  }
  SECTION("tls.legacy-protocol lists the versions") {
    const auto issues = evaluate_session(good, true, {"TLSv1", "TLSv1.1"}, true);
    REQUIRE(ids(issues) == std::vector<std::string>{"tls.legacy-protocol"});
    CHECK(issues.front().severity == Severity::warning);
    CHECK(contains(issues.front().message, "TLSv1, TLSv1.1"));
    CHECK(issues.front().evidence.at("legacy_versions").size() == 2);
    CHECK(ids(evaluate_session(good, true, {}, true)) ==
          std::vector<std::string>{"tls.legacy-protocol"});
  }
  SECTION("tls.no-tls13 is info, and not raised when 1.3 was negotiated") {
    const auto issues =
        evaluate_session({"TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 128}, false, {}, false);
    REQUIRE(ids(issues) == std::vector<std::string>{"tls.no-tls13"});
    CHECK(issues.front().severity == Severity::info);
    CHECK(evaluate_session(good, false, {}, false).empty());
  }
}

// --- the catalog ------------------------------------------------------------------------------

TEST_CASE("tls: every TLS and certificate finding id is catalogued", "[tls][catalog]") {
  std::vector<std::string_view> all(issue_ids().begin(), issue_ids().end());
  all.push_back("tls.none");
  all.push_back("cert.endpoints-differ");
  CHECK(all.size() == 18);
  for (const auto id : all) {
    INFO(id);
    const checks::FindingInfo* info = checks::find_finding_info(id);
    REQUIRE(info != nullptr);
    CHECK_FALSE(info->title.empty());
    CHECK(info->explanation.size() > 80);
    CHECK_FALSE(info->remediation.empty());
  }
  CHECK(checks::find_finding_info("cert.expires-soon")->severity == Severity::warning);
  CHECK(checks::find_finding_info("cert.cabf-validity")->severity == Severity::info);
  CHECK(checks::find_finding_info("tls.no-tls13")->severity == Severity::info);
  for (const char* apple : {"cert.apple-no-san", "cert.apple-no-server-auth-eku", "cert.weak-key",
                            "cert.weak-signature"}) {
    CHECK(checks::find_finding_info(apple)->explanation.find("HT210176") != std::string_view::npos);
  }
  CHECK(checks::find_finding_info("cert.apple-validity-too-long")->explanation.find("HT211025") !=
        std::string_view::npos);
}

TEST_CASE("tls: internationalised names match in their A-label (xn--) form only", "[tls][hostname]") {
  using mailready::tls::CertInfo;
  using mailready::tls::hostname_matches;
  CertInfo leaf;
  leaf.dns_names = {"xn--mnchen-3ya.example.test", "*.xn--bcher-kva.example.test"};
  // München and Bücher, as a phone resolves and compares them (IDNA A-labels, RFC 6125 §6.4.2).
  CHECK(hostname_matches("xn--mnchen-3ya.example.test", leaf));
  CHECK(hostname_matches("XN--MNCHEN-3YA.example.test", leaf));
  CHECK(hostname_matches("mail.xn--bcher-kva.example.test", leaf));
  // A wildcard never stands in for part of an A-label, and U-labels are not converted here.
  CHECK_FALSE(hostname_matches("xn--bcher-kva.example.test", leaf));
  CHECK_FALSE(hostname_matches("m\xc3\xbcnchen.example.test", leaf));
  leaf.dns_names = {"xn--*.example.test"};
  CHECK_FALSE(hostname_matches("xn--mnchen-3ya.example.test", leaf));
}
