// SCRAM-SHA-1 and SCRAM-SHA-256 (checks/proto/sasl/scram.cpp): the full RFC 5802 §5 and
// RFC 7677 §3 exchanges including the server signature, and hostile server messages.

#include <catch2/catch.hpp>
#include <string>

#include "checks/proto/sasl/mechanisms.hpp"
#include "checks/proto/sasl/sasl.hpp"

using namespace mailready::proto;
using namespace mailready::proto::sasl;

namespace {

const Credentials kUser{"user", "pencil", "", ""};

// RFC 5802 §5.
constexpr const char* kSha1Nonce = "fyko+d2lbbFgONRv9qkxdawL";
constexpr const char* kSha1ServerFirst =
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
constexpr const char* kSha1ClientFinal =
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
constexpr const char* kSha1ServerFinal = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

// RFC 7677 §3.
constexpr const char* kSha256Nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr const char* kSha256ServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kSha256ClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kSha256ServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// A SHA-1 exchange that has sent client-first.
std::unique_ptr<Mechanism> started_sha1(const Credentials& c = kUser) {
  auto m = make_scram(ScramHash::sha1, c, kSha1Nonce);
  REQUIRE(m->initial_response());
  return m;
}

/// `text` with its character at `at` changed.
std::string tampered(std::string text, std::size_t at) {
  text[at] = text[at] == 'A' ? 'B' : 'A';
  return text;
}

}  // namespace

