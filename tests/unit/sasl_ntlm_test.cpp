// NTLM (checks/proto/sasl/ntlm.cpp): the MS-NLMP §4.2.4 NTLMv2 vectors end to end, the
// domain rule, and hostile Type 2 messages, including the shapes that crash Poco 1.11's
// NTLMCredentials::parseChallengeMessage (PITFALLS.md). Run these under ASan/UBSan too.

#include <catch2/catch.hpp>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>

#include "checks/proto/sasl/mechanisms.hpp"
#include "checks/proto/sasl/ntlm.hpp"
#include "checks/proto/sasl/sasl.hpp"

using namespace mailready::proto;
using namespace mailready::proto::sasl;

namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += digits[static_cast<unsigned char>(c) >> 4];
    out += digits[static_cast<unsigned char>(c) & 0x0F];
  }
  return out;
}

std::string utf16(std::string_view ascii) {
  std::string out;
  for (const char c : ascii) {
    out += c;
    out += '\0';
  }
  return out;
}

void put16(std::string& m, std::size_t at, std::uint16_t v) {
  m[at] = static_cast<char>(v & 0xFF);
  m[at + 1] = static_cast<char>(v >> 8);
}
void put32(std::string& m, std::size_t at, std::uint32_t v) {
  put16(m, at, static_cast<std::uint16_t>(v & 0xFFFF));
  put16(m, at + 2, static_cast<std::uint16_t>(v >> 16));
}
std::uint16_t get16(std::string_view m, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(m[at]) |
                                    static_cast<unsigned char>(m[at + 1]) << 8);
}
std::uint32_t get32(std::string_view m, std::size_t at) {
  return get16(m, at) | static_cast<std::uint32_t>(get16(m, at + 2)) << 16;
}

/// A CHALLENGE_MESSAGE laid out as in MS-NLMP §4.2.4.3: 56-byte header with Version,
/// then TargetName, then TargetInfo.
std::string challenge(std::uint32_t flags, std::string_view target_name,
                      std::string_view target_info) {
  std::string m("NTLMSSP\0", 8);
  m += std::string(48, '\0');
  put32(m, 8, 2);
  put16(m, 12, static_cast<std::uint16_t>(target_name.size()));
  put16(m, 14, static_cast<std::uint16_t>(target_name.size()));
  put32(m, 16, 56);
  put32(m, 20, flags);
  const std::string server_challenge = unhex("0123456789abcdef");
  m.replace(24, 8, server_challenge);
  put16(m, 40, static_cast<std::uint16_t>(target_info.size()));
  put16(m, 42, static_cast<std::uint16_t>(target_info.size()));
  put32(m, 44, static_cast<std::uint32_t>(56 + target_name.size()));
  m.replace(48, 8, unhex("060070170000000f"));
  return m + std::string(target_name) + std::string(target_info);
}

/// MS-NLMP §4.2.4: AV pairs MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server".
const std::string kSpecTargetInfo = unhex(
    "02000c0044006f006d00610069006e00"
    "01000c00530065007200760065007200"
    "00000000");

/// The CHALLENGE_MESSAGE of MS-NLMP §4.2.4.3, byte for byte.
const std::string kSpecChallenge = unhex(
    "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef"
    "0000000000000000240024004400000006007017"
    "0000000f"
    "53006500720076006500720002000c0044006f006d00610069006e0001000c00"
    "53006500720076006500720000000000");

NtlmOptions spec_options() {
  NtlmOptions o;
  o.client_challenge = std::array<std::uint8_t, 8>{0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
  o.time = 0;
  o.workstation = "COMPUTER";
  return o;
}

/// Security buffer `index` of an AUTHENTICATE_MESSAGE (0 LM, 1 NT, 2 domain, 3 user,
/// 4 workstation, 5 session key).
std::string type3_field(std::string_view m, int index) {
  const std::size_t at = 12 + 8 * static_cast<std::size_t>(index);
  REQUIRE(m.size() >= at + 8);
  const std::uint16_t length = get16(m, at);
  const std::uint32_t offset = get32(m, at + 4);
  REQUIRE(static_cast<std::uint64_t>(offset) + length <= m.size());
  return std::string(m.substr(offset, length));
}

/// Runs Type 1, then answers `type2`.
Result<std::string> answer(const Credentials& c, std::string_view type2,
                           NtlmOptions options = spec_options()) {
  auto m = make_ntlm(c, std::move(options));
  REQUIRE(m->initial_response());
  return m->step(type2);
}

const Credentials kSpecUser{"Domain\\User", "Password", "", ""};

}  // namespace

