// `mailready serve`: the exporter. Poco's HTTPServer accepts connections and runs each on a
// thread of our pool; a probe request is then admitted by ProbeLimiter (run now, wait in a
// bounded queue, or 503), planned from the config (cli/serve_config.hpp), run with the same
// runner as `mailready check`, and answered with the Prometheus report.

#include "cli/serve.hpp"

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <array>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>
#include <fmt/format.h>

#include "checks/modules/diagnosis.hpp"
#include "checks/core/context.hpp"
#include "checks/core/runner.hpp"
#include "checks/modules/modules.hpp"
#include "cli/serve_config.hpp"
#include "reports/reporters.hpp"

namespace mailready::serve {
namespace {

using Clock = std::chrono::steady_clock;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

constexpr const char* kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextType = "text/plain; charset=utf-8";
/// Threads beyond the probe slots, for /metrics, /healthz and quick refusals.
constexpr int kSpareThreads = 8;
/// Accepted connections waiting for a thread (Poco's TCPServer queue).
constexpr int kConnectionQueue = 1024;
/// The kernel's queue of connections not yet accepted.
constexpr int kListenBacklog = 1024;

/// Admission of probes: at most `running` at once, at most `waiting` more waiting for a
/// slot. Waiting is bounded by each probe's own deadline, so an answer (the report or a
/// 503) always comes before Prometheus gives up on the scrape.
class ProbeLimiter {
 public:
  enum class Admission {
    admitted,    ///< a slot is held: call release() when done
    queue_full,  ///< `waiting` probes are waiting already
    timed_out,   ///< no slot before the probe's deadline
  };

  ProbeLimiter(int running, int waiting) : max_running_(running), max_waiting_(waiting) {}

  Admission acquire(Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mutex_);
    // A free slot goes to a newcomer only when nobody waits for it already.
    if (waiting_ == 0 && running_ < max_running_) {
      ++running_;
      return Admission::admitted;
    }
    if (waiting_ >= max_waiting_) return Admission::queue_full;
    ++waiting_;
    const bool free = changed_.wait_until(lock, until, [&] { return running_ < max_running_; });
    --waiting_;
    if (!free) return Admission::timed_out;
    ++running_;
    return Admission::admitted;
  }

  /// Frees a slot. True when no probe runs or waits any more.
  bool release() {
    bool idle = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --running_;
      idle = running_ == 0 && waiting_ == 0;
    }
    changed_.notify_all();
    return idle;
  }

  int running() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return running_;
  }
  int waiting() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return waiting_;
  }

  /// Waits until no probe runs or waits, or until `until`. True when drained.
  bool drain(Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_until(lock, until, [&] { return running_ == 0 && waiting_ == 0; });
  }

 private:
  const int max_running_;
  const int max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int running_ = 0;
  int waiting_ = 0;
};

/// The exporter's own metrics. Every label combination is there from the start (at 0), so
/// rate() and alerts see a series before its first event.
class ExporterMetrics {
 public:
  /// Upper bounds of the probe duration histogram, in seconds.
  static constexpr std::array<double, 11> kBuckets{0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60};

  ExporterMetrics() {
    for (const auto* r : {"ok", "warning", "critical", "unknown", "error"}) probes_[r] = 0;
    for (const auto* r : {"bad_request", "forbidden", "busy"}) rejected_[r] = 0;
  }

