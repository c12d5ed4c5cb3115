#include "cli/fleet.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include "checks/core/context.hpp"
#include "checks/core/runner.hpp"
#include "checks/modules/diagnosis.hpp"
#include "checks/modules/modules.hpp"
#include "cli/output.hpp"
#include "reports/fleet.hpp"

namespace mailready::cli {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_stop_requests{0};

/// First Ctrl-C: stop starting targets (say so once); a second one: the default action.
extern "C" void on_stop_signal(int signal) {
  if (g_stop_requests.fetch_add(1) == 0) {
    static const char note[] =
        "\nmailready: stopping: no new targets; those running finish (Ctrl-C again to abort)\n";
    [[maybe_unused]] const auto n = ::write(STDERR_FILENO, note, sizeof note - 1);
  } else {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

/// A fleet runs thousands of connections: the soft limit on open files up to the hard one.
void raise_open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::string duration_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

/// The progress line on a terminal: done/total, failing so far, rate and ETA.
class FleetProgress {
 public:
  explicit FleetProgress(std::size_t total) : total_(total), started_(Clock::now()) {}
  void update(std::size_t done, std::size_t running, std::size_t failing, bool force = false) {
    const auto now = Clock::now();
    if (!force && now - drawn_ < std::chrono::milliseconds(100)) return;
    drawn_ = now;
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
    std::string eta = "?";
    if (rate > 0) eta = duration_text(static_cast<double>(total_ - done) / rate);
    std::cerr << fmt::format("\r\033[K{}/{} targets, {} running, {} failing, {:.1f}/s, ETA {}",
                             done, total_, running, failing, rate, eta)
              << std::flush;
  }
  void finish(const report::FleetSummary& s) {
    std::cerr << fmt::format("\r\033[K{} of {} targets checked in {}: {} ok, {} warning, {} "
                             "critical, {} unknown{}\n",
                             s.checked, s.targets,
                             duration_text(static_cast<double>(s.duration.count()) / 1000.0),
                             s.by_verdict[0], s.by_verdict[1], s.by_verdict[2], s.by_verdict[3],
                             s.interrupted ? " (interrupted)" : "")
              << std::flush;
  }

 private:
  std::size_t total_;
  Clock::time_point started_;
  Clock::time_point drawn_{};
};

/// One target's live events: its results to the writers that stream them.
class TargetSink final : public ProgressSink {
 public:
  TargetSink(std::mutex& mutex, std::vector<report::FleetWriter*> streaming)
      : mutex_(mutex), streaming_(std::move(streaming)) {}
  void check_started(std::string_view /*id*/) override {}
  void result_ready(const CheckResult& result) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto* w : streaming_) w->result(result);
  }

 private:
  std::mutex& mutex_;
  std::vector<report::FleetWriter*> streaming_;
};

}  // namespace

report::RenderOptions render_options(const Invocation& inv, const Output& out) {
  report::RenderOptions render;
  render.color = out.to_terminal() && std::getenv("NO_COLOR") == nullptr;
  render.cert_warning_days = inv.nagios_warning_days;
  render.cert_critical_days = inv.nagios_critical_days;
  return render;
}

Options target_options(const Options& base, const serve::TargetConfig& target) {
  Options o = base;
  o.target = target.name;
  o.imap_host = !target.imap_host.empty() ? target.imap_host
                : !base.imap_host.empty() ? base.imap_host
                                          : target.name;
  o.smtp_host = !target.smtp_host.empty() ? target.smtp_host
                : !base.smtp_host.empty() ? base.smtp_host
                                          : target.name;
  for (const auto& [host, addresses] : target.pinned) o.pinned[host] = addresses;
  if (!target.user.empty()) {
    o.imap_user = target.user;
    o.smtp_user = target.user;
    o.password = target.password;
  }
  return o;
}

