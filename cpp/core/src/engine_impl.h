// Engine::Impl: the engine's state and the declarations of its parts. Each
// part is defined in a file of its own:
//   engine.cc           the facade and the user threads' side: start, stop,
//                       submit, handles, suspend, DeliverArrived
//   engine_loop.cc      the engine thread: its loop, backoff, shutdown
//   engine_ops.cc       the op lifecycle: start, matching arrivals to ops
//                       (and keeping early ones), delivery, completion,
//                       failure and the failed-op memory
//   engine_transfer.cc  sends (inline or tagged, fused frames), receives,
//                       request polling, control messages
//   engine_liveness.cc  peers' lifecycle notices, lost and departed peers,
//                       abort, failing everything
//   engine_stalls.cc    stall warnings, deadlines and the probes behind them
//   engine_windows.cc   serving the neighbours' window requests
#pragma once

#include "engine_types.h"

namespace bluefog {

class Engine::Impl : public OpContext {
 public:
  // ---- user-thread API ----
  void Start(const Config& config, std::unique_ptr<Transport> transport);

  void Stop() { StopThread(""); }

  // Exiting on an error: tell every peer why, fail what is pending here,
  // give the peers a moment to acknowledge, and stop without MPI_Finalize
  // (which would wait for ranks that may never get there).
  void Abort(const std::string& reason, bool consequence);

  void StopThread(const std::string& abort_reason);

  // The engine thread does not survive fork(), and a child would share its
  // parent's MPI endpoints: refuse rather than wait for a thread that is gone.
  bool InForkedChild() const { return g_forked.load(std::memory_order_relaxed); }
  void CheckProcess(const char* what) const;

  int64_t Submit(OpType type, const std::string& name, const OpFactory& make);

  std::shared_ptr<HandleState> FindHandle(int64_t handle);

  bool Poll(int64_t handle) {
    auto state = FindHandle(handle);
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->done;
  }

  bool WaitFor(int64_t handle, double timeout_seconds);

  void Abandon(int64_t handle) { FindHandle(handle)->abandoned = true; }

  Status Release(int64_t handle);

  // A queued op cannot start while the engine is suspended: waiting for it
  // would block until someone calls resume().
  void CheckNotSuspended(int64_t handle, const std::shared_ptr<HandleState>& state);

  void SetSuspended(bool suspended);

  WindowRegistry& windows() { return windows_; }

  bool DeliverArrived(double max_wait_seconds);

  MessageCounts Counts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {received_from_, mpi_messages_received_};
  }

  bool running() {
    std::lock_guard<std::mutex> lock(mutex_);
    return state_ == State::kRunning;
  }
  bool stopped() {
    std::lock_guard<std::mutex> lock(mutex_);
    return state_ == State::kStopped;
  }
  const WorldInfo& world() const { return world_; }
  const Config& config() const { return config_; }

  // ---- OpContext (engine thread) ----
  int rank() const override { return world_.rank; }
  int size() const override { return world_.size; }
  BufferPool& pool() override { return pool_; }

  void Send(int dst, const MessageHeader& header, const void* payload,
            size_t bytes) override;

 private:
  enum class State { kNew, kRunning, kStopped };

  void CheckRunning() const;

  void AddSend(int dst, Transport::RequestId request, int32_t step,
               bool carries_payload, std::unique_ptr<std::vector<char>> bytes) {
    current_->op->pending_sends++;
    sends_.push_back({request, dst, {{current_, step, carries_payload}}, std::move(bytes)});
  }

  // Sends the queued small messages, fusing those to the same destination
  // into frames of at most BLUEFOG_FUSION_THRESHOLD bytes.
  bool FlushOutbox();

  // ---- engine thread ----
  void ThreadMain();

  void Loop();

  // A window write whose header has arrived but whose payload has not.
  bool WindowDataInFlight() const {
    for (const auto& receive : receives_)
      if (receive.incoming->window_request) return true;
    return false;
  }

  // A pass that began after the request, received nothing and awaits no
  // window payload has applied everything that had reached this rank.
  void AnswerDeliveries(uint64_t wanted);

  // At shutdown, ops that make no progress for the stall interval are failed
  // rather than waited for forever.
  bool ShutdownStuck(Clock::time_point now, Clock::time_point last_progress);

  bool StartQueued();

  void StartJob(const std::shared_ptr<Job>& job);

