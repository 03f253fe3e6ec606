#include "op_timeline.h"

#include <algorithm>
#include <cctype>

namespace bluefog {
namespace op_timeline {
namespace {

const std::string& Row(const Job& job) { return job.op->id().display_name; }

bool Reduces(OpType type) {
  return type == OpType::kAllreduce || type == OpType::kNeighborAllreduce ||
         type == OpType::kHierarchicalNeighborAllreduce || type == OpType::kPairGossip;
}

void EndWait(const Job& job, int peer, Clock::time_point since, Clock::time_point now) {
  Timeline::Global().Complete(Row(job), "WAIT_FOR_RANK_" + std::to_string(peer), since, now,
                              Timeline::PeerTid(peer));
}

}  // namespace

std::string Activity(const char* prefix, OpType type) {
  std::string name = prefix;
  for (const char* c = OpTypeName(type); *c; ++c)
    name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(*c))));
  return name;
}

void Queued(const OpIdentity& id) {
  if (!On()) return;
  Timeline::Global().Begin(id.display_name, Activity("ENQUEUE_", id.type), Timeline::kEngineTid);
}

void Started(Job& job) {
  if (!On()) return;
  Timeline& t = Timeline::Global();
  const OpIdentity& id = job.op->id();
  t.End(id.display_name, Timeline::kEngineTid);
  t.Begin(id.display_name, Activity("MPI_", id.type), Timeline::kEngineTid);
  job.trace = std::make_unique<OpTrace>();
}

void UpdateWaiting(Job& job, Clock::time_point step_began) {
  if (!job.trace || !On()) return;
  std::vector<int> awaited;
  if (!job.op->finished()) awaited = job.op->WaitingOn();
  auto& waiting = job.trace->waiting;
  for (size_t i = 0; i < waiting.size();) {
    if (std::find(awaited.begin(), awaited.end(), waiting[i].first) != awaited.end()) {
      ++i;
      continue;
    }
    EndWait(job, waiting[i].first, waiting[i].second, step_began);
    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
  }
  for (int peer : awaited) {
    bool known = std::any_of(waiting.begin(), waiting.end(),
                             [peer](const auto& w) { return w.first == peer; });
    if (!known) waiting.emplace_back(peer, step_began);
  }
}

void Transferred(const Job& job, int src, Clock::time_point since) {
  if (!job.trace || !On()) return;
  // A payload whose header came before the op started is nested in its wait.
  since = std::max(since, job.start_time);
  Timeline::Global().Complete(Row(job), "TRANSFER_FROM_RANK_" + std::to_string(src), since,
                              Clock::now(), Timeline::PeerTid(src));
}

void Reduced(const Job& job, Clock::time_point begin) {
  if (!job.trace || !Reduces(job.op->id().type) || !On()) return;
  Timeline::Global().Complete(Row(job), "COMPUTE_AVERAGE", begin, Clock::now(),
                              Timeline::kEngineTid);
}

void Stalled(const Job& job, const std::string& message) {
  if (!On()) return;
  Timeline::Global().Instant(Row(job), "STALL: " + message, Timeline::kEngineTid);
}

void Done(Job& job, const Status& status) {
  if (!On()) return;
  Timeline& t = Timeline::Global();
  if (job.trace) {
    Clock::time_point now = Clock::now();
    for (const auto& w : job.trace->waiting) EndWait(job, w.first, w.second, now);
    job.trace.reset();
  }
  if (!status.ok()) t.Instant(Row(job), "FAILED: " + status.message(), Timeline::kEngineTid);
  t.End(Row(job), Timeline::kEngineTid);
}

void Fused(const Job& job, int dst, size_t messages, size_t bytes) {
  if (!On()) return;
  Timeline::Global().Instant(
      Row(job), "FUSED_FRAME_TO_RANK_" + std::to_string(dst), Timeline::PeerTid(dst),
      "{\"messages\": " + std::to_string(messages) + ", \"bytes\": " + std::to_string(bytes) +
          "}");
}

void Served(const MessageHeader& h, int src, Clock::time_point begin) {
  if (!On()) return;
  Timeline::Global().Complete(
      h.text, Activity("SERVE_", h.op) + "_FOR_RANK_" + std::to_string(src), begin,
      Clock::now(), Timeline::PeerTid(src));
}

}  // namespace op_timeline

// Here, where OpTrace is complete.
Job::Job() = default;
Job::~Job() = default;

}  // namespace bluefog
