// What the user threads share with the engine thread: the run state, the
// queue of posted jobs, stop and abort requests, suspension and
// DeliverArrived's tickets. Guarded by `mutex`; the engine thread reads the
// atomics without it.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "engine_job.h"

namespace bluefog {

struct EngineShared {
  enum class State { kNew, kRunning, kStopped };

  std::mutex mutex;
  std::condition_variable cv;
  State state = State::kNew;
  bool init_done = false;
  Status init_status;
  bool stop_requested = false;
  std::string abort_reason;
  bool abort_is_consequence = false;
  std::deque<std::shared_ptr<Job>> queue;
  uint64_t deliveries_done = 0;
  // Written under `mutex`, read lock-free.
  std::atomic<bool> suspended{false};
  std::atomic<bool> stop_flag{false};
  std::atomic<bool> abort_flag{false};
  std::atomic<uint64_t> deliveries_wanted{0};
};

}  // namespace bluefog
