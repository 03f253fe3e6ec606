// Checks of neighbour lists shared by the neighbour-op factories.
#pragma once
#include <vector>

#include "bluefog/core/neighbor_checks.h"
#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/op.h"

namespace bluefog {

// CheckNeighborRanks (neighbor_checks.h) with the op's label as its name.
void CheckNeighborRanks(const OpIdentity& id, const std::vector<int>& ranks, int rank,
                        int size, const char* what);

std::vector<int> RanksOf(const RankWeights& weights);

// `ranks` followed by those of `more` it does not hold yet: an op's
// participants from its sources and destinations.
std::vector<int> UnionOf(std::vector<int> ranks, const std::vector<int>& more);

}  // namespace bluefog
