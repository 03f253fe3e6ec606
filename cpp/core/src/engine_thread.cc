// The engine thread: initialisation, the progress loop with its backoff,
// answering DeliverArrived, shutdown and abort; answering peers' probes.
#include "engine_thread.h"

#include <thread>

#include "bluefog/core/logging.h"
#include "bluefog/core/tensor.h"

namespace bluefog {

namespace {

// How long the engine keeps polling (yielding the core between polls) after
// its last progress before it starts sleeping: longer while ops are pending.
constexpr auto kBusySpinWindow = std::chrono::microseconds(2000);
constexpr auto kIdleSpinWindow = std::chrono::microseconds(100);
constexpr auto kCheckPeriod = std::chrono::milliseconds(100);
// A rank exiting on an error waits this long at most for its peers to
// acknowledge, then this long more so that their scripts can report the
// error before the launcher kills them.
constexpr auto kAbortAckWait = std::chrono::seconds(2);
constexpr auto kAbortGrace = std::chrono::milliseconds(300);

}  // namespace

// The parts refer to each other: a reference to a part constructed later is
// only used once the thread runs.
EngineThread::EngineThread(EngineShared& shared, OpNames& names)
    : shared_(shared),
      names_(names),
      windows_(sends_, pool_),
      stalls_(lifecycle_, *this, ops_, sends_, peers_),
      liveness_({lifecycle_, ops_, sends_, receiver_, windows_, stalls_, peers_}),
      lifecycle_({ops_, names_, sends_, stalls_, liveness_, peers_, pool_}),
      inbox_({lifecycle_, ops_, receiver_, windows_, stalls_, liveness_, peers_, pool_}) {}

void EngineThread::Main() {
  Status status;
  try {
    status = transport_->Init(config_, &world_);
  } catch (const std::exception& e) {
    status = Status::Internal(e.what());
  }
  if (status.ok()) {
    SetLogRank(world_.rank);
    sends_.Reset(transport_.get(), static_cast<size_t>(config_.fusion_threshold_bytes));
    receiver_.Reset(transport_.get());
    windows_.Reset(world_.rank);
    stalls_.Reset(config_, world_.rank);
    liveness_.Reset(transport_.get(), world_.rank);
    lifecycle_.Reset(world_.rank, world_.size);
    inbox_.Reset(transport_.get(), world_.size);
    BF_LOG(kInfo) << "initialised: rank " << world_.rank << " of " << world_.size
                  << ", local rank " << world_.local_rank << " of "
                  << world_.local_size << ", MPI_THREAD_MULTIPLE "
                  << (world_.mpi_threads_supported ? "yes" : "no");
  }
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    shared_.init_status = status;
    shared_.init_done = true;
  }
  shared_.cv.notify_all();
  if (!status.ok()) return;
  Loop();
  if (shared_.abort_flag) {
    RunAbort();
    return;  // no MPI_Finalize: it would wait for every other rank
  }
  SayGoodbye();
  for (int r = 0; r < world_.size; ++r)
    if (r != world_.rank) liveness_.CheckAlive(r);
  if (!peers_.any_lost()) {
    transport_->Finalize();
  } else {
    BF_LOG(kWarning) << "skipping MPI_Finalize because a peer failed or died";
  }
}

void EngineThread::Loop() {
  auto last_progress = Clock::now();
  auto last_check = last_progress;
  auto backoff = std::chrono::microseconds(10);
  const auto max_sleep = std::chrono::microseconds(
      std::max<int64_t>(10, static_cast<int64_t>(config_.cycle_time_ms * 1000)));
  while (true) {
    if (shared_.abort_flag) return;
    if (shared_.stop_flag && !closing_sent_) {
      closing_sent_ = true;
      liveness_.TellPeers(MessageKind::kClosing, "");
    }
    uint64_t wanted = shared_.deliveries_wanted.load();
    bool progressed = StartQueued();
    bool received = inbox_.PollHeaders();
    received |= inbox_.PollPayloads();
    progressed |= received;
    progressed |= PollSends();
    progressed |= sends_.Flush();
    if (!received && wanted > deliveries_answered_ && !receiver_.WindowDataInFlight())
      AnswerDeliveries(wanted);
    auto now = Clock::now();
    if (now - last_check >= kCheckPeriod) {
      last_check = now;
      liveness_.Check(now);
      stalls_.Check(now);
      if (ShutdownStuck(now, last_progress)) break;
    }
    if (progressed) {
      last_progress = now;
      backoff = std::chrono::microseconds(10);
      continue;
    }
    bool busy = !ops_.empty() || !sends_.empty() || !receiver_.empty();
    auto spin_window = busy ? kBusySpinWindow : kIdleSpinWindow;
    if (now - last_progress < spin_window && !stop_seen_) {
      // Ops come in bursts: stay awake briefly after progress, even when
      // idle, so the next op needs no wake-up. Yield rather than burn:
      // with more ranks than cores the peer we wait for may need this core.
      std::this_thread::yield();
      continue;
    }
    {
      std::unique_lock<std::mutex> lock(shared_.mutex);
      stop_seen_ = shared_.stop_requested;
      if (shared_.stop_requested && shared_.queue.empty() && !busy) break;
      // Idle engines back off too: a neighbour's window put often comes
      // soon after the last message, and its sender waits for the reply.
      auto sleep = std::min<std::chrono::microseconds>(backoff, max_sleep);
      shared_.cv.wait_for(lock, sleep, [&] {
        return (!shared_.queue.empty() && !shared_.suspended) || shared_.stop_requested ||
               shared_.deliveries_wanted.load() > shared_.deliveries_done;
      });
    }
    backoff = std::min<std::chrono::microseconds>(backoff * 2, max_sleep);
  }
}