TEST_CASE("NTLM test data: the builder reproduces the MS-NLMP challenge", "[sasl][ntlm]") {
  REQUIRE(kSpecChallenge.size() == 104);
  CHECK(challenge(0xe28a8233, utf16("Server"), kSpecTargetInfo) == kSpecChallenge);
}

TEST_CASE("NTLM Type 1 is Poco's negotiate message", "[sasl][ntlm]") {
  auto m = make("NTLM", kSpecUser);
  REQUIRE(m);
  CHECK(m->client_first());
  CHECK_FALSE(m->sends_password_in_clear());
  const auto type1 = m->initial_response();
  REQUIRE(type1);
  // UNICODE | REQUEST_TARGET | NTLM | ALWAYS_SIGN | EXTENDED_SESSIONSECURITY, no domain.
  CHECK(to_hex(type1.value()) ==
        "4e544c4d535350000100000005820800"
        "00000000180000000000000018000000");
  CHECK_FALSE(m->initial_response());

  auto without_ir = make("NTLM", kSpecUser);
  CHECK(without_ir->step("").value() == type1.value());
}

TEST_CASE("NTLM parses the MS-NLMP challenge", "[sasl][ntlm]") {
  const auto ch = parse_ntlm_challenge(kSpecChallenge);
  REQUIRE(ch);
  CHECK(ch->flags == 0xe28a8233);
  CHECK(to_hex(std::string(ch->server_challenge.begin(), ch->server_challenge.end())) ==
        "0123456789abcdef");
  CHECK(ch->target_name == "Server");
  CHECK(ch->target_info == kSpecTargetInfo);
  CHECK_FALSE(ch->timestamp.has_value());
}

TEST_CASE("NTLM Type 3 carries the MS-NLMP 4.2.4 NTLMv2 and LMv2 responses", "[sasl][ntlm]") {
  const auto type3 = answer(kSpecUser, kSpecChallenge);
  REQUIRE(type3);
  const std::string& m = type3.value();
  CHECK(m.substr(0, 12) == std::string("NTLMSSP\0\3\0\0\0", 12));
  // §4.2.4.2.1 LMv2 response.
  CHECK(to_hex(type3_field(m, 0)) == "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa");
  // §4.2.4.2.2: NTProofStr, then the blob (temp) it was computed over.
  const std::string nt = type3_field(m, 1);
  REQUIRE(nt.size() == 84);
  CHECK(to_hex(nt.substr(0, 16)) == "68cd0ab851e51c96aabc927bebef6a1c");
  CHECK(to_hex(nt.substr(16)) ==
        "0101000000000000"
        "0000000000000000"
        "aaaaaaaaaaaaaaaa"
        "00000000" +
            to_hex(kSpecTargetInfo) + "00000000");
  CHECK(type3_field(m, 2) == utf16("Domain"));
  CHECK(type3_field(m, 3) == utf16("User"));
  CHECK(type3_field(m, 4) == utf16("COMPUTER"));
  CHECK(type3_field(m, 5).empty());
  // We echo UNICODE | NTLM and the server's ESS, ALWAYS_SIGN, TARGET_INFO, REQUEST_TARGET.
  CHECK(get32(m, 60) == 0x00888201);
}

TEST_CASE("NTLM takes the domain from the user name, else from the challenge", "[sasl][ntlm]") {
  SECTION("no domain given: the challenge's target name") {
    const auto type3 = answer(Credentials{"User", "Password", "", ""}, kSpecChallenge);
    REQUIRE(type3);
    CHECK(type3_field(type3.value(), 2) == utf16("Server"));
    CHECK(type3_field(type3.value(), 3) == utf16("User"));
    // A different domain is a different NTOWFv2, so a different proof.
    CHECK(to_hex(type3_field(type3.value(), 1).substr(0, 16)) !=
          "68cd0ab851e51c96aabc927bebef6a1c");
  }
  SECTION("a UPN: empty domain") {
    const auto type3 = answer(Credentials{"user@example.com", "Password", "", ""}, kSpecChallenge);
    REQUIRE(type3);
    CHECK(type3_field(type3.value(), 2).empty());
    CHECK(type3_field(type3.value(), 3) == utf16("user@example.com"));
  }
}

