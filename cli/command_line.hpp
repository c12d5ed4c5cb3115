#pragma once
// The command line: argv → Invocation. The only translation unit that includes CLI11.

#include <optional>
#include <string>
#include <vector>
#include <variant>

#include "checks/core/options.hpp"
#include "cli/credentials.hpp"
#include "cli/serve.hpp"

namespace mailready::cli {

/// What the user asked mailready to do.
struct Invocation {
  enum class Command { check, checks, explain, serve };
  Command command = Command::check;
  Options options;           ///< for `check`
  /// One report to write: a format and a file (empty: stdout).
  struct Destination {
    std::string format;
    std::string path;
  };
  std::vector<Destination> reports;  ///< --format/--output, then every --report
  std::string trace_file;                   ///< --trace FILE
  PasswordSource password_source;           ///< read after parsing, only when a user is given
  std::string oauth_token_env;              ///< --oauth-token-env NAME
  std::optional<int> nagios_warning_days;   ///< --warning
  std::optional<int> nagios_critical_days;  ///< --critical
  bool quiet = false;        ///< no progress on stderr
  std::string targets_file;  ///< --targets FILE ("-": stdin): a fleet instead of one HOST
  int parallel = 16;         ///< --parallel: a fleet's targets in flight
  int max_connections = 256; ///< --max-connections: a fleet's sessions open at once, in all
  std::string finding_id;    ///< for `explain`
  serve::ServeOptions serve; ///< for `serve`
};

/// Parses argv. Returns the Invocation, or the exit code to stop with when the
/// command line was handled already (--help, --version: 0) or is wrong (3, after one
/// line on stderr).
std::variant<Invocation, int> parse_command_line(int argc, const char* const* argv);

}  // namespace mailready::cli
