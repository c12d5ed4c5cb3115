#include "cli/output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <vector>

namespace mailready::cli {
namespace {

std::runtime_error io_error(const std::string& what, const std::string& path) {
  return std::runtime_error("cannot " + what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

Output::Output(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  struct stat st{};
  if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    throw std::runtime_error("cannot write " + path_ + ": it is a directory");
  }
  temp_ = path_ + ".tmp.XXXXXX";
  std::vector<char> name(temp_.begin(), temp_.end());
  name.push_back('\0');
  fd_ = ::mkstemp(name.data());
  if (fd_ < 0) throw io_error("write", path_);
  temp_ = name.data();
  ::fchmod(fd_, 0644);
}

Output::~Output() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_.c_str());
  }
}

bool Output::to_terminal() const { return path_.empty() && ::isatty(STDOUT_FILENO) == 1; }

void Output::write(const std::string& text) {
  if (path_.empty()) {
    std::cout << text << std::flush;
    return;
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw io_error("write", temp_);
    done += static_cast<std::size_t>(n);
  }
}

void Output::commit(const std::string& text) {
  write(text);
  if (path_.empty()) return;
  if (::fsync(fd_) != 0) throw io_error("sync", temp_);
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    const auto err = io_error("rename to", path_);
    ::unlink(temp_.c_str());
    throw err;
  }
}

}  // namespace mailready::cli