TEST_CASE("NTLM uses the server's MsvAvTimestamp and then sends no LMv2", "[sasl][ntlm]") {
  const std::string info = unhex(
      "02000c0044006f006d00610069006e00"
      "070008000102030405060708"
      "00000000");
  const std::string type2 = challenge(0xe28a8233, utf16("Server"), info);
  const auto ch = parse_ntlm_challenge(type2);
  REQUIRE(ch);
  REQUIRE(ch->timestamp.has_value());
  CHECK(*ch->timestamp == 0x0807060504030201u);

  NtlmOptions o = spec_options();
  o.time.reset();
  const auto type3 = answer(kSpecUser, type2, o);
  REQUIRE(type3);
  CHECK(type3_field(type3.value(), 0) == std::string(24, '\0'));
  CHECK(to_hex(type3_field(type3.value(), 1).substr(24, 8)) == "0102030405060708");
}

TEST_CASE("NTLM refuses credentials it cannot encode and steps out of order", "[sasl][ntlm]") {
  const auto bad_utf8 = answer(Credentials{"Domain\\\xff", "Password", "", ""}, kSpecChallenge);
  REQUIRE_FALSE(bad_utf8);
  CHECK(bad_utf8.failure().kind == Failure::Kind::other);

  auto m = make_ntlm(kSpecUser, spec_options());
  REQUIRE(m->initial_response());
  REQUIRE(m->step(kSpecChallenge));
  const auto again = m->step(kSpecChallenge);
  REQUIRE_FALSE(again);
  CHECK(again.failure().kind == Failure::Kind::protocol);
}

TEST_CASE("NTLM rejects every truncation of a challenge", "[sasl][ntlm][hostile]") {
  for (std::size_t size = 0; size < kSpecChallenge.size(); ++size) {
    CAPTURE(size);
    const auto r = parse_ntlm_challenge(kSpecChallenge.substr(0, size));
    REQUIRE_FALSE(r);
    CHECK(r.failure().kind == Failure::Kind::protocol);
  }
}

