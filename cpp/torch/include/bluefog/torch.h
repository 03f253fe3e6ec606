// LibTorch API of bluefog: what the Python module uses, usable from C++ too.
//
//   bluefog::api::init();
//   at::Tensor avg = bluefog::api::synchronize(
//       bluefog::api::allreduce_nonblocking(t, at::Tensor(), true, false, "w"));
//
// Nonblocking calls return a handle. Errors are thrown as
// bluefog::InvalidArgument (bad arguments) or bluefog::Error (failures).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bluefog/core/engine.h"
#include "bluefog/core/status.h"

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

// `output` undefined: a new tensor is returned; `output` == `tensor`: in place.
int64_t allreduce_nonblocking(const at::Tensor& tensor, at::Tensor output,
                              bool average, bool is_hierarchical_local,
                              const std::string& name);
int64_t broadcast_nonblocking(const at::Tensor& tensor, at::Tensor output,
                              int root_rank, const std::string& name);
int64_t allgather_nonblocking(const at::Tensor& tensor, const std::string& name);

// Weights must pass CheckWeight (bluefog/core/weights.h).
// self_weight * tensor + sum over srcs of weight * (their tensor scaled by
// the weight they were sent with); sends this tensor to each of dsts.
int64_t neighbor_allreduce_nonblocking(const at::Tensor& tensor, at::Tensor output,
                                       double self_weight,
                                       const std::vector<std::pair<int, double>>& srcs,
                                       const std::vector<std::pair<int, double>>& dsts,
                                       const std::string& name);
// self_weight * tensor + pair_weight * target_rank's tensor; target_rank
// must call it with this rank. Errors name pair_gossip.
int64_t pair_gossip_nonblocking(const at::Tensor& tensor, int target_rank, double self_weight,
                                double pair_weight, const std::string& name);
// Average over this machine's ranks, then neighbour averaging between machines
// with this rank's counterparts (world ranks) on the source/destination machines.
int64_t hierarchical_neighbor_allreduce_nonblocking(
    const at::Tensor& tensor, double self_weight,
    const std::vector<std::pair<int, double>>& srcs,
    const std::vector<std::pair<int, double>>& dsts, const std::string& name);
// Concatenation of the srcs' tensors in the given order; sends to dsts.
int64_t neighbor_allgather_nonblocking(const at::Tensor& tensor, const std::vector<int>& srcs,
                                       const std::vector<int>& dsts, const std::string& name);
int64_t barrier_nonblocking();

bool poll(int64_t handle);
// Waits up to `seconds`; true when the op is done.
bool wait_for(int64_t handle, double seconds);
// The caller gives up waiting (e.g. on Ctrl-C): shutdown() will not wait for it.
void abandon(int64_t handle);
// Blocks until done; returns the result (undefined for barrier) or throws.
at::Tensor synchronize(int64_t handle);

// ---- One-sided windows (see bluefog/core/window.h) ----
// Registers `tensor` (contiguous; kept by reference and updated in place by
// win_update) under `name`, with a buffer per in-neighbour. Local: the
// Python layer makes it collective.
void win_create(const at::Tensor& tensor, const std::string& name,
                const std::vector<int>& in_neighbors, bool zero_init);
bool win_free(const std::string& name);
// op: "put", "accumulate" or "get". put/accumulate send `tensor` scaled by
// each peer's weight, then scale the window by self_weight when given; get
// reads each peer's window into this rank's buffer for it, scaled by weight.
int64_t win_transfer_nonblocking(const std::string& op, const at::Tensor& tensor,
                                 const std::string& name,
                                 const std::vector<std::pair<int, double>>& peers,
                                 std::optional<double> self_weight, bool require_mutex,
                                 bool with_p);
// Acquires (lock) or releases the distributed mutex of `ranks`' windows.
int64_t win_mutex_nonblocking(const std::string& name, const std::vector<int>& ranks,
                              bool lock);
// Takes (lock) or releases this rank's own window mutex exclusively: while it
// is held, neighbours' puts, accumulates and gets on this window wait too.
int64_t win_lock_nonblocking(const std::string& name, bool lock);
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