  /// One probe that ran: its result (a verdict, or "error" when it could not answer) and the
  /// time from the request's arrival to the answer, queue wait included.
  void probed(const std::string& result, double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++probes_[result];
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      if (seconds <= kBuckets[i]) ++buckets_[i];
    }
    ++count_;
    sum_ += seconds;
  }

  void rejected(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++rejected_[reason];
  }

  /// The exposition text, with the gauges sampled now.
  std::string render(const ProbeLimiter& limiter, int dropped_connections) const {
    std::ostringstream out;
    const auto family = [&](const char* name, const char* type, const char* help) {
      out << fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    std::lock_guard<std::mutex> lock(mutex_);
    family("mailready_exporter_build_info", "gauge",
           "Always 1; the version of the running exporter is its label.");
    out << fmt::format("mailready_exporter_build_info{{version=\"{}\"}} 1\n", MAILREADY_VERSION);
    family("mailready_exporter_probes_total", "counter",
           "Probes that ran, by result: the report's verdict, or error when no report could be "
           "written.");
    for (const auto& [result, n] : probes_) {
      out << fmt::format("mailready_exporter_probes_total{{result=\"{}\"}} {}\n", result, n);
    }
    family("mailready_exporter_probes_rejected_total", "counter",
           "Probe requests answered without probing: bad_request (400), forbidden (403, target "
           "not in the config), busy (503, too many probes running and waiting).");
    for (const auto& [reason, n] : rejected_) {
      out << fmt::format("mailready_exporter_probes_rejected_total{{reason=\"{}\"}} {}\n", reason,
                         n);
    }
    family("mailready_exporter_probe_duration_seconds", "histogram",
           "Time from a probe request's arrival to its answer, queue wait included.");
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out << fmt::format("mailready_exporter_probe_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                         kBuckets[i], buckets_[i]);
    }
    out << fmt::format("mailready_exporter_probe_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
                       count_);
    out << fmt::format("mailready_exporter_probe_duration_seconds_sum {}\n", sum_);
    out << fmt::format("mailready_exporter_probe_duration_seconds_count {}\n", count_);
    family("mailready_exporter_probes_in_flight", "gauge", "Probes running now.");
    out << fmt::format("mailready_exporter_probes_in_flight {}\n", limiter.running());
    family("mailready_exporter_probes_queued", "gauge", "Probes waiting for a slot now.");
    out << fmt::format("mailready_exporter_probes_queued {}\n", limiter.waiting());
    family("mailready_exporter_http_connections_dropped_total", "counter",
           "Connections the HTTP server closed unanswered because its connection queue was "
           "full.");
    out << fmt::format("mailready_exporter_http_connections_dropped_total {}\n",
                       dropped_connections);
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out << fmt::format("process_resident_memory_bytes {}\n", resident_bytes());
    family("process_open_fds", "gauge", "Number of open file descriptors.");
    out << fmt::format("process_open_fds {}\n", open_fds());
    return out.str();
  }

 private:
  /// The second field of /proc/self/statm (resident pages) in bytes; 0 if unreadable.
  static long long resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return 0;
    long long size = 0;
    long long resident = 0;
    const int got = std::fscanf(f, "%lld %lld", &size, &resident);
    std::fclose(f);
    return got == 2 ? resident * ::sysconf(_SC_PAGESIZE) : 0;
  }

  /// Entries of /proc/self/fd, less ".", ".." and the directory's own descriptor.
  static int open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return 0;
    int n = 0;
    while (const dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
    return n - 1;
  }

  mutable std::mutex mutex_;
  std::map<std::string, unsigned long long> probes_;
  std::map<std::string, unsigned long long> rejected_;
  std::array<unsigned long long, kBuckets.size()> buckets_{};
  unsigned long long count_ = 0;
  double sum_ = 0;
};

void send(HTTPServerResponse& response, HTTPResponse::HTTPStatus status, const char* type,
          const std::string& body) {
  response.setStatus(status);
  response.setContentType(type);
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send() << body;
}

/// Everything the request handlers share: read-only config and checks, thread-safe
/// limiter and metrics.
class Exporter {
 public:
  Exporter(ServeConfig config, const ServeOptions& options)
      : config_(std::move(config)),
        registry_(checks::default_registry()),
        limiter_(options.max_concurrent, options.max_queued) {
    // The checks each module runs, chosen once (the ids were validated at start-up).
    for (const auto& [name, module] : config_.modules) {
      selected_[name] = registry_.select(module.options.only, module.options.skip);
    }
  }

  /// Where /metrics reads the HTTP server's dropped-connection count, once it exists.
  void set_dropped_connections(std::function<int()> count) { dropped_ = std::move(count); }

  ProbeLimiter& limiter() { return limiter_; }

