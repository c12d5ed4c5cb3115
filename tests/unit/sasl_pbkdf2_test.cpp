// checks/proto/sasl/crypto.cpp's PBKDF2 (SCRAM's Hi()): the RFC 6070 and RFC 7914 known
// answers, and agreement with OpenSSL's own PKCS5_PBKDF2_HMAC where the fast path's
// corners are (keys longer than a hash block, outputs longer than one digest).

#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <string>

#include "checks/proto/sasl/crypto.hpp"

using mailready::proto::sasl::crypto::pbkdf2;

namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string openssl(const EVP_MD* md, const std::string& password, const std::string& salt,
                    int iterations, std::size_t length) {
  std::string out(length, '\0');
  REQUIRE(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                            reinterpret_cast<const unsigned char*>(salt.data()),
                            static_cast<int>(salt.size()), iterations, md,
                            static_cast<int>(length),
                            reinterpret_cast<unsigned char*>(out.data())) == 1);
  return out;
}

}  // namespace

TEST_CASE("PBKDF2-HMAC-SHA1 gives RFC 6070's answers", "[sasl][pbkdf2]") {
  CHECK(hex(pbkdf2("SHA1", "password", "salt", 1, 20).value()) ==
        "0c60c80f961f0e71f3a9b524af6012062fe037a6");
  CHECK(hex(pbkdf2("SHA1", "password", "salt", 2, 20).value()) ==
        "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
  CHECK(hex(pbkdf2("SHA1", "password", "salt", 4096, 20).value()) ==
        "4b007901b765489abead49d926f721d065a429c1");
  CHECK(hex(pbkdf2("SHA1", "passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt",
                   4096, 25).value()) == "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038");
  CHECK(hex(pbkdf2("SHA1", std::string("pass\0word", 9), std::string("sa\0lt", 5), 4096, 16)
                .value()) == "56fa6aa75548099dcc37d7f03425e0c3");
}

TEST_CASE("PBKDF2-HMAC-SHA256 gives RFC 7914's answers", "[sasl][pbkdf2]") {
  CHECK(hex(pbkdf2("SHA256", "passwd", "salt", 1, 64).value()) ==
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
  CHECK(hex(pbkdf2("SHA256", "Password", "NaCl", 80000, 64).value()) ==
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

TEST_CASE("PBKDF2 agrees with OpenSSL's on long keys, odd lengths and other digests",
          "[sasl][pbkdf2]") {
  const std::string long_key(200, 'k');  // longer than both hashes' 64-byte block
  for (const std::size_t length : {1u, 19u, 20u, 33u, 70u}) {
    CHECK(pbkdf2("SHA1", long_key, "NaCl", 7, length).value() ==
          openssl(EVP_sha1(), long_key, "NaCl", 7, length));
    CHECK(pbkdf2("SHA256", long_key, "NaCl", 7, length).value() ==
          openssl(EVP_sha256(), long_key, "NaCl", 7, length));
  }
  const std::string exactly_a_block(64, 'b');
  CHECK(pbkdf2("SHA256", exactly_a_block, "s", 3, 32).value() ==
        openssl(EVP_sha256(), exactly_a_block, "s", 3, 32));
  // Any other digest goes through OpenSSL itself.
  CHECK(pbkdf2("SHA512", "password", "salt", 2, 64).value() ==
        openssl(EVP_sha512(), "password", "salt", 2, 64));
  CHECK_FALSE(pbkdf2("SHA256", "password", "salt", 0, 32).ok());
}
