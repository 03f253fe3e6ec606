// The neighbour ops: neighbor_allreduce, its hierarchical form, pair_gossip
// and neighbor_allgather. Only the ranks that exchange data take part.
#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/weights.h"
#include "bluefog/torch.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {
namespace {

void CheckPlan(const char* op, double self_weight, const RankWeights& srcs,
               const RankWeights& dsts) {
  CheckWeight(op, "self_weight", self_weight);
  CheckRankWeights(op, "srcs", srcs);
  CheckRankWeights(op, "dsts", dsts);
}

}  // namespace

Work neighbor_allreduce(const at::Tensor& tensor, const NeighborAllreduceOptions& options) {
  Engine& engine = RunningEngine();
  CheckPlan("neighbor_allreduce", options.self_weight, options.srcs, options.dsts);
  const WorldInfo& world = engine.world();
  return SubmitSameLayout(engine, OpType::kNeighborAllreduce, options.name, tensor,
                          options.output, "neighbor_allreduce",
                          [&](OpIdentity id, TensorView in, TensorView out) {
                            return MakeNeighborAllreduceOp(std::move(id), world.rank,
                                                           world.size, in, out,
                                                           options.self_weight, options.srcs,
                                                           options.dsts);
                          });
}

Work hierarchical_neighbor_allreduce(const at::Tensor& tensor,
                                     const HierarchicalNeighborAllreduceOptions& options) {
  const char* op = "hierarchical_neighbor_allreduce";
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  if (world.local_size < 2)
    throw InvalidArgument(
        "hierarchical_neighbor_allreduce needs more than one rank per machine (local_size() "
        "is 1); use neighbor_allreduce, or emulate machines with BLUEFOG_NODES_PER_MACHINE");
  CheckPlan(op, options.self_weight, options.srcs, options.dsts);
  return SubmitSameLayout(engine, OpType::kHierarchicalNeighborAllreduce, options.name, tensor,
                          at::Tensor(), op, [&](OpIdentity id, TensorView in, TensorView out) {
                            return MakeHierarchicalNeighborAllreduceOp(
                                std::move(id), world.rank, world.size, in, out,
                                world.local_ranks, options.self_weight, options.srcs,
                                options.dsts);
                          });
}

Work pair_gossip(const at::Tensor& tensor, int target_rank, const PairGossipOptions& options) {
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  if (target_rank < 0 || target_rank >= world.size)
    throw InvalidArgument("pair_gossip: target_rank " + std::to_string(target_rank) +
                          " is out of range for " + std::to_string(world.size) + " ranks");
  if (target_rank == world.rank)
    throw InvalidArgument("pair_gossip: target_rank is this rank (" + std::to_string(world.rank) +
                          "); pair_gossip exchanges with another rank");
  CheckWeight("pair_gossip", "self_weight", options.self_weight);
  CheckWeight("pair_gossip", "pair_weight", options.pair_weight);
  return SubmitSameLayout(engine, OpType::kPairGossip, options.name, tensor, at::Tensor(),
                          "pair_gossip", [&](OpIdentity id, TensorView in, TensorView out) {
                            return MakeNeighborAllreduceOp(
                                std::move(id), world.rank, world.size, in, out,
                                options.self_weight, {{target_rank, options.pair_weight}},
                                {{target_rank, 1.0}});
                          });
}

Work neighbor_allgather(const at::Tensor& tensor, const NeighborAllgatherOptions& options) {
  return SubmitGather(OpType::kNeighborAllgather, tensor, options.name, "neighbor_allgather",
                      [&](OpIdentity id, const WorldInfo& world, TensorView in,
                          OutputAllocator allocate) {
                        return MakeNeighborAllgatherOp(std::move(id), world.rank, world.size,
                                                       in, std::move(allocate), options.srcs,
                                                       options.dsts);
                      });
}

}  // namespace api
}  // namespace bluefog
