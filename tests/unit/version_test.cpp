// cli/version.hpp: the --version text.

#include "cli/version.hpp"

#include <catch2/catch.hpp>

using mailready::cli::poco_version_text;
using mailready::cli::version_text;

TEST_CASE("poco_version_text: 0xAABBCCDD is major.minor.revision, patch only when set",
          "[version]") {
  CHECK(poco_version_text(0x010B0000) == "1.11.0");
  CHECK(poco_version_text(0x010B0600) == "1.11.6");
  CHECK(poco_version_text(0x010F0301) == "1.15.3.1");
}

TEST_CASE("version_text: version, commit, OpenSSL and Poco, one line each, no paths",
          "[version]") {
  const std::string text = version_text();
  CHECK(text.rfind(std::string("mailready ") + MAILREADY_VERSION + "\ncommit ", 0) == 0);
  CHECK(text.find("\nOpenSSL 3.") != std::string::npos);
  CHECK(text.find("\nPoco 1.") != std::string::npos);
  CHECK(text.find('/') == std::string::npos);
}
