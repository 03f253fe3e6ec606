// Shared by the adapter's source files; not part of the public C++ API.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "bluefog/core/engine.h"
#include "bluefog/core/tensor.h"

namespace bluefog {
namespace api {

// Tensors an op uses, kept alive (and freed) on the user's side so that the
// engine thread never drops the last reference to a tensor.
struct OpTensors {
  at::Tensor input;        // contiguous input
  at::Tensor output;       // where the engine writes
  at::Tensor copy_back_to; // user tensor to fill from `output` (in-place on a non-contiguous tensor)
};

// The engine, or InvalidArgument/Error before init/after shutdown.
Engine& RunningEngine();
// Throws InvalidArgument for tensors the core cannot take.
void CheckTensor(const at::Tensor& t, const char* op);
TensorView View(const at::Tensor& t, const char* op);
// Keeps `tensors` until synchronize(handle); returns handle.
int64_t Track(int64_t handle, std::shared_ptr<OpTensors> tensors);

// The timeline's part of init and shutdown (timeline_api.cc); an empty
// prefix means no timeline. The check runs before the engine starts, so that
// a directory that does not exist fails init with nothing started.
void CheckTimelinePrefix(const std::string& prefix);
void StartTimeline(const std::string& prefix, const WorldInfo& world);
void StopTimeline();

}  // namespace api
}  // namespace bluefog
