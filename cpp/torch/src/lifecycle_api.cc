#include "bluefog/torch.h"

#include <ATen/ATen.h>

#include <mutex>
#include <unordered_map>

#include "bluefog/core/buffer_pool.h"
#include "bluefog/core/collectives.h"
#include "bluefog/core/engine.h"
#include "bluefog/core/mpi_state.h"
#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/weights.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {
namespace {

std::mutex g_mutex;
std::unordered_map<int64_t, std::shared_ptr<OpTensors>> g_tensors;

// Outputs come from recycled memory: a fresh 64 MiB tensor per call would
// pay for touching new pages every time. Never destroyed, since tensors may
// outlive static destruction.
BufferPool& OutputPool() {
  static BufferPool* pool = new BufferPool(size_t(1) << 30);
  return *pool;
}

at::Tensor NewOutput(at::IntArrayRef sizes, const at::TensorOptions& options) {
  size_t bytes = options.dtype().itemsize();
  for (int64_t d : sizes) bytes *= static_cast<size_t>(d);
  if (bytes == 0) return at::empty(sizes, options);
  auto* buffer = new PooledBuffer(OutputPool().Acquire(bytes));
  return at::from_blob(
      buffer->data(), sizes, [buffer](void*) { delete buffer; }, options);
}

// Why init failed after MPI had started (empty: it did not). MPI cannot be
// restarted, so bluefog stays uninitialised for the rest of the process.
std::mutex g_init_mutex;
std::string g_init_failure;

std::string InitFailure() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  return g_init_failure;
}

void RecordInitFailure(const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  if (g_init_failure.empty()) g_init_failure = reason.empty() ? "unknown error" : reason;
}

}  // namespace

Engine& RunningEngine() {
  Engine& engine = Engine::Get();
  if (!engine.running()) {
    std::string failure = InitFailure();
    if (!failure.empty())
      throw InvalidArgument("bluefog is not initialized: bf.init() failed on this rank (" +
                            failure + ")");
    if (engine.stopped())
      throw ShutdownError("bluefog has been shut down; this call needs a running bluefog");
    throw InvalidArgument("bluefog is not initialized; call bf.init() first");
  }
  return engine;
}

namespace {

DataType ToDataType(at::ScalarType type, const char* op) {
  switch (type) {
    case at::kByte: return DataType::kUInt8;
    case at::kChar: return DataType::kInt8;
    case at::kShort: return DataType::kInt16;
    case at::kInt: return DataType::kInt32;
    case at::kLong: return DataType::kInt64;
    case at::kHalf: return DataType::kFloat16;
    case at::kBFloat16: return DataType::kBFloat16;
    case at::kFloat: return DataType::kFloat32;
    case at::kDouble: return DataType::kFloat64;
    case at::kBool: return DataType::kBool;
    default:
      throw InvalidArgument(std::string(op) + ": unsupported dtype " +
                            std::string(at::toString(type)));
  }
}

}  // namespace

TensorView View(const at::Tensor& t, const char* op) {
  TensorView v;
  v.data = t.data_ptr();
  v.dtype = ToDataType(t.scalar_type(), op);
  v.shape.assign(t.sizes().begin(), t.sizes().end());
  return v;
}

void CheckTensor(const at::Tensor& t, const char* op) {
  if (!t.defined()) throw InvalidArgument(std::string(op) + ": tensor is undefined");
  if (!t.device().is_cpu())
    throw InvalidArgument(std::string(op) + ": only CPU tensors are supported (got a " +
                          t.device().str() + " tensor; this build has no GPU backend)");
  if (t.is_sparse()) throw InvalidArgument(std::string(op) + ": sparse tensors are not supported");
  ToDataType(t.scalar_type(), op);
}

