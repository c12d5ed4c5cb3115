#include "checks/core/workers.hpp"

#include <chrono>
#include <deque>
#include <thread>
#include <utility>

namespace mailready {
namespace {

class ThreadCache {
 public:
  void submit(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mutex_);
    tasks_.push_back(std::move(task));
    // Every queued task needs a thread of its own now: the idle ones take one each.
    if (tasks_.size() > idle_) {
      lock.unlock();
      std::thread([this] { work(); }).detach();
      return;
    }
    ready_.notify_one();
  }

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      while (!tasks_.empty()) {
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        task();
        task = nullptr;  // its captures go before the thread waits again
        lock.lock();
      }
      ++idle_;
      const bool got = ready_.wait_for(lock, std::chrono::seconds(10), [&] { return !tasks_.empty(); });
      --idle_;
      if (!got) return;
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  std::size_t idle_ = 0;
};

/// Never destroyed: detached threads may still wait on it while the process exits.
ThreadCache& cache() {
  static auto* c = new ThreadCache();
  return *c;
}

}  // namespace

void run_detached(std::function<void()> task) { cache().submit(std::move(task)); }

void TaskGroup::run(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++running_;
  }
  cache().submit([this, task = std::move(task)] {
    task();
    std::lock_guard<std::mutex> lock(mutex_);
    if (--running_ == 0) done_.notify_all();
  });
}

void TaskGroup::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return running_ == 0; });
}

}  // namespace mailready
