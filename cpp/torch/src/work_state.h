// What a Work shares between its copies: the engine handle of its op, the
// tensors the op uses, and, once settled, its outcome. Not part of the
// public C++ API.
#pragma once
#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "bluefog/core/engine.h"
#include "bluefog/core/status.h"
#include "bluefog/work.h"

namespace bluefog {
namespace api {

// Tensors an op uses, kept alive (and freed) on the user's side so that the
// engine thread never drops the last reference to a tensor.
struct OpTensors {
  at::Tensor input;        // contiguous input
  at::Tensor output;       // where the engine writes
  at::Tensor copy_back_to; // user tensor to fill from `output` (in-place on a non-contiguous tensor)
};

struct WorkState {
  explicit WorkState(Engine& e) : engine(&e) {}

  Engine* engine;
  int64_t handle = -1;  // the engine's; -1 until submitted
  OpTensors tensors;    // until settled

  std::mutex mutex;
  std::condition_variable left;  // a waiter left the engine's wait
  int waiters = 0;               // threads inside Engine::WaitFor on `handle`
  bool settled = false;          // the engine forgot `handle`; outcome below
  Status status;
  at::Tensor result;
};

// The engine reported the op done and no thread is inside its WaitFor (the
// caller holds state.mutex): takes the outcome from the engine, which forgets
// the handle, copies an in-place result back, and drops the op's tensors but
// the result.
void Settle(WorkState& state);

// A state for an op about to be submitted to `engine`. Its deleter keeps an
// unfinished op's state (and so its tensors) until the op completed.
std::shared_ptr<WorkState> NewWorkState(Engine& engine);

// Releases the dropped Works whose ops completed meanwhile; cheap when there
// are none. Op submission and shutdown call it.
void ReleaseFinishedDroppedWorks();

}  // namespace api
}  // namespace bluefog
