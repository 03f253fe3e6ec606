// Stall warnings and deadlines: asking the peers of a stuck op whether
// they posted it and what they are doing, and reporting or failing with it.
#include "engine_impl.h"

namespace bluefog {

void Engine::Impl::CheckStalls(Clock::time_point now) {
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

std::vector<int> Engine::Impl::ProbeTargets(const Op& op) const {
  std::vector<int> ranks = op.WaitingOn();
  if (ranks.empty()) ranks = op.Participants();
  std::vector<int> targets;
  for (int r : ranks)
    if (r != world_.rank && r >= 0 && r < world_.size && peers_.reachable(r))
      targets.push_back(r);
  return targets;
}

void Engine::Impl::FailAtDeadline(StallProbe& probe) {
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

std::string Engine::Impl::DisplayName(const MessageHeader& h) {
  if (IsUnnamedKey(h.name))
    return std::string(OpTypeName(h.op)) + ".noname." + std::to_string(h.instance);
  return h.name;
}

void Engine::Impl::SendProbes(const std::shared_ptr<Job>& job, const std::vector<int>& ranks,
                              bool report_stall, bool for_deadline) {
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

std::string Engine::Impl::DescribeActivity() {
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

bool Engine::Impl::HasPosted(const std::string& key, uint64_t instance) {
  auto started = started_.find(key);
  if (started != started_.end() && started->second > instance) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  auto posted = posted_.find(key);
  return posted != posted_.end() && posted->second > instance;
}

void Engine::Impl::AnswerProbe(int src, const MessageHeader& probe) {
  MessageHeader reply = probe;
  reply.kind = MessageKind::kProbeReply;
  reply.flags = HasPosted(probe.name, probe.instance) ? 1 : 0;
  reply.text = DescribeActivity();
  std::vector<char> bytes;
  EncodeMessage(reply, nullptr, 0, &bytes);
  SendControl(src, std::move(bytes));
}

void Engine::Impl::TakeProbeReply(int src, const MessageHeader& reply) {
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

void Engine::Impl::ReportStall(const StallProbe& probe) {
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

}  // namespace bluefog
