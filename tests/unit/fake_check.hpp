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

/// A per-endpoint check: `body` runs once per endpoint of the run; `last` (if any) is its
/// conclude().
class FakeEndpointCheck final : public Check {
 public:
  using Body = std::function<std::vector<CheckResult>(Context&, const Endpoint&)>;
  using Last = std::function<std::vector<CheckResult>(Context&, std::vector<CheckResult>)>;

  FakeEndpointCheck(std::string id, std::vector<std::string> needs, Body body, Last last = {})
      : id_(std::move(id)), needs_(std::move(needs)), body_(std::move(body)), last_(std::move(last)) {
    info_.id = id_;
    info_.title = "a fake per-endpoint check";
    for (const auto& n : needs_) info_.needs.push_back(n);
    info_.per_endpoint = true;
  }
  FakeEndpointCheck(const FakeEndpointCheck&) = delete;
  FakeEndpointCheck& operator=(const FakeEndpointCheck&) = delete;

  const CheckInfo& info() const override { return info_; }
  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    return body_(ctx, e);
  }
  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    return last_ ? last_(ctx, std::move(results)) : results;
  }

  /// One passing result of `id` for `e`.
  static CheckResult passing(const Context& ctx, const std::string& id, const Endpoint& e) {
    CheckResult r = FakeCheck::passing(ctx, id);
    r.endpoint = e;
    return r;
  }

 private:
  std::string id_;
  std::vector<std::string> needs_;
  Body body_;
  Last last_;
  CheckInfo info_;
};

inline std::unique_ptr<Check> fake_per_endpoint(std::string id, std::vector<std::string> needs,
                                                FakeEndpointCheck::Body body,
                                                FakeEndpointCheck::Last last = {}) {
  return std::make_unique<FakeEndpointCheck>(std::move(id), std::move(needs), std::move(body),
                                             std::move(last));
}

}  // namespace mailready::testing
