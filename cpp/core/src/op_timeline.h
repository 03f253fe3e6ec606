// The engine's timeline events for an op's life, in the row of its name:
// under Timeline::kEngineTid, ENQUEUE_<OP> from submit to start, MPI_<OP>
// from start to completion, COMPUTE_AVERAGE for each reduction inside it,
// and instants "STALL: ..." and "FAILED: <message>"; under
// Timeline::PeerTid(p), WAIT_FOR_RANK_<p> from the op's start (or from when
// it came to need p) until p's data arrived, with TRANSFER_FROM_RANK_<p>
// inside it for a payload that travelled apart from its header,
// FUSED_FRAME_TO_RANK_<p> instants, and SERVE_<OP>_FOR_RANK_<p> for a window
// request served. An op's own events are written once it completed (or
// stalled), after its waiter woke, so that recording stays off its path;
// the others as they happen. Each call costs one relaxed atomic load when
// the timeline is off. docs/timeline.md shows what they look like.
#pragma once
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "bluefog/core/op.h"
#include "bluefog/core/status.h"
#include "bluefog/core/timeline.h"
#include "engine_job.h"

namespace bluefog {

// What the timeline keeps of an op while it runs (only while the timeline
// records): its events are collected here without a lock and written once
// it completed, after its waiter was woken, so that recording stays off the
// op's path. An op that stalls is written at once (so that a hang shows).
struct OpTrace {
  Clock::time_point queued;
  bool opened = false;  // ENQUEUE_ and the B of MPI_ are in the file already
  std::vector<std::pair<int, Clock::time_point>> waiting;  // peers, since when
  std::vector<Timeline::Event> events;                      // ended, not yet written
};

namespace op_timeline {

inline bool On() { return Timeline::Global().enabled(); }

// "ENQUEUE_" + kNeighborAllreduce -> "ENQUEUE_NEIGHBOR_ALLREDUCE" (0.3's names).
std::string Activity(const char* prefix, OpType type);

// Reductions shorter than this are not recorded: they would show as 0 µs
// and cost as much to record as the op's other events.
constexpr auto kShortestReduction = std::chrono::microseconds(1);

// At submit: the job is queued now.
void Queued(Job& job);
// After one of the op's steps (Start, OnData): the peers it now waits for.
// Waits that ended, ended at `step_began` (when the data came, not after
// the step handled it).
void UpdateWaiting(Job& job, Clock::time_point step_began);
// A payload from `src` that landed now, its header having arrived at `since`.
void Transferred(Job& job, int src, Clock::time_point since);
// A reduction step of the op that began at `begin` ended now (recorded for
// the op kinds that reduce).
void Reduced(Job& job, Clock::time_point begin);
void Stalled(Job& job, const std::string& message);
// The op completed at `completed` with `status` (its waiter was woken
// since): writes its events; waits still open end at its completion.
void Done(Job& job, const Status& status, Clock::time_point completed);
// A frame of `messages` messages (`bytes` in all) to `dst` carried this op's.
void Fused(const Job& job, int dst, size_t messages, size_t bytes);
// A window request of `src` (header `h`) served from `begin` until now.
void Served(const MessageHeader& h, int src, Clock::time_point begin);

}  // namespace op_timeline
}  // namespace bluefog
