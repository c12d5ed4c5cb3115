#include "checks/core/runner.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace mailready {
namespace {

CheckResult single_result(const Context& ctx, std::string_view id, Status status,
                          std::string why) {
  CheckResult r;
  r.check = std::string(id);
  r.target = ctx.options().target;
  r.status = status;
  r.error = std::move(why);
  return r;
}

/// Why a check cannot run: a need that was not selected, was itself not run, or
/// produced nothing but errors. (A need that ran and found nothing to probe is fine: its
/// dependents decide what that means.)
std::string blocked_by(const Check& check, const Context& ctx,
                       const std::map<std::string_view, bool>& selected,
                       const std::map<std::string_view, bool>& unusable, std::mutex& mutex) {
  for (const auto need : check.info().needs) {
    if (selected.count(need) == 0) return fmt::format("needs {}, which was not run", need);
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto it = unusable.find(need);
      if (it != unusable.end() && it->second) {
        return fmt::format("needs {}, which could not run", need);
      }
    }
    const auto results = ctx.results_of(need);
    const bool all_errors =
        !results.empty() && std::all_of(results.begin(), results.end(), [](const CheckResult& r) {
          return r.status == Status::error;
        });
    if (all_errors) return fmt::format("needs {}, which failed to probe", need);
  }
  return {};
}

CheckResult error_result(const Context& ctx, std::string_view id, const std::string& what) {
  return single_result(ctx, id, Status::error, fmt::format("check failed: {}", what));
}

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

  std::map<std::string_view, bool> selected;
  for (const auto* c : checks) selected[c->info().id] = true;

  // One promise per check; a check's thread first waits for the futures of its needs.
  // The check graph is small (tens of checks), so a thread per check is cheap and lets
  // every check start the moment its inputs exist.
  std::map<std::string_view, std::shared_future<void>> done;
  std::vector<std::promise<void>> promises(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    done[checks[i]->info().id] = promises[i].get_future().share();
  }

  std::vector<std::vector<CheckResult>> per_check(checks.size());
  std::map<std::string_view, bool> unusable;  // blocked or skipped by the deadline
  std::mutex unusable_mutex;
  std::mutex progress_mutex;
  const auto tell = [&](auto&& fn) {
    if (ctx.progress() == nullptr) return;
    std::lock_guard<std::mutex> lock(progress_mutex);
    fn(*ctx.progress());
  };

  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    threads.emplace_back([&, i] {
      const Check& check = *checks[i];
      const auto id = check.info().id;
      for (const auto need : check.info().needs) {
        const auto it = done.find(need);
        if (it != done.end()) it->second.wait();
      }
      std::vector<CheckResult> results;
      const auto started = Context::Clock::now();
      auto why = blocked_by(check, ctx, selected, unusable, unusable_mutex);
      if (why.empty() && ctx.expired()) why = "run deadline reached";
      if (!why.empty()) {
        results.push_back(single_result(ctx, id, Status::skip, std::move(why)));
        std::lock_guard<std::mutex> lock(unusable_mutex);
        unusable[id] = true;
      } else {
        tell([&](ProgressSink& p) { p.check_started(id); });
        try {
          results = check.run(ctx);
        } catch (const std::exception& e) {
          results = {error_result(ctx, id, e.what())};
        } catch (...) {
          results = {error_result(ctx, id, "unknown exception")};
        }
        if (results.empty()) {
          results.push_back(single_result(ctx, id, Status::skip, "nothing to check"));
        }
      }
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          Context::Clock::now() - started);
      for (auto& r : results) {
        if (r.duration.count() < 0) r.duration = took;
        tell([&](ProgressSink& p) { p.result_ready(r); });
      }
      ctx.publish(id, results);
      per_check[i] = std::move(results);
      promises[i].set_value();
    });
  }
  for (auto& t : threads) t.join();

  // Results in registry order; within a check, in the order the check produced them
  // (the plan's order), so reports are stable run to run.
  for (auto& results : per_check) {
    for (auto& r : results) report.results.push_back(std::move(r));
  }
  report.duration = ctx.elapsed();
  return report;
}

}  // namespace mailready
