// Factories for the collective ops over a group of ranks. Each validates its
// arguments (throwing InvalidArgument) before anything is sent.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "bluefog/core/op.h"
#include "bluefog/core/tensor.h"

namespace bluefog {

// Memory for a result whose shape is known only once every peer reported.
using OutputAllocator = std::function<void*(const std::vector<int64_t>& shape)>;

// `group`: the world ranks taking part, ascending, including this rank.
// `output` may alias `input` (in-place).
std::unique_ptr<Op> MakeAllreduceOp(OpIdentity id, int rank, TensorView input,
                                    TensorView output, bool average,
                                    std::vector<int> group);
std::unique_ptr<Op> MakeBroadcastOp(OpIdentity id, int rank, TensorView input,
                                    TensorView output, int root_rank,
                                    std::vector<int> group);
std::unique_ptr<Op> MakeAllgatherOp(OpIdentity id, int rank, TensorView input,
                                    OutputAllocator allocate,
                                    std::vector<int> group);
std::unique_ptr<Op> MakeBarrierOp(OpIdentity id, int rank, std::vector<int> group);

// Allreduce switches from recursive doubling to a ring above this many bytes.
constexpr size_t kAllreduceRingThreshold = 64 * 1024;

}  // namespace bluefog
