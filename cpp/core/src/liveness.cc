#include "liveness.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "bluefog/core/logging.h"

namespace bluefog {

namespace {

// A send to a rank that has shut down that has not completed this long after
// its goodbye never will.
constexpr auto kGoneSendGrace = std::chrono::seconds(1);

bool ProcessAlive(int pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no procfs: trust kill()
  size_t paren = line.rfind(')');
  return !(paren != std::string::npos && paren + 2 < line.size() &&
           (line[paren + 2] == 'Z' || line[paren + 2] == 'X'));
}

bool Contains(const std::vector<int>& ranks, int r) {
  return std::find(ranks.begin(), ranks.end(), r) != ranks.end();
}

}  // namespace

void Liveness::Reset(Transport* transport, int rank) {
  transport_ = transport;
  rank_ = rank;
  peers_.Reset(transport->pids(), transport->hosts());
}

void Liveness::Check(Clock::time_point now) {
  parts_.receiver.DropLandedOrphans();
  std::set<int> watched;
  for (auto& job : parts_.ops.Active())
    for (int r : job->op->Participants()) watched.insert(r);
  for (int r : parts_.sends.Destinations()) watched.insert(r);
  // A dead holder of one of our window mutexes would keep it forever.
  for (int r : parts_.windows.MutexRanks()) watched.insert(r);
  for (int r : watched)
    if (IsPeer(r)) CheckAlive(r);
  for (auto& job : parts_.ops.Active()) CheckDeparted(job);
  for (int r = 0; r < peers_.size(); ++r)
    if (peers_.state(r) == PeerTable::State::kGone && now - peers_.since(r) >= kGoneSendGrace)
      AbandonSendsTo(r);
}

void Liveness::CheckAlive(int r) {
  if (peers_.lost(r) || peers_.state(r) == PeerTable::State::kGone ||
      !transport_->same_host(r) || ProcessAlive(transport_->pid_of(r)))
    return;
  if (peers_.MarkDead(r)) {
    BF_LOG(kError) << peers_.Why(r) << "; failing the ops that need it";
    PeerLost(r);
  }
}

void Liveness::OnLifecycle(int src, const MessageHeader& h) {
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
      for (auto& job : parts_.ops.Active())
        if (Contains(job->op->WaitingOn(), src)) parts_.stalls.Probe(job, {src});
      return;
    case MessageKind::kGone:
      if (peers_.MarkGone(src)) {
        parts_.windows.ReleaseRank(src);
        Check(Clock::now());
      }
      return;
    default:
      return;
  }
}

void Liveness::CheckStart(const std::shared_ptr<Job>& job) {
  const Op& op = *job->op;
  bool any_lost = false;
  for (int r : op.Participants())
    if (IsPeer(r)) any_lost |= peers_.lost(r);
  if (any_lost)
    parts_.engine.FailJob(job, LostStatus(CulpritAmong(op.Participants()), op), true);
}

void Liveness::PeerLost(int r) {
  AbandonSendsTo(r);
  parts_.receiver.Orphan(r);  // their ops fail below
  for (auto& job : parts_.ops.Active())
    if (Contains(job->op->Participants(), r))
      parts_.engine.FailJob(job, LostStatus(r, *job->op), true);
  parts_.windows.ReleaseRank(r);
}

void Liveness::AbandonSendsTo(int r) {
  for (SendPart& part : parts_.sends.TakeTo(r)) {
    part.job->pending_sends--;
    part.job->op->Fail(LostStatus(r, *part.job->op));
    parts_.engine.MaybeComplete(part.job);
  }
}

int Liveness::CulpritAmong(const std::vector<int>& ranks) {
  for (int r : ranks)
    if (IsPeer(r) && peers_.reachable(r)) CheckAlive(r);
  int culprit = -1;
  for (int r : ranks) {
    if (!IsPeer(r) || peers_.reachable(r)) continue;
    if (culprit < 0 || peers_.state(r) > peers_.state(culprit) ||
        (peers_.state(r) == peers_.state(culprit) && peers_.since(r) < peers_.since(culprit)))
      culprit = r;
  }
  return culprit;
}

// Ranks that shut down normally finished all their ops first, and their last
// messages arrived before their goodbye. So an op still waiting for such a
// rank's message (not for a payload already on its way) waits for an op
// that rank never posted.
void Liveness::CheckDeparted(const std::shared_ptr<Job>& job) {
  Op& op = *job->op;
  if (op.finished()) return;
  std::vector<int> never;
  for (int r : op.WaitingOn())
    if (r >= 0 && r < peers_.size() && peers_.state(r) == PeerTable::State::kGone &&
        !parts_.receiver.OnItsWay(job, r))
      never.push_back(r);
  if (never.empty()) return;
  int r = CulpritAmong(never);
  parts_.engine.FailJob(
      job, Status::PeerFailure(peers_.Why(r) + " without posting " + op.Describe()), true);
}

void Liveness::TellPeer(int dst, MessageKind kind, const std::string& text,
                        bool even_if_unreachable, uint8_t flags) {
  if (dst == rank_ || (!peers_.reachable(dst) && !even_if_unreachable)) return;
  MessageHeader h;
  h.kind = kind;
  h.flags = flags;
  h.text = text;
  parts_.sends.SendControl(dst, h);
}

void Liveness::SendAbort(const std::string& reason, bool consequence) {
  for (int r = 0; r < peers_.size(); ++r)
    if (r != rank_ && peers_.reachable(r)) awaiting_acks_.insert(r);
  TellPeers(MessageKind::kAbort, reason, consequence ? kAbortIsConsequence : 0);
}

}  // namespace bluefog
