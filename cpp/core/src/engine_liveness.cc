// Liveness: peers' lifecycle notices (closing, goodbye, abort), peers that
// died or left while ops wait for them, and aborting this rank.
#include "engine_impl.h"

namespace bluefog {

void Engine::Impl::CheckPeers() {
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

void Engine::Impl::CheckAlive(int r) {
  if (peers_.lost(r) || peers_.state(r) == PeerTable::State::kGone ||
      !transport_->same_host(r) || ProcessAlive(transport_->pid_of(r)))
    return;
  if (peers_.MarkDead(r)) {
    BF_LOG(kError) << peers_.Why(r) << "; failing the ops that need it";
    PeerLost(r);
  }
}

void Engine::Impl::OnLifecycle(int src, const MessageHeader& h) {
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

void Engine::Impl::PeerLost(int r) {
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

void Engine::Impl::AbandonSendsTo(int r) {
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

int Engine::Impl::CulpritAmong(const std::vector<int>& ranks) {
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

void Engine::Impl::CheckDeparted(Clock::time_point now) {
  for (auto& job : ActiveJobs()) CheckDeparted(job);
  for (int r = 0; r < world_.size; ++r)
    if (peers_.state(r) == PeerTable::State::kGone && now - peers_.since(r) >= kGoneSendGrace)
      AbandonSendsTo(r);
}

void Engine::Impl::CheckDeparted(const std::shared_ptr<Job>& job) {
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

bool Engine::Impl::PayloadOnItsWay(const std::shared_ptr<Job>& job, int src) const {
  for (const auto& receive : receives_)
    if (receive.incoming->arrival.src == src && receive.incoming->target.lock() == job)
      return true;
  return false;
}

void Engine::Impl::ReleaseWindowsOf(int r) {
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

void Engine::Impl::TellPeer(int dst, MessageKind kind, const std::string& text,
                            bool even_if_unreachable, uint8_t flags) {
  if (dst == world_.rank || (!peers_.reachable(dst) && !even_if_unreachable)) return;
  MessageHeader h;
  h.kind = kind;
  h.flags = flags;
  h.text = text;
  std::vector<char> bytes;
  EncodeMessage(h, nullptr, 0, &bytes);
  SendControl(dst, std::move(bytes));
}

void Engine::Impl::DrainControlSends(Clock::duration limit) {
  auto end = Clock::now() + limit;
  while (!control_sends_.empty() && Clock::now() < end) {
    PollControlSends();
    std::this_thread::yield();
  }
}

void Engine::Impl::RunAbort() {
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
  FailEverything(Status::Shutdown("this rank is exiting on an error (" + reason + ")"));
  auto end = Clock::now() + kAbortAckWait;
  while (!awaiting_acks_.empty() && Clock::now() < end) {
    if (!PollIncoming()) std::this_thread::sleep_for(std::chrono::microseconds(50));
    PollControlSends();
  }
  if (!awaiting_acks_.empty()) {
    BF_LOG(kWarning) << "ranks " << RankList({awaiting_acks_.begin(), awaiting_acks_.end()})
                     << " did not acknowledge this rank's exit";
  }
  std::this_thread::sleep_for(kAbortGrace);
}

void Engine::Impl::FailEverything(const Status& status) {
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

}  // namespace bluefog