TEST_CASE("NTLM rejects hostile Type 2 messages without reading out of bounds",
          "[sasl][ntlm][hostile]") {
  std::string m = kSpecChallenge;
  std::string reason;  // what the failure message must say
  SECTION("shorter than the 32-byte header") {
    reason = "fewer than its 32-byte header";
    m = m.substr(0, 31);
  }
  SECTION("only the 32-byte header (no TargetInfo)") {
    reason = "has no TargetInfo";
    m = m.substr(0, 32);
    put16(m, 12, 0);
    put32(m, 16, 32);
  }
  SECTION("TargetName offset + length past the end") {
    reason = "TargetName (offset 56, length 64) lies outside the 104-byte";
    put16(m, 12, 0x40);
  }
  SECTION("TargetName offset past the end") {
    reason = "TargetName (offset 4096, length 12)";
    put32(m, 16, 0x1000);
  }
  SECTION("TargetName offset + length overflows 32 bits") {
    reason = "TargetName (offset 4294967280, length 32)";
    put16(m, 12, 0x20);
    put16(m, 14, 0x20);
    put32(m, 16, 0xFFFFFFF0);
  }
  SECTION("TargetInfo offset + length overflows 32 bits") {
    reason = "TargetInfo (offset 4294967280, length 32)";
    put16(m, 40, 0x20);
    put32(m, 44, 0xFFFFFFF0);
  }
  SECTION("TargetInfo offset + length past the end") {
    reason = "TargetInfo (offset 68, length 37)";
    put16(m, 40, 0x25);
  }
  SECTION("the 105-byte shape that crashes Poco 1.11") {
    reason = "TargetInfo (offset 4294967280, length 49) lies outside the 105-byte";
    // PITFALLS.md: TargetInfo {length 0x31, offset 0xFFFFFFF0}: 0xFFFFFFF0 + 0x31 wraps
    // to 0x21 <= 105 in Poco's 32-bit check, which then copies from 4 GiB past the
    // buffer (reproduced as a segfault against Debian's libPocoNet 1.11).
    m += '\0';
    put16(m, 40, 0x31);
    put16(m, 42, 0x31);
    put32(m, 44, 0xFFFFFFF0);
    REQUIRE(m.size() == 105);
  }
  SECTION("odd-length UTF-16 TargetName") {
    reason = "odd UTF-16 length";
    put16(m, 12, 11);
  }
  SECTION("wrong signature") {
    reason = "no NTLMSSP signature";
    m[0] = 'X';
  }
  SECTION("wrong message type") {
    reason = "not a Type 2";
    put32(m, 8, 3);
  }
  SECTION("no Unicode") {
    reason = "does not offer Unicode";
    put32(m, 20, get32(m, 20) & ~1u);
  }
  SECTION("no TargetInfo flag (NTLMv1-only server)") {
    reason = "has no TargetInfo";
    put32(m, 20, get32(m, 20) & ~ntlm_flag::target_info);
  }
  SECTION("TargetInfo flag but a 40-byte message") {
    reason = "has no TargetInfo";
    m = m.substr(0, 40);
    put16(m, 12, 0);
    put32(m, 16, 40);
  }
  SECTION("empty TargetInfo") {
    reason = "TargetInfo is empty";
    put16(m, 40, 0);
  }
  SECTION("an AV pair longer than TargetInfo") {
    reason = "runs past the end of TargetInfo";
    put16(m, 56 + 12 + 2, 0x40);
  }
  SECTION("TargetInfo without MsvAvEOL") {
    reason = "ends without MsvAvEOL";
    put16(m, 40, 32);
  }
  SECTION("MsvAvEOL with a value") {
    reason = "MsvAvEOL has a value";
    m = challenge(0xe28a8233, utf16("Server"), unhex("0000040000000000"));
  }
  SECTION("MsvAvTimestamp of the wrong size") {
    reason = "MsvAvTimestamp is not 8 bytes";
    m = challenge(0xe28a8233, utf16("Server"), unhex("070004000102030400000000"));
  }
  SECTION("TargetInfo too long for a Type 3 reply") {
    reason = "too long for a Type 3 reply";
    // Well formed (MsvAvEOL first, zeros after), but 0xFFFF bytes.
    m = challenge(0xe28a8233, "", std::string(0xFFFF, '\0'));
  }
  CAPTURE(to_hex(m.substr(0, 64)));
  const auto parsed = parse_ntlm_challenge(m);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.failure().kind == Failure::Kind::protocol);
  CHECK(parsed.failure().message.rfind("NTLM: ", 0) == 0);
  CHECK_THAT(parsed.failure().message, Catch::Matchers::Contains(reason));

  // Through the mechanism: a Failure, and the exchange stays failed.
  auto mech = make_ntlm(kSpecUser, spec_options());
  REQUIRE(mech->initial_response());
  const auto r = mech->step(m);
  REQUIRE_FALSE(r);
  CHECK(r.failure().kind == Failure::Kind::protocol);
  CHECK_FALSE(mech->step(kSpecChallenge));
}

TEST_CASE("NTLM survives randomly mutated challenges", "[sasl][ntlm][hostile]") {
  // Mutations aimed at the length/offset fields and the AV pairs; every outcome must be
  // a value (never a crash), and every accepted challenge must yield a Type 3.
  std::mt19937 rng(20240229);
  const std::size_t hot[] = {12, 13, 14, 16, 17, 18, 19, 20, 22, 40,
                             41, 44, 45, 46, 47, 70, 71, 86, 87, 100};
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string m = kSpecChallenge;
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < mutations; ++k) {
      const std::size_t at = rng() % 2 == 0 ? hot[rng() % std::size(hot)] : rng() % m.size();
      m[at] = static_cast<char>(rng() % 3 == 0 ? 0xFF : rng() & 0xFF);
    }
    if (rng() % 8 == 0) m.resize(rng() % (m.size() + 16), '\0');
    const auto parsed = parse_ntlm_challenge(m);
    if (!parsed) continue;
    ++accepted;
    REQUIRE(parsed->target_info.size() <= m.size());
    const auto type3 = answer(kSpecUser, m);
    CAPTURE(to_hex(m));
    REQUIRE(type3);
  }
  CHECK(accepted > 0);
}
