#include "op_lifecycle.h"

#include <algorithm>

#include "bluefog/core/logging.h"
#include "op_timeline.h"

namespace bluefog {

namespace {

// What a peer's error notice means here: its shutdown is our peer failure.
StatusCode ReportedCode(uint8_t code) {
  if (code == 0 || code > static_cast<uint8_t>(kLastStatusCode)) return StatusCode::kInternal;
  auto reported = static_cast<StatusCode>(code);
  return reported == StatusCode::kShutdown ? StatusCode::kPeerFailure : reported;
}

}  // namespace

void WarnUnconsumed(int src, const MessageHeader& h) {
  BF_LOG(kWarning) << "rank " << src << " sent data for " << OpTypeName(h.op) << " '"
                   << DisplayName(h) << "' that this rank's op completed without: the "
                   << "sender's destinations and this rank's sources disagree";
}

// What an op sees of the engine during one of its steps: its sends are the
// job's.
class OpLifecycle::JobContext : public OpContext {
 public:
  JobContext(OpLifecycle& lifecycle, const std::shared_ptr<Job>& job)
      : lifecycle_(lifecycle), job_(job) {}
  int rank() const override { return lifecycle_.rank_; }
  int size() const override { return lifecycle_.size_; }
  BufferPool& pool() override { return lifecycle_.parts_.pool; }
  void Send(int dst, const MessageHeader& header, const void* payload,
            size_t bytes) override {
    lifecycle_.Send(job_, dst, header, payload, bytes);
  }

 private:
  OpLifecycle& lifecycle_;
  const std::shared_ptr<Job>& job_;
};

template <typename F>
void OpLifecycle::Guarded(const std::shared_ptr<Job>& job, F&& step, bool even_if_finished) {
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

void OpLifecycle::Start(const std::shared_ptr<Job>& job) {
  Op& op = *job->op;
  job->start_time = Clock::now();
  job->last_stall_report = job->start_time;
  job->last_progress = job->start_time;
  parts_.ops.Activate(job);
  BF_LOG(kDebug) << "start " << op.Describe() << " instance " << op.id().instance;
  // A rank that left normally may have done its part before it left (its
  // messages wait below); one that failed or died has not.
  std::vector<int> closing;
  for (int r : op.Participants())
    if (r >= 0 && r < size_ && r != rank_ && parts_.peers.state(r) == PeerTable::State::kClosing)
      closing.push_back(r);
  parts_.liveness.CheckStart(job);
  Guarded(job, [&](OpContext& context) { op.Start(context); });
  op_timeline::UpdateWaiting(*job, Clock::now());
  // A rank in shutdown runs only what it posted before: ask.
  if (!closing.empty() && !op.finished()) parts_.stalls.Probe(job, closing);
  // Deliver what arrived before the op was posted.
  for (auto& incoming : parts_.ops.TakeParked(KeyOf(op.id()))) {
    if (incoming->complete) {
      Deliver(job, incoming->arrival);
    } else {
      incoming->target = job;
    }
  }
  parts_.liveness.CheckDeparted(job);
  MaybeComplete(job);
}

void OpLifecycle::Send(const std::shared_ptr<Job>& job, int dst, const MessageHeader& header,
                       const void* payload, size_t bytes) {
  // Window requests may target this rank's own window (its mutex).
  bool to_self_ok = header.kind == MessageKind::kWindow;
  if ((dst == rank_ && !to_self_ok) || dst < 0 || dst >= size_)
    throw InternalError("op sends to invalid rank " + std::to_string(dst));
  if (!parts_.peers.reachable(dst)) return;  // the op fails through its participants
  parts_.sends.Queue(job, dst, header, payload, bytes);
}

void OpLifecycle::Deliver(const std::shared_ptr<Job>& job, Arrival& arrival) {
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
    Clock::time_point arrived = job->trace ? Clock::now() : Clock::time_point();
    Guarded(job, [&](OpContext& context) { job->op->OnData(context, arrival); });
    op_timeline::Reduced(*job, arrived);
    op_timeline::UpdateWaiting(*job, arrived);
  }
  MaybeComplete(job);
}

void OpLifecycle::OnSent(const std::shared_ptr<Job>& job, int dst, int32_t step,
                         bool carries_payload, const std::string& error) {
  job->pending_sends--;
  job->last_progress = Clock::now();
  if (!error.empty()) {
    FailJob(job,
            Status::PeerFailure("sending to rank " + std::to_string(dst) + " failed: " + error),
            true);
  } else if (carries_payload) {
    Guarded(job, [&](OpContext& context) { job->op->OnSendComplete(context, step); });
  }
  MaybeComplete(job);
}

void OpLifecycle::FailJob(const std::shared_ptr<Job>& job, Status status, bool notify) {
  job->op->Fail(std::move(status));
  if (notify && !job->failure_sent) {
    job->failure_sent = true;
    NotifyFailure(job);
  }
  MaybeComplete(job);
}

void OpLifecycle::NotifyFailure(const std::shared_ptr<Job>& job) {
  parts_.ops.Remove(job);
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
    if ((r == rank_ && !to_self_ok) || !parts_.peers.reachable(r)) continue;
    parts_.sends.SendControl(r, notice.second);
  }
}

void OpLifecycle::MaybeComplete(const std::shared_ptr<Job>& job) {
  Op& op = *job->op;
  if (!op.finished() || job->pending_sends > 0 || job->completed) return;
  if (op.status().ok()) {
    Clock::time_point began = job->trace ? Clock::now() : Clock::time_point();
    Guarded(job, [&](OpContext& context) { op.Conclude(context); }, true);
    op_timeline::Reduced(*job, began);
  }
  if (job->pending_sends > 0) return;  // Conclude failed and notified peers
  job->completed = true;
  parts_.ops.Remove(job);
  Status status = op.status();
  BF_LOG(kDebug) << "done " << op.Describe() << " instance " << op.id().instance
                 << (status.ok() ? "" : ": " + status.message());
  if (!status.ok())
    status = status.WithMessage("rank " + std::to_string(rank_) + ": " + status.message());
  parts_.names.Release(op.id());
  Clock::time_point completed = job->trace ? Clock::now() : Clock::time_point();
  {
    std::lock_guard<std::mutex> lock(job->handle->mutex);
    job->handle->done = true;
    job->handle->status = status;
  }
  job->handle->cv.notify_all();
  op_timeline::Done(*job, status, completed);  // after the waiter woke: off the op's path
}

}  // namespace bluefog
