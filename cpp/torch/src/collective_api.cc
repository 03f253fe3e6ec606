// The collectives over all ranks (or this machine's): allreduce, broadcast,
// allgather, barrier.
#include "bluefog/core/collectives.h"
#include "bluefog/torch.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {

std::vector<int> AllRanks(const WorldInfo& world) {
  std::vector<int> ranks(world.size);
  for (int r = 0; r < world.size; ++r) ranks[r] = r;
  return ranks;
}

Work allreduce(const at::Tensor& tensor, const AllreduceOptions& options) {
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  std::vector<int> group = options.hierarchical_local ? world.local_ranks : AllRanks(world);
  return SubmitSameLayout(engine, OpType::kAllreduce, options.name, tensor, options.output,
                          "allreduce", [&](OpIdentity id, TensorView in, TensorView out) {
                            return MakeAllreduceOp(std::move(id), world.rank, in, out,
                                                   options.average, std::move(group));
                          });
}

Work broadcast(const at::Tensor& tensor, const BroadcastOptions& options) {
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  return SubmitSameLayout(engine, OpType::kBroadcast, options.name, tensor, options.output,
                          "broadcast", [&](OpIdentity id, TensorView in, TensorView out) {
                            return MakeBroadcastOp(std::move(id), world.rank, in, out,
                                                   options.root_rank, AllRanks(world));
                          });
}

Work SubmitGather(OpType type, const at::Tensor& tensor, const std::string& name,
                  const char* label, const GatherFactory& make) {
  Engine& engine = RunningEngine();
  CheckTensor(tensor, label);
  auto state = NewWorkState(engine);
  state->tensors.input = tensor.contiguous();
  TensorView in = View(state->tensors.input, label);
  // The state outlives the op (see NewWorkState), and so this pointer.
  OpTensors* tensors = &state->tensors;
  auto tensor_options = tensors->input.options();
  OutputAllocator allocate = [tensors, tensor_options](const std::vector<int64_t>& shape) {
    tensors->output = NewOutput(shape, tensor_options);
    return tensors->output.data_ptr();
  };
  return SubmitWork(engine, type, name, std::move(state), [&](OpIdentity id) {
    return make(std::move(id), engine.world(), in, std::move(allocate));
  });
}

Work allgather(const at::Tensor& tensor, const AllgatherOptions& options) {
  return SubmitGather(OpType::kAllgather, tensor, options.name, "allgather",
                      [](OpIdentity id, const WorldInfo& world, TensorView in,
                         OutputAllocator allocate) {
                        return MakeAllgatherOp(std::move(id), world.rank, in,
                                               std::move(allocate), AllRanks(world));
                      });
}

Work barrier(const BarrierOptions&) {
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  return SubmitWork(engine, OpType::kBarrier, "", NewWorkState(engine), [&](OpIdentity id) {
    return MakeBarrierOp(std::move(id), world.rank, AllRanks(world));
  });
}

}  // namespace api
}  // namespace bluefog
