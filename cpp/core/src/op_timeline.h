// The engine's timeline events for an op's life, in the row of its name:
// under Timeline::kEngineTid, ENQUEUE_<OP> from submit to start, MPI_<OP>
// from start to completion, COMPUTE_AVERAGE for each reduction inside it,
// and instants "STALL: ..." and "FAILED: <message>"; under
// Timeline::PeerTid(p), WAIT_FOR_RANK_<p> from the op's start (or from when
// it came to need p) until p's data arrived, with TRANSFER_FROM_RANK_<p>
// inside it for a payload that travelled apart from its header,
// FUSED_FRAME_TO_RANK_<p> instants, and SERVE_<OP>_FOR_RANK_<p> for a window
// request served. Each costs one relaxed atomic load when the timeline is
// off. docs/timeline.md shows what they look like.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "bluefog/core/op.h"
#include "bluefog/core/status.h"
#include "bluefog/core/timeline.h"
#include "engine_job.h"

namespace bluefog {

// The peers an op waits for, each since when; kept only while the timeline
// records.
struct OpTrace {
  std::vector<std::pair<int, Clock::time_point>> waiting;
};

namespace op_timeline {

inline bool On() { return Timeline::Global().enabled(); }

// "ENQUEUE_" + kNeighborAllreduce -> "ENQUEUE_NEIGHBOR_ALLREDUCE" (0.3's names).
std::string Activity(const char* prefix, OpType type);

void Queued(const OpIdentity& id);
// Before the op's Start: ENQUEUE_ ends, MPI_ begins.
void Started(Job& job);
// After one of the op's steps (Start, OnData): the peers it now waits for.
// Waits that ended, ended at `step_began` (when the data came, not after
// the step handled it).
void UpdateWaiting(Job& job, Clock::time_point step_began);
// A payload from `src` that landed now, its header having arrived at `since`.
void Transferred(const Job& job, int src, Clock::time_point since);
// A reduction step of the op that began at `begin` ended now (recorded for
// the op kinds that reduce).
void Reduced(const Job& job, Clock::time_point begin);
void Stalled(const Job& job, const std::string& message);
// The op completed with `status`: waits still open end now.
void Done(Job& job, const Status& status);
// A frame of `messages` messages (`bytes` in all) to `dst` carried this op's.
void Fused(const Job& job, int dst, size_t messages, size_t bytes);
// A window request of `src` (header `h`) served from `begin` until now.
void Served(const MessageHeader& h, int src, Clock::time_point begin);

}  // namespace op_timeline
}  // namespace bluefog
