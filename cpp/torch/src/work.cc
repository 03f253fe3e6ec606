// Work: test, wait, result and the settling of a completed op.
#include "bluefog/work.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "work_state.h"

namespace bluefog {
namespace api {
namespace {

// The longest single Engine::WaitFor; longer waits take several.
constexpr double kWaitChunkSeconds = 3600.0;

// One Engine::WaitFor, counted in `waiters` so that no other thread settles
// (and the engine forgets the handle) meanwhile.
bool WaitOnce(WorkState& s, double seconds) {
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.settled) return true;
    ++s.waiters;
  }
  bool done = false;
  std::exception_ptr failure;
  try {
    done = s.engine->WaitFor(s.handle, seconds);
  } catch (...) {
    failure = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    --s.waiters;
    if (done && !s.settled && s.waiters == 0) Settle(s);
  }
  s.left.notify_all();
  if (failure) std::rethrow_exception(failure);
  return done;
}

// Blocks until the op completed and is settled; returns with s.mutex held.
std::unique_lock<std::mutex> AwaitSettled(WorkState& s) {
  while (!WaitOnce(s, kWaitChunkSeconds)) {
  }
  std::unique_lock<std::mutex> lock(s.mutex);
  // Done: whoever leaves the engine's wait last settles it, or we do.
  while (!s.settled) {
    if (s.waiters == 0) {
      Settle(s);
      break;
    }
    s.left.wait(lock);
  }
  return lock;
}

}  // namespace

void Settle(WorkState& s) {
  try {
    s.status = s.engine->Release(s.handle);
    if (s.status.ok()) {
      if (s.tensors.copy_back_to.defined()) {
        s.tensors.copy_back_to.copy_(s.tensors.output);
        s.result = s.tensors.copy_back_to;
      } else {
        s.result = s.tensors.output;
      }
    }
  } catch (const std::exception& e) {
    s.status = Status::Internal(std::string("settling a completed op: ") + e.what());
    s.result = at::Tensor();
  }
  s.settled = true;
  s.tensors = OpTensors();
}

Work::Work(std::shared_ptr<WorkState> state) : state_(std::move(state)) {}

WorkState& Work::state() const {
  if (!state_)
    throw InvalidArgument("bluefog::api::Work: this Work holds no op (default-constructed or "
                          "moved from)");
  return *state_;
}

int64_t Work::id() const { return state().handle; }

bool Work::test() {
  WorkState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.settled) return true;
  if (!s.engine->Poll(s.handle)) return false;
  if (s.waiters == 0) Settle(s);
  return true;
}

bool Work::wait(double timeout_seconds) {
  WorkState& s = state();
  if (!(timeout_seconds >= 0))
    throw InvalidArgument("bluefog::api::Work::wait: timeout_seconds must be 0 or more, got " +
                          std::to_string(timeout_seconds));
  for (; timeout_seconds > kWaitChunkSeconds; timeout_seconds -= kWaitChunkSeconds)
    if (WaitOnce(s, kWaitChunkSeconds)) return true;
  return WaitOnce(s, timeout_seconds);
}

void Work::wait() { AwaitSettled(state()); }

at::Tensor Work::result() {
  WorkState& s = state();
  auto lock = AwaitSettled(s);
  s.status.ThrowIfError();
  return s.result;
}

Status Work::status() {
  WorkState& s = state();
  auto lock = AwaitSettled(s);
  return s.status;
}

std::exception_ptr Work::error() {
  Status outcome = status();
  if (outcome.ok()) return nullptr;
  try {
    outcome.ThrowIfError();
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

void Work::abandon() {
  WorkState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.settled) s.engine->Abandon(s.handle);
}

}  // namespace api
}  // namespace bluefog
