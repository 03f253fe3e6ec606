// LibTorch API of bluefog: what the Python module uses, usable from C++ too.
//
//   namespace api = bluefog::api;
//   api::init();
//   at::Tensor avg = api::allreduce(t, {.name = "w"}).result();  // averaged
//   // ({.field = ...}: C++20's designated initialisers, also GCC/Clang's C++17)
//   api::AllreduceOptions sum;
//   sum.average = false;
//   sum.output = t;                                   // in place
//   api::Work work = api::allreduce(t, sum);
//   ...                                               // overlap other work
//   if (!work.wait(5.0)) { /* not done within 5 s */ }
//   work.result();                                    // throws the op's error
//   api::shutdown();
//
// Ops return a Work (bluefog/work.h), which owns the tensors it uses until
// the op completes; their options are in bluefog/options.h. Errors are the
// typed exceptions of bluefog/core/status.h: InvalidArgument for bad
// arguments, thrown at the call; the op's failure from Work::result().
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bluefog/core/engine.h"
#include "bluefog/core/status.h"
#include "bluefog/options.h"
#include "bluefog/work.h"

namespace bluefog {
namespace api {

// Throws on failure. When it fails after MPI started, MPI is finalised and
// bluefog stays uninitialised for the rest of the process: later calls
// raise InvalidArgument saying why, and init throws Error.
void init();
// The caller's part of init failed after init() returned (the Python
// module's topology and consistency checks): stops the engine and leaves
// bluefog uninitialised as above, remembering `reason`.
void abandon_init(const std::string& reason);
void shutdown();
// Ends this rank on an error: peers fail the ops that need it (see Engine::Abort).
void abort(const std::string& reason, bool consequence = false);
bool is_initialized();
int size();
int rank();
int local_size();
int local_rank();
int machine_size();
int machine_rank();
bool is_homogeneous();
bool mpi_threads_supported();
bool unified_mpi_window_model_supported();
void suspend();
void resume();

// ---- Nonblocking ops: each returns a Work (bluefog/work.h) at once ----
// Arguments are checked at the call (InvalidArgument); failures during
// communication come from the Work. Options: bluefog/options.h.
Work allreduce(const at::Tensor& tensor, const AllreduceOptions& options = {});
Work broadcast(const at::Tensor& tensor, const BroadcastOptions& options = {});
// Dim 0 may differ between ranks; the result is their concatenation in rank order.
Work allgather(const at::Tensor& tensor, const AllgatherOptions& options = {});
Work barrier(const BarrierOptions& options = {});
Work neighbor_allreduce(const at::Tensor& tensor, const NeighborAllreduceOptions& options = {});
// Needs more than one rank per machine (or BLUEFOG_NODES_PER_MACHINE).
Work hierarchical_neighbor_allreduce(const at::Tensor& tensor,
                                     const HierarchicalNeighborAllreduceOptions& options = {});
// target_rank must call it with this rank. Errors name pair_gossip.
Work pair_gossip(const at::Tensor& tensor, int target_rank,
                 const PairGossipOptions& options = {});
Work neighbor_allgather(const at::Tensor& tensor, const NeighborAllgatherOptions& options = {});

// ---- One-sided windows (see bluefog/core/window.h) ----
// Registers `tensor` (contiguous; kept by reference and updated in place by
// win_update) under `name`, with a buffer per in-neighbour. Local: the
// Python layer makes it collective.
void win_create(const at::Tensor& tensor, const std::string& name,
                const std::vector<int>& in_neighbors, bool zero_init);
bool win_free(const std::string& name);
// `tensor`: what put/accumulate send (the window's dtype and shape); unused
// (undefined) for get.
Work win_transfer(const std::string& name, const at::Tensor& tensor,
                  const WinTransferOptions& options = {});
Work win_mutex(const std::string& name, const WinMutexOptions& options = {});
Work win_lock(const std::string& name, const WinLockOptions& options = {});
at::Tensor win_update(const std::string& name, double self_weight,
                      const std::vector<std::pair<int, double>>& weights, bool reset,
                      bool clone, bool with_p);
at::Tensor win_update_then_collect(const std::string& name, bool with_p);
std::map<int, int64_t> win_versions(const std::string& name);
std::vector<std::string> win_names();
double win_p(const std::string& name);
void win_set_p(const std::string& name, double p);

// ---- Timeline (bluefog/core/timeline.h) ----
// Whether this rank records a timeline (BLUEFOG_TIMELINE was set at init).
bool timeline_enabled();
// Pauses (false) or resumes (true) recording, the file staying open: for
// benchmarks comparing both in one process, called between ops. False when
// the timeline was not started.
bool timeline_set_recording(bool on);
// A user activity on `tensor_name`'s row, under the calling thread's tid.
// Both return false, recording nothing, when the timeline is off, and end
// also when no activity is open on that tensor.
bool timeline_start_activity(const std::string& tensor_name, const std::string& activity_name);
bool timeline_end_activity(const std::string& tensor_name);

// Messages received since init: per peer, and as MPI messages (a fused frame
// of several messages counts once). For tests of who talks and of fusion.
MessageCounts message_counts();

}  // namespace api
}  // namespace bluefog
