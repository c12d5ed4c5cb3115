#include "checks/core/context.hpp"

#include <algorithm>
#include <thread>

namespace mailready {

Slot::~Slot() {
  if (ctx_ != nullptr) ctx_->release_slot(address_, port_);
}

Context::Context(Options options, ProgressSink* progress)
    : options_(std::move(options)), progress_(progress), started_(Clock::now()) {
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

Context::Slots& Context::slots(const std::string& address) { return slots_[address]; }

Slot Context::acquire_slot(const std::string& address, int port, bool urgent) {
  std::unique_lock<std::mutex> lock(mutex_);
  Slots& s = slots(address);
  const int per_host = std::max(1, options_.per_host);
  const auto free = [&] {
    if (s.in_use >= per_host) return false;
    if (const auto l = s.limit_at.find(port); l != s.limit_at.end() && s.in_use_at[port] >= l->second) {
      return false;
    }
    // Each port its share while others wait: a tarpitting port's sessions, each held for
    // a whole timeout, took every slot and starved the healthy ports' logins.
    int ports_waiting = 1;
    for (const auto& [p, n] : s.waiting_at) {
      if (p != port && n > 0) ++ports_waiting;
    }
    if (ports_waiting > 1 && s.in_use_at[port] >= std::max(1, per_host / ports_waiting)) return false;
    return urgent || s.urgent_waiting == 0;
  };
  auto& cv = urgent ? s.urgent_freed : s.freed;
  if (urgent) ++s.urgent_waiting;
  ++s.waiting_at[port];
  bool got = true;
  if (deadline_) {
    got = cv.wait_until(lock, *deadline_, free);
  } else {
    cv.wait(lock, free);
  }
  if (urgent && --s.urgent_waiting == 0) s.freed.notify_all();  // the others may go again
  if (--s.waiting_at[port] == 0) {
    // One port fewer contending: the shares of the others grow.
    s.urgent_freed.notify_all();
    s.freed.notify_all();
  }
  if (!got) return Slot(nullptr, address, port);
  ++s.in_use;
  ++s.in_use_at[port];
  ++s.taken_at[port];
  return Slot(this, address, port);
}

int Context::slot_count(const std::string& address, int port,
                        std::map<int, int> Slots::*which) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = slots_.find(address);
  if (it == slots_.end()) return 0;
  const auto& counts = it->second.*which;
  const auto at = counts.find(port);
  return at == counts.end() ? 0 : at->second;
}

int Context::slots_taken(const std::string& address, int port) const {
  return slot_count(address, port, &Slots::taken_at);
}

int Context::slots_in_use(const std::string& address, int port) const {
  if (port == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = slots_.find(address);
    return it == slots_.end() ? 0 : it->second.in_use;
  }
  return slot_count(address, port, &Slots::in_use_at);
}

int Context::slot_limit_seen(const std::string& address, int port) const {
  return slot_count(address, port, &Slots::limit_at);
}

void Context::lower_slot_limit(const std::string& address, int port, int limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slots& s = slots(address);
  const auto it = s.limit_at.find(port);
  const int current = it == s.limit_at.end() ? std::max(1, options_.per_host) : it->second;
  s.limit_at[port] = std::max(1, std::min(current, limit));
}

void Context::release_slot(const std::string& address, int port) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slots& s = slots(address);
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

std::string Context::slot_holders(const std::string& address) const {
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
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t i = 0; i < n; ++i) threads.emplace_back(fn, i);
  for (auto& t : threads) t.join();
}

}  // namespace mailready
