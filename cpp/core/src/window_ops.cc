// Each window op runs up to three phases: lock the peers' windows one by one
// in ascending rank order (so that two ops locking overlapping sets cannot
// deadlock), transfer (all peers at once), unlock. Every request gets a reply.
#include "bluefog/core/window_ops.h"

#include <algorithm>
#include <set>

#include "bluefog/core/kernels.h"
#include "bluefog/core/weights.h"

namespace bluefog {
namespace {


class WindowOp : public Op {
 public:
  WindowOp(OpIdentity id, WindowOpArgs args, bool lock, bool transfer, bool unlock)
      : Op(std::move(id)), args_(std::move(args)), lock_(lock), transfer_(transfer),
        unlock_(unlock) {
    std::sort(args_.peers.begin(), args_.peers.end());
  }

  void Start(OpContext& ctx) override {
    phase_ = Phase::kLock;
    Advance(ctx);
  }

  void OnData(OpContext& ctx, Arrival& arrival) override {
    if (!awaiting_.erase(arrival.src)) {
      Fail(Status::Internal(Describe() + ": unexpected reply from rank " +
                           std::to_string(arrival.src)));
      return;
    }
    if (phase_ == Phase::kTransfer && id().type == OpType::kWinGet) {
      if (arrival.bytes != args_.window->tensor().bytes()) {
        Fail(Status::Internal(Describe() + ": rank " + std::to_string(arrival.src) +
                             " answered with " + std::to_string(arrival.bytes) +
                             " bytes instead of " +
                             std::to_string(args_.window->tensor().bytes())));
        return;
      }
      args_.window->StoreGet(arrival.src, arrival.data, WeightOf(arrival.src), args_.with_p,
                             arrival.header.weight);
    }
    if (awaiting_.empty()) {
      if (phase_ == Phase::kLock) ++locked_;
      Advance(ctx);
    }
  }

  std::vector<int> Participants() const override {
    std::vector<int> ranks;
    for (const auto& peer : args_.peers) ranks.push_back(peer.first);
    return ranks;
  }

  std::vector<int> WaitingOn() const override {
    return std::vector<int>(awaiting_.begin(), awaiting_.end());
  }

  // The peers serve requests rather than run a matching op, so there is
  // nobody to tell of the failure; but a mutex this op holds or awaits must
  // not stay taken. The owner ignores the request if this op has neither.
  std::vector<std::pair<int, MessageHeader>> FailureNotices() const override {
    std::vector<std::pair<int, MessageHeader>> notices;
    if (!lock_) return notices;
    MessageHeader h = Request(OpType::kWinUnlock);
    h.flags = kWinUnlockAbandon;
    for (const auto& peer : args_.peers) notices.emplace_back(peer.first, h);
    return notices;
  }

 private:
  enum class Phase { kLock, kTransfer, kUnlock, kDone };

  double WeightOf(int rank) const {
    for (const auto& peer : args_.peers)
      if (peer.first == rank) return peer.second;
    return 1.0;
  }

  MessageHeader Request(OpType request) const {
    MessageHeader h = MakeHeader(0);
    h.kind = MessageKind::kWindow;
    h.op = request;
    h.dtype = args_.window->tensor().dtype;
    h.shape = args_.window->tensor().shape;
    h.text = args_.window->name();
    return h;
  }

  // Moves to the next phase with something to do, sending its requests.
  void Advance(OpContext& ctx) {
    while (awaiting_.empty()) {
      switch (phase_) {
        case Phase::kLock:
          if (lock_ && locked_ < args_.peers.size()) {
            int peer = args_.peers[locked_].first;
            MessageHeader h = Request(OpType::kWinLock);
            if (args_.exclusive) h.flags = kWinLockExclusive;
            ctx.Send(peer, h, nullptr, 0);
            awaiting_.insert(peer);
            return;
          }
          phase_ = Phase::kTransfer;
          if (transfer_) SendTransfers(ctx);
          break;
        case Phase::kTransfer:
          phase_ = Phase::kUnlock;
          if (unlock_) SendToAll(ctx, Request(OpType::kWinUnlock));
          break;
        case Phase::kUnlock:
          phase_ = Phase::kDone;
          Finish();
          return;
        case Phase::kDone:
          return;
      }
    }
  }

  void SendToAll(OpContext& ctx, const MessageHeader& h) {
    for (const auto& peer : args_.peers) {
      ctx.Send(peer.first, h, nullptr, 0);
      awaiting_.insert(peer.first);
    }
  }

  void SendTransfers(OpContext& ctx) {
    MessageHeader h = Request(id().type);
    if (id().type == OpType::kWinGet) return SendToAll(ctx, h);
    const TensorView& payload = args_.payload;
    double p = args_.with_p ? args_.window->p() : 0.0;
    for (const auto& peer : args_.peers) {
      // Scaled copies, taken when the transfer starts (after any locks): from
      // then on self_weight may scale the window while the sends are in flight.
      scaled_.push_back(ctx.pool().Acquire(payload.bytes()));
      ScaleCopy(payload.dtype, scaled_.back().data(), payload.dtype, payload.data,
                payload.numel(), peer.second);
      h.flags = args_.with_p ? kWinCarriesP : 0;
      h.weight = p * peer.second;
      ctx.Send(peer.first, h, scaled_.back().data(), payload.bytes());
      awaiting_.insert(peer.first);
    }
    if (args_.self_weight) args_.window->ScaleSelf(*args_.self_weight, args_.with_p);
  }

  WindowOpArgs args_;
  bool lock_, transfer_, unlock_;
  Phase phase_ = Phase::kLock;
  size_t locked_ = 0;
  std::set<int> awaiting_;
  std::vector<PooledBuffer> scaled_;
};

}  // namespace

std::unique_ptr<Op> MakeWindowTransferOp(OpIdentity id, WindowOpArgs args) {
  const char* op = OpTypeName(id.type);
  CheckRankWeights(op, id.type == OpType::kWinGet ? "src_weights" : "dst_weights", args.peers);
  if (args.self_weight) CheckWeight(op, "self_weight", *args.self_weight);
  bool mutex = args.require_mutex;
  return std::make_unique<WindowOp>(std::move(id), std::move(args), mutex, true, mutex);
}

std::unique_ptr<Op> MakeWindowMutexOp(OpIdentity id, WindowOpArgs args) {
  bool lock = id.type == OpType::kWinLock;
  return std::make_unique<WindowOp>(std::move(id), std::move(args), lock, false, !lock);
}

}  // namespace bluefog
