#include "checks/core/runner.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include "checks/core/workers.hpp"

namespace mailready {

// The defaults of the Check interface: a check is either whole-run or per endpoint.
std::vector<CheckResult> Check::run(Context&) const {
  throw std::logic_error(fmt::format("{} runs per endpoint", info().id));
}

std::vector<CheckResult> Check::run_endpoint(Context&, const Endpoint&) const {
  throw std::logic_error(fmt::format("{} runs once per run", info().id));
}

std::vector<CheckResult> Check::conclude(Context&, std::vector<CheckResult> results) const {
  return results;
}

namespace {

constexpr std::string_view deadline_reached = "run deadline reached";

CheckResult single_result(const Context& ctx, std::string_view id, Status status,
                          std::string why) {
  CheckResult r;
  r.check = std::string(id);
  r.target = ctx.options().target;
  r.status = status;
  r.error = std::move(why);
  return r;
}

CheckResult error_result(const Context& ctx, std::string_view id, const std::string& what) {
  return single_result(ctx, id, Status::error, fmt::format("check failed: {}", what));
}

/// Runs `fn`, turning whatever it throws into one error result (about endpoint `at`,
/// when given: the error is that endpoint's alone).
template <class Fn>
std::vector<CheckResult> guarded(const Context& ctx, std::string_view id, Fn fn,
                                 const Endpoint* at = nullptr) {
  std::string what;
  try {
    return fn();
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  CheckResult r = error_result(ctx, id, what);
  if (at != nullptr) r.endpoint = *at;
  return {r};
}

/// One run's bookkeeping: which checks are in it, which of them could not run, and a
/// future per check for "finished" and, per endpoint, for "endpoints known" (fanned out).
class Run {
 public:
  Run(const std::vector<const Check*>& checks, Context& ctx) : checks_(checks), ctx_(ctx) {
    for (std::size_t i = 0; i < checks.size(); ++i) {
      const auto id = checks[i]->info().id;
      index_[id] = i;
      done_[id] = done_promises_[i].get_future().share();
      fanned_[id] = fanned_promises_[i].get_future().share();
    }
  }

  /// Runs check i to the end; called on its own thread.
  std::vector<CheckResult> drive(std::size_t i) {
    const Check& check = *checks_[i];
    const auto& info = check.info();
    wait_for_needs(info);
    const auto started = Context::Clock::now();
    auto why = blocked_by(check, /*final=*/!info.per_endpoint);
    if (why.empty() && ctx_.expired()) why = std::string(deadline_reached);
    std::vector<CheckResult> results;
    if (!why.empty()) {
      mark_unusable(info.id);
      results.push_back(single_result(ctx_, info.id, Status::skip, std::move(why)));
    } else {
      tell([&](ProgressSink& p) { p.check_started(info.id); });
      results = info.per_endpoint ? per_endpoint(i) : whole(check);
    }
    stamp(results, started);
    finish(i, results);
    return results;
  }

 private:
  void wait_for_needs(const CheckInfo& info) {
    for (const auto need : info.needs) {
      const auto n = index_.find(need);
      if (n == index_.end()) continue;
      // A per-endpoint check needs only to know a per-endpoint need's endpoints; each of
      // its endpoints then waits for that endpoint's results alone.
      const bool streamed = info.per_endpoint && checks_[n->second]->info().per_endpoint;
      (streamed ? fanned_ : done_).at(need).wait();
    }
  }

  std::vector<CheckResult> whole(const Check& check) {
    const auto started = Context::Clock::now();
    auto results = guarded(ctx_, check.info().id, [&] { return check.run(ctx_); });
    if (results.empty()) {
      results.push_back(single_result(ctx_, check.info().id, Status::skip, "nothing to check"));
    }
    stamp(results, started);
    return results;
  }

  std::vector<CheckResult> per_endpoint(std::size_t i) {
    const Check& check = *checks_[i];
    const auto& info = check.info();
    const auto endpoints = ctx_.endpoints();
    fanned_promises_[i].set_value();
    fanned_set_[i] = true;

    std::vector<std::vector<CheckResult>> at(endpoints.size());
    TaskGroup tasks;
    for (std::size_t k = 0; k < endpoints.size(); ++k) {
      tasks.run([&, k] {
        const Endpoint& e = endpoints[k];
        for (const auto need : info.needs) {
          const auto n = index_.find(need);
          if (n != index_.end() && checks_[n->second]->info().per_endpoint) ctx_.await(need, e);
        }
        const auto started = Context::Clock::now();
        std::vector<CheckResult> results;
        if (ctx_.expired()) {
          CheckResult r = single_result(ctx_, info.id, Status::skip, std::string(deadline_reached));
          r.endpoint = e;
          results.push_back(std::move(r));
        } else {
          results = guarded(ctx_, info.id, [&] { return check.run_endpoint(ctx_, e); }, &e);
        }
        stamp(results, started);
        ctx_.publish_at(info.id, e, results);
        at[k] = std::move(results);
      });
    }
    tasks.wait();

    // The whole check's verdict on its needs, now that they are final everywhere.
    for (const auto need : info.needs) {
      if (index_.count(need) > 0) done_.at(need).wait();
    }
    std::vector<CheckResult> results;
    for (auto& r : at) {
      for (auto& x : r) results.push_back(std::move(x));
    }
    auto why = blocked_by(check, /*final=*/true);
    const bool none_started =
        !results.empty() && std::all_of(results.begin(), results.end(), [](const CheckResult& r) {
          return r.status == Status::skip && r.error == deadline_reached;
        });
    if (why.empty() && none_started) why = std::string(deadline_reached);
    if (!why.empty()) {
      mark_unusable(info.id);
      return {single_result(ctx_, info.id, Status::skip, std::move(why))};
    }
    const auto started = Context::Clock::now();
    results = guarded(ctx_, info.id, [&] { return check.conclude(ctx_, std::move(results)); });
    if (results.empty()) {
      results.push_back(single_result(ctx_, info.id, Status::skip, "nothing to check"));
    }
    stamp(results, started);
    return results;
  }

  void finish(std::size_t i, const std::vector<CheckResult>& results) {
    for (const auto& r : results) tell([&](ProgressSink& p) { p.result_ready(r); });
    ctx_.publish(checks_[i]->info().id, results);
    if (!fanned_set_[i]) fanned_promises_[i].set_value();
    done_promises_[i].set_value();
  }

  /// Why a check cannot run: a need that was not selected, was itself not run, or (once
  /// `final`, when the needs' results are complete) produced nothing but errors. (A need
  /// that ran and found nothing to probe is fine: its dependents decide what that means.)
  std::string blocked_by(const Check& check, bool final) {
    for (const auto need : check.info().needs) {
      if (index_.count(need) == 0) return fmt::format("needs {}, which was not run", need);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (unusable_.count(need) > 0) return fmt::format("needs {}, which could not run", need);
      }
      if (!final) continue;
      const auto results = ctx_.results_of(need);
      const bool all_errors =
          !results.empty() && std::all_of(results.begin(), results.end(), [](const CheckResult& r) {
            return r.status == Status::error;
          });
      if (all_errors) return fmt::format("needs {}, which failed to probe", need);
    }
    return {};
  }

  void mark_unusable(std::string_view id) {
    std::lock_guard<std::mutex> lock(mutex_);
    unusable_.emplace(id);
  }

  /// Gives each result without a duration of its own the time since `started`.
  static void stamp(std::vector<CheckResult>& results, Context::Clock::time_point started) {
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Context::Clock::now() - started);
    for (auto& r : results) {
      if (r.duration.count() < 0) r.duration = took;
    }
  }

