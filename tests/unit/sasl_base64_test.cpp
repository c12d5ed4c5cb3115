// base64_encode / base64_decode (checks/proto/sasl/base64.cpp): RFC 4648 §10 vectors,
// round trips of every byte value, and the strict rejections.

#include <catch2/catch.hpp>
#include <string>

#include "checks/proto/sasl/sasl.hpp"

using namespace mailready::proto;
using namespace mailready::proto::sasl;

TEST_CASE("base64 matches the RFC 4648 test vectors", "[sasl][base64]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(base64_encode(plain) == encoded);
    const auto decoded = base64_decode(encoded);
    REQUIRE(decoded);
    CHECK(decoded.value() == plain);
  }
}

TEST_CASE("base64 round-trips binary data of every length", "[sasl][base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t length = 0; length <= all.size(); length += 1) {
    const std::string bytes = all.substr(all.size() - length);
    const auto decoded = base64_decode(base64_encode(bytes));
    REQUIRE(decoded);
    CHECK(decoded.value() == bytes);
  }
  CHECK(base64_encode(std::string("\0\0\0", 3)) == "AAAA");
  CHECK(base64_encode("\xff\xfe") == "//4=");
}

TEST_CASE("base64_decode rejects anything but exact base64", "[sasl][base64]") {
  const char* invalid[] = {
      "Zg",        // not padded to a multiple of 4
      "Zg=",       // short padding
      "Zm9v\r\n",  // line break
      " Zm9v",     // leading space
      "Zm9v ",     // trailing space
      "Zm 9v",     // inner space
      "Zm9-",      // base64url alphabet
      "Zm9_",
      "Z===",      // three padding characters
      "====",      // only padding
      "Zg==Zm9v",  // data after padding
      "Zm=v",      // padding inside a group
      "Zh==",      // non-zero unused bits (canonical: Zg==)
      "Zm9=",      // non-zero unused bits (canonical: Zm8=)
      "Zm9\x80",   // 8-bit byte
  };
  for (const char* text : invalid) {
    CAPTURE(text);
    const auto decoded = base64_decode(text);
    REQUIRE_FALSE(decoded);
    CHECK(decoded.failure().kind == Failure::Kind::protocol);
  }
  CHECK_FALSE(base64_decode(std::string("Zm9v\0\0\0\0", 8)));
}