void EngineThread::AnswerDeliveries(uint64_t wanted) {
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    shared_.deliveries_done = wanted;
  }
  deliveries_answered_ = wanted;
  shared_.cv.notify_all();
}

bool EngineThread::ShutdownStuck(Clock::time_point now, Clock::time_point last_progress) {
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    if (!shared_.stop_requested) return false;
  }
  std::vector<std::shared_ptr<Job>> stuck = ops_.Active();
  for (auto& job : sends_.Jobs()) stuck.push_back(job);
  bool all_abandoned =
      !stuck.empty() &&
      std::all_of(stuck.begin(), stuck.end(),
                  [](const std::shared_ptr<Job>& job) { return job->handle->abandoned.load(); });
  auto limit = std::chrono::duration<double>(config_.stall_warning_seconds);
  if (now - last_progress < limit && !all_abandoned) return false;
  sends_.TakeAll();  // their jobs are among the stuck
  receiver_.AbandonAll();
  for (auto& job : stuck) {
    job->pending_sends = 0;
    job->op->Fail(Status::Shutdown("bluefog shut down while " + job->op->Describe() +
                                   " was still waiting for ranks " +
                                   ListString(job->op->WaitingOn())));
    if (!job->failure_sent) {
      job->failure_sent = true;
      lifecycle_.NotifyFailure(job);
    }
    lifecycle_.MaybeComplete(job);
  }
  if (all_abandoned) {
    BF_LOG(kWarning) << "shutdown gave up on " << stuck.size()
                     << " pending op(s) whose waits were interrupted";
  } else {
    BF_LOG(kError) << "shutdown gave up on " << stuck.size() << " pending op(s) after waiting "
                   << config_.stall_warning_seconds << " s without progress";
  }
  return true;
}

bool EngineThread::PollSends() {
  return sends_.Poll([&](SendPart& part, int dst, const std::string& error) {
    lifecycle_.OnSent(part.job, dst, part.step, part.carries_payload, error);
  });
}

bool EngineThread::StartQueued() {
  std::deque<std::shared_ptr<Job>> starting;
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    if (shared_.suspended || shared_.queue.empty()) return false;
    starting.swap(shared_.queue);
  }
  for (auto& job : starting) lifecycle_.Start(job);
  return true;
}

void EngineThread::SayGoodbye() {
  liveness_.TellPeers(MessageKind::kGone, "");
  sends_.DrainControl(std::chrono::seconds(1));
}

void EngineThread::RunAbort() {
  inbox_.IgnoreAllButLifecycle();
  std::string reason;
  bool consequence;
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    reason = shared_.abort_reason;
    consequence = shared_.abort_is_consequence;
  }
  if (consequence) {
    BF_LOG(kInfo) << "exiting on an error (" << reason << "); telling the other ranks";
  } else {
    BF_LOG(kError) << "exiting on an error (" << reason << "); telling the other ranks";
  }
  liveness_.SendAbort(reason, consequence);
  FailEverything(Status::Shutdown("this rank is exiting on an error (" + reason + ")"));
  auto end = Clock::now() + kAbortAckWait;
  while (!liveness_.AwaitingAcks().empty() && Clock::now() < end) {
    if (!inbox_.PollHeaders()) std::this_thread::sleep_for(std::chrono::microseconds(50));
    sends_.PollControl();
  }
  const auto& silent = liveness_.AwaitingAcks();
  if (!silent.empty()) {
    BF_LOG(kWarning) << "ranks " << ListString(std::vector<int>(silent.begin(), silent.end()))
                     << " did not acknowledge this rank's exit";
  }
  std::this_thread::sleep_for(kAbortGrace);
}

void EngineThread::FailEverything(const Status& status) {
  std::deque<std::shared_ptr<Job>> queued;
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    queued.swap(shared_.queue);
  }
  std::vector<std::shared_ptr<Job>> jobs(queued.begin(), queued.end());
  for (auto& job : ops_.Active()) jobs.push_back(job);
  for (SendPart& part : sends_.TakeAll()) jobs.push_back(part.job);
  for (auto& job : jobs) {
    job->pending_sends = 0;
    job->op->Fail(status);
    lifecycle_.MaybeComplete(job);
  }
}

std::string EngineThread::DescribeActivity() {
  const Job* oldest = ops_.Oldest();
  if (oldest == nullptr) {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    if (!shared_.queue.empty())
      return "holding " + std::to_string(shared_.queue.size()) +
             " queued op(s) (its engine is suspended)";
    return "running no bluefog op (busy in its script, or waiting outside bluefog)";
  }
  double age = std::chrono::duration<double>(Clock::now() - oldest->start_time).count();
  return "in " + oldest->op->Describe() + " for " + std::to_string(static_cast<int>(age)) +
         " s, waiting for ranks " + ListString(oldest->op->WaitingOn());
}

bool EngineThread::HasPosted(const std::string& key, uint64_t instance) {
  return ops_.Started(key, instance) || names_.Posted(key, instance);
}

}  // namespace bluefog
