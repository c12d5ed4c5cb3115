#include "cli/credentials.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace mailready::cli {
namespace {

/// A password file or stdin ends with one newline, usually: it is not part of the password.
std::string chomp(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

std::string read_secret_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + what);
  return chomp(std::string(std::istreambuf_iterator<char>(in), {}));
}

/// systemd's credentials (systemd.exec(5), "Credentials"): LoadCredential=NAME:PATH copies
/// PATH to $CREDENTIALS_DIRECTORY/NAME, a directory on a non-swappable file system that
/// only the service's own user can read, even with DynamicUser=yes.
std::string read_credential(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    throw std::runtime_error("the credential name '" + name + "' is not a file name");
  }
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') {
    throw std::runtime_error("the credential " + name +
                             " cannot be read: CREDENTIALS_DIRECTORY is not set (systemd sets "
                             "it for a unit with LoadCredential=" + name + ":FILE)");
  }
  return read_secret_file(std::string(dir) + "/" + name,
                          "the credential " + name + " in $CREDENTIALS_DIRECTORY");
}

std::string prompt(const std::string& user) {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0) {
    throw std::runtime_error(
        "no password given and no terminal to ask on: use --password-env, --password-file or "
        "--password-stdin");
  }
  const std::string question = "Password for " + user + ": ";
  (void)!::write(tty, question.data(), question.size());
  termios saved{};
  const bool restore = ::tcgetattr(tty, &saved) == 0;
  if (restore) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  std::string line;
  char c = 0;
  while (::read(tty, &c, 1) == 1 && c != '\n') line += c;
  if (restore) ::tcsetattr(tty, TCSAFLUSH, &saved);
  (void)!::write(tty, "\n", 1);
  ::close(tty);
  return chomp(line);
}

}  // namespace

std::string read_env_secret(const std::string& name, const std::string& what) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error("the environment variable " + name + " (" + what + ") is not set");
  }
  return value;
}

std::string read_password(const PasswordSource& source, const std::string& user) {
  std::string password;
  if (!source.env.empty()) {
    password = read_env_secret(source.env, "--password-env");
  } else if (!source.file.empty()) {
    password = read_secret_file(source.file, "--password-file " + source.file);
  } else if (!source.credential.empty()) {
    password = read_credential(source.credential);
  } else if (source.stdin_) {
    std::ostringstream all;
    all << std::cin.rdbuf();
    password = chomp(all.str());
  } else {
    password = prompt(user);
  }
  if (password.empty()) throw std::runtime_error("the password is empty");
  return password;
}

}  // namespace mailready::cli
