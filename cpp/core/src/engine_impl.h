// Engine::Impl: the user threads' side of the engine (start, stop, submit,
// handles, suspend), over the state they share with the engine thread
// (EngineShared). The engine thread's side is EngineThread, whose parts are
// classes of their own (see docs/engine.md):
//   OpLifecycle      an op's start, sends, delivery, failure, completion
//   OpTable          running ops, early messages, recently failed ops
//   Inbox            receiving messages and routing them to their part
//   PayloadReceiver  payloads on their way in
//   SendQueue        sends, fusion into frames, control messages
//   StallMonitor     stall warnings, deadlines, answering peers' probes
//   Liveness         peers' lives and the ops that need a lost peer
//   WindowService    serving the neighbours' window requests
// and, shared by both sides, HandleTable and OpNames.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "bluefog/core/engine.h"
#include "engine_shared.h"
#include "engine_thread.h"
#include "handle_table.h"
#include "op_names.h"

namespace bluefog {

// Set in the child of a fork() after an engine started (pthread_atfork).
inline std::atomic<bool> g_forked{false};

class Engine::Impl {
 public:
  Impl() : engine_thread_(shared_, names_) {}

  void Start(const Config& config, std::unique_ptr<Transport> transport);
  void Stop() { StopThread(""); }
  void Abort(const std::string& reason, bool consequence);
  // The engine thread does not survive fork(), and a child would share its
  // parent's MPI endpoints: refuse rather than wait for a thread that is gone.
  bool InForkedChild() const { return g_forked.load(std::memory_order_relaxed); }

  int64_t Submit(OpType type, const std::string& name, const OpFactory& make);
  bool Poll(int64_t handle);
  bool WaitFor(int64_t handle, double timeout_seconds);
  void Abandon(int64_t handle) { FindHandle(handle)->abandoned = true; }
  Status Release(int64_t handle) {
    CheckProcess("waiting for a handle");
    return handles_.Release(handle);
  }
  void SetSuspended(bool suspended);
  bool DeliverArrived(double max_wait_seconds);
  MessageCounts Counts() { return engine_thread_.Counts(); }
  WindowRegistry& windows() { return engine_thread_.windows(); }
  bool running();
  bool stopped();
  const WorldInfo& world() const { return engine_thread_.world(); }
  const Config& config() const { return engine_thread_.config(); }

 private:
  using State = EngineShared::State;

  void StopThread(const std::string& abort_reason);
  void CheckProcess(const char* what) const;
  // Under shared_.mutex.
  void CheckRunning() const;
  std::shared_ptr<HandleState> FindHandle(int64_t handle);
  // A queued op cannot start while the engine is suspended: waiting for it
  // would block until someone calls resume().
  void CheckNotSuspended(int64_t handle, const std::shared_ptr<HandleState>& state);

  EngineShared shared_;
  HandleTable handles_;
  OpNames names_;
  pid_t owner_pid_ = 0;  // the process that called Start
  std::mutex join_mutex_;
  std::thread thread_;
  EngineThread engine_thread_;
};

}  // namespace bluefog
