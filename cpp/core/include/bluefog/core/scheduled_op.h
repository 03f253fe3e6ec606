// An op that runs a fixed list of sends and receives, in order, over one work
// buffer: recursive-doubling allreduce, binomial broadcast and barrier.
#pragma once
#include <map>
#include <vector>

#include "bluefog/core/op.h"

namespace bluefog {

class ScheduledOp : public Op {
 public:
  struct Action {
    enum Kind { kSend, kReceiveReduce, kReceiveCopy, kSignal, kAwaitSignal } kind;
    int peer;        // world rank
    int32_t step;
    bool snapshot;   // send a copy: the work buffer changes before it is sent
  };

  // What every message of this op carries and every peer must agree on.
  struct Signature {
    DataType dtype = DataType::kFloat32;  // the user's dtype
    std::vector<int64_t> shape;
    int32_t root = -1;
    uint8_t flags = 0;
    uint32_t group = 0;  // GroupDigest, for ops over a rank group
  };

  ScheduledOp(OpIdentity id, std::vector<int> participants, Signature signature)
      : Op(std::move(id)), participants_(std::move(participants)),
        signature_(std::move(signature)) {}

  void Start(OpContext& ctx) override { Advance(ctx); }
  void OnData(OpContext& ctx, Arrival& arrival) override;
  void* PayloadDestination(int src, const MessageHeader& h) override;
  std::vector<int> Participants() const override { return participants_; }
  std::vector<int> WaitingOn() const override;

 protected:
  // The buffer the actions send from and receive into, in `wire_type`.
  void SetWork(void* data, DataType wire_type, int64_t count) {
    work_ = static_cast<char*>(data);
    wire_type_ = wire_type;
    count_ = count;
  }
  void AddAction(Action::Kind kind, int peer, int32_t step, bool snapshot = false) {
    actions_.push_back({kind, peer, step, snapshot});
  }
  // Receive-copy actions may write straight into the work buffer.
  void AllowDirectReceive() { direct_receive_ = true; }

  const Signature& signature() const { return signature_; }
  char* work() const { return work_; }
  int64_t count() const { return count_; }

 private:
  void Advance(OpContext& ctx);
  size_t WorkBytes() const { return static_cast<size_t>(count_) * DataTypeSize(wire_type_); }
  // Bytes that a message for `step` carries: signals carry none.
  size_t PayloadBytes(int32_t step) const;
  bool Expects(int src, int32_t step) const;

  std::vector<int> participants_;
  Signature signature_;
  char* work_ = nullptr;
  DataType wire_type_ = DataType::kFloat32;
  int64_t count_ = 0;
  bool direct_receive_ = false;
  std::vector<Action> actions_;
  size_t next_ = 0;
  std::map<int32_t, Arrival> arrived_;
  std::vector<PooledBuffer> snapshots_;
};

}  // namespace bluefog
