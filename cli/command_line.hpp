#pragma once
// The command line: argv → Invocation. The only translation unit that includes CLI11.

#include <string>
#include <variant>

#include "checks/core/options.hpp"

namespace mailready::cli {

/// What the user asked mailready to do.
struct Invocation {
  enum class Command { check, checks, explain };
  Command command = Command::check;
  Options options;           ///< for `check`
  std::string format = "text";
  std::string output;        ///< --output FILE, empty for stdout
  bool quiet = false;        ///< no progress on stderr
  std::string finding_id;    ///< for `explain`
};

/// Parses argv. Returns the Invocation, or the exit code to stop with when the
/// command line was handled already (--help, --version: 0) or is wrong (3, after one
/// line on stderr).
std::variant<Invocation, int> parse_command_line(int argc, const char* const* argv);

}  // namespace mailready::cli
