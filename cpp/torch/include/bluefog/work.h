// bluefog::api::Work: the one handle type of the LibTorch API's nonblocking
// ops (see bluefog/torch.h).
//
// A Work owns the tensors its op reads and writes until the op completes, so
// the caller may drop its own references to them at once. Copies share one
// op (like std::shared_future); moving is cheap.
//
// Completion. The first call that sees the op complete (test(), wait(...),
// result(), status(), error()) settles it: the engine forgets the op, an
// in-place op on a non-contiguous tensor copies the result into that tensor,
// and the Work keeps only the result (on success) and the status.
//
// Dropping. When the last copy of an unfinished Work is destroyed, its
// tensors stay alive until the op completes (the engine thread is still
// reading or writing them); they are released, and the op settled as above,
// by the first op submitted after it completed, or at shutdown() at the
// latest. dropped_works_pending() counts those still held. A dropped op is
// never cancelled: peers that take part in it see it run to completion.
//
// Threads: one Work may be used from several threads at once.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>

#include "bluefog/core/status.h"

namespace bluefog {
namespace api {

struct WorkState;  // internal (cpp/torch/src/work_state.h)

class Work {
 public:
  // An empty Work, of no op: valid() is false and every other call throws
  // InvalidArgument.
  Work() = default;
  // Made by the op functions of torch.h.
  explicit Work(std::shared_ptr<WorkState> state);

  bool valid() const { return state_ != nullptr; }
  // The op's number, unique in the process and increasing with submission:
  // the engine's handle, which its error messages name.
  int64_t id() const;

  // Whether the op has completed (successfully or not). Never blocks.
  bool test();
  // Waits up to `timeout_seconds` (0: just looks); true when the op has
  // completed. Throws Error if the op cannot start because bluefog is
  // suspended on this rank (bf.suspend()): it starts at resume().
  bool wait(double timeout_seconds);
  // Blocks until the op has completed.
  void wait();
  // Blocks until completion; returns the op's output (undefined for barrier
  // and the window ops) or throws its error as the typed exception of
  // bluefog/core/status.h: InvalidArgument, MismatchError, TimeoutError,
  // PeerFailureError, ShutdownError or InternalError.
  at::Tensor result();
  // Blocks until completion; the op's outcome, without throwing it.
  Status status();
  // Blocks until completion; the exception result() would throw, or null.
  std::exception_ptr error();

  // The caller stops waiting (e.g. on Ctrl-C): a shutdown fails the op
  // instead of waiting for peers that may never post it. Waiting again
  // takes this back. Nothing is released: the op keeps its tensors.
  void abandon();

 private:
  WorkState& state() const;
  std::shared_ptr<WorkState> state_;
};

// Unfinished Works that were dropped and whose tensors are still held (see
// "Dropping" above).
size_t dropped_works_pending();

}  // namespace api
}  // namespace bluefog
