#include "checks/core/context.hpp"

#include <algorithm>
#include <thread>

#include "checks/core/workers.hpp"

namespace mailready {

Slot::~Slot() {
  if (budget_ != nullptr) budget_->release(address_, port_);
}

Slot ConnectionBudget::acquire(const std::string& address, int port, bool urgent,
                               const std::optional<Clock::time_point>& deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  Slots& s = slots_[address];
  const auto free = [&] {
    if (s.in_use >= per_host_) return false;
    if (const auto l = s.limit_at.find(port); l != s.limit_at.end() && s.in_use_at[port] >= l->second) {
      return false;
    }
    // Each port its share while others wait: a tarpitting port's sessions, each held for
    // a whole timeout, took every slot and starved the healthy ports' logins.
    int ports_waiting = 1;
    for (const auto& [p, n] : s.waiting_at) {
      if (p != port && n > 0) ++ports_waiting;
    }
    if (ports_waiting > 1 && s.in_use_at[port] >= std::max(1, per_host_ / ports_waiting)) return false;
    return urgent || s.urgent_waiting == 0;
  };
  const auto wait = [&](std::condition_variable& cv, const auto& ready) {
    if (!deadline) {
      cv.wait(lock, ready);
      return true;
    }
    return cv.wait_until(lock, *deadline, ready);
  };
  auto& cv = urgent ? s.urgent_freed : s.freed;
  if (urgent) ++s.urgent_waiting;
  ++s.waiting_at[port];
  const bool got = wait(cv, free);
  if (urgent && --s.urgent_waiting == 0) s.freed.notify_all();  // the others may go again
  if (--s.waiting_at[port] == 0) {
    // One port fewer contending: the shares of the others grow.
    s.urgent_freed.notify_all();
    s.freed.notify_all();
  }
  if (!got) return Slot(nullptr, address, port);
  ++s.in_use;
  ++s.in_use_at[port];
  // The address's slot first, then a place under the total (and the port's cap over all
  // addresses, if a server set one): a queue at one address then holds none of the
  // places the other addresses could use.
  const auto placeable = [&] {
    if (total_ > 0 && in_use_total_ >= total_) return false;
    const auto cap = port_limit_.find(port);
    return cap == port_limit_.end() || in_use_on_port_[port] < cap->second;
  };
  if (!placeable()) {
    ++total_waiting_;
    const bool placed = wait(total_freed_, placeable);
    --total_waiting_;
    if (!placed) {
      free_address_slot(s, port);
      return Slot(nullptr, address, port);
    }
  }
  ++in_use_total_;
  ++in_use_on_port_[port];
  ++s.taken_at[port];
  return Slot(this, address, port);
}

void ConnectionBudget::release(const std::string& address, int port) {
  std::lock_guard<std::mutex> lock(mutex_);
  --in_use_total_;
  --in_use_on_port_[port];
  if (const auto cap = port_limit_.find(port); cap != port_limit_.end()) {
    // A round of that many sessions done since the cut: one more at once from now on.
    if (++done_since_cut_[port] >= cap->second) {
      ++cap->second;
      done_since_cut_[port] = 0;
    }
  }
  if (total_waiting_ > 0) {
    // Waiters for other ports may be behind their own caps: with caps, wake them all.
    if (port_limit_.empty()) {
      total_freed_.notify_one();
    } else {
      total_freed_.notify_all();
    }
  }
  free_address_slot(slots_[address], port);
}

void ConnectionBudget::free_address_slot(Slots& s, int port) {
  --s.in_use;
  --s.in_use_at[port];
  int ports_waiting = 0;
  for (const auto& [p, n] : s.waiting_at) ports_waiting += n > 0 ? 1 : 0;
  if (ports_waiting > 1 || !s.limit_at.empty()) {
    // Not every waiter may take this slot (a port over its share or its own limit): wake
    // them all, one of them can go.
    s.urgent_freed.notify_all();
    s.freed.notify_all();
  } else if (s.urgent_waiting > 0) {
    s.urgent_freed.notify_one();
  } else {
    s.freed.notify_one();
  }
}

int ConnectionBudget::count(const std::string& address, int port,
                            std::map<int, int> Slots::*which) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = slots_.find(address);
  if (it == slots_.end()) return 0;
  const auto& counts = it->second.*which;
  const auto at = counts.find(port);
  return at == counts.end() ? 0 : at->second;
}

int ConnectionBudget::taken(const std::string& address, int port) const {
  return count(address, port, &Slots::taken_at);
}

int ConnectionBudget::in_use(const std::string& address, int port) const {
  if (port == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = slots_.find(address);
    return it == slots_.end() ? 0 : it->second.in_use;
  }
  return count(address, port, &Slots::in_use_at);
}

int ConnectionBudget::limit_seen(const std::string& address, int port) const {
  return count(address, port, &Slots::limit_at);
}

int ConnectionBudget::in_use_total() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_use_total_;
}

std::string ConnectionBudget::holders(const std::string& address) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = slots_.find(address);
  if (it == slots_.end()) return {};
  std::vector<std::pair<int, int>> held;
  for (const auto& [port, n] : it->second.in_use_at) {
    if (n > 0) held.emplace_back(n, port);
  }
  std::sort(held.rbegin(), held.rend());
  std::string out;
  for (const auto& [n, port] : held) {
    if (!out.empty()) out += ", ";
    out += std::to_string(port) + " (" + std::to_string(n) + ")";
  }
  return out;
}

