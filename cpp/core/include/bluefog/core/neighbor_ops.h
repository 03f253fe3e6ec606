// Factories for the neighbour ops: only the ranks that exchange data take
// part, and each sends its own messages; nothing goes through a coordinator.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "bluefog/core/collectives.h"
#include "bluefog/core/op.h"
#include "bluefog/core/tensor.h"

namespace bluefog {

using RankWeights = std::vector<std::pair<int, double>>;  // (rank, weight)

// output = self_weight * input + sum_j src_weight[j] * dst_weight_j * input_j,
// where dst_weight_j is the weight rank j attached when sending to us.
// `dsts`: whom to send to and with which weight. `output` may alias `input`.
std::unique_ptr<Op> MakeNeighborAllreduceOp(OpIdentity id, int rank, int size,
                                            TensorView input, TensorView output,
                                            double self_weight, RankWeights srcs,
                                            RankWeights dsts);

// Machine-level neighbour averaging: average over `local_ranks` (this
// machine, ascending, including this rank), then
// output = self_weight * local_average
//          + sum_j src_weight[j] * dst_weight_j * local_average_j,
// where srcs/dsts are this rank's counterparts (same local rank) on the
// neighbour machines. Identical on every rank of a machine.
std::unique_ptr<Op> MakeHierarchicalNeighborAllreduceOp(
    OpIdentity id, int rank, int size, TensorView input, TensorView output,
    std::vector<int> local_ranks, double self_weight, RankWeights srcs, RankWeights dsts);

// Concatenation along dim 0 of the tensors of `srcs`, in the order given.
std::unique_ptr<Op> MakeNeighborAllgatherOp(OpIdentity id, int rank, int size,
                                            TensorView input, OutputAllocator allocate,
                                            std::vector<int> srcs, std::vector<int> dsts);

}  // namespace bluefog
