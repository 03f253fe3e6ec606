// Allreduce over a rank group. Small tensors: recursive doubling (ranks
// beyond the largest power of two fold into a partner first). Large tensors:
// ring reduce-scatter then ring allgather. Both give bitwise identical results
// on every rank. float16/bfloat16 are reduced in a float32 buffer.
#include <cstring>
#include <map>

#include "bluefog/core/collectives.h"
#include "bluefog/core/kernels.h"
#include "bluefog/core/scheduled_op.h"
#include "bluefog/core/status.h"
#include "collective_args.h"

namespace bluefog {
namespace {

constexpr uint8_t kAverageFlag = 1;
constexpr int32_t kFoldStep = 0;
constexpr int32_t kUnfoldStep = 1 << 20;

// Shared by both algorithms: the float32 staging of low-precision tensors
// and the final averaging.
class Accumulation {
 public:
  Accumulation(TensorView input, TensorView output, bool average, int group_size)
      : input_(std::move(input)), output_(std::move(output)), average_(average),
        group_size_(group_size) {}

  DataType wire_type() const {
    return IsLowPrecisionFloat(input_.dtype) ? DataType::kFloat32 : input_.dtype;
  }
  int64_t count() const { return input_.numel(); }

  // Returns the buffer the algorithm reduces in, holding this rank's data.
  void* Prepare(BufferPool& pool) {
    int64_t n = count();
    if (wire_type() != input_.dtype) {
      staging_ = pool.Acquire(static_cast<size_t>(n) * 4);
      ScaleCopy(DataType::kFloat32, staging_.data(), input_.dtype, input_.data, n, 1.0);
      return staging_.data();
    }
    if (output_.data != input_.data)
      std::memcpy(output_.data, input_.data, input_.bytes());
    return output_.data;
  }

  // Averages (dividing the sum by the group size, correctly rounded, so every
  // rank gets the same bits) and converts back; runs once no send reads the
  // work buffer.
  void Finish(void* work) {
    Rescale then = average_ ? Rescale::DivideBy(group_size_) : Rescale();
    if (wire_type() != input_.dtype) {
      RescaleCopy(output_.dtype, output_.data, DataType::kFloat32, work, count(), then);
    } else if (average_) {
      RescaleInPlace(output_.dtype, output_.data, count(), then);
    }
  }

 private:
  TensorView input_, output_;
  bool average_;
  int group_size_;
  PooledBuffer staging_;
};

ScheduledOp::Signature MakeSignature(const TensorView& input, bool average,
                                     const std::vector<int>& group) {
  ScheduledOp::Signature s;
  s.dtype = input.dtype;
  s.shape = input.shape;
  s.flags = average ? kAverageFlag : 0;
  s.group = GroupDigest(group);
  return s;
}

class RecursiveDoublingAllreduce : public ScheduledOp {
 public:
  RecursiveDoublingAllreduce(OpIdentity id, TensorView input, TensorView output,
                             bool average, std::vector<int> group, int index)
      : ScheduledOp(std::move(id), group, MakeSignature(input, average, group)),
        acc_(input, output, average, static_cast<int>(group.size())) {
    int n = static_cast<int>(group.size());
    int p = 1;
    while (p * 2 <= n) p *= 2;
    if (index >= p) {  // fold into a partner, get the result back
      AddAction(Action::kSend, group[index - p], kFoldStep, /*snapshot=*/true);
      AddAction(Action::kReceiveCopy, group[index - p], kUnfoldStep);
      return;
    }
    if (index + p < n) AddAction(Action::kReceiveReduce, group[index + p], kFoldStep);
    for (int mask = 1, round = 1; mask < p; mask <<= 1, ++round) {
      int partner = group[index ^ mask];
      AddAction(Action::kSend, partner, round, /*snapshot=*/true);
      AddAction(Action::kReceiveReduce, partner, round);
    }
    if (index + p < n)
      AddAction(Action::kSend, group[index + p], kUnfoldStep, /*snapshot=*/true);
  }

