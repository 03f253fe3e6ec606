// Engine::Impl wires the engine's parts together and owns the state the
// user threads share with the engine thread. The parts are classes of
// their own (see docs/design.md, "The engine's files"):
//   HandleTable      handles and waiting on them (user threads)
//   OpNames          names and instances of posted ops (user threads)
//   OpLifecycle      an op's start, sends, delivery, failure, completion
//   OpTable          running ops, early messages, recently failed ops
//   Inbox            receiving messages and routing them to their part
//   PayloadReceiver  payloads on their way in
//   SendQueue        sends, fusion into frames, control messages
//   StallMonitor     stall warnings, deadlines, answering peers' probes
//   Liveness         peers' lives and the ops that need a lost peer
//   WindowService    serving the neighbours' window requests
// Impl's own code: engine.cc (the facade and the user threads' side) and
// engine_loop.cc (the engine thread: loop, backoff, shutdown, abort).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "bluefog/core/engine.h"
#include "engine_services.h"
#include "handle_table.h"
#include "inbox.h"
#include "liveness.h"
#include "op_lifecycle.h"
#include "op_names.h"
#include "op_table.h"
#include "payload_receiver.h"
#include "peers.h"
#include "send_queue.h"
#include "stall_monitor.h"
#include "window_service.h"

namespace bluefog {

// Set in the child of a fork() after an engine started (pthread_atfork).
inline std::atomic<bool> g_forked{false};

class Engine::Impl : public RankActivity {
 public:
  Impl();

  // ---- user threads (engine.cc) ----
  void Start(const Config& config, std::unique_ptr<Transport> transport);
  void Stop() { StopThread(""); }
  // Exiting on an error: tell every peer why, fail what is pending here,
  // give the peers a moment to acknowledge, and stop without MPI_Finalize
  // (which would wait for ranks that may never get there).
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
  MessageCounts Counts() { return inbox_.Counts(); }
  WindowRegistry& windows() { return windows_.registry(); }
  bool running();
  bool stopped();
  const WorldInfo& world() const { return world_; }
  const Config& config() const { return config_; }

  // ---- RankActivity (engine thread) ----
  std::string DescribeActivity() override;
  bool HasPosted(const std::string& key, uint64_t instance) override;

 private:
  enum class State { kNew, kRunning, kStopped };

  // ---- user threads (engine.cc) ----
  void StopThread(const std::string& abort_reason);
  void CheckProcess(const char* what) const;
  void CheckRunning() const;
  std::shared_ptr<HandleState> FindHandle(int64_t handle);
  // A queued op cannot start while the engine is suspended: waiting for it
  // would block until someone calls resume().
  void CheckNotSuspended(int64_t handle, const std::shared_ptr<HandleState>& state);

  // ---- engine thread (engine_loop.cc) ----
  void ThreadMain();
  void Loop();
  // A pass that began after the request, received nothing and awaits no
  // window payload has applied everything that had reached this rank.
  void AnswerDeliveries(uint64_t wanted);
  // At shutdown, ops that make no progress for the stall interval are failed
  // rather than waited for forever.
  bool ShutdownStuck(Clock::time_point now, Clock::time_point last_progress);
  bool StartQueued();
  bool PollSends();
  void SayGoodbye();
  void RunAbort();
  // Completes every handle with `status` (queued ops too), without telling
  // peers: used when this rank exits.
  void FailEverything(const Status& status);

  // Shared with the user threads, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable cv_;
  State state_ = State::kNew;
  bool init_done_ = false;
  Status init_status_;
  bool stop_requested_ = false;
  bool stop_requested_relaxed_ = false;  // engine thread's copy, read unlocked
  std::atomic<bool> suspended_{false};  // written under mutex_; read lock-free by waiters
  pid_t owner_pid_ = 0;  // the process that called Start
  std::string abort_reason_;
  bool abort_is_consequence_ = false;
  // The engine thread's lock-free view of stop_requested_ and of an abort.
  std::atomic<bool> stop_flag_{false};
  std::atomic<bool> abort_flag_{false};
  std::mutex join_mutex_;
  std::deque<std::shared_ptr<Job>> queue_;
  // DeliverArrived's requests (incremented under mutex_, read lock-free by
  // the engine thread) and the last one answered.
  std::atomic<uint64_t> deliveries_wanted_{0};
  uint64_t deliveries_done_ = 0;
  uint64_t deliveries_done_relaxed_ = 0;  // engine thread's copy
  // Thread-safe themselves.
  HandleTable handles_;
  OpNames names_;

  // Owned by the engine thread.
  Config config_;
  WorldInfo world_;
  std::thread thread_;
  std::unique_ptr<Transport> transport_;
  BufferPool pool_;
  bool closing_sent_ = false;
  PeerTable peers_;
  OpTable ops_;
  SendQueue sends_;
  PayloadReceiver receiver_;
  WindowService windows_;
  StallMonitor stalls_;
  Liveness liveness_;
  OpLifecycle lifecycle_;
  Inbox inbox_;
};

}  // namespace bluefog
