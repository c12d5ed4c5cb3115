#pragma once
// Where the password comes from: an environment variable, a file, a systemd credential,
// standard input, or a prompt without echo on the terminal. Never from argv (it would show
// in ps and in shell history).

#include <string>

namespace mailready::cli {

struct PasswordSource {
  std::string env;    ///< --password-env NAME
  std::string file;   ///< --password-file PATH
  /// A systemd credential (LoadCredential=NAME:PATH in the unit): the file NAME in
  /// $CREDENTIALS_DIRECTORY, which systemd makes readable by the service alone.
  std::string credential;
  bool stdin_ = false;  ///< --password-stdin
};

/// Reads the password. Without a source, prompts on the controlling terminal with echo
/// off. Throws std::runtime_error with a one-line reason (unset variable, unreadable
/// file, a credential name that is not a file name or no $CREDENTIALS_DIRECTORY, empty
/// password, no terminal to prompt on).
std::string read_password(const PasswordSource& source, const std::string& user);

/// Reads a secret from the environment variable `name`; throws when unset or empty.
std::string read_env_secret(const std::string& name, const std::string& what);

}  // namespace mailready::cli