int run_fleet(const Invocation& inv, const TargetList& list) {
  raise_open_files_limit();
  const auto registry = checks::default_registry();
  const auto selected = registry.select(inv.options.only, inv.options.skip);

  std::vector<std::unique_ptr<Output>> outputs;
  for (const auto& d : inv.reports) outputs.push_back(std::make_unique<Output>(d.path));
  std::unique_ptr<Output> trace;
  if (!inv.trace_file.empty()) trace = std::make_unique<Output>(inv.trace_file);

  std::mutex mutex;  // the writers, the outputs, the counts
  std::vector<std::unique_ptr<report::FleetWriter>> writers;
  std::vector<report::FleetWriter*> streaming;
  for (std::size_t i = 0; i < inv.reports.size(); ++i) {
    const report::RenderOptions render = render_options(inv, *outputs[i]);
    Output* out = outputs[i].get();
    writers.push_back(report::make_fleet_writer(
        inv.reports[i].format, [out](const std::string& text) { out->write(text); }, render));
    if (writers.back()->streams_results()) streaming.push_back(writers.back().get());
    writers.back()->begin();
  }

  std::optional<FleetProgress> progress;
  if (!inv.quiet && ::isatty(STDERR_FILENO) == 1) progress.emplace(list.targets.size());
  if (!inv.quiet && !list.duplicates.empty()) {
    std::cerr << fmt::format("mailready: {} target(s) named more than once, checked once: {}\n",
                             list.duplicates.size(), fmt::join(list.duplicates, ", "));
  }

  g_stop_requests = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESTART;  // the reads in flight go on
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &action, &old_int);
  ::sigaction(SIGTERM, &action, &old_term);

  report::FleetSummary summary;
  summary.tool_version = MAILREADY_VERSION;
  summary.started_at = rfc3339_now();
  summary.targets = list.targets.size();
  const auto started = Clock::now();
  const auto budget =
      std::make_shared<ConnectionBudget>(inv.options.per_host, inv.max_connections);
  std::atomic<std::size_t> next{0};
  std::size_t running = 0;
  std::size_t failing = 0;
  std::exception_ptr failure;  // a writer that could not write: the first one stops the fleet

  const auto work = [&] {
    for (;;) {
      if (g_stop_requests > 0) return;
      const std::size_t i = next++;
      if (i >= list.targets.size()) return;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure) return;
        ++running;
        if (progress) progress->update(summary.checked, running, failing);
      }
      const auto& t = list.targets[i];
      TargetSink sink(mutex, streaming);
      Context ctx(target_options(inv.options, t), streaming.empty() ? nullptr : &sink, budget);
      Report report = run_checks(selected, ctx);
      checks::diagnose(report);
      std::lock_guard<std::mutex> lock(mutex);
      --running;
      try {
        for (auto& w : writers) w->target(t.name, report);
        if (trace) {
          std::string text;
          for (const auto& [title, transcript] : ctx.traces()) {
            text += "== " + t.name + ": " + title + "\n" + transcript + "\n";
          }
          trace->write(text);
        }
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
      const Verdict v = verdict_of(report);
      summary.add(v);
      // What the finished targets freed goes back to the system now and then: glibc keeps
      // freed memory in each thread's arena, and a long fleet's peak RSS crept up with it.
      if (summary.checked % 64 == 0) ::malloc_trim(0);
      if (v == Verdict::critical || v == Verdict::warning) ++failing;
      if (progress) progress->update(summary.checked, running, failing);
    }
  };
  const std::size_t threads =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(1, inv.parallel)), list.targets.size());
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < threads; ++i) pool.emplace_back(work);
  for (auto& th : pool) th.join();
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (failure) std::rethrow_exception(failure);

  summary.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  summary.interrupted = summary.checked < summary.targets;
  for (std::size_t i = 0; i < writers.size(); ++i) {
    writers[i]->end(summary);
    outputs[i]->commit("");
  }
  if (trace) trace->commit("");
  if (progress) progress->finish(summary);
  return report::fleet_exit_code(summary);
}

}  // namespace mailready::cli
