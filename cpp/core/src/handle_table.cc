#include "handle_table.h"

#include <string>
#include <thread>

namespace bluefog {

int64_t HandleTable::Add(std::shared_ptr<HandleState> state) {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t handle = next_++;
  handles_[handle] = std::move(state);
  return handle;
}

std::shared_ptr<HandleState> HandleTable::Find(int64_t handle) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = handles_.find(handle);
  if (it == handles_.end())
    throw InvalidArgument("unknown handle " + std::to_string(handle) +
                          " (already synchronized, or never issued)");
  return it->second;
}

Status HandleTable::Release(int64_t handle) {
  auto state = Find(handle);
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    if (!state->done)
      throw InvalidArgument("handle " + std::to_string(handle) + " is not finished yet");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  handles_.erase(handle);
  return state->status;
}

bool WaitDone(HandleState& state, double timeout_seconds) {
  // Most ops finish within microseconds: look a few times before paying
  // for a sleep and a wake-up.
  constexpr int kWaitSpins = 50;
  for (int i = 0; i < kWaitSpins; ++i) {
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      if (state.done) return true;
    }
    std::this_thread::yield();
  }
  std::unique_lock<std::mutex> lock(state.mutex);
  return state.cv.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
                           [&] { return state.done; });
}

}  // namespace bluefog
