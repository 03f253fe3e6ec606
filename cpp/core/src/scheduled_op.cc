#include "bluefog/core/scheduled_op.h"

#include <cstring>

#include "bluefog/core/kernels.h"

namespace bluefog {

size_t ScheduledOp::PayloadBytes(int32_t step) const {
  for (const Action& a : actions_)
    if (a.step == step) {
      return a.kind == Action::kSignal || a.kind == Action::kAwaitSignal ? 0 : WorkBytes();
    }
  return WorkBytes();
}

bool ScheduledOp::Expects(int src, int32_t step) const {
  for (size_t i = next_; i < actions_.size(); ++i) {
    const Action& a = actions_[i];
    bool receives = a.kind != Action::kSend && a.kind != Action::kSignal;
    if (receives && a.peer == src && a.step == step) return true;
  }
  return false;
}

void* ScheduledOp::PayloadDestination(int src, const MessageHeader& h) {
  if (!direct_receive_ || h.payload_bytes != WorkBytes()) return nullptr;
  for (size_t i = next_; i < actions_.size(); ++i) {
    const Action& a = actions_[i];
    if (a.kind == Action::kReceiveCopy && a.peer == src && a.step == h.step)
      return work_;
  }
  return nullptr;
}

void ScheduledOp::OnData(OpContext& ctx, Arrival& arrival) {
  const MessageHeader& h = arrival.header;
  if (!CheckPeer(arrival, signature_.dtype, &signature_.shape, signature_.root,
                 signature_.group))
    return;
  if (h.flags != signature_.flags) {
    Fail(Status::Mismatch(Describe() + ": mismatch between ranks: rank " +
                         std::to_string(arrival.src) +
                         " passed different options (e.g. average)"));
    return;
  }
  if (!Expects(arrival.src, h.step) || arrived_.count(h.step)) {
    Fail(Status::Internal(Describe() + ": unexpected message from rank " +
                         std::to_string(arrival.src) + " (step " +
                         std::to_string(h.step) + ")"));
    return;
  }
  if (arrival.bytes != PayloadBytes(h.step)) {
    Fail(Status::Mismatch(Describe() + ": rank " + std::to_string(arrival.src) +
                          " sent " + std::to_string(arrival.bytes) +
                         " bytes, expected " + std::to_string(PayloadBytes(h.step))));
    return;
  }
  arrived_.emplace(h.step, std::move(arrival));
  Advance(ctx);
}

void ScheduledOp::Advance(OpContext& ctx) {
  while (next_ < actions_.size()) {
    const Action& a = actions_[next_];
    if (a.kind == Action::kSend || a.kind == Action::kSignal) {
      MessageHeader h = MakeHeader(a.step);
      h.dtype = signature_.dtype;
      h.shape = signature_.shape;
      h.root = signature_.root;
      h.flags = signature_.flags;
      h.group = signature_.group;
      const char* payload = work_;
      size_t bytes = a.kind == Action::kSignal ? 0 : WorkBytes();
      if (a.snapshot && bytes > 0) {
        snapshots_.push_back(ctx.pool().Acquire(bytes));
        std::memcpy(snapshots_.back().data(), work_, bytes);
        payload = snapshots_.back().data();
      }
      ctx.Send(a.peer, h, payload, bytes);
    } else {
      auto it = arrived_.find(a.step);
      if (it == arrived_.end()) return;
      Arrival& data = it->second;
      if (a.kind == Action::kReceiveReduce) {
        Axpy(wire_type_, work_, wire_type_, data.data, count_, 1.0);
      } else if (a.kind == Action::kReceiveCopy && data.data != work_ && WorkBytes() > 0) {
        std::memcpy(work_, data.data, WorkBytes());
      }
      arrived_.erase(it);
    }
    ++next_;
  }
  Finish();
}

std::vector<int> ScheduledOp::WaitingOn() const {
  for (size_t i = next_; i < actions_.size(); ++i) {
    Action::Kind kind = actions_[i].kind;
    if (kind != Action::kSend && kind != Action::kSignal) return {actions_[i].peer};
  }
  return {};
}

}  // namespace bluefog