namespace {

// Prepares input/output for an op whose output has the input's layout.
std::shared_ptr<OpTensors> Prepare(const at::Tensor& tensor, at::Tensor output,
                                   const char* op) {
  CheckTensor(tensor, op);
  auto tensors = std::make_shared<OpTensors>();
  bool in_place = output.defined() && output.is_same(tensor);
  tensors->input = tensor.contiguous();
  if (in_place) {
    if (tensor.is_contiguous()) {
      tensors->output = tensors->input;
    } else {
      tensors->output = tensors->input;  // a private contiguous copy
      tensors->copy_back_to = tensor;
    }
  } else if (output.defined()) {
    CheckTensor(output, op);
    if (!output.is_contiguous() || output.sizes() != tensor.sizes() ||
        output.scalar_type() != tensor.scalar_type())
      throw InvalidArgument(std::string(op) +
                            ": output must be contiguous with the input's shape and dtype");
    tensors->output = output;
  } else {
    tensors->output = NewOutput(tensors->input.sizes(), tensors->input.options());
  }
  return tensors;
}

}  // namespace

int64_t Track(int64_t handle, std::shared_ptr<OpTensors> tensors) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_tensors[handle] = std::move(tensors);
  return handle;
}

namespace {

std::vector<int> AllRanks(const WorldInfo& world) {
  std::vector<int> ranks(world.size);
  for (int r = 0; r < world.size; ++r) ranks[r] = r;
  return ranks;
}

}  // namespace

void init() {
  std::string failure = InitFailure();
  if (!failure.empty())
    throw Error("bluefog cannot be initialised: an earlier bf.init() in this process failed (" +
                failure + ") after MPI had started, and MPI cannot be restarted");
  Config config = ParseConfigFromEnvironment();
  Engine& engine = Engine::Get();
  if (engine.running()) return;  // a second init only resets the topology
  CheckTimelinePrefix(config.timeline_prefix);
  const bool mpi_was_active = MpiActive();
  try {
    engine.Start(config);
  } catch (const std::exception& e) {
    // The engine thread may have initialised MPI before failing (and then
    // ended without finalising it): finalise here, so that the process can
    // exit normally after the error.
    if (!mpi_was_active && MpiActive()) {
      FinalizeMpi();
      RecordInitFailure(e.what());
    }
    throw;
  }
  try {
    StartTimeline(config.timeline_prefix, engine.world());
  } catch (const std::exception& e) {
    abandon_init(e.what());
    throw;
  }
}

void abandon_init(const std::string& reason) {
  Engine::Get().Stop();
  StopTimeline();
  RecordInitFailure(reason);
}

void shutdown() {
  if (Engine::Get().in_forked_child()) return;  // the parent's to stop, timeline too
  Engine::Get().Stop();
  StopTimeline();  // after the engine, whose last events it records
}

void abort(const std::string& reason, bool consequence) {
  if (Engine::Get().in_forked_child()) return;
  Engine::Get().Abort(reason, consequence);
  StopTimeline();  // what it recorded is on disk before the process exits
}
bool is_initialized() { return Engine::Get().running(); }
int size() { return RunningEngine().world().size; }
int rank() { return RunningEngine().world().rank; }
int local_size() { return RunningEngine().world().local_size; }
int local_rank() { return RunningEngine().world().local_rank; }
int machine_size() {
  const WorldInfo& w = RunningEngine().world();
  return w.size / w.local_size;
}
int machine_rank() {
  const WorldInfo& w = RunningEngine().world();
  return w.rank / w.local_size;
}
bool is_homogeneous() { return RunningEngine().world().homogeneous; }
bool mpi_threads_supported() { return RunningEngine().world().mpi_threads_supported; }
bool unified_mpi_window_model_supported() {
  return RunningEngine().world().unified_window_model;
}
void suspend() { RunningEngine().Suspend(); }
void resume() { RunningEngine().Resume(); }

int64_t allreduce_nonblocking(const at::Tensor& tensor, at::Tensor output, bool average,
                              bool is_hierarchical_local, const std::string& name) {
  Engine& engine = RunningEngine();
  auto tensors = Prepare(tensor, output, "allreduce");
  const WorldInfo& world = engine.world();
  std::vector<int> group = is_hierarchical_local ? world.local_ranks : AllRanks(world);
  TensorView in = View(tensors->input, "allreduce");
  TensorView out = View(tensors->output, "allreduce");
  int64_t handle = engine.Submit(OpType::kAllreduce, name, [&](OpIdentity id) {
    return MakeAllreduceOp(std::move(id), world.rank, in, out, average, group);
  });
  return Track(handle, std::move(tensors));
}

