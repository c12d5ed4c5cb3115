#pragma once
// The per-run context: options, the clock and deadline, the per-address connection bound,
// the run's endpoints, the results of checks (whole, or per endpoint as soon as each is
// done), and a cache for shared expensive objects (TLS contexts, the endpoints'
// sessions). Shared by all checks of a run; thread-safe.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "checks/core/model.hpp"
#include "checks/core/options.hpp"

namespace mailready {

/// Receives live progress; reporters never print progress. Called from worker threads,
/// one call at a time.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void check_started(std::string_view check_id) = 0;
  virtual void result_ready(const CheckResult& result) = 0;
};

class ConnectionBudget;

/// Holds one of an address's connection slots (for one of its ports) until destroyed.
class Slot {
 public:
  Slot(ConnectionBudget* budget, std::string address, int port)
      : budget_(budget), address_(std::move(address)), port_(port) {}
  Slot(Slot&& o) noexcept : budget_(o.budget_), address_(std::move(o.address_)), port_(o.port_) {
    o.budget_ = nullptr;
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  Slot& operator=(Slot&&) = delete;
  ~Slot();

  /// False when no slot could be had before the run's deadline.
  explicit operator bool() const { return budget_ != nullptr; }

 private:
  ConnectionBudget* budget_;
  std::string address_;
  int port_;
};

/// The connection slots of server addresses (--per-host each), and at most `total` held
/// at once over all of them (0: no such cap). One run has its own; the runs of a fleet
/// share one, so targets that resolve to one address share its bound, and a server's
/// "too many connections" lowers it for all of them. Thread-safe.
class ConnectionBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ConnectionBudget(int per_host, int total = 0)
      : per_host_(std::max(1, per_host)), total_(std::max(0, total)) {}
  ConnectionBudget(const ConnectionBudget&) = delete;
  ConnectionBudget& operator=(const ConnectionBudget&) = delete;

  /// Waits for one of `address`'s slots for `port` (and a place under the total), until
  /// `deadline` if there is one; an empty Slot when it passed first. `urgent` waiters of
  /// an address are served before its others.
  Slot acquire(const std::string& address, int port, bool urgent,
               const std::optional<Clock::time_point>& deadline);
  int in_use(const std::string& address, int port) const;  ///< port 0: all its ports
  int taken(const std::string& address, int port) const;
  void lower_limit(const std::string& address, int port, int limit);
  int limit_seen(const std::string& address, int port) const;
  int in_use_total() const;
  /// Who holds `address`'s slots now, most first: "587 (8), 25 (2)".
  std::string holders(const std::string& address) const;
  /// Ours open to `port` now, at every address.
  int in_use_on_port(int port) const;
  /// From now on at most `limit` (>= 1) at once to `port` over all addresses: a server
  /// behind many of a fleet's addresses refused one more of ours there, counting them all.
  void lower_port_limit(int port, int limit);

 private:
  friend class Slot;
  void release(const std::string& address, int port);

  /// One server address's connection slots. A freed slot wakes one waiter, an urgent
  /// one first: with tens of sessions queued, waking them all per release was a
  /// measurable part of a run's CPU.
  struct Slots {
    int in_use = 0;  ///< --per-host bounds this
    std::map<int, int> in_use_at;  ///< by port
    std::map<int, int> taken_at;   ///< by port, over the budget's life
    std::map<int, int> limit_at;   ///< by port, where a server refused more of us
    std::map<int, int> waiting_at; ///< by port, sessions waiting for a slot
    int urgent_waiting = 0;
    std::condition_variable urgent_freed;
    std::condition_variable freed;
  };
  int count(const std::string& address, int port, std::map<int, int> Slots::*which) const;
  void free_address_slot(Slots& s, int port);  ///< with mutex_ held

  const int per_host_;
  const int total_;
  mutable std::mutex mutex_;
  std::map<std::string, Slots> slots_;
  int in_use_total_ = 0;
  std::map<int, int> in_use_on_port_;
  /// Learnt from refusals (lower_port_limit), and raised by one after each round of that
  /// many sessions ended since the last cut, as TCP grows its window.
  std::map<int, int> port_limit_;
  std::map<int, int> done_since_cut_;
  int total_waiting_ = 0;
  std::condition_variable total_freed_;
};

class Context {
 public:
  using Clock = std::chrono::steady_clock;

  /// `budget`: the connection slots to draw from (a fleet's shared ones); none: the run's
  /// own, options.per_host per address.
  explicit Context(Options options, ProgressSink* progress = nullptr,
                   std::shared_ptr<ConnectionBudget> budget = nullptr);

  const Options& options() const { return options_; }
  ProgressSink* progress() const { return progress_; }

