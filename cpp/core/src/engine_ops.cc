// The op lifecycle on the engine thread: starting ops, matching arriving
// messages to ops (keeping those that come early), delivery, completion and
// failure.
#include "engine_impl.h"

namespace bluefog {

void Engine::Impl::StartJob(const std::shared_ptr<Job>& job) {
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

void Engine::Impl::WarnUnconsumed(int src, const MessageHeader& h) {
  BF_LOG(kWarning) << "rank " << src << " sent data for " << OpTypeName(h.op) << " '"
                   << DisplayName(h) << "' that this rank's op completed without: the "
                   << "sender's destinations and this rank's sources disagree";
}

namespace {

// What a peer's error notice means here: its shutdown is our peer failure.
StatusCode ReportedCode(uint8_t code) {
  if (code == 0 || code > static_cast<uint8_t>(kLastStatusCode)) return StatusCode::kInternal;
  auto reported = static_cast<StatusCode>(code);
  return reported == StatusCode::kShutdown ? StatusCode::kPeerFailure : reported;
}

}  // namespace

void Engine::Impl::Deliver(const std::shared_ptr<Job>& job, Arrival& arrival) {
  if (job->op->finished()) {
    if (job->op->status().ok() && arrival.header.kind == MessageKind::kData)
      WarnUnconsumed(arrival.src, arrival.header);
    return;
  }
  job->last_progress = Clock::now();
  if (arrival.header.kind == MessageKind::kError) {
    std::string text = "peer rank " + std::to_string(arrival.src) +
                       " reported: " + arrival.header.text;
    Status s(ReportedCode(arrival.header.flags), text);
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

void Engine::Impl::FailJob(const std::shared_ptr<Job>& job, Status status, bool notify) {
  job->op->Fail(std::move(status));
  if (notify && !job->failure_sent) {
    job->failure_sent = true;
    NotifyFailure(job);
  }
  MaybeComplete(job);
}

void Engine::Impl::SendNotices(const Job& job) {
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

void Engine::Impl::RememberFailure(const OpIdentity& id) {
  failed_.insert(OpKey{id.key, id.instance});
  failed_order_.push_back(OpKey{id.key, id.instance});
  if (failed_order_.size() > 4096) {
    failed_.erase(failed_order_.front());
    failed_order_.pop_front();
  }
}

void Engine::Impl::RemoveActive(const std::shared_ptr<Job>& job) {
  if (job->op->finished() && !job->op->status().ok()) RememberFailure(job->op->id());
  OpKey key{job->op->id().key, job->op->id().instance};
  auto it = active_.find(key);
  if (it != active_.end() && it->second == job) active_.erase(it);
}

void Engine::Impl::MaybeComplete(const std::shared_ptr<Job>& job) {
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

void Engine::Impl::HandleMessage(int src, const char* bytes, size_t length) {
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

}  // namespace bluefog
