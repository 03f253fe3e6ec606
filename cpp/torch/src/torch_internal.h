// Shared by the adapter's source files; not part of the public C++ API.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/collectives.h"
#include "bluefog/core/engine.h"
#include "bluefog/core/tensor.h"
#include "bluefog/work.h"
#include "work_state.h"

namespace bluefog {
namespace api {

// The engine, or InvalidArgument/Error before init/after shutdown.
Engine& RunningEngine();
// Throws InvalidArgument for tensors the core cannot take.
void CheckTensor(const at::Tensor& t, const char* op);
TensorView View(const at::Tensor& t, const char* op);
// A tensor of pooled memory (what ops return when given no output).
at::Tensor NewOutput(at::IntArrayRef sizes, const at::TensorOptions& options);
// Submits an op whose output has the input's layout, its tensors taken from
// `tensor` and `output` (see options.h's `output`); `make` builds it over
// their views.
using SameLayoutFactory =
    std::function<std::unique_ptr<Op>(OpIdentity id, TensorView input, TensorView output)>;
Work SubmitSameLayout(Engine& engine, OpType type, const std::string& name,
                      const at::Tensor& tensor, const at::Tensor& output, const char* label,
                      const SameLayoutFactory& make);
// Submits the op `make` builds; `state` holds its tensors. Releases the
// dropped Works that finished meanwhile first.
Work SubmitWork(Engine& engine, OpType type, const std::string& name,
                std::shared_ptr<WorkState> state, const OpFactory& make);
// Ops whose output shape is known only once the peers' data arrived: the
// output is allocated then, from the pool.
using GatherFactory = std::function<std::unique_ptr<Op>(
    OpIdentity id, const WorldInfo& world, TensorView input, OutputAllocator allocate)>;
Work SubmitGather(OpType type, const at::Tensor& tensor, const std::string& name,
                  const char* label, const GatherFactory& make);
// 0, 1, ..., world.size - 1.
std::vector<int> AllRanks(const WorldInfo& world);

// The timeline's part of init and shutdown (timeline_api.cc); an empty
// prefix means no timeline. The check runs before the engine starts, so that
// a directory that does not exist fails init with nothing started.
void CheckTimelinePrefix(const std::string& prefix);
void StartTimeline(const std::string& prefix, const WorldInfo& world);
void StopTimeline();
// With the timeline on, measures this rank's clock offset to rank 0 and
// records it as taken `when` ("init", "shutdown"); collective. An exchange
// that takes longer than `limit_s` is given up, with a warning
// (clock_offsets.cc).
void MeasureClockOffset(const char* when, double limit_s);

}  // namespace api
}  // namespace bluefog
