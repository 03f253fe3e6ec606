// Works dropped before their op completed: their state, and so the tensors
// the engine thread still reads or writes, is kept here until the op
// completed; the next op submitted after that (or shutdown) releases it.
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "work_state.h"

namespace bluefog {
namespace api {
namespace {

// Settles the state's op if it completed. Nobody else holds the state any
// more, so nobody waits on it.
bool SettleIfDone(WorkState& s) {
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.settled || s.handle < 0) return true;  // done, or never submitted
  try {
    if (!s.engine->Poll(s.handle)) return false;
  } catch (const std::exception&) {
    // Only a forked child cannot poll: its engine thread stayed with the
    // parent, so nothing in this process uses the memory.
    return true;
  }
  Settle(s);
  return true;
}

class DroppedWorks {
 public:
  void Keep(std::unique_ptr<WorkState> state) {
    std::lock_guard<std::mutex> lock(mutex_);
    states_.push_back(std::move(state));
    count_.store(states_.size(), std::memory_order_relaxed);
  }

  void ReleaseFinished() {
    if (count_.load(std::memory_order_relaxed) == 0) return;
    std::vector<std::unique_ptr<WorkState>> finished;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      size_t kept = 0;
      for (auto& state : states_) {
        if (SettleIfDone(*state))
          finished.push_back(std::move(state));
        else
          states_[kept++] = std::move(state);
      }
      states_.resize(kept);
      count_.store(kept, std::memory_order_relaxed);
    }
    // `finished` goes out of scope here, outside the lock: its tensors are freed.
  }

  size_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<WorkState>> states_;
  std::atomic<size_t> count_{0};
};

// Never destroyed: tensors must not be freed during static destruction.
DroppedWorks& Dropped() {
  static DroppedWorks* dropped = new DroppedWorks();
  return *dropped;
}

void DropState(WorkState* raw) {
  std::unique_ptr<WorkState> state(raw);
  if (!SettleIfDone(*state)) Dropped().Keep(std::move(state));
}

}  // namespace

std::shared_ptr<WorkState> NewWorkState(Engine& engine) {
  return std::shared_ptr<WorkState>(new WorkState(engine), &DropState);
}

void ReleaseFinishedDroppedWorks() { Dropped().ReleaseFinished(); }

size_t dropped_works_pending() { return Dropped().count(); }

}  // namespace api
}  // namespace bluefog
