#include "bluefog/core/engine.h"

#include <pthread.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "bluefog/core/logging.h"
#include "bluefog/core/tensor.h"
#include "bluefog/core/mpi_transport.h"
#include "bluefog/core/transport.h"
#include "bluefog/core/window.h"
#include "peers.h"

namespace bluefog {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kInlineLimit = 16 * 1024;
// How long the engine keeps polling (yielding the core between polls) after
// its last progress before it starts sleeping: longer while ops are pending.
constexpr auto kBusySpinWindow = std::chrono::microseconds(2000);
constexpr auto kIdleSpinWindow = std::chrono::microseconds(100);
constexpr auto kCheckPeriod = std::chrono::milliseconds(100);
constexpr int kWaitSpins = 50;
// How long a deadline waits for the peers' answers on what they are doing.
constexpr auto kDeadlineProbeWait = std::chrono::seconds(2);
// A rank exiting on an error waits this long at most for its peers to
// acknowledge, then this long more so that their scripts can report the
// error before the launcher kills them.
constexpr auto kAbortAckWait = std::chrono::seconds(2);
constexpr auto kAbortGrace = std::chrono::milliseconds(300);
// A send to a rank that has shut down that has not completed this long after
// its goodbye never will.
constexpr auto kGoneSendGrace = std::chrono::seconds(1);

struct HandleState {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  Status status;
  // Its waiter was interrupted (Ctrl-C): shutdown need not wait for it.
  std::atomic<bool> abandoned{false};
};

struct Job {
  std::shared_ptr<Op> op;
  std::shared_ptr<HandleState> handle;
  bool failure_sent = false;  // peers were told this op failed
  bool completed = false;     // the waiter was woken
  // Ranks whose data reached the op: told of its failure even when the op
  // does not count them as participants (they sent to a rank that did not
  // expect them, or ran it over another group).
  std::vector<int> senders;
  // The op's deadline counts from here: its start, its last message or
  // completed send.
  std::chrono::steady_clock::time_point last_progress;
};

struct OpKey {
  std::string key;
  uint64_t instance;
  bool operator==(const OpKey& o) const {
    return instance == o.instance && key == o.key;
  }
};

struct OpKeyHash {
  size_t operator()(const OpKey& k) const {
    return std::hash<std::string>()(k.key) ^ (k.instance * 0x9E3779B97F4A7C15ull);
  }
};

// A message whose header arrived; its payload may still be in transit.
struct Incoming {
  Arrival arrival;
  bool complete = false;
  std::weak_ptr<Job> target;  // op to deliver to once complete, if any
  bool window_request = false;  // served by this engine once complete
  std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
  bool reported = false;      // a stall warning named it already
};

// One message of an op; several may share one MPI send (a fused frame).
struct SendPart {
  std::shared_ptr<Job> job;
  int32_t step;
  bool carries_payload;
};

struct PendingSend {
  Transport::RequestId request;
  int dst;
  std::vector<SendPart> parts;
  std::unique_ptr<std::vector<char>> bytes;  // what MPI reads, when engine-owned
};

// A small message waiting for the end of the engine iteration, when messages
// to the same destination are fused into frames.
struct QueuedMessage {
  std::vector<char> bytes;
  SendPart part;
};

struct PendingReceive {
  Transport::RequestId request;
  std::shared_ptr<Incoming> incoming;
};

// Asking peers whether they posted an op, and what they are doing: for a
// stall warning, at a deadline, or when a peer starts shutting down.
struct StallProbe {
  struct Answer {
    int rank;
    bool posted;
    std::string doing;
  };
  std::shared_ptr<Job> job;
  std::set<int> awaiting;
  std::vector<Answer> answers;
  bool report_stall = false;  // log what the answers say
  bool for_deadline = false;  // fail the op with the answers
  std::chrono::steady_clock::time_point sent;
};

bool ProcessAlive(int pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no procfs: trust kill()
  size_t paren = line.rfind(')');
  return !(paren != std::string::npos && paren + 2 < line.size() &&
           (line[paren + 2] == 'Z' || line[paren + 2] == 'X'));
}

std::string RankList(const std::vector<int>& ranks) { return ListString(ranks); }

// Set in the child of a fork() after an engine started (pthread_atfork).
std::atomic<bool> g_forked{false};

}  // namespace

