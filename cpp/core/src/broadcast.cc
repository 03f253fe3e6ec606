// Broadcast along a binomial tree rooted at root_rank; non-roots receive
// straight into the output when the op is posted before the data arrives.
// First, a dissemination round of signals carrying each rank's root: every
// message is checked against the receiver's root, so ranks that disagree on
// the root fail (all of them, through the error notices) instead of hanging
// or silently broadcasting from two roots.
#include <cstring>

#include "bluefog/core/collectives.h"
#include "bluefog/core/scheduled_op.h"
#include "bluefog/core/status.h"
#include "collective_args.h"

namespace bluefog {
namespace {

constexpr int32_t kAgreeStep = 1000;

class BroadcastOp : public ScheduledOp {
 public:
  BroadcastOp(OpIdentity id, TensorView input, TensorView output, int root,
              std::vector<int> group, int index, int root_index)
      : ScheduledOp(std::move(id), group, MakeSignature(input, root)),
        input_(std::move(input)), output_(std::move(output)) {
    int n = static_cast<int>(group.size());
    for (int distance = 1, round = 0; distance < n; distance <<= 1, ++round) {
      AddAction(Action::kSignal, group[(index + distance) % n], kAgreeStep + round);
      AddAction(Action::kAwaitSignal, group[(index - distance + n) % n], kAgreeStep + round);
    }
    int v = (index - root_index + n) % n;  // position relative to the root
    auto rank_of = [&](int rel) { return group[(rel + root_index) % n]; };
    int mask = 1;
    while (mask < n) {
      if (v & mask) {
        AddAction(Action::kReceiveCopy, rank_of(v - mask), 0);
        break;
      }
      mask <<= 1;
    }
    for (mask >>= 1; mask > 0; mask >>= 1)
      if (v + mask < n) AddAction(Action::kSend, rank_of(v + mask), 0);
    AllowDirectReceive();
    SetWork(output_.data, output_.dtype, output_.numel());
  }

  void Start(OpContext& ctx) override {
    bool is_root = signature().root == ctx.rank();
    if (is_root && output_.data != input_.data)
      std::memcpy(output_.data, input_.data, input_.bytes());
    ScheduledOp::Start(ctx);
  }

 private:
  static Signature MakeSignature(const TensorView& input, int root) {
    Signature s;
    s.dtype = input.dtype;
    s.shape = input.shape;
    s.root = root;
    return s;
  }
  TensorView input_, output_;
};

}  // namespace

std::unique_ptr<Op> MakeBroadcastOp(OpIdentity id, int rank, TensorView input,
                                    TensorView output, int root_rank,
                                    std::vector<int> group) {
  int index = GroupIndex(id, group, rank);
  CheckSameLayout(id, input, output);
  int root_index = -1;
  for (size_t i = 0; i < group.size(); ++i)
    if (group[i] == root_rank) root_index = static_cast<int>(i);
  if (root_index < 0)
    throw InvalidArgument(OpLabel(id) + ": root_rank " + std::to_string(root_rank) +
                          " is out of range (there are " + std::to_string(group.size()) +
                          " ranks)");
  return std::make_unique<BroadcastOp>(std::move(id), input, output, root_rank,
                                       std::move(group), index, root_index);
}

}  // namespace bluefog
