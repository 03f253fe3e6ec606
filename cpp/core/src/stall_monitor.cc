#include "stall_monitor.h"

#include <algorithm>
#include <sstream>

#include "bluefog/core/logging.h"
#include "bluefog/core/tensor.h"
#include "op_timeline.h"

namespace bluefog {

namespace {

// How long a deadline waits for the peers' answers on what they are doing.
constexpr auto kDeadlineProbeWait = std::chrono::seconds(2);

}  // namespace

void StallMonitor::Check(Clock::time_point now) {
  WarnUnconsumed(now);
  auto limit = std::chrono::duration<double>(config_.stall_warning_seconds);
  auto timeout = std::chrono::duration<double>(config_.op_timeout_seconds);
  for (auto& job : ops_.Active()) {
    Op& op = *job->op;
    if (op.finished() && job->pending_sends == 0) continue;
    auto probe = probes_.find(KeyOf(op.id()));
    if (probe != probes_.end() && probe->second.for_deadline) {
      if (now - probe->second.sent >= kDeadlineProbeWait) FailAtDeadline(probe->second);
      continue;
    }
    if (config_.op_timeout_seconds > 0 && now - job->last_progress >= timeout) {
      Probe(job, Targets(op), false, true);
      continue;
    }
    if (now - job->last_stall_report < limit) continue;
    job->last_stall_report = now;
    double waited = std::chrono::duration<double>(now - job->start_time).count();
    std::string stall = op.Describe() + " has waited " + std::to_string(static_cast<int>(waited)) +
                        " s for data from ranks " + ListString(op.WaitingOn());
    BF_LOG(kWarning) << stall << "; asking its peers whether they posted it";
    op_timeline::Stalled(*job, stall);
    Probe(job, Targets(op), true, false);
  }
}

// Data nobody here consumed: a sender whose destinations disagree with our
// sources (e.g. dynamic weights with enable_topo_check=False).
void StallMonitor::WarnUnconsumed(Clock::time_point now) {
  auto limit = std::chrono::duration<double>(config_.stall_warning_seconds);
  ops_.ForEachParked([&](Incoming& incoming) {
    if (incoming.reported || now - incoming.arrived < limit) return;
    incoming.reported = true;
    const MessageHeader& h = incoming.arrival.header;
    BF_LOG(kWarning) << "rank " << incoming.arrival.src << " sent data for "
                     << OpTypeName(h.op) << " '" << DisplayName(h)
                     << "' that no op on this rank has taken for "
                     << config_.stall_warning_seconds
                     << " s: its destinations and this rank's sources disagree, or "
                        "this rank has not posted the op yet";
  });
}

std::vector<int> StallMonitor::Targets(const Op& op) const {
  std::vector<int> ranks = op.WaitingOn();
  if (ranks.empty()) ranks = op.Participants();
  std::vector<int> targets;
  for (int r : ranks)
    if (r != rank_ && r >= 0 && r < peers_.size() && peers_.reachable(r))
      targets.push_back(r);
  return targets;
}

void StallMonitor::FailAtDeadline(Probing& probe) {
  auto job = probe.job;
  const Op& op = *job->op;
  double idle = std::chrono::duration<double>(Clock::now() - job->last_progress).count();
  std::ostringstream text;
  text << op.Describe() << " timed out: no progress for " << static_cast<int>(idle)
       << " s (BLUEFOG_OP_TIMEOUT_SECONDS=" << config_.op_timeout_seconds
       << ") while waiting for ranks " << ListString(op.WaitingOn());
  auto answers = probe.answers;
  std::sort(answers.begin(), answers.end(),
            [](const auto& a, const auto& b) { return a.rank < b.rank; });
  for (const auto& answer : answers)
    text << "; rank " << answer.rank << (answer.posted ? " posted it" : " has not posted it")
         << " and is " << answer.doing;
  for (int r : probe.awaiting) text << "; rank " << r << " did not answer";
  probes_.erase(KeyOf(op.id()));
  engine_.FailJob(job, Status::Timeout(text.str()), true);
}

void StallMonitor::Probe(const std::shared_ptr<Job>& job, const std::vector<int>& ranks,
                         bool report_stall, bool for_deadline) {
  const OpIdentity& id = job->op->id();
  Probing& probe = probes_[KeyOf(id)];
  if (probe.job != job || for_deadline || report_stall) {
    if (probe.job != job) probe = Probing();
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
    if (r == rank_ || !peers_.reachable(r)) continue;
    probe.awaiting.insert(r);
    sends_.SendControl(r, h);
  }
  if (for_deadline && probe.awaiting.empty()) FailAtDeadline(probe);
}

void StallMonitor::Answer(int src, const MessageHeader& probe) {
  MessageHeader reply = probe;
  reply.kind = MessageKind::kProbeReply;
  reply.flags = activity_.HasPosted(probe.name, probe.instance) ? 1 : 0;
  reply.text = activity_.DescribeActivity();
  sends_.SendControl(src, reply);
}

void StallMonitor::TakeReply(int src, const MessageHeader& reply) {
  auto it = probes_.find(OpKey{reply.name, reply.instance});
  if (it == probes_.end() || !it->second.awaiting.erase(src)) return;
  Probing& probe = it->second;
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
    engine_.FailJob(job, Status::PeerFailure(peers_.Why(src) + " without posting " +
                                             job->op->Describe()),
                    true);
    return;
  }
  if (!probe.awaiting.empty()) return;
  if (probe.for_deadline) return FailAtDeadline(probe);
  if (probe.report_stall) Report(probe);
  probes_.erase(it);
}

void StallMonitor::Report(const Probing& probe) {
  std::vector<int> not_posted;
  for (const auto& answer : probe.answers)
    if (!answer.posted) not_posted.push_back(answer.rank);
  std::sort(not_posted.begin(), not_posted.end());
  const Op& op = *probe.job->op;
  if (not_posted.empty()) {
    BF_LOG(kWarning) << op.Describe()
                     << ": every peer has posted it; still waiting for data from ranks "
                     << ListString(op.WaitingOn());
    return;
  }
  std::ostringstream doing;
  for (const auto& answer : probe.answers)
    if (!answer.posted) doing << "; rank " << answer.rank << " is " << answer.doing;
  BF_LOG(kWarning) << op.Describe() << ": ranks " << ListString(not_posted)
                   << " have not posted this op yet (stalled)" << doing.str();
}

}  // namespace bluefog
