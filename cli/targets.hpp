#pragma once
// `mailready check --targets FILE`: the deployments of a batch run. Two forms, told apart
// by the first character that is not white space:
//
//   - a plain list: one host per line; '#' starts a comment (a whole line, or after
//     white space at the end of one); blank lines are skipped;
//   - JSON: the exporter's config (cli/serve_config.hpp), or any object with its
//     "targets" member — imap_host, smtp_host, resolve, user with password_file or
//     password_env per target — so one file serves the exporter and the batch. The
//     exporter's "modules" are the exporter's: the batch takes its settings from the flags.
//
// A target named twice is run once (the first entry wins, and the caller is told).

#include <istream>
#include <string>
#include <vector>

#include "cli/serve_config.hpp"

namespace mailready::cli {

struct TargetList {
  std::vector<serve::TargetConfig> targets;  ///< in the file's order (JSON: by name)
  std::vector<std::string> duplicates;       ///< names given more than once
};

/// Reads a targets file's text; `name` is what errors call it. Throws UsageError:
/// "targets FILE:LINE: 'x' is not a host name", "targets FILE: no targets", ...
TargetList parse_targets_file(std::istream& in, const std::string& name);

/// Reads `path` ("-": standard input). Throws UsageError.
TargetList load_targets(const std::string& path);

}  // namespace mailready::cli
