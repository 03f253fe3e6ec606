// Dissemination barrier: in round k every rank signals rank + 2^k and waits
// for rank - 2^k; after ceil(log2 n) rounds everyone has heard from everyone.
#include "bluefog/core/collectives.h"
#include "bluefog/core/scheduled_op.h"
#include "collective_args.h"

namespace bluefog {
namespace {

class BarrierOp : public ScheduledOp {
 public:
  BarrierOp(OpIdentity id, std::vector<int> group, int index)
      : ScheduledOp(std::move(id), group, Signature()) {
    int n = static_cast<int>(group.size());
    for (int distance = 1, round = 0; distance < n; distance <<= 1, ++round) {
      AddAction(Action::kSignal, group[(index + distance) % n], round);
      AddAction(Action::kAwaitSignal, group[(index - distance + n) % n], round);
    }
  }
};

}  // namespace

std::unique_ptr<Op> MakeBarrierOp(OpIdentity id, int rank, std::vector<int> group) {
  int index = GroupIndex(id, group, rank);
  return std::make_unique<BarrierOp>(std::move(id), std::move(group), index);
}

}  // namespace bluefog
