// libFuzzer target: base64 and the SASL mechanisms' handling of server challenges
// (checks/proto/sasl/): SCRAM server-first and server-final, NTLM Type 2, CRAM-MD5,
// LOGIN, the OAuth error challenge. The first byte picks the mechanism.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checks/proto/sasl/sasl.hpp"

using namespace mailready::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Decode, and round-trip what decodes.
  if (auto decoded = sasl::base64_decode(input)) {
    if (sasl::base64_encode(decoded.value()) != input) __builtin_trap();
  }
  static const char* const names[] = {"SCRAM-SHA-256", "SCRAM-SHA-1", "NTLM", "CRAM-MD5",
                                      "LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"};
  const char* name = names[data[0] % (sizeof names / sizeof names[0])];
  sasl::Credentials creds{"alice@example.test", "secret", "", "token"};
  auto mech = sasl::make(name, creds);
  if (!mech) return 0;
  if (mech->client_first()) (void)mech->initial_response();
  // SCRAM runs up to 10,000,000 PBKDF2 rounds for a server on purpose (a bound of
  // seconds, kMaxIterations in scram.cpp); counts past 100,000 would make this target's
  // units slow, not find bugs, so they are left out here.
  const auto i = input.find("i=");
  if (i != std::string_view::npos && input.find_first_not_of("0123456789", i + 2) > i + 8) return 0;
  // The input is the server's challenges, split at 0xFF; each goes to step() raw, as
  // after base64 decoding.
  std::size_t start = 0;
  for (int step = 0; step < 4 && start <= input.size(); ++step) {
    auto end = input.find('\xff', start);
    if (end == std::string_view::npos) end = input.size();
    auto response = mech->step(input.substr(start, end - start));
    if (!response) {
      (void)mech->error_response(input.substr(start, end - start));
      break;
    }
    start = end + 1;
  }
  (void)mech->verify_server_final(input);
  return 0;
}
