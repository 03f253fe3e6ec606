// An op is a state machine run by the engine thread. It sends messages
// through OpContext and is fed the messages that match it (same name and
// instance) in OnData. It never calls MPI itself.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/buffer_pool.h"
#include "bluefog/core/status.h"
#include "bluefog/core/wire.h"

namespace bluefog {

// A message delivered to an op. `data` points at `bytes` of payload, held by
// `buffer` (which the op may move out to keep the data) or, when the op gave a
// PayloadDestination, at that memory.
struct Arrival {
  int src = -1;
  MessageHeader header;
  PooledBuffer buffer;
  const char* data = nullptr;
  size_t bytes = 0;
};

// What an op sees of the engine during one of its steps (Start, OnData,
// OnSendComplete, Conclude). Valid only for that call: ops must not keep it.
class OpContext {
 public:
  virtual ~OpContext() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Queues a message. The payload memory must stay valid and unchanged until
  // the op completes; the op only completes once all its sends have.
  virtual void Send(int dst, const MessageHeader& header, const void* payload,
                    size_t bytes) = 0;
  virtual BufferPool& pool() = 0;
};

struct OpIdentity {
  OpType type = OpType::kAllreduce;
  std::string key;           // matching key (the name, or an automatic key)
  std::string display_name;  // what error messages call it
  uint64_t instance = 0;
};

class Op {
 public:
  explicit Op(OpIdentity id) : id_(std::move(id)) {}
  virtual ~Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  // Called once on the engine thread.
  virtual void Start(OpContext& ctx) = 0;
  // Memory to receive a separate payload into directly, or nullptr for a
  // pooled buffer. Only asked while the op is active.
  virtual void* PayloadDestination(int /*src*/, const MessageHeader& /*h*/) {
    return nullptr;
  }
  virtual void OnData(OpContext& ctx, Arrival& arrival) = 0;
  // The payload this op sent with header step `step` has left its memory.
  virtual void OnSendComplete(OpContext& /*ctx*/, int32_t /*step*/) {}
  // After Finish() and once every send completed, before the waiter wakes:
  // the place to modify memory that sends were reading (e.g. averaging).
  virtual void Conclude(OpContext& /*ctx*/) {}
  // Ranks (world numbering) this op exchanges data with.
  virtual std::vector<int> Participants() const = 0;
  // Ranks whose data this op still waits for (for stall reports).
  virtual std::vector<int> WaitingOn() const = 0;
  const OpIdentity& id() const { return id_; }
  std::string Describe() const;

  bool finished() const { return finished_; }
  const Status& status() const { return status_; }
  void Finish() { finished_ = true; }
  void Fail(Status status) {
    if (finished_ && !status_.ok()) return;
    status_ = std::move(status);
    finished_ = true;
  }

  // Header pre-filled with this op's identity.
  MessageHeader MakeHeader(int32_t step) const;
  // What the engine sends when this op failed, (rank, header) each: by
  // default an error notice to every participant, whose matching op would
  // otherwise wait for data that will never come.
  virtual std::vector<std::pair<int, MessageHeader>> FailureNotices() const;
  // Checks that a peer's header describes the same op; fails the op and
  // returns false if not. A nonzero `group` is the GroupDigest of the ranks
  // the op runs over.
  bool CheckPeer(const Arrival& arrival, DataType dtype,
                 const std::vector<int64_t>* shape, int32_t root = -1,
                 uint32_t group = 0);

 private:
  OpIdentity id_;
  bool finished_ = false;
  Status status_;
};

}  // namespace bluefog
