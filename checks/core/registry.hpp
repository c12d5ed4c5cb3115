#pragma once
// The registry: the one list of checks, in the order reports show them.

#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "checks/core/check.hpp"

namespace mailready {

/// Bad input from the user (unknown check id, bad flag value). main() maps it to exit 3.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Registry {
 public:
  void add(std::unique_ptr<Check> check);
  const std::vector<std::unique_ptr<Check>>& checks() const { return checks_; }
  /// The check with this id, or nullptr.
  const Check* find(std::string_view id) const;

  /// The checks a run executes, in registry order: all of them, or those in `only` with
  /// everything they need; then minus `skip`. Throws UsageError naming an unknown id.
  std::vector<const Check*> select(const std::set<std::string>& only,
                                   const std::set<std::string>& skip) const;

 private:
  std::vector<std::unique_ptr<Check>> checks_;
};

}  // namespace mailready
