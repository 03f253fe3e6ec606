// What the engine's parts (stall monitor, window service, liveness) ask of
// the engine itself. Engine::Impl implements it; engine thread only.
#pragma once
#include <memory>
#include <string>

#include "engine_job.h"

namespace bluefog {

class EngineServices {
 public:
  virtual ~EngineServices() = default;
  // Fails the job's op; `notify` tells its peers so they fail too.
  virtual void FailJob(const std::shared_ptr<Job>& job, Status status, bool notify) = 0;
  // Wakes the job's waiter if its op finished and its sends completed.
  virtual void MaybeComplete(const std::shared_ptr<Job>& job) = 0;
  // What this rank is doing, for a peer's stall report or deadline.
  virtual std::string DescribeActivity() = 0;
  // Whether this rank posted (queued or started) that instance of the op.
  virtual bool HasPosted(const std::string& key, uint64_t instance) = 0;
};

}  // namespace bluefog
