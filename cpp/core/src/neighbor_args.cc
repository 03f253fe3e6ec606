#include "neighbor_args.h"

#include <algorithm>
#include <set>

#include "bluefog/core/status.h"
#include "collective_args.h"

namespace bluefog {

void CheckRanksInRange(const std::string& op, const std::string& what,
                       const std::vector<int>& ranks, int count, const std::string& unit) {
  for (int r : ranks)
    if (r < 0 || r >= count)
      throw InvalidArgument(op + ": " + what + " names " + unit + " " + std::to_string(r) +
                            ", out of range for " + std::to_string(count) + " " + unit + "s");
}

void CheckNeighborRanks(const std::string& op, const std::string& what,
                        const std::vector<int>& ranks, int me, int count,
                        const std::string& unit) {
  CheckRanksInRange(op, what, ranks, count, unit);
  std::set<int> seen;
  for (int r : ranks) {
    if (r == me)
      throw InvalidArgument(op + ": " + what + " names this " + unit + " (" +
                            std::to_string(me) + "); a " + unit + " is not its own neighbour");
    if (!seen.insert(r).second)
      throw InvalidArgument(op + ": " + what + " names " + unit + " " + std::to_string(r) +
                            " twice");
  }
}

void CheckNeighborRanks(const OpIdentity& id, const std::vector<int>& ranks, int rank,
                        int size, const char* what) {
  CheckNeighborRanks(OpLabel(id), what, ranks, rank, size);
}

std::vector<int> RanksOf(const RankWeights& weights) {
  std::vector<int> ranks;
  for (const auto& entry : weights) ranks.push_back(entry.first);
  return ranks;
}

std::vector<int> UnionOf(std::vector<int> ranks, const std::vector<int>& more) {
  for (int r : more)
    if (std::find(ranks.begin(), ranks.end(), r) == ranks.end()) ranks.push_back(r);
  return ranks;
}

}  // namespace bluefog
