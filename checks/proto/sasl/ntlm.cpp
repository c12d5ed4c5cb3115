// NTLM over SASL (MS-NLMP; MS-SMTPNTLM and MS-OXIMAP4 frame it for SMTP and IMAP):
//   C: NEGOTIATE_MESSAGE (Type 1)
//   S: CHALLENGE_MESSAGE (Type 2): flags, 8-byte server challenge, TargetInfo AV pairs
//   C: AUTHENTICATE_MESSAGE (Type 3) with an NTLMv2 response (MS-NLMP §3.3.2)
// NTLMv2 only: NTLMv1 and LM responses can be cracked from a captured exchange, so we
// never produce them; a server that cannot take NTLMv2 fails the Type 2 parse.
//
// Split of work with Poco: the Type 2 parser is ours (ntlm.hpp says why); the hashing and
// the Type 1 / Type 3 layouts come from Poco::Net::NTLMCredentials, which matches the
// MS-NLMP §4.2.4 vectors and brings its own MD4 (OpenSSL 3 only has MD4 in the legacy
// provider, and loading a provider explicitly turns off the implicit default one for the
// whole process). Poco's Type 3 writer stores lengths in 16 bits and indexes &v[0] of
// its inputs, so everything it gets is bounded and non-empty first.
//
// The domain in the NTLMv2 hash and in Type 3: "DOMAIN\user" names it; a user name with
// '@' is a UPN and goes with an empty domain; otherwise we take the challenge's target
// name, as Poco's HTTP client does.

#include "checks/proto/sasl/ntlm.hpp"

#include <Poco/Exception.h>
#include <Poco/Net/NTLMCredentials.h>

#include <cstring>
#include <utility>
#include <vector>

#include "checks/proto/sasl/crypto.hpp"
#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {

using Poco::Net::NTLMCredentials;
using Bytes = std::vector<unsigned char>;

constexpr std::size_t kHeaderSize = 32;     ///< through the server challenge
constexpr std::size_t kTargetInfoEnd = 48;  ///< through the TargetInfo security buffer
constexpr std::uint16_t kAvEol = 0;         ///< MsvAvEOL
constexpr std::uint16_t kAvTimestamp = 7;   ///< MsvAvTimestamp (FILETIME)
/// The longest user, domain or workstation (UTF-8 bytes) we send: its UTF-16 form must
/// fit a 16-bit security buffer length.
constexpr std::size_t kMaxField = 0x7FFF;

std::uint16_t le16(std::string_view m, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(m[at]) |
                                    static_cast<unsigned char>(m[at + 1]) << 8);
}
std::uint32_t le32(std::string_view m, std::size_t at) {
  const std::uint32_t low = le16(m, at);
  const std::uint32_t high = le16(m, at + 2);
  return low | high << 16;
}
std::uint64_t le64(std::string_view m, std::size_t at) {
  const std::uint64_t low = le32(m, at);
  const std::uint64_t high = le32(m, at + 4);
  return low | high << 32;
}

Failure bad(const std::string& message) {
  return fail(Failure::Kind::protocol, "NTLM: " + message);
}

/// A security buffer (MS-NLMP §2.2.1: Len, MaxLen, BufferOffset), bounds-checked in
/// 64-bit arithmetic so that offset 0xFFFFFFF0 + length 0x20 cannot wrap to 0x10.
Result<std::string_view> security_buffer(std::string_view m, std::size_t at, const char* what) {
  const std::uint64_t length = le16(m, at);
  const std::uint64_t offset = le32(m, at + 4);
  if (offset + length > m.size()) {
    return bad(std::string(what) + " (offset " + std::to_string(offset) + ", length " +
               std::to_string(length) + ") lies outside the " + std::to_string(m.size()) +
               "-byte challenge");
  }
  return m.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// UTF-16LE (even length) to UTF-8; an unpaired surrogate becomes U+FFFD.
std::string utf16le_to_utf8(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i + 1 < in.size(); i += 2) {
    std::uint32_t cp = le16(in, i);
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 3 < in.size()) {
      const std::uint32_t low = le16(in, i + 2);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        i += 2;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    append_utf8(out, cp);
  }
  return out;
}