int64_t broadcast_nonblocking(const at::Tensor& tensor, at::Tensor output, int root_rank,
                              const std::string& name) {
  Engine& engine = RunningEngine();
  auto tensors = Prepare(tensor, output, "broadcast");
  const WorldInfo& world = engine.world();
  TensorView in = View(tensors->input, "broadcast");
  TensorView out = View(tensors->output, "broadcast");
  int64_t handle = engine.Submit(OpType::kBroadcast, name, [&](OpIdentity id) {
    return MakeBroadcastOp(std::move(id), world.rank, in, out, root_rank, AllRanks(world));
  });
  return Track(handle, std::move(tensors));
}

// Gathers whose output shape is known only when the peers' data arrived.
template <typename MakeOp>
int64_t SubmitGather(OpType type, const at::Tensor& tensor, const std::string& name,
                     const char* label, MakeOp make_op) {
  Engine& engine = RunningEngine();
  CheckTensor(tensor, label);
  auto tensors = std::make_shared<OpTensors>();
  tensors->input = tensor.contiguous();
  TensorView in = View(tensors->input, label);
  OpTensors* raw = tensors.get();  // outlives the op: freed after the handle is released
  auto options = tensors->input.options();
  OutputAllocator allocate = [raw, options](const std::vector<int64_t>& shape) {
    raw->output = NewOutput(shape, options);
    return raw->output.data_ptr();
  };
  int64_t handle = engine.Submit(type, name, [&](OpIdentity id) {
    return make_op(std::move(id), engine.world(), in, allocate);
  });
  return Track(handle, std::move(tensors));
}

int64_t allgather_nonblocking(const at::Tensor& tensor, const std::string& name) {
  return SubmitGather(OpType::kAllgather, tensor, name, "allgather",
                      [](OpIdentity id, const WorldInfo& world, TensorView in,
                         OutputAllocator allocate) {
                        return MakeAllgatherOp(std::move(id), world.rank, in,
                                               std::move(allocate), AllRanks(world));
                      });
}

int64_t neighbor_allgather_nonblocking(const at::Tensor& tensor, const std::vector<int>& srcs,
                                       const std::vector<int>& dsts, const std::string& name) {
  return SubmitGather(OpType::kNeighborAllgather, tensor, name, "neighbor_allgather",
                      [&](OpIdentity id, const WorldInfo& world, TensorView in,
                          OutputAllocator allocate) {
                        return MakeNeighborAllgatherOp(std::move(id), world.rank, world.size,
                                                       in, std::move(allocate), srcs, dsts);
                      });
}

int64_t neighbor_allreduce_nonblocking(const at::Tensor& tensor, at::Tensor output,
                                       double self_weight,
                                       const std::vector<std::pair<int, double>>& srcs,
                                       const std::vector<std::pair<int, double>>& dsts,
                                       const std::string& name) {
  Engine& engine = RunningEngine();
  CheckWeight("neighbor_allreduce", "self_weight", self_weight);
  CheckRankWeights("neighbor_allreduce", "srcs", srcs);
  CheckRankWeights("neighbor_allreduce", "dsts", dsts);
  auto tensors = Prepare(tensor, output, "neighbor_allreduce");
  const WorldInfo& world = engine.world();
  TensorView in = View(tensors->input, "neighbor_allreduce");
  TensorView out = View(tensors->output, "neighbor_allreduce");
  int64_t handle = engine.Submit(OpType::kNeighborAllreduce, name, [&](OpIdentity id) {
    return MakeNeighborAllreduceOp(std::move(id), world.rank, world.size, in, out,
                                   self_weight, srcs, dsts);
  });
  return Track(handle, std::move(tensors));
}

