// Checks of neighbour lists shared by the neighbour-op factories.
#pragma once
#include <string>
#include <vector>

#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/op.h"

namespace bluefog {

// Throws InvalidArgument if a rank is out of range, repeated, or this rank.
void CheckNeighborRanks(const OpIdentity& id, const std::vector<int>& ranks, int rank,
                        int size, const char* what);

std::vector<int> RanksOf(const RankWeights& weights);

}  // namespace bluefog