class Engine::Impl : public OpContext {
 public:
  // ---- user-thread API ----
  void Start(const Config& config, std::unique_ptr<Transport> transport) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (state_ == State::kRunning) return;
    if (state_ == State::kStopped)
      throw Error(
          "bluefog cannot be initialised again after shutdown() in the same "
          "process (MPI cannot be restarted)");
    config_ = config;
    transport_ = transport ? std::move(transport) : std::make_unique<MpiTransport>();
    owner_pid_ = getpid();
    static std::once_flag at_fork;
    std::call_once(at_fork, [] { pthread_atfork(nullptr, nullptr, [] { g_forked = true; }); });
    SetLogLevel(config.log_level);
    SetLogHideTime(config.log_hide_time);
    init_done_ = false;
    thread_ = std::thread([this] { ThreadMain(); });
    cv_.wait(lock, [this] { return init_done_; });
    if (!init_status_.ok()) {
      lock.unlock();
      thread_.join();
      lock.lock();
      state_ = State::kNew;
      init_status_.ThrowIfError();
    }
    state_ = State::kRunning;
  }

  void Stop() { StopThread(""); }

  // Exiting on an error: tell every peer why, fail what is pending here,
  // give the peers a moment to acknowledge, and stop without MPI_Finalize
  // (which would wait for ranks that may never get there).
  void Abort(const std::string& reason, bool consequence) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      abort_is_consequence_ = consequence;
    }
    StopThread(reason.empty() ? "aborted" : reason);
  }

  void StopThread(const std::string& abort_reason) {
    // A forked child has no engine thread and shares the parent's MPI: it
    // leaves both to the parent (its exit handlers call shutdown too).
    if (InForkedChild()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (state_ != State::kRunning) return;
      if (!abort_reason.empty()) {
        abort_reason_ = abort_reason;
        abort_flag_ = true;
      }
      if (stop_requested_ && abort_reason.empty()) {
        // Another thread is stopping it already; wait for that.
      } else {
        stop_requested_ = true;
        stop_flag_ = true;
        suspended_ = false;
      }
    }
    cv_.notify_all();
    std::lock_guard<std::mutex> join(join_mutex_);
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    state_ = State::kStopped;
  }

  // The engine thread does not survive fork(), and a child would share its
  // parent's MPI endpoints: refuse rather than wait for a thread that is gone.
  bool InForkedChild() const { return g_forked.load(std::memory_order_relaxed); }
  void CheckProcess(const char* what) const {
    if (InForkedChild())
      throw Error(std::string(what) + ": bluefog was initialized in process " +
                  std::to_string(owner_pid_) + "; this process (pid " +
                  std::to_string(getpid()) +
                  ") is a fork of it, which cannot use bluefog (its engine thread "
                  "and MPI stay with the parent)");
  }

  int64_t Submit(OpType type, const std::string& name, const OpFactory& make) {
    CheckProcess(OpTypeName(type));
    std::unique_ptr<Op> op;
    int64_t handle;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      CheckRunning();
      if (stop_requested_)
        throw Error(std::string(OpTypeName(type)) +
                    ": bluefog is shutting down on this rank; no new ops are accepted");
      OpIdentity id;
      id.type = type;
      id.key = name.empty() ? std::string(1, kUnnamedKeyPrefix) + OpTypeName(type) : name;
      if (!name.empty() && inflight_names_.count(name))
        throw InvalidArgument(std::string(OpTypeName(type)) + ": tensor name '" +
                              name + "' is already in use by an op in flight on rank " +
                              std::to_string(world_.rank) +
                              "; wait for it or choose another name");
      id.instance = posted_[id.key];
      id.display_name = name.empty() ? std::string(OpTypeName(type)) +
                                           ".noname." + std::to_string(id.instance)
                                     : name;
      op = make(id);  // may throw for bad arguments; nothing is recorded then
      posted_[id.key]++;
      if (!name.empty()) inflight_names_.insert(name);
      handle = next_handle_++;
      auto job = std::make_shared<Job>();
      job->op = std::shared_ptr<Op>(std::move(op));
      job->handle = std::make_shared<HandleState>();
      handles_[handle] = job->handle;
      queue_.push_back(std::move(job));
    }
    cv_.notify_all();
    return handle;
  }

  std::shared_ptr<HandleState> FindHandle(int64_t handle) {
    CheckProcess("waiting for a handle");
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = handles_.find(handle);
    if (it == handles_.end())
      throw InvalidArgument("unknown handle " + std::to_string(handle) +
                            " (already synchronized, or never issued)");
    return it->second;
  }

  bool Poll(int64_t handle) {
    auto state = FindHandle(handle);
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->done;
  }

  bool WaitFor(int64_t handle, double timeout_seconds) {
    auto state = FindHandle(handle);
    CheckNotSuspended(handle, state);
    state->abandoned = false;
    // Most ops finish within microseconds: look a few times before paying
    // for a sleep and a wake-up.
    for (int i = 0; i < kWaitSpins; ++i) {
      {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (state->done) return true;
      }
      std::this_thread::yield();
    }
    std::unique_lock<std::mutex> lock(state->mutex);
    return state->cv.wait_for(
        lock, std::chrono::duration<double>(timeout_seconds),
        [&] { return state->done; });
  }

  void Abandon(int64_t handle) { FindHandle(handle)->abandoned = true; }

  Status Release(int64_t handle) {
    auto state = FindHandle(handle);
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      if (!state->done)
        throw InvalidArgument("handle " + std::to_string(handle) +
                              " is not finished yet");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    handles_.erase(handle);
    return state->status;
  }

  // A queued op cannot start while the engine is suspended: waiting for it
  // would block until someone calls resume().
  void CheckNotSuspended(int64_t handle, const std::shared_ptr<HandleState>& state) {
    if (!suspended_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!suspended_) return;
    for (const auto& job : queue_)
      if (job->handle == state)
        throw Error(job->op->Describe() + " (handle " + std::to_string(handle) +
                    ") cannot start: bluefog is suspended on this rank (bf.suspend()); it "
                    "stays queued and starts at bf.resume(): wait for it after that");
  }

  void SetSuspended(bool suspended) {
    CheckProcess(suspended ? "suspend" : "resume");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      CheckRunning();
      suspended_ = suspended;
    }
    cv_.notify_all();
  }

  WindowRegistry& windows() { return windows_; }

  bool DeliverArrived(double max_wait_seconds) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (state_ != State::kRunning || InForkedChild()) return false;
    uint64_t ticket = ++deliveries_wanted_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::duration<double>(max_wait_seconds),
                 [&] { return deliveries_done_ >= ticket || state_ != State::kRunning; });
    return deliveries_done_ >= ticket;
  }

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
            size_t bytes) override {
    // Window requests may target this rank's own window (its mutex).
    bool to_self_ok = header.kind == MessageKind::kWindow;
    if ((dst == world_.rank && !to_self_ok) || dst < 0 || dst >= world_.size)
      throw Error("internal error: op sends to invalid rank " +
                  std::to_string(dst));
    if (!peers_.reachable(dst)) return;  // the op fails through its participants
    auto bytes_out = std::make_unique<std::vector<char>>();
    MessageHeader h = header;
    h.payload_bytes = bytes;
    if (bytes <= kInlineLimit) {
      h.payload_tag = 0;
      QueuedMessage queued;
      EncodeMessage(h, payload, bytes, &queued.bytes);
      queued.part = {current_, h.step, true};
      current_->op->pending_sends++;
      outbox_[dst].push_back(std::move(queued));
    } else {
      h.payload_tag = transport_->ReservePayloadTag(dst, bytes);
      EncodeMessage(h, nullptr, 0, bytes_out.get());
      auto request = transport_->SendHeader(dst, *bytes_out);
      AddSend(dst, request, h.step, false, std::move(bytes_out));
      AddSend(dst, transport_->SendPayload(dst, h.payload_tag, payload, bytes),
              h.step, true, nullptr);
    }
  }

 private:
  enum class State { kNew, kRunning, kStopped };

  void CheckRunning() const {
    if (state_ == State::kStopped)
      throw Error("bluefog has been shut down; ops are no longer accepted");
    if (state_ != State::kRunning)
      throw InvalidArgument("bluefog is not initialized; call bf.init() first");
  }

  void AddSend(int dst, Transport::RequestId request, int32_t step,
               bool carries_payload, std::unique_ptr<std::vector<char>> bytes) {
    current_->op->pending_sends++;
    sends_.push_back({request, dst, {{current_, step, carries_payload}}, std::move(bytes)});
  }

  // Sends the queued small messages, fusing those to the same destination
  // into frames of at most BLUEFOG_FUSION_THRESHOLD bytes.
  bool FlushOutbox() {
    if (outbox_.empty()) return false;
    const size_t limit = static_cast<size_t>(config_.fusion_threshold_bytes);
    for (auto& entry : outbox_) {
      int dst = entry.first;
      auto& queue = entry.second;
      for (size_t begin = 0; begin < queue.size();) {
        size_t end = begin + 1;
        size_t frame_bytes = queue[begin].bytes.size() + 8;
        while (end < queue.size() && frame_bytes + queue[end].bytes.size() + 4 <= limit) {
          frame_bytes += queue[end].bytes.size() + 4;
          ++end;
        }
        auto bytes = std::make_unique<std::vector<char>>();
        std::vector<SendPart> parts;
        if (end - begin == 1) {
          *bytes = std::move(queue[begin].bytes);
        } else {
          std::vector<const std::vector<char>*> messages;
          for (size_t i = begin; i < end; ++i) messages.push_back(&queue[i].bytes);
          EncodeFrame(messages, bytes.get());
        }
        for (size_t i = begin; i < end; ++i) parts.push_back(std::move(queue[i].part));
        auto request = transport_->SendHeader(dst, *bytes);
        sends_.push_back({request, dst, std::move(parts), std::move(bytes)});
        begin = end;
      }
    }
    outbox_.clear();
    return true;
  }

  // ---- engine thread ----
  void ThreadMain() {
    Status status;
    try {
      status = transport_->Init(config_, &world_);
    } catch (const std::exception& e) {
      status = Status::Failure(e.what());
    }
    if (status.ok()) {
      SetLogRank(world_.rank);
      peers_.Reset(transport_->pids(), transport_->hosts());
      received_from_.assign(world_.size, 0);
      BF_LOG(kInfo) << "initialised: rank " << world_.rank << " of " << world_.size
                    << ", local rank " << world_.local_rank << " of "
                    << world_.local_size << ", MPI_THREAD_MULTIPLE "
                    << (world_.mpi_threads_supported ? "yes" : "no");
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      init_status_ = status;
      init_done_ = true;
    }
    cv_.notify_all();
    if (!status.ok()) return;
    Loop();
    if (abort_flag_) {
      RunAbort();
      return;  // no MPI_Finalize: it would wait for every other rank
    }
    SayGoodbye();
    for (int r = 0; r < world_.size; ++r)
      if (r != world_.rank) CheckAlive(r);
    if (!peers_.any_lost()) {
      transport_->Finalize();
    } else {
      BF_LOG(kWarning) << "skipping MPI_Finalize because a peer failed or died";
    }
  }

  void Loop() {
    auto last_progress = Clock::now();
    auto last_check = last_progress;
    auto backoff = std::chrono::microseconds(10);
    const auto max_sleep = std::chrono::microseconds(
        std::max<int64_t>(10, static_cast<int64_t>(config_.cycle_time_ms * 1000)));
    while (true) {
      if (abort_flag_) return;
      if (stop_flag_ && !closing_sent_) {
        closing_sent_ = true;
        TellPeers(MessageKind::kClosing, "");
      }
      uint64_t wanted = deliveries_wanted_.load();
      bool progressed = StartQueued();
      bool received = PollIncoming();
      received |= PollReceives();
      progressed |= received;
      progressed |= PollSends();
      progressed |= FlushOutbox();
      if (!received && wanted > deliveries_done_relaxed_ && !WindowDataInFlight())
        AnswerDeliveries(wanted);
      auto now = Clock::now();
      if (now - last_check >= kCheckPeriod) {
        last_check = now;
        CheckPeers();
        CheckDeparted(now);
        CheckStalls(now);
        if (ShutdownStuck(now, last_progress)) break;
      }
      if (progressed) {
        last_progress = now;
        backoff = std::chrono::microseconds(10);
        continue;
      }
      bool busy = !active_.empty() || !sends_.empty() || !receives_.empty() ||
                  !outbox_.empty();
      auto spin_window = busy ? kBusySpinWindow : kIdleSpinWindow;
      if (now - last_progress < spin_window && !stop_requested_relaxed_) {
        // Ops come in bursts: stay awake briefly after progress, even when
        // idle, so the next op needs no wake-up. Yield rather than burn:
        // with more ranks than cores the peer we wait for may need this core.
        std::this_thread::yield();
        continue;
      }
      {
        std::unique_lock<std::mutex> lock(mutex_);
        stop_requested_relaxed_ = stop_requested_;
        if (stop_requested_ && queue_.empty() && !busy) break;
        // Idle engines back off too: a neighbour's window put often comes
        // soon after the last message, and its sender waits for the reply.
        auto sleep = std::min<std::chrono::microseconds>(backoff, max_sleep);
        cv_.wait_for(lock, sleep, [&] {
          return (!queue_.empty() && !suspended_) || stop_requested_ ||
                 deliveries_wanted_.load() > deliveries_done_;
        });
      }
      backoff = std::min<std::chrono::microseconds>(backoff * 2, max_sleep);
    }
  }

  // A window write whose header has arrived but whose payload has not.
  bool WindowDataInFlight() const {
    for (const auto& receive : receives_)
      if (receive.incoming->window_request) return true;
    return false;
  }

  // A pass that began after the request, received nothing and awaits no
  // window payload has applied everything that had reached this rank.
  void AnswerDeliveries(uint64_t wanted) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      deliveries_done_ = wanted;
    }
    deliveries_done_relaxed_ = wanted;
    cv_.notify_all();
  }

  // At shutdown, ops that make no progress for the stall interval are failed
  // rather than waited for forever.
  bool ShutdownStuck(Clock::time_point now, Clock::time_point last_progress) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!stop_requested_) return false;
    }
    std::vector<std::shared_ptr<Job>> stuck;
    for (auto& entry : active_) stuck.push_back(entry.second);
    for (auto& send : sends_)
      for (auto& part : send.parts) stuck.push_back(part.job);
    bool all_abandoned = !stuck.empty() &&
        std::all_of(stuck.begin(), stuck.end(),
                    [](const std::shared_ptr<Job>& job) { return job->handle->abandoned.load(); });
    auto limit = std::chrono::duration<double>(config_.stall_warning_seconds);
    if (now - last_progress < limit && !all_abandoned) return false;
    for (auto& send : sends_) transport_->Abandon(send.request);
    for (auto& receive : receives_) transport_->Abandon(receive.request);
    sends_.clear();
    receives_.clear();
    outbox_.clear();
    for (auto& job : stuck) {
      job->op->pending_sends = 0;
      job->op->Fail(Status::Failure(
          "bluefog shut down while " + job->op->Describe() +
          " was still waiting for ranks " + RankList(job->op->WaitingOn())));
      if (!job->failure_sent) {
        job->failure_sent = true;
        SendNotices(*job);
      }
      MaybeComplete(job);
    }
    if (all_abandoned) {
      BF_LOG(kWarning) << "shutdown gave up on " << stuck.size()
                       << " pending op(s) whose waits were interrupted";
    } else {
      BF_LOG(kError) << "shutdown gave up on " << stuck.size()
                     << " pending op(s) after waiting "
                     << config_.stall_warning_seconds << " s without progress";
    }
    return true;
  }

  bool StartQueued() {
    std::deque<std::shared_ptr<Job>> starting;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (suspended_ || queue_.empty()) return false;
      starting.swap(queue_);
    }
    for (auto& job : starting) StartJob(job);
    return true;
  }

  void StartJob(const std::shared_ptr<Job>& job) {
    Op& op = *job->op;
    const OpIdentity& id = op.id();
    op.start_time = Clock::now();
    op.last_stall_report = op.start_time;
    job->last_progress = op.start_time;
    uint64_t& started = started_[id.key];
    started = std::max(started, id.instance + 1);
    OpKey key{id.key, id.instance};
    active_[key] = job;
    BF_LOG(kDebug) << "start " << op.Describe() << " instance " << id.instance;
    // A rank that left normally may have done its part before it left (its
    // messages wait below); one that failed or died has not.
    std::vector<int> closing;
    bool any_lost = false;
    for (int r : op.Participants()) {
      if (r < 0 || r >= world_.size || r == world_.rank) continue;
      any_lost |= peers_.lost(r);
      if (peers_.state(r) == PeerTable::State::kClosing) closing.push_back(r);
    }
    if (any_lost) FailJob(job, LostStatus(CulpritAmong(op.Participants()), op), true);
    Guarded(job, [&] { op.Start(*this); });
    // A rank in shutdown runs only what it posted before: ask.
    if (!closing.empty() && !op.finished()) SendProbes(job, closing);
    // Deliver what arrived before the op was posted.
    auto parked = unexpected_.find(key);
    if (parked != unexpected_.end()) {
      auto list = std::move(parked->second);
      unexpected_.erase(parked);
      for (auto& incoming : list) {
        if (incoming->complete) {
          Deliver(job, incoming->arrival);
        } else {
          incoming->target = job;
        }
      }
    }
    if (!op.finished()) CheckDeparted(job);
    MaybeComplete(job);
  }

  template <typename F>
  void Guarded(const std::shared_ptr<Job>& job, F&& f, bool even_if_finished = false) {
    if (job->op->finished() && !even_if_finished) return;
    current_ = job;
    try {
      f();
    } catch (const std::invalid_argument& e) {
      FailJob(job, Status::Invalid(e.what()), true);
    } catch (const std::exception& e) {
      FailJob(job, Status::Failure(e.what()), true);
    }
    current_ = nullptr;
    if (job->op->finished() && !job->op->status().ok() && !job->failure_sent) {
      job->failure_sent = true;
      NotifyFailure(job);
    }
  }

  // Data for an op that already succeeded without it.
  void WarnUnconsumed(int src, const MessageHeader& h) {
    BF_LOG(kWarning) << "rank " << src << " sent data for " << OpTypeName(h.op) << " '"
                     << DisplayName(h) << "' that this rank's op completed without: the "
                     << "sender's destinations and this rank's sources disagree";
  }

  void Deliver(const std::shared_ptr<Job>& job, Arrival& arrival) {
    if (job->op->finished()) {
      if (job->op->status().ok() && arrival.header.kind == MessageKind::kData)
        WarnUnconsumed(arrival.src, arrival.header);
      return;
    }
    job->last_progress = Clock::now();
    if (arrival.header.kind == MessageKind::kError) {
      std::string text = "peer rank " + std::to_string(arrival.src) +
                         " reported: " + arrival.header.text;
      uint8_t code = arrival.header.flags;
      Status s(code > 0 && code <= static_cast<uint8_t>(StatusCode::kPeerFailure)
                   ? static_cast<StatusCode>(code)
                   : StatusCode::kFailure,
               text);
      // Pass it on: our peers need not be the sender's (neighbour ops), and
      // one of them may be waiting for data we will now never send.
      FailJob(job, s, true);
    } else {
      if (std::find(job->senders.begin(), job->senders.end(), arrival.src) ==
          job->senders.end())
        job->senders.push_back(arrival.src);
      Guarded(job, [&] { job->op->OnData(*this, arrival); });
    }
    MaybeComplete(job);
  }

  void FailJob(const std::shared_ptr<Job>& job, Status status, bool notify) {
    job->op->Fail(std::move(status));
    if (notify && !job->failure_sent) {
      job->failure_sent = true;
      NotifyFailure(job);
    }
    MaybeComplete(job);
  }

  // Tells the op's peers so they fail too instead of waiting forever.
  void NotifyFailure(const std::shared_ptr<Job>& job) {
    RemoveActive(job);
    SendNotices(*job);
  }

  // Failure notices are control messages: the failed op does not wait for
  // them to be sent (its peer may have gone and never read them).
  void SendNotices(const Job& job) {
    auto notices = job.op->FailureNotices();
    std::vector<int> told;
    for (const auto& notice : notices) told.push_back(notice.first);
    for (int r : job.senders)
      if (!notices.empty() && std::find(told.begin(), told.end(), r) == told.end() &&
          notices.front().second.kind == MessageKind::kError) {
        notices.emplace_back(r, notices.front().second);
        told.push_back(r);
      }
    for (const auto& notice : notices) {
      int r = notice.first;
      bool to_self_ok = notice.second.kind == MessageKind::kWindow;
      if ((r == world_.rank && !to_self_ok) || !peers_.reachable(r)) continue;
      std::vector<char> bytes;
      EncodeMessage(notice.second, nullptr, 0, &bytes);
      SendControl(r, std::move(bytes));
    }
  }

  std::string PrefixRank(const std::string& message) const {
    return "rank " + std::to_string(world_.rank) + ": " + message;
  }

  // Failed ops, so that their peers' late messages are dropped quietly.
  void RememberFailure(const OpIdentity& id) {
    failed_.insert(OpKey{id.key, id.instance});
    failed_order_.push_back(OpKey{id.key, id.instance});
    if (failed_order_.size() > 4096) {
      failed_.erase(failed_order_.front());
      failed_order_.pop_front();
    }
  }

  void RemoveActive(const std::shared_ptr<Job>& job) {
    if (job->op->finished() && !job->op->status().ok()) RememberFailure(job->op->id());
    OpKey key{job->op->id().key, job->op->id().instance};
    auto it = active_.find(key);
    if (it != active_.end() && it->second == job) active_.erase(it);
  }

  void MaybeComplete(const std::shared_ptr<Job>& job) {
    Op& op = *job->op;
    if (!op.finished() || op.pending_sends > 0 || job->completed) return;
    if (op.status().ok()) Guarded(job, [&] { op.Conclude(*this); }, true);
    if (op.pending_sends > 0) return;  // Conclude failed and notified peers
    job->completed = true;
    RemoveActive(job);
    Status status = op.status();
    BF_LOG(kDebug) << "done " << op.Describe() << " instance " << op.id().instance
                   << (status.ok() ? "" : ": " + status.message());
    if (!status.ok()) status = status.WithMessage(PrefixRank(status.message()));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!IsUnnamedKey(op.id().key)) inflight_names_.erase(op.id().key);
    }
    {
      std::lock_guard<std::mutex> lock(job->handle->mutex);
      job->handle->done = true;
      job->handle->status = status;
    }
    job->handle->cv.notify_all();
  }

  bool PollIncoming() {
    bool progressed = false;
    int src = -1;
    std::string error;
    while (transport_->TakeHeader(&src, &message_bytes_, &error)) {
      progressed = true;
      const char* data = message_bytes_.data();
      size_t length = message_bytes_.size();
      Count(src, data, length);
      if (IsFrame(data, length)) {
        bool ok = ForEachInFrame(data, length, [&](const char* m, size_t n) {
          HandleMessage(src, m, n);
        });
        if (!ok) BF_LOG(kError) << "dropping the rest of a malformed frame from rank " << src;
      } else {
        HandleMessage(src, data, length);
      }
    }
    if (!error.empty()) {
      BF_LOG(kError) << "receiving a message failed: " << error;
    }
    return progressed;
  }

  // Both counters move under one lock, so a snapshot never sees half of it.
  void Count(int src, const char* data, size_t length) {
    uint64_t messages = 1;
    if (IsFrame(data, length)) {
      messages = 0;
      ForEachInFrame(data, length, [&](const char*, size_t) { messages++; });
    }
    std::lock_guard<std::mutex> lock(mutex_);
    received_from_[src] += messages;
    mpi_messages_received_++;
  }

  void HandleMessage(int src, const char* bytes, size_t length) {
    auto incoming = std::make_shared<Incoming>();
    Arrival& a = incoming->arrival;
    a.src = src;
    const char* inline_data = nullptr;
    size_t inline_bytes = 0;
    if (!DecodeMessage(bytes, length, &a.header, &inline_data, &inline_bytes)) {
      BF_LOG(kError) << "dropping malformed message from rank " << src;
      return;
    }
    const MessageHeader& h = a.header;
    if (IsLifecycle(h.kind)) return OnLifecycle(src, h);
    if (aborting_) return;
    if (!peers_.reachable(src)) return;  // a failed rank's late messages
    if (h.kind == MessageKind::kProbe) return AnswerProbe(src, h);
    if (h.kind == MessageKind::kProbeReply) return TakeProbeReply(src, h);
    if (h.kind == MessageKind::kWindow) return ReceiveWindowRequest(incoming, inline_data,
                                                                     inline_bytes);

    OpKey key{h.name, h.instance};
    std::shared_ptr<Job> job;
    auto active = active_.find(key);
    if (active != active_.end()) job = active->second;
    bool stale = !job && h.instance < started_[h.name];
    if (stale && h.kind == MessageKind::kData && !failed_.count(OpKey{h.name, h.instance}))
      WarnUnconsumed(src, h);

    a.bytes = h.payload_bytes;
    if (h.payload_tag == 0) {
      if (inline_bytes != h.payload_bytes) {
        BF_LOG(kError) << "dropping message from rank " << src
                       << " with inconsistent payload size";
        return;
      }
      if (stale) return;
      if (inline_bytes > 0) {
        a.buffer = pool_.Acquire(inline_bytes);
        std::memcpy(a.buffer.data(), inline_data, inline_bytes);
        a.data = a.buffer.data();
      }
      incoming->complete = true;
      if (job) return Deliver(job, a);
      unexpected_[key].push_back(incoming);
      return;
    }
    void* destination = nullptr;
    if (job && !job->op->finished()) {
      current_ = job;
      destination = job->op->PayloadDestination(src, h);
      current_ = nullptr;
    }
    if (destination == nullptr) {
      a.buffer = pool_.Acquire(h.payload_bytes);
      destination = a.buffer.data();
    }
    a.data = static_cast<const char*>(destination);
    if (job) {
      incoming->target = job;
    } else if (!stale) {
      unexpected_[key].push_back(incoming);
    }
    receives_.push_back({transport_->ReceivePayload(src, h.payload_tag, destination,
                                                   h.payload_bytes),
                         incoming});
  }

  bool PollReceives() {
    bool progressed = false;
    for (size_t i = 0; i < receives_.size();) {
      std::string error;
      if (!transport_->Test(receives_[i].request, &error)) {
        ++i;
        continue;
      }
      progressed = true;
      auto incoming = receives_[i].incoming;
      receives_[i] = std::move(receives_.back());
      receives_.pop_back();
      incoming->complete = true;
      if (incoming->window_request) {
        if (error.empty()) ServeWindowRequest(incoming->arrival);
        continue;
      }
      auto job = incoming->target.lock();
      if (!job) continue;  // parked (or stale) until an op wants it
      if (!error.empty()) {
        FailJob(job, Status::Failure("receiving from rank " +
                                     std::to_string(incoming->arrival.src) +
                                     " failed: " + error),
                true);
        continue;
      }
      Deliver(job, incoming->arrival);
    }
    return progressed;
  }

  bool PollSends() {
    bool progressed = false;
    for (size_t i = 0; i < sends_.size();) {
      std::string error;
      if (!transport_->Test(sends_[i].request, &error)) {
        ++i;
        continue;
      }
      progressed = true;
      PendingSend done = std::move(sends_[i]);
      sends_[i] = std::move(sends_.back());
      sends_.pop_back();
      for (SendPart& part : done.parts) {
        auto& job = part.job;
        job->op->pending_sends--;
        job->last_progress = Clock::now();
        if (!error.empty()) {
          FailJob(job, Status::Failure("sending to rank " + std::to_string(done.dst) +
                                       " failed: " + error), true);
        } else if (part.carries_payload) {
          Guarded(job, [&] { job->op->OnSendComplete(*this, part.step); });
        }
        MaybeComplete(job);
      }
    }
    return progressed;
  }

  // ---- liveness: dead processes, lifecycle notices, stalls, deadlines ----
  static bool IsLifecycle(MessageKind kind) {
    return kind == MessageKind::kClosing || kind == MessageKind::kGone ||
           kind == MessageKind::kAbort || kind == MessageKind::kAbortAck;
  }

  void CheckPeers() {
    DropCompleted(&orphaned_receives_, [](const auto& r) { return r.request; });
    std::set<int> watched;
    for (auto& entry : active_)
      for (int r : entry.second->op->Participants()) watched.insert(r);
    for (auto& send : sends_) watched.insert(send.dst);
    // A dead holder of one of our window mutexes would keep it forever.
    for (const auto& window : windows_.All())
      for (int r : window->MutexRanks()) watched.insert(r);
    for (int r : watched)
      if (r != world_.rank && r >= 0 && r < world_.size) CheckAlive(r);
  }

  // Same-host peers only: pid liveness says nothing across machines.
  // A rank that said goodbye may exit whenever it likes.
  void CheckAlive(int r) {
    if (peers_.lost(r) || peers_.state(r) == PeerTable::State::kGone ||
        !transport_->same_host(r) || ProcessAlive(transport_->pid_of(r)))
      return;
    if (peers_.MarkDead(r)) {
      BF_LOG(kError) << peers_.Why(r) << "; failing the ops that need it";
      PeerLost(r);
    }
  }

  void OnLifecycle(int src, const MessageHeader& h) {
    switch (h.kind) {
      case MessageKind::kAbortAck:
        awaiting_acks_.erase(src);
        return;
      case MessageKind::kAbort:
        if (peers_.MarkFailed(src, h.text)) {
          // A rank that exits because another one failed adds nothing to
          // that one's report.
          if (h.flags & kAbortIsConsequence) {
            BF_LOG(kInfo) << peers_.Why(src) << "; failing the ops that need it";
          } else {
            BF_LOG(kError) << peers_.Why(src) << "; failing the ops that need it";
          }
          PeerLost(src);
        }
        TellPeer(src, MessageKind::kAbortAck, "", /*even_if_unreachable=*/true);
        return;
      case MessageKind::kClosing:
        if (!peers_.MarkClosing(src)) return;
        // Ops waiting on it complete only if it posted them before.
        for (auto& job : ActiveJobs())
          if (Contains(job->op->WaitingOn(), src)) SendProbes(job, {src});
        return;
      case MessageKind::kGone:
        if (peers_.MarkGone(src)) {
          ReleaseWindowsOf(src);
          CheckDeparted(Clock::now());
        }
        return;
      default:
        return;
    }
  }

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
  void PeerLost(int r) {
    AbandonSendsTo(r);
    // Payloads it was sending will not arrive; their ops fail below. MPI
    // may still finish such a receive while it progresses others, so its
    // buffer stays alive until then.
    for (size_t i = 0; i < receives_.size();) {
      if (receives_[i].incoming->arrival.src != r) {
        ++i;
        continue;
      }
      orphaned_receives_.push_back(std::move(receives_[i]));
      receives_[i] = std::move(receives_.back());
      receives_.pop_back();
    }
    auto queued = outbox_.find(r);
    if (queued != outbox_.end()) {
      auto messages = std::move(queued->second);
      outbox_.erase(queued);
      for (QueuedMessage& m : messages) {
        m.part.job->op->pending_sends--;
        m.part.job->op->Fail(LostStatus(r, *m.part.job->op));
        MaybeComplete(m.part.job);
      }
    }
    for (auto& job : ActiveJobs())
      if (Contains(job->op->Participants(), r)) FailJob(job, LostStatus(r, *job->op), true);
    ReleaseWindowsOf(r);
  }

  // Sends to `r` that will never be read: their ops fail (if they have not
  // already) and stop waiting for them.
  void AbandonSendsTo(int r) {
    for (size_t i = 0; i < sends_.size();) {
      if (sends_[i].dst != r) {
        ++i;
        continue;
      }
      transport_->Abandon(sends_[i].request);
      PendingSend abandoned = std::move(sends_[i]);
      sends_[i] = std::move(sends_.back());
      sends_.pop_back();
      for (SendPart& part : abandoned.parts) {
        part.job->op->pending_sends--;
        part.job->op->Fail(LostStatus(r, *part.job->op));
        MaybeComplete(part.job);
      }
    }
  }

  // The unreachable rank an error about `ranks` should name: peers that left
  // may have left because another one died or failed, so a dead or failed
  // rank comes first, then the one that left first.
  int CulpritAmong(const std::vector<int>& ranks) {
    for (int r : ranks)
      if (r >= 0 && r < world_.size && r != world_.rank && peers_.reachable(r)) CheckAlive(r);
    int culprit = -1;
    for (int r : ranks) {
      if (r < 0 || r >= world_.size || r == world_.rank || peers_.reachable(r)) continue;
      if (culprit < 0 || peers_.state(r) > peers_.state(culprit) ||
          (peers_.state(r) == peers_.state(culprit) && peers_.since(r) < peers_.since(culprit)))
        culprit = r;
    }
    return culprit;
  }

  Status LostStatus(int r, const Op& op) const {
    return Status::PeerFailure(peers_.Why(r) + "; " + op.Describe() + " cannot complete");
  }

  // Ranks that shut down normally finished all their ops first, and their
  // last messages arrived before their goodbye. So an op still waiting for
  // such a rank's message (not for a payload already on its way) waits for
  // an op that rank never posted; and a send to it that is still pending
  // shortly after its goodbye will never be read.
  void CheckDeparted(Clock::time_point now) {
    for (auto& job : ActiveJobs()) CheckDeparted(job);
    for (int r = 0; r < world_.size; ++r)
      if (peers_.state(r) == PeerTable::State::kGone && now - peers_.since(r) >= kGoneSendGrace)
        AbandonSendsTo(r);
  }

  void CheckDeparted(const std::shared_ptr<Job>& job) {
    Op& op = *job->op;
    if (op.finished()) return;
    std::vector<int> never;
    for (int r : op.WaitingOn())
      if (r >= 0 && r < world_.size && peers_.state(r) == PeerTable::State::kGone &&
          !PayloadOnItsWay(job, r))
        never.push_back(r);
    if (never.empty()) return;
    int r = CulpritAmong(never);
    FailJob(job, Status::PeerFailure(peers_.Why(r) + " without posting " + op.Describe()),
            true);
  }

  bool PayloadOnItsWay(const std::shared_ptr<Job>& job, int src) const {
    for (const auto& receive : receives_)
      if (receive.incoming->arrival.src == src && receive.incoming->target.lock() == job)
        return true;
    return false;
  }

  // A window mutex held or awaited by a rank that is gone stays taken
  // otherwise.
  void ReleaseWindowsOf(int r) {
    for (const auto& window : windows_.All()) {
      for (const Window::Waiter& next : window->ReleaseRank(r)) {
        MessageHeader grant;
        grant.kind = MessageKind::kData;
        grant.op = OpType::kWinLock;
        grant.step = 1;
        grant.name = next.key;
        grant.instance = next.instance;
        grant.text = window->name();
        grant.dtype = window->tensor().dtype;
        grant.shape = window->tensor().shape;
        SendReply(next.rank, grant, nullptr, 0);
      }
      ServeDeferred(*window);  // a win_lock it held has ended with it
    }
  }

  void TellPeer(int dst, MessageKind kind, const std::string& text,
                bool even_if_unreachable = false, uint8_t flags = 0) {
    if (dst == world_.rank || (!peers_.reachable(dst) && !even_if_unreachable)) return;
    MessageHeader h;
    h.kind = kind;
    h.flags = flags;
    h.text = text;
    std::vector<char> bytes;
    EncodeMessage(h, nullptr, 0, &bytes);
    SendControl(dst, std::move(bytes));
  }

  void TellPeers(MessageKind kind, const std::string& text, uint8_t flags = 0) {
    for (int r = 0; r < world_.size; ++r) TellPeer(r, kind, text, false, flags);
  }

  // Polls until the control messages went out (they are small, so MPI sends
  // them eagerly) or `limit` passed.
  void DrainControlSends(Clock::duration limit) {
    auto end = Clock::now() + limit;
    while (!control_sends_.empty() && Clock::now() < end) {
      PollControlSends();
      std::this_thread::yield();
    }
  }

  void SayGoodbye() {
    TellPeers(MessageKind::kGone, "");
    DrainControlSends(std::chrono::seconds(1));
  }

  void RunAbort() {
    aborting_ = true;
    std::string reason;
    bool consequence;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      reason = abort_reason_;
      consequence = abort_is_consequence_;
    }
    if (consequence) {
      BF_LOG(kInfo) << "exiting on an error (" << reason << "); telling the other ranks";
    } else {
      BF_LOG(kError) << "exiting on an error (" << reason << "); telling the other ranks";
    }
    for (int r = 0; r < world_.size; ++r)
      if (r != world_.rank && peers_.reachable(r)) awaiting_acks_.insert(r);
    TellPeers(MessageKind::kAbort, reason, consequence ? kAbortIsConsequence : 0);
    FailEverything(Status::Failure("this rank is exiting on an error (" + reason + ")"));
    auto end = Clock::now() + kAbortAckWait;
    while (!awaiting_acks_.empty() && Clock::now() < end) {
      if (!PollIncoming()) std::this_thread::sleep_for(std::chrono::microseconds(50));
      PollControlSends();
    }
    if (!awaiting_acks_.empty())
      BF_LOG(kWarning) << "ranks " << RankList({awaiting_acks_.begin(), awaiting_acks_.end()})
                       << " did not acknowledge this rank's exit";
    std::this_thread::sleep_for(kAbortGrace);
  }

  // Completes every handle with `status` (queued ops too), without telling
  // peers: used when this rank exits.
  void FailEverything(const Status& status) {
    std::deque<std::shared_ptr<Job>> queued;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queued.swap(queue_);
    }
    std::vector<std::shared_ptr<Job>> jobs(queued.begin(), queued.end());
    for (auto& job : ActiveJobs()) jobs.push_back(job);
    for (auto& send : sends_) {
      transport_->Abandon(send.request);
      for (auto& part : send.parts) jobs.push_back(part.job);
    }
    for (auto& entry : outbox_)
      for (auto& m : entry.second) jobs.push_back(m.part.job);
    sends_.clear();
    outbox_.clear();
    for (auto& job : jobs) {
      job->op->pending_sends = 0;
      job->op->Fail(status);
      MaybeComplete(job);
    }
  }

  void CheckStalls(Clock::time_point now) {
    auto limit = std::chrono::duration<double>(config_.stall_warning_seconds);
    // Data nobody here consumed: a sender whose destinations disagree with
    // our sources (e.g. dynamic weights with enable_topo_check=False).
    for (auto& entry : unexpected_) {
      for (auto& incoming : entry.second) {
        if (incoming->reported || now - incoming->arrived < limit) continue;
        incoming->reported = true;
        const MessageHeader& h = incoming->arrival.header;
        BF_LOG(kWarning) << "rank " << incoming->arrival.src << " sent data for "
                         << OpTypeName(h.op) << " '" << DisplayName(h)
                         << "' that no op on this rank has taken for "
                         << config_.stall_warning_seconds
                         << " s: its destinations and this rank's sources disagree, or "
                            "this rank has not posted the op yet";
      }
    }
    auto timeout = std::chrono::duration<double>(config_.op_timeout_seconds);
    for (auto& job : ActiveJobs()) {
      Op& op = *job->op;
      if (op.finished() && op.pending_sends == 0) continue;
      auto probe = probes_.find(OpKey{op.id().key, op.id().instance});
      bool deadline_pending = probe != probes_.end() && probe->second.for_deadline;
      if (deadline_pending) {
        if (now - probe->second.sent >= kDeadlineProbeWait) FailAtDeadline(probe->second);
        continue;
      }
      if (config_.op_timeout_seconds > 0 && now - job->last_progress >= timeout) {
        SendProbes(job, ProbeTargets(op), false, true);
        continue;
      }
      if (now - op.last_stall_report < limit) continue;
      op.last_stall_report = now;
      double waited = std::chrono::duration<double>(now - op.start_time).count();
      BF_LOG(kWarning) << op.Describe() << " has waited " << static_cast<int>(waited)
                       << " s for data from ranks " << RankList(op.WaitingOn())
                       << "; asking its peers whether they posted it";
      SendProbes(job, ProbeTargets(op), true, false);
    }
  }

  // The ranks to ask about an op that waits: those it waits for, else all
  // of its peers (it may wait for a send to complete).
  std::vector<int> ProbeTargets(const Op& op) const {
    std::vector<int> ranks = op.WaitingOn();
    if (ranks.empty()) ranks = op.Participants();
    std::vector<int> targets;
    for (int r : ranks)
      if (r != world_.rank && r >= 0 && r < world_.size && peers_.reachable(r))
        targets.push_back(r);
    return targets;
  }

  void FailAtDeadline(StallProbe& probe) {
    auto job = probe.job;
    const Op& op = *job->op;
    double idle = std::chrono::duration<double>(Clock::now() - job->last_progress).count();
    std::ostringstream text;
    text << op.Describe() << " timed out: no progress for " << static_cast<int>(idle)
         << " s (BLUEFOG_OP_TIMEOUT_SECONDS=" << config_.op_timeout_seconds
         << ") while waiting for ranks " << RankList(op.WaitingOn());
    std::vector<StallProbe::Answer> answers = probe.answers;
    std::sort(answers.begin(), answers.end(),
              [](const auto& a, const auto& b) { return a.rank < b.rank; });
    for (const auto& answer : answers)
      text << "; rank " << answer.rank << (answer.posted ? " posted it" : " has not posted it")
           << " and is " << answer.doing;
    for (int r : probe.awaiting) text << "; rank " << r << " did not answer";
    probes_.erase(OpKey{op.id().key, op.id().instance});
    FailJob(job, Status::Timeout(text.str()), true);
  }

  static std::string DisplayName(const MessageHeader& h) {
    if (IsUnnamedKey(h.name))
      return std::string(OpTypeName(h.op)) + ".noname." + std::to_string(h.instance);
    return h.name;
  }

  void SendProbes(const std::shared_ptr<Job>& job, const std::vector<int>& ranks,
                  bool report_stall = false, bool for_deadline = false) {
    const OpIdentity& id = job->op->id();
    OpKey key{id.key, id.instance};
    StallProbe& probe = probes_[key];
    if (probe.job != job || for_deadline || report_stall) {
      if (probe.job != job) probe = StallProbe();
      probe.job = job;
      probe.answers.clear();
      probe.sent = Clock::now();
    }
    probe.report_stall |= report_stall;
    probe.for_deadline |= for_deadline;
    MessageHeader h;
    h.kind = MessageKind::kProbe;
    h.op = id.type;
    h.name = id.key;
    h.instance = id.instance;
    for (int r : ranks) {
      if (r == world_.rank || !peers_.reachable(r)) continue;
      probe.awaiting.insert(r);
      std::vector<char> bytes;
      EncodeMessage(h, nullptr, 0, &bytes);
      SendControl(r, std::move(bytes));
    }
    if (for_deadline && probe.awaiting.empty()) FailAtDeadline(probe);
  }

  // Control messages are not tied to an op's completion.
  void SendControl(int dst, std::vector<char> bytes) {
    auto holder = std::make_unique<std::vector<char>>(std::move(bytes));
    control_sends_.push_back({transport_->SendHeader(dst, *holder), std::move(holder)});
    PollControlSends();
  }

  // Forgets the requests of `list` that completed (nothing waits on them).
  template <typename List, typename RequestOf>
  void DropCompleted(List* list, RequestOf request_of) {
    for (size_t i = 0; i < list->size();) {
      std::string error;
      if (transport_->Test(request_of((*list)[i]), &error)) {
        (*list)[i] = std::move(list->back());
        list->pop_back();
      } else {
        ++i;
      }
    }
  }

  void PollControlSends() {
    DropCompleted(&control_sends_, [](const auto& c) { return c.first; });
  }

  // ---- windows: requests from peers' window ops ----
  void ReceiveWindowRequest(const std::shared_ptr<Incoming>& incoming, const char* inline_data,
                            size_t inline_bytes) {
    Arrival& a = incoming->arrival;
    a.bytes = a.header.payload_bytes;
    if (a.bytes > 0) {
      a.buffer = pool_.Acquire(a.bytes);
      a.data = a.buffer.data();
    }
    if (a.header.payload_tag == 0) {
      if (inline_bytes != a.bytes) {
        BF_LOG(kError) << "dropping window request from rank " << a.src
                       << " with inconsistent payload size";
        return;
      }
      if (a.bytes > 0) std::memcpy(a.buffer.data(), inline_data, a.bytes);
      return ServeWindowRequest(a);
    }
    incoming->window_request = true;
    receives_.push_back({transport_->ReceivePayload(a.src, a.header.payload_tag,
                                                   a.buffer.data(), a.bytes),
                         incoming});
  }

  void ServeWindowRequest(Arrival& a) {
    const MessageHeader& h = a.header;
    MessageHeader reply = h;
    reply.kind = MessageKind::kData;
    reply.step = 1;
    reply.flags = 0;
    auto window = windows_.Find(h.text);
    std::string problem;
    if (!window) {
      problem = "rank " + std::to_string(world_.rank) + " has no window '" + h.text +
                "' (not created there, or already freed)";
    } else if (h.op != OpType::kWinLock && h.op != OpType::kWinUnlock &&
               (h.dtype != window->tensor().dtype || h.shape != window->tensor().shape)) {
      problem = "window '" + h.text + "' on rank " + std::to_string(world_.rank) + " holds " +
                DataTypeName(window->tensor().dtype) + " " +
                ShapeString(window->tensor().shape) + ", not " + DataTypeName(h.dtype) + " " +
                ShapeString(h.shape);
    } else if ((h.op == OpType::kWinPut || h.op == OpType::kWinAccumulate) &&
               !window->HasInNeighbor(a.src)) {
      problem = "rank " + std::to_string(a.src) + " is not an in-neighbour of rank " +
                std::to_string(world_.rank) + " for window '" + h.text + "'";
    }
    if (!problem.empty()) {
      if (h.op == OpType::kWinUnlock && (h.flags & kWinUnlockAbandon)) return;
      reply.kind = MessageKind::kError;
      reply.flags = static_cast<uint8_t>(StatusCode::kInvalidArgument);
      reply.text = problem;
      return SendReply(a.src, reply, nullptr, 0);
    }
    bool transfer = h.op == OpType::kWinPut || h.op == OpType::kWinAccumulate ||
                    h.op == OpType::kWinGet;
    if (transfer && window->Exclusive()) {
      deferred_[h.text].push_back(std::move(a));  // served once win_lock's block ends
      return;
    }
    switch (h.op) {
      case OpType::kWinPut:
      case OpType::kWinAccumulate:
        window->Write(a.src, a.data, h.op == OpType::kWinAccumulate,
                      (h.flags & kWinCarriesP) != 0, h.weight);
        return SendReply(a.src, reply, nullptr, 0);
      case OpType::kWinGet: {
        std::vector<char> copy(window->tensor().bytes());
        reply.weight = window->ReadSelf(copy.data());
        return SendReply(a.src, reply, copy.data(), copy.size());
      }
      case OpType::kWinLock: {
        bool exclusive = a.src == world_.rank && (h.flags & kWinLockExclusive);
        if (window->Lock({a.src, h.name, h.instance, exclusive}))
          SendReply(a.src, reply, nullptr, 0);
        return;
      }
      case OpType::kWinUnlock: {
        Window::Waiter next;
        if (window->Unlock({a.src, h.name, h.instance}, h.flags & kWinUnlockAbandon, &next)) {
          MessageHeader grant = reply;
          grant.name = next.key;
          grant.instance = next.instance;
          grant.op = OpType::kWinLock;
          SendReply(next.rank, grant, nullptr, 0);
        }
        ServeDeferred(*window);
        if (h.flags & kWinUnlockAbandon) return;  // the op is gone: nobody awaits a reply
        return SendReply(a.src, reply, nullptr, 0);
      }
      default:
        BF_LOG(kError) << "dropping window request of unknown type from rank " << a.src;
    }
  }

  // The neighbours' requests that arrived while the owner held win_lock, in
  // arrival order, unless the window is still (or again) held exclusively.
  void ServeDeferred(Window& window) {
    auto it = deferred_.find(window.name());
    if (it == deferred_.end() || window.Exclusive()) return;
    std::deque<Arrival> waiting = std::move(it->second);
    deferred_.erase(it);
    for (Arrival& arrival : waiting) ServeWindowRequest(arrival);
  }

  // An engine-originated message (not part of a local op), with payload.
  void SendReply(int dst, MessageHeader h, const void* payload, size_t bytes) {
    std::vector<char> encoded;
    h.payload_bytes = bytes;
    if (bytes <= kInlineLimit) {
      h.payload_tag = 0;
      EncodeMessage(h, payload, bytes, &encoded);
      return SendControl(dst, std::move(encoded));
    }
    h.payload_tag = transport_->ReservePayloadTag(dst, bytes);
    EncodeMessage(h, nullptr, 0, &encoded);
    SendControl(dst, std::move(encoded));
    auto copy = std::make_unique<std::vector<char>>(static_cast<const char*>(payload),
                                                    static_cast<const char*>(payload) + bytes);
    control_sends_.push_back({transport_->SendPayload(dst, h.payload_tag, copy->data(), bytes),
                              std::move(copy)});
  }

  // What this rank is doing, for a peer's stall report or deadline.
  std::string DescribeActivity() {
    const Job* oldest = nullptr;
    for (auto& entry : active_) {
      const Job* job = entry.second.get();
      if (job->completed) continue;
      if (oldest == nullptr || job->op->start_time < oldest->op->start_time) oldest = job;
    }
    if (oldest == nullptr) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!queue_.empty()) return "holding " + std::to_string(queue_.size()) +
                                  " queued op(s) (its engine is suspended)";
      return "running no bluefog op (busy in its script, or waiting outside bluefog)";
    }
    double age = std::chrono::duration<double>(Clock::now() - oldest->op->start_time).count();
    return "in " + oldest->op->Describe() + " for " + std::to_string(static_cast<int>(age)) +
           " s, waiting for ranks " + RankList(oldest->op->WaitingOn());
  }

  bool HasPosted(const std::string& key, uint64_t instance) {
    auto started = started_.find(key);
    if (started != started_.end() && started->second > instance) return true;
    std::lock_guard<std::mutex> lock(mutex_);
    auto posted = posted_.find(key);
    return posted != posted_.end() && posted->second > instance;
  }

  void AnswerProbe(int src, const MessageHeader& probe) {
    MessageHeader reply = probe;
    reply.kind = MessageKind::kProbeReply;
    reply.flags = HasPosted(probe.name, probe.instance) ? 1 : 0;
    reply.text = DescribeActivity();
    std::vector<char> bytes;
    EncodeMessage(reply, nullptr, 0, &bytes);
    SendControl(src, std::move(bytes));
  }

  void TakeProbeReply(int src, const MessageHeader& reply) {
    auto it = probes_.find(OpKey{reply.name, reply.instance});
    if (it == probes_.end() || !it->second.awaiting.erase(src)) return;
    StallProbe& probe = it->second;
    bool posted = reply.flags != 0;
    probe.answers.push_back({src, posted, reply.text});
    auto job = probe.job;
    if (job->op->finished()) {
      if (probe.awaiting.empty()) probes_.erase(it);
      return;
    }
    PeerTable::State state = peers_.state(src);
    if (!posted && (state == PeerTable::State::kClosing || state == PeerTable::State::kGone)) {
      probes_.erase(it);
      FailJob(job, Status::PeerFailure(peers_.Why(src) + " without having posted " +
                                       job->op->Describe()), true);
      return;
    }
    if (!probe.awaiting.empty()) return;
    if (probe.for_deadline) return FailAtDeadline(probe);
    if (probe.report_stall) ReportStall(probe);
    probes_.erase(it);
  }

  void ReportStall(const StallProbe& probe) {
    std::vector<int> not_posted;
    for (const auto& answer : probe.answers)
      if (!answer.posted) not_posted.push_back(answer.rank);
    std::sort(not_posted.begin(), not_posted.end());
    const Op& op = *probe.job->op;
    if (not_posted.empty()) {
      BF_LOG(kWarning) << op.Describe()
                       << ": every peer has posted it; still waiting for data from ranks "
                       << RankList(op.WaitingOn());
      return;
    }
    std::ostringstream doing;
    for (const auto& answer : probe.answers)
      if (!answer.posted) doing << "; rank " << answer.rank << " is " << answer.doing;
    BF_LOG(kWarning) << op.Describe() << ": ranks " << RankList(not_posted)
                     << " have not posted this op yet (stalled)" << doing.str();
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

Engine& Engine::Get() {
  static Engine* engine = new Engine();  // never destroyed: outlives atexit
  return *engine;
}

Engine::Engine() : impl_(new Impl) {}
Engine::~Engine() = default;

void Engine::Start(const Config& config, std::unique_ptr<Transport> transport) {
  impl_->Start(config, std::move(transport));
}
void Engine::Stop() { impl_->Stop(); }
void Engine::Abort(const std::string& reason, bool consequence) {
  impl_->Abort(reason, consequence);
}
bool Engine::running() const { return impl_->running(); }
bool Engine::stopped() const { return impl_->stopped(); }
bool Engine::in_forked_child() const { return impl_->InForkedChild(); }
const WorldInfo& Engine::world() const { return impl_->world(); }
const Config& Engine::config() const { return impl_->config(); }
int64_t Engine::Submit(OpType type, const std::string& name,
                       const OpFactory& make) {
  return impl_->Submit(type, name, make);
}
bool Engine::Poll(int64_t handle) { return impl_->Poll(handle); }
bool Engine::WaitFor(int64_t handle, double timeout_seconds) {
  return impl_->WaitFor(handle, timeout_seconds);
}
Status Engine::Release(int64_t handle) { return impl_->Release(handle); }
void Engine::Abandon(int64_t handle) { impl_->Abandon(handle); }
void Engine::Suspend() { impl_->SetSuspended(true); }
void Engine::Resume() { impl_->SetSuspended(false); }
bool Engine::DeliverArrived(double max_wait_seconds) {
  return impl_->DeliverArrived(max_wait_seconds);
}
MessageCounts Engine::Counts() { return impl_->Counts(); }
WindowRegistry& Engine::Windows() { return impl_->windows(); }

}  // namespace bluefog