  void Start(OpContext& ctx) override {
    SetWork(acc_.Prepare(ctx.pool()), acc_.wire_type(), acc_.count());
    ScheduledOp::Start(ctx);
  }

 protected:
  void Conclude(OpContext&) override { acc_.Finish(work()); }

 private:
  Accumulation acc_;
};

class RingAllreduce : public Op {
 public:
  RingAllreduce(OpIdentity id, TensorView input, TensorView output, bool average,
                std::vector<int> group, int index)
      : Op(std::move(id)), signature_(MakeSignature(input, average, group)),
        acc_(input, output, average, static_cast<int>(group.size())),
        group_(std::move(group)), me_(index), n_(static_cast<int>(group_.size())) {
    int64_t count = acc_.count();
    for (int k = 0; k <= n_; ++k) offsets_.push_back(count * k / n_);
    rs_send_done_.assign(n_, false);
    ag_pending_.resize(n_);
  }

  std::vector<int> Participants() const override { return group_; }
  std::vector<int> WaitingOn() const override {
    if (finished()) return {};
    return {group_[Prev()]};
  }

  void Start(OpContext& ctx) override {
    work_ = static_cast<char*>(acc_.Prepare(ctx.pool()));
    esize_ = DataTypeSize(acc_.wire_type());
    SendSegment(ctx, 0, Segment(me_), work_ + Offset(Segment(me_)));
  }

  void* PayloadDestination(int, const MessageHeader& h) override {
    int32_t t = h.step - (n_ - 1);
    if (t < 0 || t > n_ - 2) return nullptr;
    int seg = Segment(me_ - t);
    if (!rs_send_done_[seg] || h.payload_bytes != Bytes(seg)) return nullptr;
    return work_ + Offset(seg);
  }

  void OnData(OpContext& ctx, Arrival& arrival) override {
    if (!CheckPeer(arrival, signature_.dtype, &signature_.shape, -1, signature_.group))
      return;
    int32_t step = arrival.header.step;
    if (arrival.header.flags != signature_.flags) {
      Fail(Status::Mismatch(Describe() + ": mismatch between ranks: rank " +
                           std::to_string(arrival.src) + " passed a different 'average'"));
      return;
    }
    if (arrival.src != group_[Prev()] || step < next_step_ || step > 2 * n_ - 3 ||
        arrived_.count(step)) {
      Fail(Status::Internal(Describe() + ": unexpected message from rank " +
                           std::to_string(arrival.src)));
      return;
    }
    arrived_.emplace(step, std::move(arrival));
    Advance(ctx);
  }

  // Segments sent during reduce-scatter are overwritten in the allgather
  // phase only after their send completed.
  void OnSendComplete(OpContext& ctx, int32_t step) override {
    if (step > n_ - 2) return;
    int seg = Segment(me_ - step);
    rs_send_done_[seg] = true;
    if (ag_pending_[seg].data != nullptr) {
      Arrival& a = ag_pending_[seg];
      std::memcpy(work_ + Offset(seg), a.data, Bytes(seg));
      // It may still be forwarded from: keep it until the op is destroyed.
      forwarded_.push_back(std::move(a));
      ag_pending_[seg] = Arrival();
      --copies_waiting_;
      MaybeFinish(ctx);
    }
  }

 private:
  int Segment(int k) const { return ((k % n_) + n_) % n_; }
  int Prev() const { return (me_ + n_ - 1) % n_; }
  int Next() const { return (me_ + 1) % n_; }
  size_t Offset(int seg) const { return static_cast<size_t>(offsets_[seg]) * esize_; }
  size_t Bytes(int seg) const {
    return static_cast<size_t>(offsets_[seg + 1] - offsets_[seg]) * esize_;
  }

  void SendSegment(OpContext& ctx, int32_t step, int seg, const char* data) {
    MessageHeader h = MakeHeader(step);
    h.dtype = signature_.dtype;
    h.shape = signature_.shape;
    h.flags = signature_.flags;
    h.group = signature_.group;
    ctx.Send(group_[Next()], h, data, Bytes(seg));
  }