  void handle(HTTPServerRequest& request, HTTPServerResponse& response) {
    const auto arrived = Clock::now();
    Poco::URI uri;
    try {
      uri = Poco::URI(request.getURI());
    } catch (const Poco::SyntaxException&) {
      send(response, HTTPResponse::HTTP_BAD_REQUEST, kTextType, "malformed request URI\n");
      return;
    }
    const std::string path = uri.getPath();
    const std::string& method = request.getMethod();
    if (method != HTTPServerRequest::HTTP_GET && method != HTTPServerRequest::HTTP_HEAD) {
      response.set("Allow", "GET, HEAD");
      send(response, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, kTextType, "only GET and HEAD\n");
      return;
    }
    if (path == "/probe") {
      probe(uri, request, response, arrived);
    } else if (path == "/metrics") {
      send(response, HTTPResponse::HTTP_OK, kPrometheusType,
           metrics_.render(limiter_, dropped_ ? dropped_() : 0));
    } else if (path == "/healthz") {
      send(response, HTTPResponse::HTTP_OK, kTextType, "ok\n");
    } else if (path == "/") {
      send(response, HTTPResponse::HTTP_OK, kTextType,
           "mailready exporter\n"
           "  /probe?target=HOST&module=NAME  check a configured target\n"
           "  /metrics                        the exporter's own metrics\n"
           "  /healthz                        liveness\n");
    } else {
      send(response, HTTPResponse::HTTP_NOT_FOUND, kTextType, "not found\n");
    }
  }

 private:
  void refuse(HTTPServerResponse& response, const ProbeRefusal& refusal) {
    metrics_.rejected(refusal.reason);
    send(response, static_cast<HTTPResponse::HTTPStatus>(refusal.status), kTextType,
         refusal.message + "\n");
  }

  void probe(const Poco::URI& uri, const HTTPServerRequest& request, HTTPServerResponse& response,
             Clock::time_point arrived) {
    // What to probe and how: every refusal is decided before the probe takes a slot.
    std::vector<std::pair<std::string, std::string>> parameters;
    try {
      parameters = uri.getQueryParameters();
    } catch (const Poco::Exception&) {
      refuse(response, {400, "bad_request", "malformed query"});
      return;
    }
    const auto query = parse_probe_query(parameters);
    if (const auto* refusal = std::get_if<ProbeRefusal>(&query)) {
      refuse(response, *refusal);
      return;
    }
    auto planned = plan_probe(config_, std::get<ProbeQuery>(query));
    if (const auto* refusal = std::get_if<ProbeRefusal>(&planned)) {
      refuse(response, *refusal);
      return;
    }
    auto& plan = std::get<ProbePlan>(planned);
    static const std::string kScrapeTimeout = "X-Prometheus-Scrape-Timeout-Seconds";
    const std::optional<std::string> header =
        request.has(kScrapeTimeout) ? std::optional<std::string>(request.get(kScrapeTimeout))
                                    : std::nullopt;
    const auto deadline = probe_deadline(header, plan.module->timeout);
    if (const auto* error = std::get_if<std::string>(&deadline)) {
      refuse(response, {400, "bad_request", *error});
      return;
    }

    // A slot, within the probe's deadline: the deadline counts from the request's arrival,
    // so the answer comes in time however long the probe waited. A probe that waited so
    // long that less than half its time (or a second) is left is refused instead: its
    // report would be mostly skipped checks, and another scrape comes soon.
    const auto budget = std::get<std::chrono::milliseconds>(deadline);
    const auto until = arrived + budget;
    const auto admission = limiter_.acquire(
        until - std::min<std::chrono::milliseconds>(budget / 2, std::chrono::seconds(1)));
    if (admission != ProbeLimiter::Admission::admitted) {
      response.set("Retry-After", "1");
      refuse(response, {503, "busy",
                        admission == ProbeLimiter::Admission::queue_full
                            ? "too many probes running and waiting; try again later"
                            : "no probe slot became free in time for the scrape"});
      return;
    }
    // The slot goes back however the probe ends. When the last probe is done, the memory
    // its threads freed goes back to the system: a burst of probes spreads its allocations
    // over many malloc arenas, and without the trim each arena keeps its peak, so the
    // resident size would creep up burst after burst although nothing leaks.
    struct Release {
      ProbeLimiter& limiter;
      ~Release() {
        if (limiter.release()) ::malloc_trim(0);
      }
    } release{limiter_};

    std::string result = "error";
    try {
      Options& o = plan.options;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      o.deadline = std::max(left, std::chrono::milliseconds(1));
      o.timeout = std::min(o.timeout, *o.deadline);
      Context ctx(o);
      Report report = run_checks(selected_.at(plan.module->name), ctx);
      checks::diagnose(report);
      std::ostringstream text;
      report::write_prometheus(report, text, report::RenderOptions{});
      result = std::string(to_string(verdict_of(report)));
      send(response, HTTPResponse::HTTP_OK, kPrometheusType, text.str());
    } catch (const std::exception& e) {
      // The target is a configured name or a checked host name: safe to log.
      std::cerr << fmt::format("mailready: probe of {} failed: {}\n", plan.options.target,
                               e.what());
      if (!response.sent()) {
        send(response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, kTextType, "probe failed\n");
      }
    }
    metrics_.probed(result, std::chrono::duration<double>(Clock::now() - arrived).count());
  }