  template <class Fn>
  void tell(Fn&& fn) {
    if (ctx_.progress() == nullptr) return;
    std::lock_guard<std::mutex> lock(progress_mutex_);
    fn(*ctx_.progress());
  }

  const std::vector<const Check*>& checks_;
  Context& ctx_;
  std::map<std::string_view, std::size_t> index_;
  std::vector<std::promise<void>> done_promises_{checks_.size()};
  std::vector<std::promise<void>> fanned_promises_{checks_.size()};
  /// One byte per check, each written by its own driver: a std::vector<bool> packs them
  /// into shared words, and two drivers setting theirs at once lost one, so a check's
  /// promise was set twice (std::future_error: "Promise already satisfied", in a fleet).
  std::vector<char> fanned_set_ = std::vector<char>(checks_.size(), 0);
  std::map<std::string_view, std::shared_future<void>> done_;
  std::map<std::string_view, std::shared_future<void>> fanned_;
  std::mutex mutex_;
  std::set<std::string_view> unusable_;
  std::mutex progress_mutex_;
};

}  // namespace

std::string rfc3339_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

Report run_checks(const std::vector<const Check*>& checks, Context& ctx) {
  Report report;
  report.tool_version = MAILREADY_VERSION;
  report.started_at = rfc3339_now();

  std::vector<std::string_view> ids;
  for (const auto* c : checks) ids.push_back(c->info().id);
  ctx.begin_run(ids);

  // A thread per check (tens of them) waits for its needs; a per-endpoint check adds a
  // thread per endpoint, so every endpoint's next step starts the moment its inputs exist.
  // The threads come from the process' cache (checks/core/workers.hpp).
  Run run(checks, ctx);
  std::vector<std::vector<CheckResult>> per_check(checks.size());
  TaskGroup tasks;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    tasks.run([&, i] { per_check[i] = run.drive(i); });
  }
  tasks.wait();

  // Results in registry order; within a check, in the order the check produced them
  // (the plan's order), so reports are stable run to run.
  for (auto& results : per_check) {
    for (auto& r : results) report.results.push_back(std::move(r));
  }
  report.duration = ctx.elapsed();
  return report;
}

}  // namespace mailready
