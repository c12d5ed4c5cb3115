#pragma once
// Writing the report: to stdout, or atomically to a file (a temporary file beside it,
// then rename), so a crash never leaves half a report behind.

#include <string>

namespace mailready::cli {

/// A report destination opened before the run, so an unwritable path fails fast.
class Output {
 public:
  /// Opens `path` for an atomic write, or stdout when empty. Throws std::runtime_error
  /// naming the path and the reason when the directory is not writable.
  explicit Output(std::string path);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  bool to_terminal() const;
  bool to_stdout() const { return path_.empty(); }
  /// Appends `text` now (stdout: written and flushed; a file: into its temporary).
  /// Throws std::runtime_error.
  void write(const std::string& text);
  /// Writes `text` and, for a file, moves it into place. Throws std::runtime_error.
  void commit(const std::string& text);

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
};

}  // namespace mailready::cli
