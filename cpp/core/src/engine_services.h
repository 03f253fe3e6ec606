// What the engine's parts ask of each other, as interfaces so that each
// part can be read (and tested) alone. Engine thread only.
#pragma once
#include <memory>
#include <string>

#include "engine_job.h"

namespace bluefog {

// The op lifecycle (OpLifecycle implements it).
class EngineServices {
 public:
  virtual ~EngineServices() = default;
  // Fails the job's op; `notify` tells its peers so they fail too.
  virtual void FailJob(const std::shared_ptr<Job>& job, Status status, bool notify) = 0;
  // Hands a message (data or an error notice) to the job's op.
  virtual void Deliver(const std::shared_ptr<Job>& job, Arrival& arrival) = 0;
  // Wakes the job's waiter if its op finished and its sends completed.
  virtual void MaybeComplete(const std::shared_ptr<Job>& job) = 0;
};

// What this rank is doing, for its peers' stall reports and deadlines
// (Engine::Impl implements it: it also knows the ops still queued).
class RankActivity {
 public:
  virtual ~RankActivity() = default;
  virtual std::string DescribeActivity() = 0;
  // Whether this rank posted (queued or started) that instance of the op.
  virtual bool HasPosted(const std::string& key, uint64_t instance) = 0;
};

}  // namespace bluefog
