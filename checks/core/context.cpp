#include "checks/core/context.hpp"

#include <algorithm>
#include <thread>

namespace mailready {

Slot::~Slot() {
  if (ctx_ != nullptr) ctx_->release_slot(address_);
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

Slot Context::acquire_slot(const std::string& address) {
  std::unique_lock<std::mutex> lock(mutex_);
  const int limit = std::max(1, options_.per_host);
  const auto free = [&] { return in_use_[address] < limit; };
  if (deadline_) {
    if (!slot_freed_.wait_until(lock, *deadline_, free)) return Slot(nullptr, address);
  } else {
    slot_freed_.wait(lock, free);
  }
  ++in_use_[address];
  return Slot(this, address);
}

void Context::release_slot(const std::string& address) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --in_use_[address];
  }
  slot_freed_.notify_all();
}

std::vector<CheckResult> Context::results_of(std::string_view check_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = results_.find(check_id);
  return it == results_.end() ? std::vector<CheckResult>{} : it->second;
}

void Context::publish(std::string_view check_id, const std::vector<CheckResult>& results) {
  std::lock_guard<std::mutex> lock(mutex_);
  results_[std::string(check_id)] = results;
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