  const ServeConfig config_;
  const Registry registry_;
  std::map<std::string, std::vector<const Check*>> selected_;
  ProbeLimiter limiter_;
  ExporterMetrics metrics_;
  std::function<int()> dropped_;
};

class RequestHandler final : public Poco::Net::HTTPRequestHandler {
 public:
  explicit RequestHandler(Exporter& exporter) : exporter_(exporter) {}
  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    exporter_.handle(request, response);
  }

 private:
  Exporter& exporter_;
};

class HandlerFactory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit HandlerFactory(Exporter& exporter) : exporter_(exporter) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new RequestHandler(exporter_);
  }

 private:
  Exporter& exporter_;
};

int usage_error(const std::string& message) {
  std::cerr << "mailready: " << message << '\n';
  return 3;
}

}  // namespace

int run_serve(const ServeOptions& options) {
  // Everything that can be wrong with the command line or the config fails now, in one
  // line, before the port is bound.
  ServeConfig config;
  try {
    config = load_serve_config(options.config_path);
    validate_check_ids(config, checks::default_registry());
  } catch (const ConfigError& e) {
    return usage_error(e.what());
  }
  const auto listen = parse_listen(options.listen);
  if (!listen) {
    return usage_error(
        fmt::format("--listen wants ADDRESS:PORT (e.g. 127.0.0.1:9731), got '{}'", options.listen));
  }

  // The longest a probe may run: how long a stop waits for running probes.
  std::chrono::milliseconds longest_probe{0};
  for (const auto& [name, module] : config.modules) {
    longest_probe = std::max(longest_probe, module.timeout);
  }

  // SIGINT and SIGTERM are blocked in every thread (each inherits this mask) and taken
  // by sigwait() below, so no handler runs inside Poco's threads.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Poco::Net::ServerSocket socket;
  try {
    socket.bind(Poco::Net::SocketAddress(listen->first, static_cast<Poco::UInt16>(listen->second)),
                true);
    socket.listen(kListenBacklog);
  } catch (const Poco::Exception& e) {
    return usage_error(fmt::format("cannot listen on {}: {}", options.listen, e.displayText()));
  }

  // Threads: one per running or waiting probe, and spares so that /metrics and /healthz
  // answer while every probe slot is taken. Connections beyond the threads wait in Poco's
  // queue; they are answered quickly (a full probe queue is a 503 at once), so that queue
  // only absorbs bursts, and a connection is dropped unanswered only beyond it.
  //
  // No keep-alive: Poco serves a connection on one thread until it closes, so idle
  // keep-alive connections of Prometheus would hold threads between scrapes; a new TCP
  // connection per scrape costs nothing by comparison.
  const int threads = options.max_concurrent + options.max_queued + kSpareThreads;
  Poco::ThreadPool pool("mailready-http", 2, threads, 60);
  Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(threads);
  params->setMaxQueued(kConnectionQueue);
  params->setKeepAlive(false);
  params->setTimeout(Poco::Timespan(10, 0));
  params->setSoftwareVersion(std::string("mailready/") + MAILREADY_VERSION);

  Exporter exporter(std::move(config), options);
  Poco::Net::HTTPServer server(new HandlerFactory(exporter), pool, socket, params);
  exporter.set_dropped_connections([&server] { return server.refusedConnections(); });
  server.start();
  std::cerr << fmt::format(
      "mailready: exporter listening on {} ({} probes at once, {} waiting; SIGTERM stops)\n",
      options.listen, options.max_concurrent, options.max_queued);

  int signal = 0;
  sigwait(&stop_signals, &signal);

  // Stop: no new connections; running probes finish (each within its deadline); then any
  // connection still open is shut down and the pool's threads are joined.
  std::cerr << fmt::format("mailready: {}, stopping ({} probes running)\n",
                           signal == SIGINT ? "SIGINT" : "SIGTERM", exporter.limiter().running());
  server.stopAll(false);
  exporter.limiter().drain(Clock::now() + longest_probe + std::chrono::seconds(2));
  server.stopAll(true);
  pool.joinAll();
  return 0;
}

}  // namespace mailready::serve
