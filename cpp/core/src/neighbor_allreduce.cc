// Weighted neighbour averaging. Each rank sends its tensor (untouched) to its
// destinations with the destination weight in the header; the receiver
// applies that weight times its own source weight. Contributions are added
// in ascending source rank order, so results do not depend on arrival order.
// Uniform weights add with weight 1 and rescale the sum once (averaging.h),
// in the last accumulation pass or in the copy out of the accumulator.
// float16/bfloat16 accumulate in float32.
#include <algorithm>
#include <cstring>
#include <map>

#include "bluefog/core/kernels.h"
#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/status.h"
#include "averaging.h"
#include "collective_args.h"
#include "neighbor_agreement.h"
#include "neighbor_args.h"

namespace bluefog {
namespace {

class NeighborAllreduceOp : public Op {
 public:
  NeighborAllreduceOp(OpIdentity id, TensorView input, TensorView output,
                      double self_weight, RankWeights srcs, RankWeights dsts)
      : Op(std::move(id)), input_(std::move(input)), output_(std::move(output)),
        srcs_(std::move(srcs)), dsts_(std::move(dsts)), dst_ranks_(RanksOf(dsts_)),
        averaging_(self_weight, srcs_) {
    std::sort(srcs_.begin(), srcs_.end());
  }

  std::vector<int> Participants() const override {
    return UnionOf(RanksOf(srcs_), dst_ranks_);
  }

  std::vector<int> WaitingOn() const override {
    std::vector<int> missing;
    for (size_t i = next_; i < srcs_.size(); ++i)
      if (!arrived_.count(srcs_[i].first)) missing.push_back(srcs_[i].first);
    return missing;
  }

  void Start(OpContext& ctx) override {
    std::vector<int> sources = RanksOf(srcs_);
    for (const auto& dst : dsts_) {
      MessageHeader h = MakeHeader(0);
      h.dtype = input_.dtype;
      h.shape = input_.shape;
      h.weight = dst.second;
      h.flags = AgreementFlags(sources, dst.first);
      ctx.Send(dst.first, h, input_.data, input_.bytes());
    }
    // Accumulate apart from the input whenever sends still read it.
    DataType acc_type = AccumulatorType();
    int64_t n = input_.numel();
    if (acc_type != input_.dtype || output_.data == input_.data) {
      staging_ = ctx.pool().Acquire(static_cast<size_t>(n) * DataTypeSize(acc_type));
      acc_ = staging_.data();
    } else {
      acc_ = output_.data;
    }
    // With sources, the self term is fused into the first contribution.
    // Without, the weights are uniform: the self weight is all in last().
    if (srcs_.empty())
      RescaleCopy(acc_type, acc_, input_.dtype, input_.data, n, LastPass(true));
    MaybeFinish();
  }

  void OnData(OpContext&, Arrival& a) override {
    if (!CheckPeer(a, input_.dtype, &input_.shape)) return;
    auto it = std::find_if(srcs_.begin(), srcs_.end(),
                           [&](const auto& s) { return s.first == a.src; });
    if (it == srcs_.end()) {
      Fail(Status::Mismatch(Describe() + ": rank " + std::to_string(a.src) +
                            " sent data but is not among the sources " +
                           ListString(RanksOf(srcs_)) +
                           " (its destinations and our sources disagree)"));
      return;
    }
    if (arrived_.count(a.src) || a.bytes != input_.bytes()) {
      Fail(Status::Invalid(Describe() + ": unexpected message from rank " +
                           std::to_string(a.src)));
      return;
    }
    std::string problem = AgreementProblem(a.src, a.header.flags, dst_ranks_);
    if (!problem.empty()) {
      Fail(Status::Mismatch(Describe() + ": " + problem));
      return;
    }
    arrived_.emplace(a.src, std::move(a));
    // Reduce in ascending source order.
    while (next_ < srcs_.size()) {
      auto found = arrived_.find(srcs_[next_].first);
      if (found == arrived_.end()) break;
      const Arrival& data = found->second;
      double weight = averaging_.weight(srcs_[next_].second) * data.header.weight;
      Rescale then = LastPass(next_ + 1 == srcs_.size());
      if (next_ == 0) {
        WeightedSum(AccumulatorType(), acc_, input_.dtype, input_.data,
                    averaging_.self_weight(), data.data, weight, input_.numel(), then);
      } else {
        Axpy(AccumulatorType(), acc_, input_.dtype, data.data, input_.numel(), weight, then);
      }
      arrived_.erase(found);
      ++next_;
    }
    MaybeFinish();
  }

  void Conclude(OpContext&) override {
    if (acc_ == output_.data) return;
    RescaleCopy(output_.dtype, output_.data, AccumulatorType(), acc_, input_.numel(),
                averaging_.last());
  }

 private:
  DataType AccumulatorType() const {
    return IsLowPrecisionFloat(input_.dtype) ? DataType::kFloat32 : input_.dtype;
  }
  // The final rescale goes into the last accumulation pass when that writes
  // the output, else into the copy out of the accumulator (Conclude).
  Rescale LastPass(bool last) const {
    return last && acc_ == output_.data ? averaging_.last() : Rescale();
  }
  void MaybeFinish() {
    if (next_ == srcs_.size() && !finished()) Finish();
  }

  TensorView input_, output_;
  RankWeights srcs_, dsts_;
  std::vector<int> dst_ranks_;
  Averaging averaging_;
  PooledBuffer staging_;
  void* acc_ = nullptr;
  size_t next_ = 0;
  std::map<int, Arrival> arrived_;
};

}  // namespace

std::unique_ptr<Op> MakeNeighborAllreduceOp(OpIdentity id, int rank, int size,
                                            TensorView input, TensorView output,
                                            double self_weight, RankWeights srcs,
                                            RankWeights dsts) {
  CheckSameLayout(id, input, output);
  if (!IsFloatingPoint(input.dtype))
    throw InvalidArgument(OpLabel(id) + ": needs a floating-point tensor, got " +
                          DataTypeName(input.dtype));
  CheckNeighborRanks(id, RanksOf(srcs), rank, size, "the source list");
  CheckNeighborRanks(id, RanksOf(dsts), rank, size, "the destination list");
  return std::make_unique<NeighborAllreduceOp>(std::move(id), input, output, self_weight,
                                               std::move(srcs), std::move(dsts));
}

}  // namespace bluefog
