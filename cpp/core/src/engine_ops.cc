// The op lifecycle on the engine thread: starting ops, sending for them,
// receiving messages and matching them to ops (keeping those that come
// early), delivery, completion and failure.
#include "engine_impl.h"

#include <cstring>

#include "bluefog/core/logging.h"
#include "bluefog/core/tensor.h"

namespace bluefog {

namespace {

// What a peer's error notice means here: its shutdown is our peer failure.
StatusCode ReportedCode(uint8_t code) {
  if (code == 0 || code > static_cast<uint8_t>(kLastStatusCode)) return StatusCode::kInternal;
  auto reported = static_cast<StatusCode>(code);
  return reported == StatusCode::kShutdown ? StatusCode::kPeerFailure : reported;
}

}  // namespace

void Engine::Impl::StartJob(const std::shared_ptr<Job>& job) {
  Op& op = *job->op;
  job->start_time = Clock::now();
  job->last_stall_report = job->start_time;
  job->last_progress = job->start_time;
  ops_.Activate(job);
  BF_LOG(kDebug) << "start " << op.Describe() << " instance " << op.id().instance;
  // A rank that left normally may have done its part before it left (its
  // messages wait below); one that failed or died has not.
  std::vector<int> closing;
  for (int r : op.Participants())
    if (r >= 0 && r < world_.size && r != world_.rank &&
        peers_.state(r) == PeerTable::State::kClosing)
      closing.push_back(r);
  liveness_.CheckStart(job);
  Guarded(job, [&](OpContext& context) { op.Start(context); });
  // A rank in shutdown runs only what it posted before: ask.
  if (!closing.empty() && !op.finished()) stalls_.Probe(job, closing);
  // Deliver what arrived before the op was posted.
  for (auto& incoming : ops_.TakeParked(KeyOf(op.id()))) {
    if (incoming->complete) {
      Deliver(job, incoming->arrival);
    } else {
      incoming->target = job;
    }
  }
  liveness_.CheckDeparted(job);
  MaybeComplete(job);
}

void Engine::Impl::SendFor(const std::shared_ptr<Job>& job, int dst,
                           const MessageHeader& header, const void* payload, size_t bytes) {
  // Window requests may target this rank's own window (its mutex).
  bool to_self_ok = header.kind == MessageKind::kWindow;
  if ((dst == world_.rank && !to_self_ok) || dst < 0 || dst >= world_.size)
    throw InternalError("op sends to invalid rank " + std::to_string(dst));
  if (!peers_.reachable(dst)) return;  // the op fails through its participants
  sends_.Queue(job, dst, header, payload, bytes);
}

void Engine::Impl::WarnUnconsumed(int src, const MessageHeader& h) {
  BF_LOG(kWarning) << "rank " << src << " sent data for " << OpTypeName(h.op) << " '"
                   << DisplayName(h) << "' that this rank's op completed without: the "
                   << "sender's destinations and this rank's sources disagree";
}

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
    // Pass it on: our peers need not be the sender's (neighbour ops), and
    // one of them may be waiting for data we will now never send.
    FailJob(job, Status(ReportedCode(arrival.header.flags), text), true);
  } else {
    if (std::find(job->senders.begin(), job->senders.end(), arrival.src) ==
        job->senders.end())
      job->senders.push_back(arrival.src);
    Guarded(job, [&](OpContext& context) { job->op->OnData(context, arrival); });
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

void Engine::Impl::NotifyFailure(const std::shared_ptr<Job>& job) {
  ops_.Remove(job);
  auto notices = job->op->FailureNotices();
  std::vector<int> told;
  for (const auto& notice : notices) told.push_back(notice.first);
  for (int r : job->senders)
    if (!notices.empty() && std::find(told.begin(), told.end(), r) == told.end() &&
        notices.front().second.kind == MessageKind::kError) {
      notices.emplace_back(r, notices.front().second);
      told.push_back(r);
    }
  for (const auto& notice : notices) {
    int r = notice.first;
    bool to_self_ok = notice.second.kind == MessageKind::kWindow;
    if ((r == world_.rank && !to_self_ok) || !peers_.reachable(r)) continue;
    sends_.SendControl(r, notice.second);
  }
}

void Engine::Impl::MaybeComplete(const std::shared_ptr<Job>& job) {
  Op& op = *job->op;
  if (!op.finished() || job->pending_sends > 0 || job->completed) return;
  if (op.status().ok()) Guarded(job, [&](OpContext& context) { op.Conclude(context); }, true);
  if (job->pending_sends > 0) return;  // Conclude failed and notified peers
  job->completed = true;
  ops_.Remove(job);
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

std::string Engine::Impl::DescribeActivity() {
  const Job* oldest = ops_.Oldest();
  if (oldest == nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!queue_.empty()) return "holding " + std::to_string(queue_.size()) +
                                " queued op(s) (its engine is suspended)";
    return "running no bluefog op (busy in its script, or waiting outside bluefog)";
  }
  double age = std::chrono::duration<double>(Clock::now() - oldest->start_time).count();
  return "in " + oldest->op->Describe() + " for " + std::to_string(static_cast<int>(age)) +
         " s, waiting for ranks " + ListString(oldest->op->WaitingOn());
}

bool Engine::Impl::HasPosted(const std::string& key, uint64_t instance) {
  if (ops_.Started(key, instance)) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  auto posted = posted_.find(key);
  return posted != posted_.end() && posted->second > instance;
}

bool Engine::Impl::PollIncoming() {
  bool progressed = false;
  int src = -1;
  std::string error;
  while (transport_->TakeHeader(&src, &message_bytes_, &error)) {
    progressed = true;
    const char* data = message_bytes_.data();
    size_t length = message_bytes_.size();
    Count(src, data, length);
    if (IsFrame(data, length)) {
      bool ok = ForEachInFrame(data, length,
                               [&](const char* m, size_t n) { HandleMessage(src, m, n); });
      if (!ok) {
        BF_LOG(kError) << "dropping the rest of a malformed frame from rank " << src;
      }
    } else {
      HandleMessage(src, data, length);
    }
  }
  if (!error.empty()) {
    BF_LOG(kError) << "receiving a message failed: " << error;
  }
  return progressed;
}

void Engine::Impl::Count(int src, const char* data, size_t length) {
  uint64_t messages = 1;
  if (IsFrame(data, length)) {
    messages = 0;
    ForEachInFrame(data, length, [&](const char*, size_t) { messages++; });
  }
  std::lock_guard<std::mutex> lock(mutex_);
  received_from_[src] += messages;
  mpi_messages_received_++;
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
  if (Liveness::IsLifecycle(h.kind)) return liveness_.OnLifecycle(src, h);
  if (aborting_) return;
  if (!peers_.reachable(src)) return;  // a failed rank's late messages
  if (h.kind == MessageKind::kProbe) return stalls_.Answer(src, h);
  if (h.kind == MessageKind::kProbeReply) return stalls_.TakeReply(src, h);
  if (h.kind == MessageKind::kWindow) {
    void* destination = windows_.Accept(*incoming, inline_data, inline_bytes);
    if (destination != nullptr) receiver_.Post(incoming, destination);
    return;
  }
  ReceiveForOp(incoming, inline_data, inline_bytes);
}

void Engine::Impl::ReceiveForOp(const std::shared_ptr<Incoming>& incoming,
                                const char* inline_data, size_t inline_bytes) {
  Arrival& a = incoming->arrival;
  const MessageHeader& h = a.header;
  OpKey key{h.name, h.instance};
  std::shared_ptr<Job> job = ops_.Find(key);
  bool stale = !job && ops_.Started(h.name, h.instance);
  if (stale && h.kind == MessageKind::kData && !ops_.RecentlyFailed(key))
    WarnUnconsumed(a.src, h);
  a.bytes = h.payload_bytes;
  if (h.payload_tag == 0) {
    if (inline_bytes != h.payload_bytes) {
      BF_LOG(kError) << "dropping message from rank " << a.src
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
    return ops_.Park(key, incoming);
  }
  void* destination = nullptr;
  if (job && !job->op->finished()) destination = job->op->PayloadDestination(a.src, h);
  if (destination == nullptr) {
    a.buffer = pool_.Acquire(h.payload_bytes);
    destination = a.buffer.data();
  }
  a.data = static_cast<const char*>(destination);
  if (job) {
    incoming->target = job;
  } else if (!stale) {
    ops_.Park(key, incoming);
  }
  receiver_.Post(incoming, destination);
}

bool Engine::Impl::PollReceives() {
  return receiver_.Poll([&](const std::shared_ptr<Incoming>& incoming, const std::string& error) {
    if (incoming->window_request) {
      if (error.empty()) windows_.Serve(incoming->arrival);
      return;
    }
    auto job = incoming->target.lock();
    if (!job) return;  // parked (or stale) until an op wants it
    if (!error.empty()) {
      FailJob(job,
              Status::PeerFailure("receiving from rank " +
                                  std::to_string(incoming->arrival.src) + " failed: " + error),
              true);
      return;
    }
    Deliver(job, incoming->arrival);
  });
}

bool Engine::Impl::PollSends() {
  return sends_.Poll([&](SendPart& part, int dst, const std::string& error) {
    auto& job = part.job;
    job->pending_sends--;
    job->last_progress = Clock::now();
    if (!error.empty()) {
      FailJob(job,
              Status::PeerFailure("sending to rank " + std::to_string(dst) +
                                  " failed: " + error),
              true);
    } else if (part.carries_payload) {
      Guarded(job, [&](OpContext& context) { job->op->OnSendComplete(context, part.step); });
    }
    MaybeComplete(job);
  });
}

}  // namespace bluefog
