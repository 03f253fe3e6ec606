// Hierarchical neighbour averaging in one op.
// Step 0: every rank sends its tensor to the other ranks of its machine and
//   averages all of them in ascending rank order, so each rank of a machine
//   holds the same bits.
// Step 1: each rank sends that machine average to its counterparts on the
//   destination machines and combines what its counterparts on the source
//   machines sent, again in ascending order; ranks of one machine do the same
//   arithmetic on the same data, so they end identical.
// Both averages round like sum-then-divide: the machine's sum is divided by
// its size in the pass adding the last rank, and uniform machine weights
// (averaging.h) rescale the combination in the copy to the output.
#include <algorithm>
#include <map>

#include "bluefog/core/kernels.h"
#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/status.h"
#include "averaging.h"
#include "collective_args.h"
#include "neighbor_args.h"

namespace bluefog {
namespace {

constexpr int32_t kLocalStep = 0;
constexpr int32_t kMachineStep = 1;

class HierarchicalNeighborAllreduceOp : public Op {
 public:
  HierarchicalNeighborAllreduceOp(OpIdentity id, int rank, TensorView input,
                                  TensorView output, std::vector<int> local_ranks,
                                  double self_weight, RankWeights srcs, RankWeights dsts)
      : Op(std::move(id)), rank_(rank), input_(std::move(input)), output_(std::move(output)),
        local_(std::move(local_ranks)), srcs_(std::move(srcs)), dsts_(std::move(dsts)),
        averaging_(self_weight, srcs_) {
    std::sort(srcs_.begin(), srcs_.end());
  }

  std::vector<int> Participants() const override {
    std::vector<int> ranks;
    for (int r : local_)
      if (r != rank_) ranks.push_back(r);
    return UnionOf(UnionOf(ranks, RanksOf(srcs_)), RanksOf(dsts_));
  }

  std::vector<int> WaitingOn() const override {
    std::vector<int> missing;
    if (!averaged_)
      for (int r : local_)
        if (r != rank_ && !local_pieces_.count(r)) missing.push_back(r);
    for (size_t i = next_src_; i < srcs_.size(); ++i)
      if (!machine_pieces_.count(srcs_[i].first)) missing.push_back(srcs_[i].first);
    return missing;
  }

  void Start(OpContext& ctx) override {
    MessageHeader h = Header(kLocalStep);
    for (int r : local_)
      if (r != rank_) ctx.Send(r, h, input_.data, input_.bytes());
    TryLocalAverage(ctx);
  }

  void OnData(OpContext& ctx, Arrival& a) override {
    if (!CheckPeer(a, input_.dtype, &input_.shape)) return;
    int32_t step = a.header.step;
    bool local = std::find(local_.begin(), local_.end(), a.src) != local_.end();
    bool source = std::any_of(srcs_.begin(), srcs_.end(),
                              [&](const auto& s) { return s.first == a.src; });
    size_t expected = step == kLocalStep ? input_.bytes() : AccBytes();
    bool known = (step == kLocalStep && local) || (step == kMachineStep && source);
    auto& pieces = step == kLocalStep ? local_pieces_ : machine_pieces_;
    if (!known || pieces.count(a.src) || a.bytes != expected) {
      Fail(Status::Mismatch(Describe() + ": unexpected message from rank " +
                           std::to_string(a.src) +
                           " (machine topologies or weights disagree between ranks)"));
      return;
    }
    pieces.emplace(a.src, std::move(a));
    if (step == kLocalStep) {
      TryLocalAverage(ctx);
    } else {
      CombineMachines();
    }
  }

  void Conclude(OpContext&) override {
    RescaleCopy(output_.dtype, output_.data, AccType(), result_.data(), input_.numel(),
                averaging_.last());
  }

 private:
  DataType AccType() const {
    return IsLowPrecisionFloat(input_.dtype) ? DataType::kFloat32 : input_.dtype;
  }
  size_t AccBytes() const { return static_cast<size_t>(input_.numel()) * DataTypeSize(AccType()); }

  MessageHeader Header(int32_t step) const {
    MessageHeader h = MakeHeader(step);
    h.dtype = input_.dtype;
    h.shape = input_.shape;
    return h;
  }

  // The context is that of the current step: ops may not keep it.
  void TryLocalAverage(OpContext& ctx) {
    if (averaged_ || local_pieces_.size() + 1 < local_.size()) return;
    averaged_ = true;
    int64_t n = input_.numel();
    average_ = ctx.pool().Acquire(AccBytes());
    for (size_t i = 0; i < local_.size(); ++i) {
      const void* data = local_[i] == rank_ ? input_.data : local_pieces_.at(local_[i]).data;
      Rescale then = i + 1 == local_.size() ? Rescale::DivideBy(static_cast<double>(local_.size()))
                                            : Rescale();
      if (i == 0) {
        RescaleCopy(AccType(), average_.data(), input_.dtype, data, n, then);
      } else {
        Axpy(AccType(), average_.data(), input_.dtype, data, n, 1.0, then);
      }
    }
    local_pieces_.clear();
    for (const auto& dst : dsts_) {
      MessageHeader h = Header(kMachineStep);
      h.weight = dst.second;
      ctx.Send(dst.first, h, average_.data(), AccBytes());
    }
    result_ = ctx.pool().Acquire(AccBytes());
    ScaleCopy(AccType(), result_.data(), AccType(), average_.data(), n, averaging_.self_weight());
    CombineMachines();
  }

  void CombineMachines() {
    if (!averaged_) return;  // machine data waits until the local average exists
    while (next_src_ < srcs_.size()) {
      auto found = machine_pieces_.find(srcs_[next_src_].first);
      if (found == machine_pieces_.end()) break;
      Axpy(AccType(), result_.data(), AccType(), found->second.data, input_.numel(),
           averaging_.weight(srcs_[next_src_].second) * found->second.header.weight);
      machine_pieces_.erase(found);
      ++next_src_;
    }
    if (next_src_ == srcs_.size() && !finished()) Finish();
  }

  int rank_;
  TensorView input_, output_;
  std::vector<int> local_;
  RankWeights srcs_, dsts_;
  Averaging averaging_;
  std::map<int, Arrival> local_pieces_, machine_pieces_;
  bool averaged_ = false;
  PooledBuffer average_, result_;
  size_t next_src_ = 0;
};

}  // namespace

std::unique_ptr<Op> MakeHierarchicalNeighborAllreduceOp(
    OpIdentity id, int rank, int size, TensorView input, TensorView output,
    std::vector<int> local_ranks, double self_weight, RankWeights srcs, RankWeights dsts) {
  CheckSameLayout(id, input, output);
  if (!IsFloatingPoint(input.dtype))
    throw InvalidArgument(OpLabel(id) + ": needs a floating-point tensor, got " +
                          DataTypeName(input.dtype));
  GroupIndex(id, local_ranks, rank);
  CheckNeighborRanks(id, RanksOf(srcs), rank, size, "the source machine list");
  CheckNeighborRanks(id, RanksOf(dsts), rank, size, "the destination machine list");
  return std::make_unique<HierarchicalNeighborAllreduceOp>(
      std::move(id), rank, input, output, std::move(local_ranks), self_weight,
      std::move(srcs), std::move(dsts));
}

}  // namespace bluefog
