#include "neighbor_args.h"

#include <set>

#include "bluefog/core/status.h"
#include "collective_args.h"

namespace bluefog {

void CheckNeighborRanks(const OpIdentity& id, const std::vector<int>& ranks, int rank,
                        int size, const char* what) {
  std::set<int> seen;
  for (int r : ranks) {
    if (r < 0 || r >= size)
      throw InvalidArgument(OpLabel(id) + ": " + what + " names rank " + std::to_string(r) +
                            ", out of range for " + std::to_string(size) + " ranks");
    if (r == rank)
      throw InvalidArgument(OpLabel(id) + ": " + what + " names this rank (" +
                            std::to_string(rank) + "); use self_weight for it");
    if (!seen.insert(r).second)
      throw InvalidArgument(OpLabel(id) + ": " + what + " names rank " + std::to_string(r) +
                            " twice");
  }
}

std::vector<int> RanksOf(const RankWeights& weights) {
  std::vector<int> ranks;
  for (const auto& entry : weights) ranks.push_back(entry.first);
  return ranks;
}

}  // namespace bluefog
