#pragma once
// The NTLM Type 2 (CHALLENGE_MESSAGE, MS-NLMP §2.2.1.2) parser, public for its tests.
// It is our own: Poco 1.11's NTLMCredentials::parseChallengeMessage checks buffer
// bounds in 32-bit arithmetic and reads out of bounds on a hostile challenge (see
// PITFALLS.md, "Poco SMTP and NTLM"), so no byte of a challenge reaches Poco.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "checks/proto/result.hpp"

namespace mailready::proto::sasl {

/// NegotiateFlags bits we read or send (MS-NLMP §2.2.2.5).
namespace ntlm_flag {
constexpr std::uint32_t unicode = 0x00000001;            ///< NTLMSSP_NEGOTIATE_UNICODE
constexpr std::uint32_t request_target = 0x00000004;     ///< NTLMSSP_REQUEST_TARGET
constexpr std::uint32_t ntlm = 0x00000200;               ///< NTLMSSP_NEGOTIATE_NTLM
constexpr std::uint32_t always_sign = 0x00008000;        ///< NTLMSSP_NEGOTIATE_ALWAYS_SIGN
constexpr std::uint32_t extended_security = 0x00080000;  ///< ..._EXTENDED_SESSIONSECURITY
constexpr std::uint32_t target_info = 0x00800000;        ///< NTLMSSP_NEGOTIATE_TARGET_INFO
}  // namespace ntlm_flag

/// A CHALLENGE_MESSAGE that passed every bounds and structure check.
struct NtlmChallenge {
  std::uint32_t flags = 0;
  std::array<std::uint8_t, 8> server_challenge{};
  std::string target_name;                 ///< UTF-8 (converted from UTF-16LE)
  std::string target_info;                 ///< the raw AV_PAIR list, MsvAvEOL included
  std::optional<std::uint64_t> timestamp;  ///< MsvAvTimestamp, if the server sent one
};

/// The longest TargetInfo we accept: the NTLMv2 response that echoes it (16 + 28 +
/// TargetInfo + 4 bytes) must fit the 16-bit length of a Type 3 security buffer.
constexpr std::size_t kMaxNtlmTargetInfo = 0xFFFF - 48;

/// Parses a Type 2 message. Every security buffer is checked against the message size in
/// 64-bit arithmetic before it is read; the AV_PAIR list must be well formed and end with
/// MsvAvEOL. Fails (Kind::protocol) on a short or malformed message and on a server that
/// cannot do NTLMv2 (no Unicode, no TargetInfo).
Result<NtlmChallenge> parse_ntlm_challenge(std::string_view message);

}  // namespace mailready::proto::sasl
