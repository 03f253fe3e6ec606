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

void EndWait(Job& job, int peer, Clock::time_point since, Clock::time_point now) {
  job.trace->events.push_back(
      {'X', "WAIT_FOR_RANK_", peer, since, now, Timeline::PeerTid(peer), {}});
}

// The engine's names of each op type, built once, so that recording one
// builds no string: ENQUEUE_<OP>, MPI_<OP> and SERVE_<OP>_FOR_RANK_.
struct ActivityNames {
  std::string enqueue, mpi, serve;
};

const ActivityNames& NamesOf(OpType type) {
  static const std::vector<ActivityNames>* names = [] {
    auto* all = new std::vector<ActivityNames>(static_cast<size_t>(kLastOpType) + 1);
    for (size_t t = 1; t < all->size(); ++t) {
      auto op = static_cast<OpType>(t);
      (*all)[t] = {Activity("ENQUEUE_", op), Activity("MPI_", op),
                   Activity("SERVE_", op) + "_FOR_RANK_"};
    }
    return all;
  }();
  return (*names)[static_cast<size_t>(type)];
}

}  // namespace

std::string Activity(const char* prefix, OpType type) {
  std::string name = prefix;
  for (const char* c = OpTypeName(type); *c; ++c)
    name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(*c))));
  return name;
}

void Queued(Job& job) {
  if (!On()) return;
  job.trace = std::make_unique<OpTrace>();
  job.trace->queued = Clock::now();
  job.trace->events.reserve(8);
}

namespace {

// The op's ENQUEUE_ span and the start of its MPI_ span, once.
void Open(Job& job, std::vector<Timeline::Event>* out) {
  if (job.trace->opened) return;
  job.trace->opened = true;
  const ActivityNames& names = NamesOf(job.op->id().type);
  Clock::time_point start = job.start_time == Clock::time_point() ? Clock::now() : job.start_time;
  out->push_back({'B', names.enqueue.c_str(), -1, job.trace->queued, {}, Timeline::kEngineTid, {}});
  out->push_back({'E', nullptr, -1, start, {}, Timeline::kEngineTid, {}});
  out->push_back({'B', names.mpi.c_str(), -1, start, {}, Timeline::kEngineTid, {}});
}

}  // namespace

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

void Transferred(Job& job, int src, Clock::time_point since) {
  if (!job.trace || !On()) return;
  // A payload whose header came before the op started is nested in its wait.
  since = std::max(since, job.start_time);
  job.trace->events.push_back(
      {'X', "TRANSFER_FROM_RANK_", src, since, Clock::now(), Timeline::PeerTid(src), {}});
}

void Reduced(Job& job, Clock::time_point begin) {
  if (!job.trace || !Reduces(job.op->id().type) || !On()) return;
  Clock::time_point end = Clock::now();
  if (end - begin < kShortestReduction) return;
  job.trace->events.push_back({'X', "COMPUTE_AVERAGE", -1, begin, end, Timeline::kEngineTid, {}});
}

void Stalled(Job& job, const std::string& message) {
  if (!On()) return;
  std::vector<Timeline::Event> events;
  if (job.trace) {
    Open(job, &events);
    events.insert(events.end(), job.trace->events.begin(), job.trace->events.end());
    job.trace->events.clear();
  }
  events.push_back({'i', nullptr, -1, Clock::now(), {}, Timeline::kEngineTid, "STALL: " + message});
  Timeline::Global().RecordAll(Row(job), events);
}

void Done(Job& job, const Status& status, Clock::time_point completed) {
  if (!job.trace || !On()) return;
  Clock::time_point now = completed;
  for (const auto& w : job.trace->waiting) EndWait(job, w.first, w.second, now);
  std::vector<Timeline::Event> events;
  Open(job, &events);
  events.insert(events.end(), job.trace->events.begin(), job.trace->events.end());
  if (!status.ok())
    events.push_back(
        {'i', nullptr, -1, now, {}, Timeline::kEngineTid, "FAILED: " + status.message()});
  events.push_back({'E', nullptr, -1, now, {}, Timeline::kEngineTid, {}});
  job.trace.reset();
  Timeline::Global().RecordAll(Row(job), events);
}

void Fused(const Job& job, int dst, size_t messages, size_t bytes) {
  if (!On()) return;
  Timeline::Global().Instant(Row(job), "FUSED_FRAME_TO_RANK_", dst, Timeline::PeerTid(dst),
                             "{\"messages\": " + std::to_string(messages) +
                                 ", \"bytes\": " + std::to_string(bytes) + "}");
}

void Served(const MessageHeader& h, int src, Clock::time_point begin) {
  if (!On()) return;
  Timeline::Global().Complete(h.text, NamesOf(h.op).serve.c_str(), src, begin,
                              Clock::now(), Timeline::PeerTid(src));
}

}  // namespace op_timeline

// Here, where OpTrace is complete.
Job::Job() = default;
Job::~Job() = default;

}  // namespace bluefog
