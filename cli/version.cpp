#include "cli/version.hpp"

#include <Poco/Environment.h>
#include <fmt/format.h>
#include <openssl/crypto.h>

// Generated at build time by cmake/git_commit.cmake: MAILREADY_GIT_COMMIT. Only this file
// includes it, so a new commit recompiles one small file.
#include "mailready_git_commit.hpp"

namespace mailready::cli {

std::string poco_version_text(std::uint32_t hex) {
  const auto byte = [hex](int shift) { return (hex >> shift) & 0xFFu; };
  std::string text = fmt::format("{}.{}.{}", byte(24), byte(16), byte(8));
  if (byte(0) != 0) text += fmt::format(".{}", byte(0));
  return text;
}

std::string version_text() {
  return fmt::format("mailready {}\ncommit {}\n{}\nPoco {}", MAILREADY_VERSION,
                     MAILREADY_GIT_COMMIT, OpenSSL_version(OPENSSL_VERSION),
                     poco_version_text(Poco::Environment::libraryVersion()));
}

}  // namespace mailready::cli
