#pragma once
// Small OpenSSL wrappers shared by the mechanisms (internal to checks/proto/sasl).

#include <cstddef>
#include <string>
#include <string_view>

#include "checks/proto/result.hpp"

namespace mailready::proto::sasl::crypto {

/// A message digest by OpenSSL name ("MD5", "SHA1", "SHA256").
Result<std::string> digest(const char* algorithm, std::string_view data);

/// HMAC with the named digest.
Result<std::string> hmac(const char* algorithm, std::string_view key, std::string_view data);

/// PBKDF2 with HMAC-`algorithm` (RFC 8018), `length` bytes: SCRAM's Hi().
Result<std::string> pbkdf2(const char* algorithm, std::string_view password, std::string_view salt,
                           unsigned iterations, std::size_t length);

/// `count` bytes from the OpenSSL CSPRNG.
Result<std::string> random_bytes(std::size_t count);

/// Lower-case hex.
std::string hex(std::string_view bytes);

/// True if `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view text);

/// Compares in time independent of where the inputs differ.
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace mailready::proto::sasl::crypto