  template <typename F>
  void Guarded(const std::shared_ptr<Job>& job, F&& f, bool even_if_finished = false) {
    if (job->op->finished() && !even_if_finished) return;
    current_ = job;
    try {
      f();
    } catch (const MismatchError& e) {
      FailJob(job, Status::Mismatch(e.what()), true);
    } catch (const std::invalid_argument& e) {
      FailJob(job, Status::Invalid(e.what()), true);
    } catch (const std::exception& e) {
      FailJob(job, Status::Internal(e.what()), true);
    }
    current_ = nullptr;
    if (job->op->finished() && !job->op->status().ok() && !job->failure_sent) {
      job->failure_sent = true;
      NotifyFailure(job);
    }
  }

  // Data for an op that already succeeded without it.
  void WarnUnconsumed(int src, const MessageHeader& h);

  void Deliver(const std::shared_ptr<Job>& job, Arrival& arrival);

  void FailJob(const std::shared_ptr<Job>& job, Status status, bool notify);

  // Tells the op's peers so they fail too instead of waiting forever.
  void NotifyFailure(const std::shared_ptr<Job>& job) {
    RemoveActive(job);
    SendNotices(*job);
  }

  // Failure notices are control messages: the failed op does not wait for
  // them to be sent (its peer may have gone and never read them).
  void SendNotices(const Job& job);

  std::string PrefixRank(const std::string& message) const {
    return "rank " + std::to_string(world_.rank) + ": " + message;
  }

  // Failed ops, so that their peers' late messages are dropped quietly.
  void RememberFailure(const OpIdentity& id);

  void RemoveActive(const std::shared_ptr<Job>& job);

  void MaybeComplete(const std::shared_ptr<Job>& job);

  bool PollIncoming();

  // Both counters move under one lock, so a snapshot never sees half of it.
  void Count(int src, const char* data, size_t length);

  void HandleMessage(int src, const char* bytes, size_t length);

  bool PollReceives();

  bool PollSends();

  // ---- liveness: dead processes, lifecycle notices, stalls, deadlines ----
  static bool IsLifecycle(MessageKind kind) {
    return kind == MessageKind::kClosing || kind == MessageKind::kGone ||
           kind == MessageKind::kAbort || kind == MessageKind::kAbortAck;
  }

  void CheckPeers();

  // Same-host peers only: pid liveness says nothing across machines.
  // A rank that said goodbye may exit whenever it likes.
  void CheckAlive(int r);

  void OnLifecycle(int src, const MessageHeader& h);

  std::vector<std::shared_ptr<Job>> ActiveJobs() const {
    std::vector<std::shared_ptr<Job>> jobs;
    for (auto& entry : active_) jobs.push_back(entry.second);
    return jobs;
  }

  static bool Contains(const std::vector<int>& ranks, int r) {
    return std::find(ranks.begin(), ranks.end(), r) != ranks.end();
  }

  // A failed or dead rank: nothing more comes from it, and nothing sent to
  // it will be read. Every op that needs it fails, now and later.
  void PeerLost(int r);

  // Sends to `r` that will never be read: their ops fail (if they have not
  // already) and stop waiting for them.
  void AbandonSendsTo(int r);

  // The unreachable rank an error about `ranks` should name: peers that left
  // may have left because another one died or failed, so a dead or failed
  // rank comes first, then the one that left first.
  int CulpritAmong(const std::vector<int>& ranks);

  Status LostStatus(int r, const Op& op) const {
    return Status::PeerFailure(peers_.Why(r) + "; " + op.Describe() + " cannot complete");
  }

  // Ranks that shut down normally finished all their ops first, and their
  // last messages arrived before their goodbye. So an op still waiting for
  // such a rank's message (not for a payload already on its way) waits for
  // an op that rank never posted; and a send to it that is still pending
  // shortly after its goodbye will never be read.
  void CheckDeparted(Clock::time_point now);

  void CheckDeparted(const std::shared_ptr<Job>& job);

  bool PayloadOnItsWay(const std::shared_ptr<Job>& job, int src) const;

  // A window mutex held or awaited by a rank that is gone stays taken
  // otherwise.
  void ReleaseWindowsOf(int r);

  void TellPeer(int dst, MessageKind kind, const std::string& text,
                bool even_if_unreachable = false, uint8_t flags = 0);

  void TellPeers(MessageKind kind, const std::string& text, uint8_t flags = 0) {
    for (int r = 0; r < world_.size; ++r) TellPeer(r, kind, text, false, flags);
  }