Bytes to_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

class Ntlm final : public Mechanism {
 public:
  Ntlm(Credentials credentials, NtlmOptions options)
      : c_(std::move(credentials)), options_(std::move(options)) {}

  std::string_view name() const override { return "NTLM"; }
  bool client_first() const override { return true; }
  bool sends_password_in_clear() const override { return false; }

  Result<std::string> initial_response() override {
    if (state_ != State::start) return fail(Failure::Kind::other, "NTLM: Type 1 already sent");
    try {
      const Bytes type1 = NTLMCredentials::formatNegotiateMessage({});
      state_ = State::sent_negotiate;
      return std::string(type1.begin(), type1.end());
    } catch (const Poco::Exception& e) {
      return fail(Failure::Kind::other, "NTLM: " + e.displayText());
    }
  }

  Result<std::string> step(std::string_view challenge) override {
    switch (state_) {
      // The first challenge carries nothing (RFC 4954 "334 ", IMAP "+ "); MS-SMTPNTLM
      // servers may put text there, which we ignore.
      case State::start: return initial_response();
      case State::sent_negotiate: {
        auto type3 = authenticate(challenge);
        state_ = type3 ? State::sent_authenticate : State::done;
        return type3;
      }
      case State::sent_authenticate:
      case State::done: break;
    }
    return bad("unexpected challenge after the Type 3 message");
  }

 private:
  enum class State {
    start,              ///< nothing sent
    sent_negotiate,     ///< Type 1 sent, waiting for Type 2
    sent_authenticate,  ///< Type 3 sent; the server's reply ends the exchange
    done,               ///< a step failed
  };

  Result<std::string> authenticate(std::string_view type2) {
    auto parsed = parse_ntlm_challenge(type2);
    if (!parsed) return parsed.failure();
    const NtlmChallenge& ch = parsed.value();

    // Who we are (see the top of the file for the domain rule).
    std::string user = c_.user;
    std::string domain = ch.target_name;
    if (const auto slash = user.find('\\'); slash != std::string::npos) {
      domain = user.substr(0, slash);
      user.erase(0, slash + 1);
    } else if (user.find('@') != std::string::npos) {
      domain.clear();
    }
    for (const std::string* field : {&user, &domain, &c_.password, &options_.workstation}) {
      if (!crypto::valid_utf8(*field) || field->size() > kMaxField) {
        return fail(Failure::Kind::other,
                    "NTLM: user name, domain, password or workstation is not UTF-8 or too long");
      }
    }

    Bytes client_challenge(8);
    if (options_.client_challenge) {
      client_challenge.assign(options_.client_challenge->begin(), options_.client_challenge->end());
    } else {
      auto random = crypto::random_bytes(8);
      if (!random) return random.failure();
      client_challenge = to_bytes(random.value());
    }
    const Bytes server_challenge(ch.server_challenge.begin(), ch.server_challenge.end());
    const Bytes target_info = to_bytes(ch.target_info);  // non-empty: the parser checked

    try {
      // MS-NLMP §3.1.5.1.2: with MsvAvTimestamp the client uses the server's time and
      // sends Z(24) instead of an LMv2 response.
      const std::uint64_t time = options_.time  ? *options_.time
                                 : ch.timestamp ? *ch.timestamp
                                                : NTLMCredentials::createTimestamp();
      const Bytes hash = NTLMCredentials::createNTLMv2Hash(user, domain, c_.password);
      NTLMCredentials::AuthenticateMessage message;
      message.flags = ntlm_flag::unicode | ntlm_flag::ntlm |
                      (ch.flags & (ntlm_flag::request_target | ntlm_flag::always_sign |
                                   ntlm_flag::extended_security | ntlm_flag::target_info));
      message.ntlmResponse = NTLMCredentials::createNTLMv2Response(
          hash, server_challenge, client_challenge, target_info, time);
      message.lmResponse = ch.timestamp ? Bytes(24, 0)
                                        : NTLMCredentials::createLMv2Response(
                                              hash, server_challenge, client_challenge);
      message.target = domain;
      message.username = user;
      message.workstation = options_.workstation;
      const Bytes type3 = NTLMCredentials::formatAuthenticateMessage(message);
      return std::string(type3.begin(), type3.end());
    } catch (const Poco::Exception& e) {
      return fail(Failure::Kind::other, "NTLM: " + e.displayText());
    }
  }

