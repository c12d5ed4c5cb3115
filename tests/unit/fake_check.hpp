#pragma once
// FakeCheck: a Check whose id, needs and run() a test chooses, for registry and runner
// tests without a network. Like ninja's FakeCommandRunner (src/build_test.cc).

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"

namespace mailready::testing {

/// A check that runs `body` (or reports one passing host-level result without it).
class FakeCheck final : public Check {
 public:
  using Body = std::function<std::vector<CheckResult>(Context&)>;

  FakeCheck(std::string id, std::vector<std::string> needs, Body body = {})
      : id_(std::move(id)), needs_(std::move(needs)), body_(std::move(body)) {
    // CheckInfo holds views: point them at this object's own strings.
    info_.id = id_;
    info_.title = "a fake check";
    for (const auto& n : needs_) info_.needs.push_back(n);
  }
  FakeCheck(const FakeCheck&) = delete;
  FakeCheck& operator=(const FakeCheck&) = delete;

  const CheckInfo& info() const override { return info_; }

  std::vector<CheckResult> run(Context& ctx) const override {
    if (body_) return body_(ctx);
    return {passing(ctx, id_)};
  }

  /// One passing host-level result of `id`, with a summary.
  static CheckResult passing(const Context& ctx, const std::string& id) {
    CheckResult r;
    r.check = id;
    r.target = ctx.options().target;
    r.summary = "fine";
    return r;
  }

 private:
  std::string id_;
  std::vector<std::string> needs_;
  Body body_;
  CheckInfo info_;
};

inline std::unique_ptr<Check> fake(std::string id, std::vector<std::string> needs = {},
                                   FakeCheck::Body body = {}) {
  return std::make_unique<FakeCheck>(std::move(id), std::move(needs), std::move(body));
}

}  // namespace mailready::testing