  // Polls until the control messages went out (they are small, so MPI sends
  // them eagerly) or `limit` passed.
  void DrainControlSends(Clock::duration limit);

  void SayGoodbye() {
    TellPeers(MessageKind::kGone, "");
    DrainControlSends(std::chrono::seconds(1));
  }

  void RunAbort();

  // Completes every handle with `status` (queued ops too), without telling
  // peers: used when this rank exits.
  void FailEverything(const Status& status);

  void CheckStalls(Clock::time_point now);

  // The ranks to ask about an op that waits: those it waits for, else all
  // of its peers (it may wait for a send to complete).
  std::vector<int> ProbeTargets(const Op& op) const;

  void FailAtDeadline(StallProbe& probe);

  static std::string DisplayName(const MessageHeader& h);

  void SendProbes(const std::shared_ptr<Job>& job, const std::vector<int>& ranks,
                  bool report_stall = false, bool for_deadline = false);

  // Control messages are not tied to an op's completion.
  void SendControl(int dst, std::vector<char> bytes);

  // Takes the entries of `list` whose request completed out of it and hands
  // each to on_done(entry, error) (error empty on success); returns whether
  // any did. on_done may add entries to the list.
  template <typename List, typename RequestOf, typename OnDone>
  bool TakeCompleted(List* list, RequestOf request_of, OnDone on_done) {
    bool any = false;
    for (size_t i = 0; i < list->size();) {
      std::string error;
      if (!transport_->Test(request_of((*list)[i]), &error)) {
        ++i;
        continue;
      }
      any = true;
      auto done = std::move((*list)[i]);
      if (i + 1 != list->size()) (*list)[i] = std::move(list->back());
      list->pop_back();
      on_done(done, error);
    }
    return any;
  }

  // Forgets the requests of `list` that completed (nothing waits on them).
  template <typename List, typename RequestOf>
  void DropCompleted(List* list, RequestOf request_of) {
    TakeCompleted(list, request_of, [](const auto&, const std::string&) {});
  }

  void PollControlSends() {
    DropCompleted(&control_sends_, [](const auto& c) { return c.first; });
  }

  // ---- windows: requests from peers' window ops ----
  void ReceiveWindowRequest(const std::shared_ptr<Incoming>& incoming, const char* inline_data,
                            size_t inline_bytes);

  void ServeWindowRequest(Arrival& a);

  // The neighbours' requests that arrived while the owner held win_lock, in
  // arrival order, unless the window is still (or again) held exclusively.
  void ServeDeferred(Window& window);

  // An engine-originated message (not part of a local op), with payload.
  void SendReply(int dst, MessageHeader h, const void* payload, size_t bytes);

  // What this rank is doing, for a peer's stall report or deadline.
  std::string DescribeActivity();

  bool HasPosted(const std::string& key, uint64_t instance);

  void AnswerProbe(int src, const MessageHeader& probe);

  void TakeProbeReply(int src, const MessageHeader& reply);

  void ReportStall(const StallProbe& probe);

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
  std::unordered_map<int64_t, std::shared_ptr<HandleState>> handles_;
  int64_t next_handle_ = 1;
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
  PeerTable peers_;
  bool closing_sent_ = false;
  bool aborting_ = false;
  std::set<int> awaiting_acks_;
  std::unordered_map<OpKey, std::shared_ptr<Job>, OpKeyHash> active_;
  std::unordered_map<std::string, uint64_t> started_;
  std::unordered_map<OpKey, std::vector<std::shared_ptr<Incoming>>, OpKeyHash>
      unexpected_;
  std::unordered_map<OpKey, StallProbe, OpKeyHash> probes_;
  std::unordered_set<OpKey, OpKeyHash> failed_;
  std::deque<OpKey> failed_order_;
  std::vector<PendingSend> sends_;
  std::unordered_map<int, std::vector<QueuedMessage>> outbox_;
  std::vector<PendingReceive> receives_;
  std::vector<PendingReceive> orphaned_receives_;  // from lost peers, not awaited
  std::vector<std::pair<Transport::RequestId, std::unique_ptr<std::vector<char>>>>
      control_sends_;
  WindowRegistry windows_;
  std::map<std::string, std::deque<Arrival>> deferred_;  // window name -> requests
  std::shared_ptr<Job> current_;
};

}  // namespace bluefog
