// The op lifecycle on the engine thread: an op starts (and gets the
// messages that came before it), sends through its job, is fed what
// arrives for it, fails (telling its peers), and completes once finished
// with every send done, waking its waiter. Each step of the op runs with a
// JobContext and is guarded: an exception fails the op.
#pragma once
#include <memory>
#include <string>

#include "bluefog/core/buffer_pool.h"
#include "engine_services.h"
#include "liveness.h"
#include "op_names.h"
#include "op_table.h"
#include "peers.h"
#include "send_queue.h"
#include "stall_monitor.h"

namespace bluefog {

class OpLifecycle : public EngineServices {
 public:
  struct Parts {
    OpTable& ops;
    OpNames& names;
    SendQueue& sends;
    StallMonitor& stalls;
    Liveness& liveness;
    PeerTable& peers;
    BufferPool& pool;
  };
  explicit OpLifecycle(Parts parts) : parts_(parts) {}
  void Reset(int rank, int size) {
    rank_ = rank;
    size_ = size;
  }

  void Start(const std::shared_ptr<Job>& job);
  void FailJob(const std::shared_ptr<Job>& job, Status status, bool notify) override;
  void Deliver(const std::shared_ptr<Job>& job, Arrival& arrival) override;
  void MaybeComplete(const std::shared_ptr<Job>& job) override;
  // A transport send of the job's completed (error empty) or failed.
  void OnSent(const std::shared_ptr<Job>& job, int dst, int32_t step, bool carries_payload,
              const std::string& error);
  // Tells the op's peers so they fail too instead of waiting forever.
  // Failure notices are control messages: the failed op does not wait for
  // them to be sent (its peer may have gone and never read them).
  void NotifyFailure(const std::shared_ptr<Job>& job);

 private:
  class JobContext;
  template <typename F>
  void Guarded(const std::shared_ptr<Job>& job, F&& step, bool even_if_finished = false);
  void Send(const std::shared_ptr<Job>& job, int dst, const MessageHeader& header,
            const void* payload, size_t bytes);

  Parts parts_;
  int rank_ = 0;
  int size_ = 0;
};

}  // namespace bluefog