int64_t pair_gossip_nonblocking(const at::Tensor& tensor, int target_rank, double self_weight,
                                double pair_weight, const std::string& name) {
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  if (target_rank < 0 || target_rank >= world.size)
    throw InvalidArgument("pair_gossip: target_rank " + std::to_string(target_rank) +
                          " is out of range for " + std::to_string(world.size) + " ranks");
  if (target_rank == world.rank)
    throw InvalidArgument("pair_gossip: target_rank is this rank (" + std::to_string(world.rank) +
                          "); pair_gossip exchanges with another rank");
  CheckWeight("pair_gossip", "self_weight", self_weight);
  CheckWeight("pair_gossip", "pair_weight", pair_weight);
  auto tensors = Prepare(tensor, at::Tensor(), "pair_gossip");
  TensorView in = View(tensors->input, "pair_gossip");
  TensorView out = View(tensors->output, "pair_gossip");
  int64_t handle = engine.Submit(OpType::kPairGossip, name, [&](OpIdentity id) {
    return MakeNeighborAllreduceOp(std::move(id), world.rank, world.size, in, out, self_weight,
                                   {{target_rank, pair_weight}}, {{target_rank, 1.0}});
  });
  return Track(handle, std::move(tensors));
}

int64_t barrier_nonblocking() {
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  int64_t handle = engine.Submit(OpType::kBarrier, "", [&](OpIdentity id) {
    return MakeBarrierOp(std::move(id), world.rank, AllRanks(world));
  });
  return Track(handle, std::make_shared<OpTensors>());
}

bool poll(int64_t handle) { return Engine::Get().Poll(handle); }

bool wait_for(int64_t handle, double seconds) {
  return Engine::Get().WaitFor(handle, seconds);
}

void abandon(int64_t handle) { Engine::Get().Abandon(handle); }

at::Tensor synchronize(int64_t handle) {
  Engine& engine = Engine::Get();
  while (!engine.WaitFor(handle, 3600.0)) {
  }
  std::shared_ptr<OpTensors> tensors;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_tensors.find(handle);
    if (it != g_tensors.end()) {
      tensors = std::move(it->second);
      g_tensors.erase(it);
    }
  }
  engine.Release(handle).ThrowIfError();
  if (!tensors) return at::Tensor();
  if (tensors->copy_back_to.defined()) {
    tensors->copy_back_to.copy_(tensors->output);
    return tensors->copy_back_to;
  }
  return tensors->output;
}

int64_t hierarchical_neighbor_allreduce_nonblocking(
    const at::Tensor& tensor, double self_weight,
    const std::vector<std::pair<int, double>>& srcs,
    const std::vector<std::pair<int, double>>& dsts, const std::string& name) {
  Engine& engine = RunningEngine();
  const WorldInfo& world = engine.world();
  if (world.local_size < 2)
    throw InvalidArgument(
        "hierarchical_neighbor_allreduce needs more than one rank per machine (local_size() "
        "is 1); use neighbor_allreduce, or emulate machines with BLUEFOG_NODES_PER_MACHINE");
  CheckWeight("hierarchical_neighbor_allreduce", "self_weight", self_weight);
  CheckRankWeights("hierarchical_neighbor_allreduce", "srcs", srcs);
  CheckRankWeights("hierarchical_neighbor_allreduce", "dsts", dsts);
  auto tensors = Prepare(tensor, at::Tensor(), "hierarchical_neighbor_allreduce");
  TensorView in = View(tensors->input, "hierarchical_neighbor_allreduce");
  TensorView out = View(tensors->output, "hierarchical_neighbor_allreduce");
  int64_t handle =
      engine.Submit(OpType::kHierarchicalNeighborAllreduce, name, [&](OpIdentity id) {
        return MakeHierarchicalNeighborAllreduceOp(std::move(id), world.rank, world.size, in,
                                                   out, world.local_ranks, self_weight, srcs,
                                                   dsts);
      });
  return Track(handle, std::move(tensors));
}

MessageCounts message_counts() { return RunningEngine().Counts(); }

}  // namespace api
}  // namespace bluefog