int ConnectionBudget::in_use_on_port(int port) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = in_use_on_port_.find(port);
  return it == in_use_on_port_.end() ? 0 : it->second;
}

void ConnectionBudget::lower_port_limit(int port, int limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = port_limit_.find(port);
  const int wanted = std::max(1, limit);
  if (it == port_limit_.end() || wanted < it->second) {
    port_limit_[port] = wanted;
    done_since_cut_[port] = 0;
  }
}

void ConnectionBudget::lower_limit(const std::string& address, int port, int limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slots& s = slots_[address];
  const auto it = s.limit_at.find(port);
  const int current = it == s.limit_at.end() ? per_host_ : it->second;
  s.limit_at[port] = std::max(1, std::min(current, limit));
}

Context::Context(Options options, ProgressSink* progress, std::shared_ptr<ConnectionBudget> budget)
    : options_(std::move(options)),
      progress_(progress),
      started_(Clock::now()),
      budget_(budget ? std::move(budget) : std::make_shared<ConnectionBudget>(options_.per_host)),
      shares_budget_(budget_.use_count() > 1) {  // the fleet holds it too
  if (options_.deadline) deadline_ = started_ + *options_.deadline;
}

std::chrono::milliseconds Context::wait_budget() const {
  if (!deadline_) return options_.timeout;
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(*deadline_ - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(0), options_.timeout);
}

bool Context::expired() const { return deadline_ && Clock::now() >= *deadline_; }

std::chrono::milliseconds Context::elapsed() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
}

Slot Context::acquire_slot(const std::string& address, int port, bool urgent) {
  return budget_->acquire(address, port, urgent, deadline_);
}

int Context::slots_in_use(const std::string& address, int port) const {
  return budget_->in_use(address, port);
}

int Context::slots_taken(const std::string& address, int port) const {
  return budget_->taken(address, port);
}

int Context::slot_limit_seen(const std::string& address, int port) const {
  return budget_->limit_seen(address, port);
}

int Context::connections_open() const { return budget_->in_use_total(); }

int Context::connections_open_on_port(int port) const { return budget_->in_use_on_port(port); }

void Context::lower_port_limit(int port, int limit) { budget_->lower_port_limit(port, limit); }

void Context::lower_slot_limit(const std::string& address, int port, int limit) {
  budget_->lower_limit(address, port, limit);
}

std::string Context::slot_holders(const std::string& address) const { return budget_->holders(address); }

std::vector<CheckResult> Context::results_of(std::string_view check_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = results_.find(check_id);
  return it == results_.end() ? std::vector<CheckResult>{} : it->second;
}

void Context::publish(std::string_view check_id, const std::vector<CheckResult>& results) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    results_[std::string(check_id)] = results;
  }
  notify_done(check_id);
}

std::vector<Endpoint> Context::endpoints() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return endpoints_;
}

void Context::set_endpoints(std::vector<Endpoint> endpoints) {
  std::lock_guard<std::mutex> lock(mutex_);
  endpoints_ = std::move(endpoints);
}

std::vector<CheckResult> Context::results_at(std::string_view check_id, const Endpoint& e) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<CheckResult> out;
  if (const auto it = results_.find(check_id); it != results_.end()) {
    for (const auto& r : it->second) {
      if (r.endpoint && *r.endpoint == e) out.push_back(r);
    }
    return out;
  }
  const auto it = partial_.find(check_id);
  if (it == partial_.end()) return out;
  const auto at = it->second.find(e.label());
  return at == it->second.end() ? out : at->second;
}

void Context::await(std::string_view check_id, const Endpoint& e) const {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto cv = done_.find(check_id);
  if (cv == done_.end()) return;  // not in this run
  const auto label = e.label();
  cv->second->wait(lock, [&] {
    if (results_.count(check_id) > 0) return true;
    const auto it = partial_.find(check_id);
    return it != partial_.end() && it->second.count(label) > 0;
  });
}

void Context::begin_run(const std::vector<std::string_view>& check_ids) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto id : check_ids) done_.emplace(std::string(id), std::make_unique<std::condition_variable>());
}

void Context::notify_done(std::string_view check_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (const auto cv = done_.find(check_id); cv != done_.end()) cv->second->notify_all();
}

void Context::publish_at(std::string_view check_id, const Endpoint& e,
                         const std::vector<CheckResult>& results) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = partial_.find(check_id);
    if (it == partial_.end()) it = partial_.emplace(std::string(check_id), decltype(it->second){}).first;
    it->second[e.label()] = results;
  }
  notify_done(check_id);
}

void Context::trace(std::string title, std::string transcript) {
  if (!options_.trace) return;
  std::lock_guard<std::mutex> lock(mutex_);
  traces_.emplace_back(std::move(title), std::move(transcript));
}

std::vector<std::pair<std::string, std::string>> Context::traces() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return traces_;
}

void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 1) {
    fn(0);
    return;
  }
  TaskGroup tasks;
  for (std::size_t i = 0; i < n; ++i) tasks.run([&fn, i] { fn(i); });
  tasks.wait();
}

}  // namespace mailready
