// The per-process engine: one background thread owns MPI. User threads submit
// ops and wait on handles; the thread matches incoming messages to ops by
// (name, instance), keeps early messages in an unexpected store, reports
// stalls, and fails ops whose peers died.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/config.h"
#include "bluefog/core/op.h"
#include "bluefog/core/transport.h"
#include "bluefog/core/window.h"
#include "bluefog/core/world.h"

namespace bluefog {

struct MessageCounts {
  std::vector<uint64_t> logical_from;  // messages received, per source rank
  uint64_t mpi = 0;                    // MPI messages; a fused frame counts once
};

// Builds an op once its identity (key, instance) is assigned.
using OpFactory = std::function<std::unique_ptr<Op>(OpIdentity id)>;

class Engine {
 public:
  static Engine& Get();

  // Starts the transport (MPI unless another is given) and the engine
  // thread. Throws on failure.
  void Start(const Config& config, std::unique_ptr<Transport> transport = nullptr);
  // Finishes pending ops, then stops the thread and MPI. Idempotent. Peers
  // learn that this rank posts no more ops, so theirs that need one fail.
  void Stop();
  // Exits on an error (`reason`, e.g. "its script raised ValueError: x"):
  // every peer is told at once and fails the ops that need this rank; ops
  // pending here fail; MPI is not finalised. Returns within a few seconds.
  // `consequence`: the error came from another rank's failure, so the peers
  // report this one quietly.
  void Abort(const std::string& reason, bool consequence = false);
  bool running() const;
  bool stopped() const;
  // True in a process forked from the one that started the engine: there
  // the engine refuses work and Stop/Abort do nothing.
  bool in_forked_child() const;
  const WorldInfo& world() const;
  const Config& config() const;

  // Assigns the op its instance and queues it. `name` empty: an automatic
  // name counted per op type. Throws InvalidArgument if the name is in flight.
  int64_t Submit(OpType type, const std::string& name, const OpFactory& make);
  bool Poll(int64_t handle);
  // Waits up to timeout_seconds; returns true when done.
  bool WaitFor(int64_t handle, double timeout_seconds);
  // Result of a finished op; forgets the handle.
  Status Release(int64_t handle);
  // The caller stopped waiting for the op (its wait was interrupted): a
  // shutdown fails it rather than waiting for peers that may never post it.
  // Waiting for it again takes this back.
  void Abandon(int64_t handle);

  void Suspend();
  void Resume();

  // Returns once the engine thread has applied what had reached this rank
  // when it was called (neighbours' window puts and accumulates), or after
  // max_wait_seconds. Window reads call it so that a write whose sender has
  // finished sending is seen, as with MPI's one-sided puts, even when this
  // rank's engine was asleep. Returns false if it gave up waiting (or the
  // engine is not running).
  bool DeliverArrived(double max_wait_seconds);

  // Messages received so far (tests use it to show who talked to whom and
  // that fusion happened); both fields come from one consistent snapshot.
  MessageCounts Counts();

  // This process's one-sided windows (see window.h).
  WindowRegistry& Windows();

  // The process's engine is Get(); tests run several, one per simulated
  // rank, each over its own transport.
  Engine();
  ~Engine();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bluefog
