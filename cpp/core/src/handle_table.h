// The user threads' side of jobs: the integer handles Submit returns and
// waiting on them. Thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "engine_job.h"

namespace bluefog {

class HandleTable {
 public:
  int64_t Add(std::shared_ptr<HandleState> state);
  // Throws InvalidArgument for a handle never issued or already released.
  std::shared_ptr<HandleState> Find(int64_t handle) const;
  // Forgets a finished handle and returns its status; throws if it is not
  // finished.
  Status Release(int64_t handle);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<int64_t, std::shared_ptr<HandleState>> handles_;
  int64_t next_ = 1;
};

// Waits up to `timeout_seconds` for the job to finish; true when it has.
bool WaitDone(HandleState& state, double timeout_seconds);

}  // namespace bluefog