  void Advance(OpContext& ctx) {
    while (true) {
      auto it = arrived_.find(next_step_);
      if (it == arrived_.end()) return;
      Arrival a = std::move(it->second);
      arrived_.erase(it);
      int32_t step = next_step_++;
      if (step <= n_ - 2) {  // reduce-scatter
        int seg = Segment(me_ - step - 1);
        if (a.bytes != Bytes(seg)) return BadSize(a);
        Axpy(acc_.wire_type(), work_ + Offset(seg), acc_.wire_type(), a.data,
             offsets_[seg + 1] - offsets_[seg], 1.0);
        if (step < n_ - 2) {
          SendSegment(ctx, step + 1, seg, work_ + Offset(seg));
        } else {
          int own = Segment(me_ + 1);
          SendSegment(ctx, n_ - 1, own, work_ + Offset(own));
        }
      } else {  // allgather
        int32_t t = step - (n_ - 1);
        int seg = Segment(me_ - t);
        if (a.bytes != Bytes(seg)) return BadSize(a);
        const char* source = a.data;
        if (a.data != work_ + Offset(seg)) {
          if (rs_send_done_[seg]) {
            std::memcpy(work_ + Offset(seg), a.data, Bytes(seg));
            source = work_ + Offset(seg);
          } else {
            ag_pending_[seg] = std::move(a);
            source = ag_pending_[seg].data;
            ++copies_waiting_;
          }
        }
        if (t < n_ - 2) SendSegment(ctx, step + 1, seg, source);
        if (t == n_ - 2) received_all_ = true;
      }
      MaybeFinish(ctx);
    }
  }

  void MaybeFinish(OpContext&) {
    if (!received_all_ || copies_waiting_ > 0 || finished()) return;
    Finish();
  }

  void Conclude(OpContext&) override { acc_.Finish(work_); }

  void BadSize(const Arrival& a) {
    Fail(Status::Mismatch(Describe() + ": rank " + std::to_string(a.src) +
                          " sent a segment of the wrong size"));
  }

  ScheduledOp::Signature signature_;
  Accumulation acc_;
  std::vector<int> group_;
  int me_, n_;
  std::vector<int64_t> offsets_;
  char* work_ = nullptr;
  size_t esize_ = 0;
  int32_t next_step_ = 0;
  std::map<int32_t, Arrival> arrived_;
  std::vector<bool> rs_send_done_;
  std::vector<Arrival> ag_pending_;
  std::vector<Arrival> forwarded_;
  int copies_waiting_ = 0;
  bool received_all_ = false;
};

}  // namespace

std::unique_ptr<Op> MakeAllreduceOp(OpIdentity id, int rank, TensorView input,
                                    TensorView output, bool average,
                                    std::vector<int> group) {
  int index = GroupIndex(id, group, rank);
  CheckSameLayout(id, input, output);
  if (!IsSummable(input.dtype))
    throw InvalidArgument(OpLabel(id) + ": dtype " + DataTypeName(input.dtype) +
                          " is not supported (use a floating type, int32 or int64)");
  if (average && !IsFloatingPoint(input.dtype))
    throw InvalidArgument(OpLabel(id) + ": average=True needs a floating-point tensor, got " +
                          DataTypeName(input.dtype) + "; pass average=False to sum integers");
  size_t work_bytes = static_cast<size_t>(input.numel()) *
                      (IsLowPrecisionFloat(input.dtype) ? 4 : DataTypeSize(input.dtype));
  if (group.size() >= 2 && work_bytes > kAllreduceRingThreshold &&
      input.numel() >= static_cast<int64_t>(group.size()))
    return std::make_unique<RingAllreduce>(std::move(id), input, output, average,
                                           std::move(group), index);
  return std::make_unique<RecursiveDoublingAllreduce>(std::move(id), input, output,
                                                      average, std::move(group), index);
}

}  // namespace bluefog
