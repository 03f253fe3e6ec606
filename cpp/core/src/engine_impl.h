// Engine::Impl: the engine's state, wiring its parts together. The parts
// are classes of their own (see docs/design.md, "The engine's files"):
//   HandleTable      handles and waiting on them (user threads)
//   OpTable          running ops, early messages, recently failed ops
//   SendQueue        sends, fusion into frames, control messages
//   PayloadReceiver  payloads on their way in
//   StallMonitor     stall warnings, deadlines, answering peers' probes
//   Liveness         peers' lives and the ops that need a lost peer
//   WindowService    serving the neighbours' window requests
// Impl's own code is split by job:
//   engine.cc           the facade and the user threads' side: start, stop,
//                       submit, handles, suspend, DeliverArrived
//   engine_loop.cc      the engine thread: its loop, backoff, shutdown, abort
//   engine_ops.cc       the op lifecycle: start, receiving and matching
//                       messages, delivery, completion and failure
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bluefog/core/engine.h"
#include "engine_services.h"
#include "handle_table.h"
#include "liveness.h"
#include "op_table.h"
#include "payload_receiver.h"
#include "peers.h"
#include "send_queue.h"
#include "stall_monitor.h"
#include "window_service.h"

namespace bluefog {

// Set in the child of a fork() after an engine started (pthread_atfork).
inline std::atomic<bool> g_forked{false};

class Engine::Impl : public EngineServices {
 public:
  Impl();

  // ---- user threads ----
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
  MessageCounts Counts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {received_from_, mpi_messages_received_};
  }
  WindowRegistry& windows() { return windows_.registry(); }
  bool running();
  bool stopped();
  const WorldInfo& world() const { return world_; }
  const Config& config() const { return config_; }

  // ---- engine thread: EngineServices and the ops' sends ----
  void FailJob(const std::shared_ptr<Job>& job, Status status, bool notify) override;
  void MaybeComplete(const std::shared_ptr<Job>& job) override;
  std::string DescribeActivity() override;
  bool HasPosted(const std::string& key, uint64_t instance) override;
  void SendFor(const std::shared_ptr<Job>& job, int dst, const MessageHeader& header,
               const void* payload, size_t bytes);
  int rank() const { return world_.rank; }
  int size() const { return world_.size; }
  BufferPool& pool() { return pool_; }

 private:
  enum class State { kNew, kRunning, kStopped };
  class JobContext;

  // ---- user threads (engine.cc) ----
  void StopThread(const std::string& abort_reason);
  void CheckProcess(const char* what) const;
  void CheckRunning() const;
  std::shared_ptr<HandleState> FindHandle(int64_t handle);
  // A queued op cannot start while the engine is suspended: waiting for it
  // would block until someone calls resume().
  void CheckNotSuspended(int64_t handle, const std::shared_ptr<HandleState>& state);

  // ---- engine thread: loop and shutdown (engine_loop.cc) ----
  void ThreadMain();
  void Loop();
  // A pass that began after the request, received nothing and awaits no
  // window payload has applied everything that had reached this rank.
  void AnswerDeliveries(uint64_t wanted);
  // At shutdown, ops that make no progress for the stall interval are failed
  // rather than waited for forever.
  bool ShutdownStuck(Clock::time_point now, Clock::time_point last_progress);
  bool StartQueued();
  void SayGoodbye();
  void RunAbort();
  // Completes every handle with `status` (queued ops too), without telling
  // peers: used when this rank exits.
  void FailEverything(const Status& status);

  // ---- engine thread: the op lifecycle (engine_ops.cc) ----
  void StartJob(const std::shared_ptr<Job>& job);
  // Runs one of the op's steps with a context for its sends; an exception
  // fails the op (and tells its peers).
  template <typename F>
  void Guarded(const std::shared_ptr<Job>& job, F&& step, bool even_if_finished = false);
  void Deliver(const std::shared_ptr<Job>& job, Arrival& arrival);
  // Data for an op that already succeeded without it.
  void WarnUnconsumed(int src, const MessageHeader& h);
  // Tells the op's peers so they fail too instead of waiting forever.
  // Failure notices are control messages: the failed op does not wait for
  // them to be sent (its peer may have gone and never read them).
  void NotifyFailure(const std::shared_ptr<Job>& job);
  bool PollIncoming();
  // Both counters move under one lock, so a snapshot never sees half of it.
  void Count(int src, const char* data, size_t length);
  void HandleMessage(int src, const char* bytes, size_t length);
  void ReceiveForOp(const std::shared_ptr<Incoming>& incoming, const char* inline_data,
                    size_t inline_bytes);
  bool PollReceives();
  bool PollSends();
  std::string PrefixRank(const std::string& message) const {
    return "rank " + std::to_string(world_.rank) + ": " + message;
  }

  // Set by the user threads, guarded by mutex_.
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
  std::unordered_map<std::string, uint64_t> posted_;
  std::set<std::string> inflight_names_;
  HandleTable handles_;
  std::vector<uint64_t> received_from_;
  uint64_t mpi_messages_received_ = 0;
  // DeliverArrived's requests (incremented under mutex_, read lock-free by
  // the engine thread) and the last one answered.
  std::atomic<uint64_t> deliveries_wanted_{0};
  uint64_t deliveries_done_ = 0;
  uint64_t deliveries_done_relaxed_ = 0;  // engine thread's copy

  // Owned by the engine thread.
  Config config_;
  WorldInfo world_;
  std::thread thread_;
  std::unique_ptr<Transport> transport_;
  BufferPool pool_;
  std::vector<char> message_bytes_;
  bool closing_sent_ = false;
  bool aborting_ = false;
  PeerTable peers_;
  OpTable ops_;
  SendQueue sends_;
  PayloadReceiver receiver_;
  WindowService windows_;
  StallMonitor stalls_;
  Liveness liveness_;
};

// What an op sees of the engine while one of its steps runs: its sends are
// the job's.
class Engine::Impl::JobContext : public OpContext {
 public:
  JobContext(Engine::Impl& engine, const std::shared_ptr<Job>& job)
      : engine_(engine), job_(job) {}
  int rank() const override { return engine_.rank(); }
  int size() const override { return engine_.size(); }
  BufferPool& pool() override { return engine_.pool(); }
  void Send(int dst, const MessageHeader& header, const void* payload,
            size_t bytes) override {
    engine_.SendFor(job_, dst, header, payload, bytes);
  }

 private:
  Engine::Impl& engine_;
  const std::shared_ptr<Job>& job_;
};

template <typename F>
void Engine::Impl::Guarded(const std::shared_ptr<Job>& job, F&& step, bool even_if_finished) {
  if (job->op->finished() && !even_if_finished) return;
  JobContext context(*this, job);
  try {
    step(context);
  } catch (const MismatchError& e) {
    FailJob(job, Status::Mismatch(e.what()), true);
  } catch (const std::invalid_argument& e) {
    FailJob(job, Status::Invalid(e.what()), true);
  } catch (const std::exception& e) {
    FailJob(job, Status::Internal(e.what()), true);
  }
  if (job->op->finished() && !job->op->status().ok() && !job->failure_sent) {
    job->failure_sent = true;
    NotifyFailure(job);
  }
}

}  // namespace bluefog