  /// How long the next network wait may take: the per-wait timeout, cut to what is
  /// left of the run's deadline (zero once it has passed).
  std::chrono::milliseconds wait_budget() const;
  /// True once the run's deadline has passed.
  bool expired() const;
  /// The run's deadline (--deadline from the start), if it has one: every session's reads
  /// and writes are cut to it.
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  std::chrono::milliseconds elapsed() const;

  /// Waits for one of `address`'s connection slots (--per-host), for a session to `port`.
  /// The returned Slot is empty if the deadline passed first. `urgent` waiters are served
  /// before the others. Fair between ports: while sessions for another port of the address
  /// wait, a port holds at most its share (per-host / ports waiting), so one slow or
  /// tarpitting port cannot keep the others' sessions from starting.
  Slot acquire_slot(const std::string& address, int port = 0, bool urgent = false);
  /// How many of `address`'s slots are held now for `port` (0: for all its ports).
  int slots_in_use(const std::string& address, int port = 0) const;
  /// How many slots for `address`:`port` were handed out so far (by the run's budget).
  int slots_taken(const std::string& address, int port) const;
  /// From now on at most `limit` (>= 1) sessions at once to `address`:`port`: the server
  /// said it allows no more of ours than that (servers count per service: Postfix per
  /// listener, Dovecot per protocol).
  void lower_slot_limit(const std::string& address, int port, int limit);
  /// The limit a server imposed on us there (0: none seen).
  int slot_limit_seen(const std::string& address, int port) const;
  /// Sessions of ours open now, at every address (of the fleet, when the budget is shared).
  int connections_open() const;
  /// True when the budget is a fleet's, shared with other runs.
  bool shares_budget() const { return shares_budget_; }
  /// Ours open to `port` at every address (of the fleet, when the budget is shared).
  int connections_open_on_port(int port) const;
  /// The fleet's cap for `port` over all addresses (ConnectionBudget::lower_port_limit).
  void lower_port_limit(int port, int limit);
  /// Who holds `address`'s slots now, most first: "587 (8), 25 (2)" (for a starved result).
  std::string slot_holders(const std::string& address) const;

  /// The results of a check that already finished (empty if it did not run).
  std::vector<CheckResult> results_of(std::string_view check_id) const;
  /// Records a check's results for the checks that need them.
  void publish(std::string_view check_id, const std::vector<CheckResult>& results);

  /// The endpoints of the run (planned ports × resolved addresses), in the plan's order;
  /// empty until the check that resolves them has set them.
  std::vector<Endpoint> endpoints() const;
  void set_endpoints(std::vector<Endpoint> endpoints);

  /// A per-endpoint check's results about `e`: there as soon as that endpoint is done,
  /// before the check has finished elsewhere.
  std::vector<CheckResult> results_at(std::string_view check_id, const Endpoint& e) const;
  /// Waits until `check_id` has finished on `e` (or altogether, or is not in the run).
  void await(std::string_view check_id, const Endpoint& e) const;
  /// For the runner: the checks of this run, and one endpoint's results of a check.
  void begin_run(const std::vector<std::string_view>& check_ids);
  void publish_at(std::string_view check_id, const Endpoint& e, const std::vector<CheckResult>& results);

  /// Keeps one protocol transcript (already masked) for --trace; a no-op unless
  /// options().trace.
  void trace(std::string title, std::string transcript);
  /// Every transcript kept, in the order they were recorded.
  std::vector<std::pair<std::string, std::string>> traces() const;

  /// A run-wide object of type T, made once by `make` on first use.
  template <class T>
  std::shared_ptr<T> shared(const std::function<std::shared_ptr<T>()>& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = cache_[std::type_index(typeid(T))];
    if (!slot) slot = make();
    return std::static_pointer_cast<T>(slot);
  }

 private:
  void notify_done(std::string_view check_id);

  Options options_;
  ProgressSink* progress_;
  Clock::time_point started_;
  std::optional<Clock::time_point> deadline_;
  /// Before cache_: the sessions kept there hold slots of it.
  std::shared_ptr<ConnectionBudget> budget_;
  bool shares_budget_;
  mutable std::mutex mutex_;
  /// One per check of the run: a result published wakes only those waiting for that check.
  std::map<std::string, std::unique_ptr<std::condition_variable>, std::less<>> done_;
  std::map<std::string, std::vector<CheckResult>, std::less<>> results_;
  std::map<std::string, std::map<std::string, std::vector<CheckResult>>, std::less<>> partial_;
  std::vector<Endpoint> endpoints_;
  std::map<std::type_index, std::shared_ptr<void>> cache_;
  std::vector<std::pair<std::string, std::string>> traces_;
};

/// Runs fn(i) for i in [0, n) on n threads and waits for all. Each call's own
/// exceptions are its caller's business: fn must not throw.
void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn);

}  // namespace mailready