  Credentials c_;
  NtlmOptions options_;
  State state_ = State::start;
};

}  // namespace

Result<NtlmChallenge> parse_ntlm_challenge(std::string_view m) {
  // Fixed header (MS-NLMP §2.2.1.2): Signature, MessageType, TargetNameFields,
  // NegotiateFlags, ServerChallenge.
  if (m.size() < kHeaderSize) {
    return bad("the Type 2 message has " + std::to_string(m.size()) +
               " bytes, fewer than its 32-byte header");
  }
  if (std::memcmp(m.data(), "NTLMSSP\0", 8) != 0) return bad("no NTLMSSP signature");
  if (le32(m, 8) != 2) return bad("not a Type 2 (CHALLENGE) message");
  NtlmChallenge ch;
  ch.flags = le32(m, 20);
  for (std::size_t i = 0; i < 8; ++i) ch.server_challenge[i] = static_cast<std::uint8_t>(m[24 + i]);

  auto target_name = security_buffer(m, 12, "TargetName");
  if (!target_name) return target_name.failure();
  if ((ch.flags & ntlm_flag::unicode) == 0) {
    return bad("the server does not offer Unicode (OEM-only servers predate NTLMv2)");
  }
  if (target_name->size() % 2 != 0) return bad("TargetName has an odd UTF-16 length");
  ch.target_name = utf16le_to_utf8(target_name.value());

  // NTLMv2 echoes the server's TargetInfo (the AV pairs) inside the response.
  if ((ch.flags & ntlm_flag::target_info) == 0 || m.size() < kTargetInfoEnd) {
    return bad("the challenge has no TargetInfo, which NTLMv2 needs (an NTLMv1-only server?)");
  }
  auto info = security_buffer(m, 40, "TargetInfo");
  if (!info) return info.failure();
  if (info->empty()) return bad("TargetInfo is empty");
  if (info->size() > kMaxNtlmTargetInfo) return bad("TargetInfo is too long for a Type 3 reply");

  // AV_PAIR list (§2.2.2.1): AvId, AvLen, Value; ends with MsvAvEOL.
  const std::string_view av = info.value();
  std::size_t pos = 0;
  bool eol = false;
  while (!eol) {
    if (av.size() - pos < 4) return bad("TargetInfo ends without MsvAvEOL");
    const std::uint16_t id = le16(av, pos);
    const std::size_t length = le16(av, pos + 2);
    if (av.size() - pos - 4 < length) return bad("an AV pair runs past the end of TargetInfo");
    if (id == kAvEol) {
      if (length != 0) return bad("MsvAvEOL has a value");
      eol = true;
    } else if (id == kAvTimestamp) {
      if (length != 8) return bad("MsvAvTimestamp is not 8 bytes");
      ch.timestamp = le64(av, pos + 4);
    }
    pos += 4 + length;
  }
  ch.target_info = std::string(av);
  return ch;
}

std::unique_ptr<Mechanism> make_ntlm(const Credentials& credentials, NtlmOptions options) {
  return std::make_unique<Ntlm>(credentials, std::move(options));
}

}  // namespace mailready::proto::sasl
