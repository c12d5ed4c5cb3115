#pragma once
// Threads kept for reuse. The runner gives every check, and every endpoint of a
// per-endpoint check, a thread of its own that may block (waiting for its needs, for a
// slot, for the network); creating and ending one per task cost a fleet ~70 thread
// lifetimes per target. Here a task goes to a thread that is idle, or to a new one when
// none is, so no task ever waits behind another; idle threads end after a while.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>

namespace mailready {

/// Runs `task` on a thread of the process' cache, now. `task` must not throw.
void run_detached(std::function<void()> task);

/// Tasks run on the cache that a caller waits for together.
class TaskGroup {
 public:
  TaskGroup() = default;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup() { wait(); }

  /// Starts `task` (which must not throw) at once on a thread of the cache.
  void run(std::function<void()> task);
  /// Returns when every task started so far has ended.
  void wait();

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t running_ = 0;
};

}  // namespace mailready
