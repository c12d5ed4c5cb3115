#pragma once
// What `mailready --version` prints: the project version, the git commit the binary was
// built from, and the OpenSSL and Poco it runs with (the shared libraries loaded now,
// which an upgrade of libssl3 or libpoco changes without a rebuild).

#include <cstdint>
#include <string>

namespace mailready::cli {

/// "1.11.6" from Poco's 0xAABBCCDD (major, minor, revision, patch); the patch byte is
/// left out unless it is set ("1.11.6.1").
std::string poco_version_text(std::uint32_t hex);

/// The --version text, four lines:
///   mailready 0.1.0
///   commit 0cc93ea1b2c3        ("unknown" when built outside a git checkout)
///   OpenSSL 3.0.19 27 Jan 2026
///   Poco 1.11.0
/// It names no path of the machine it was built on.
std::string version_text();

}  // namespace mailready::cli
