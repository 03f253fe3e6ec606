// The one rule for the weights of every averaging op (neighbor_allreduce,
// pair_gossip, hierarchical_neighbor_allreduce, the window ops, set_topology's
// graph weights): a finite number of magnitude at most kMaxWeightMagnitude.
// Mixing weights are of order 1; the bound leaves room for unnormalised ones
// (sample counts, push-sum's scaled weights) and catches what can only be a
// mistake: a weight of 1e308 turns every float32 tensor into inf.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace bluefog {

constexpr double kMaxWeightMagnitude = 1e9;

// Throws InvalidArgument "<op>: <what> is <weight>; ..." unless the rule holds.
void CheckWeight(const std::string& op, const std::string& what, double weight);

// The same for each (rank, weight); the message calls it "<what>[<rank>]".
void CheckRankWeights(const std::string& op, const std::string& what,
                      const std::vector<std::pair<int, double>>& weights);

}  // namespace bluefog