TEST_CASE("SCRAM-SHA-1 replays the RFC 5802 example exchange", "[sasl][scram]") {
  auto m = make_scram(ScramHash::sha1, kUser, kSha1Nonce);
  CHECK(m->name() == "SCRAM-SHA-1");
  CHECK(m->client_first());
  CHECK_FALSE(m->sends_password_in_clear());
  const auto first = m->initial_response();
  REQUIRE(first);
  CHECK(first.value() == "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
  const auto final_message = m->step(kSha1ServerFirst);
  REQUIRE(final_message);
  CHECK(final_message.value() == kSha1ClientFinal);

  SECTION("server-final as a challenge") {
    const auto ack = m->step(kSha1ServerFinal);
    REQUIRE(ack);
    CHECK(ack.value().empty());
    CHECK(m->verify_server_final(""));  // the success reply carried nothing more
    CHECK(m->verify_server_final(kSha1ServerFinal));
    CHECK_FALSE(m->step("v=again"));
  }
  SECTION("server-final with the success reply") {
    CHECK(m->verify_server_final(kSha1ServerFinal));
  }
  SECTION("a tampered server signature is rejected") {
    const std::string forged = tampered(kSha1ServerFinal, 2);
    const auto r = m->step(forged);
    REQUIRE_FALSE(r);
    CHECK(r.failure().message.find("server signature") != std::string::npos);
    CHECK_FALSE(m->verify_server_final(forged));
  }
  SECTION("a tampered signature fails verify_server_final too") {
    CHECK_FALSE(m->verify_server_final(tampered(kSha1ServerFinal, 10)));
  }
}

TEST_CASE("SCRAM-SHA-256 replays the RFC 7677 example exchange", "[sasl][scram]") {
  auto m = make_scram(ScramHash::sha256, kUser, kSha256Nonce);
  CHECK(m->name() == "SCRAM-SHA-256");
  // Without SASL-IR: the server's empty challenge gets client-first.
  const auto first = m->step("");
  REQUIRE(first);
  CHECK(first.value() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  const auto final_message = m->step(kSha256ServerFirst);
  REQUIRE(final_message);
  CHECK(final_message.value() == kSha256ClientFinal);

  SECTION("the right signature") {
    const auto ack = m->step(kSha256ServerFinal);
    REQUIRE(ack);
    CHECK(ack.value().empty());
  }
  SECTION("a tampered signature") {
    const auto r = m->step(tampered(kSha256ServerFinal, 5));
    REQUIRE_FALSE(r);
    CHECK(r.failure().kind == Failure::Kind::protocol);
  }
  SECTION("the SHA-1 signature for the SHA-256 exchange") {
    CHECK_FALSE(m->verify_server_final(kSha1ServerFinal));
  }
  SECTION("a server-final that is not v= or e=") {
    CHECK_FALSE(m->step("x=1"));
  }
  SECTION("a signature that is not base64") {
    CHECK_FALSE(m->step("v=not base64!"));
  }
}

TEST_CASE("SCRAM reports the server's e= error", "[sasl][scram]") {
  auto m = started_sha1();
  REQUIRE(m->step(kSha1ServerFirst));
  const auto r = m->step("e=invalid-proof");
  REQUIRE_FALSE(r);
  CHECK(r.failure().kind == Failure::Kind::other);
  CHECK(r.failure().message.find("invalid-proof") != std::string::npos);
}

TEST_CASE("SCRAM does not trust a success without a server signature", "[sasl][scram]") {
  auto m = started_sha1();
  SECTION("success before client-final") {
    CHECK_FALSE(m->verify_server_final(kSha1ServerFinal));
  }
  SECTION("success after client-final but without server-final") {
    REQUIRE(m->step(kSha1ServerFirst));
    CHECK_FALSE(m->verify_server_final(""));
  }
}

TEST_CASE("SCRAM escapes the user name and sends the authzid in the GS2 header", "[sasl][scram]") {
  auto m = make_scram(ScramHash::sha256, Credentials{"a,b=c", "pencil", "admin", ""}, "abc");
  CHECK(m->initial_response().value() == "n,a=admin,n=a=2Cb=3Dc,r=abc");
  const auto final_message = m->step("r=abcdef,s=QSXCR+Q6sek8bf92,i=1");
  REQUIRE(final_message);
  // c= is base64("n,a=admin,").
  CHECK(final_message.value().rfind("c=bixhPWFkbWluLA==,r=abcdef,p=", 0) == 0);
}

TEST_CASE("SCRAM without an injected nonce makes a fresh random one", "[sasl][scram]") {
  const auto a = make_scram(ScramHash::sha256, kUser)->initial_response();
  const auto b = make("SCRAM-SHA-256", kUser)->initial_response();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a.value().rfind("n,,n=user,r=", 0) == 0);
  CHECK(a.value().size() >= std::string("n,,n=user,r=").size() + 24);
  CHECK(a.value() != b.value());
}

TEST_CASE("SCRAM refuses passwords it cannot SASLprep", "[sasl][scram]") {
  for (const char* password : {"p\xc3\xa4ss", "tab\there", "\x7f"}) {
    CAPTURE(password);
    auto m = make_scram(ScramHash::sha256, Credentials{"user", password, "", ""}, "n");
    const auto r = m->initial_response();
    REQUIRE_FALSE(r);
    CHECK(r.failure().kind == Failure::Kind::other);
    CHECK(r.failure().message.find("SCRAM-SHA-256") == 0);
  }
  CHECK_FALSE(make_scram(ScramHash::sha1, Credentials{std::string("a\0b", 3), "p", "", ""}, "n")
                  ->initial_response());
  CHECK(make_scram(ScramHash::sha1, Credentials{"user", "", "", ""}, "n")->initial_response());
}

TEST_CASE("SCRAM rejects a hostile or malformed server-first", "[sasl][scram]") {
  const char* hostile[] = {
      "",                                                                // empty
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92",               // no i=
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096,s=QSXCR+Q6sek8bf92",        // out of order
      "s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096",        // out of order
      "r=someoneelsesnonce,s=QSXCR+Q6sek8bf92,i=4096",                   // not our nonce
      "r=fyko+d2lbbFgONRv9qkxdaw,s=QSXCR+Q6sek8bf92,i=4096",             // our nonce, truncated
      "r=fyko+d2lbbFgONRv9qkxdawL3r\x01,s=QSXCR+Q6sek8bf92,i=4096",      // unprintable nonce
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096",                        // empty salt
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=not*base64,i=4096",              // salt not base64
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0",           // no iterations
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=10000001",    // over the cap
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4294967297",  // wraps 32 bits
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=99999999999999999999999",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=-1",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=+4096",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=04096",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0x10",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=",
      "r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096,",       // empty extension
      "m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096",  // mandatory ext
  };
  for (const char* server_first : hostile) {
    CAPTURE(server_first);
    auto m = started_sha1();
    const auto r = m->step(server_first);
    REQUIRE_FALSE(r);
    CHECK(r.failure().kind == Failure::Kind::protocol);
    CHECK_FALSE(m->step(kSha1ServerFinal));  // the exchange stays failed
  }
}

TEST_CASE("SCRAM accepts optional extensions after i=", "[sasl][scram]") {
  auto m = started_sha1();
  const auto r = m->step(std::string(kSha1ServerFirst) + ",x=future");
  REQUIRE(r);
  // The extension is part of AuthMessage, so the proof differs from the RFC's.
  CHECK(r.value() != kSha1ClientFinal);
  CHECK(r.value().rfind("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=", 0) == 0);
}

TEST_CASE("SCRAM refuses a non-empty first challenge and calls out of order", "[sasl][scram]") {
  CHECK_FALSE(make_scram(ScramHash::sha1, kUser, kSha1Nonce)->step(kSha1ServerFirst));
  auto m = started_sha1();
  CHECK_FALSE(m->initial_response());
}

TEST_CASE("SCRAM refuses an iteration count above 1,000,000 (CPU a server could make a login cost)",
          "[sasl][scram]") {
  auto m = started_sha1();
  const auto over = m->step(std::string("r=") + kSha1Nonce + "srv,s=QSXCR+Q6sek8bf92,i=1000001");
  REQUIRE_FALSE(over);
  CHECK(over.failure().message.find("outside 1..1000000") != std::string::npos);
  auto at_cap = started_sha1();
  CHECK(at_cap->step(std::string("r=") + kSha1Nonce + "srv,s=QSXCR+Q6sek8bf92,i=1000000"));
}
