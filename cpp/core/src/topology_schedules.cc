// The dynamic schedules: one-peer, machine exponential-2, inner-outer (see topology.h).
#include "bluefog/core/topology.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "topology_checks.h"

namespace bluefog {
namespace topology {
using namespace detail;

// ---------------------------------------------------------------------------
// Schedules

void DynamicSchedule::CheckStep(int rank, int64_t k) const {
  const std::string function = name() + "Schedule.Step";
  CheckRank(function, "rank", rank, size());
  if (k < 0) Fail(function, ": step must be >= 0, got ", k);
}

std::vector<SendRecv> DynamicSchedule::StepAll(int64_t k) const {
  std::vector<SendRecv> result;
  result.reserve(static_cast<std::size_t>(size()));
  for (int rank = 0; rank < size(); ++rank) result.push_back(Step(rank, k));
  return result;
}

OnePeerSchedule::OnePeerSchedule(const std::vector<std::vector<int>>& out_neighbors) {
  const int n = static_cast<int>(out_neighbors.size());
  CheckSize("OnePeerSchedule", n);
  clockwise_.resize(out_neighbors.size());
  for (int rank = 0; rank < n; ++rank) {
    std::vector<int>& sorted = clockwise_[static_cast<std::size_t>(rank)];
    for (int dst : out_neighbors[static_cast<std::size_t>(rank)]) {
      if (dst < 0 || dst >= n) {
        Fail("OnePeerSchedule: rank ", rank, " has out-neighbour ", dst, " outside [0, ", n,
             ")");
      }
      if (dst != rank) sorted.push_back(dst);
    }
    std::sort(sorted.begin(), sorted.end(), [rank, n](int a, int b) {
      return Mod(a - rank, n) < Mod(b - rank, n);
    });
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    if (!sorted.empty()) {
      period_ = SaturatingLcm(period_, static_cast<int64_t>(sorted.size()));
    }
  }
}

OnePeerSchedule OnePeerSchedule::FromGraph(const WeightMatrix& w) {
  std::vector<std::vector<int>> out(static_cast<std::size_t>(w.size()));
  for (int rank = 0; rank < w.size(); ++rank) {
    out[static_cast<std::size_t>(rank)] = w.OutNeighbors(rank);
  }
  return OnePeerSchedule(out);
}

const std::vector<int>& OnePeerSchedule::ClockwiseOutNeighbors(int rank) const {
  CheckRank("OnePeerSchedule.ClockwiseOutNeighbors", "rank", rank, size());
  return clockwise_[static_cast<std::size_t>(rank)];
}

int OnePeerSchedule::SendAt(int rank, int64_t k) const {
  const std::vector<int>& sorted = clockwise_[static_cast<std::size_t>(rank)];
  if (sorted.empty()) return -1;
  return sorted[static_cast<std::size_t>(k % static_cast<int64_t>(sorted.size()))];
}

SendRecv OnePeerSchedule::Step(int rank, int64_t k) const {
  CheckStep(rank, k);
  SendRecv result;
  const int dst = SendAt(rank, k);
  if (dst >= 0) result.send_ranks.push_back(dst);
  for (int src = 0; src < size(); ++src) {
    if (src != rank && SendAt(src, k) == rank) result.recv_ranks.push_back(src);
  }
  return result;
}

std::vector<SendRecv> OnePeerSchedule::StepAll(int64_t k) const {
  CheckStep(0, k);
  std::vector<SendRecv> result(static_cast<std::size_t>(size()));
  for (int src = 0; src < size(); ++src) {
    const int dst = SendAt(src, k);
    if (dst < 0) continue;
    result[static_cast<std::size_t>(src)].send_ranks.push_back(dst);
    result[static_cast<std::size_t>(dst)].recv_ranks.push_back(src);  // ascending src
  }
  return result;
}

namespace {

int MachineCount(const char* function, int world_size, int local_size) {
  if (world_size < 1) Fail(function, ": world_size must be at least 1, got ", world_size);
  if (world_size > kMaxSize) {
    Fail(function, ": world_size must be at most ", kMaxSize, ", got ", world_size);
  }
  if (local_size < 1) Fail(function, ": local_size must be at least 1, got ", local_size);
  if (world_size % local_size != 0) {
    Fail(function, ": local_size ", local_size, " does not divide world_size ", world_size,
         " (only homogeneous machines are supported)");
  }
  return world_size / local_size;
}

// The inner-outer schedules: local_size 2 leaves the rank that is not talking
// across machines without a partner, so the two local indices never mix.
void CheckInnerOuterSizes(const char* function, int world_size, int local_size) {
  MachineCount(function, world_size, local_size);
  if (local_size == 2) {
    Fail(function, ": local_size 2 is not supported: the two local ranks of a machine would "
         "never exchange (use local_size 1 or > 2, hierarchical_neighbor_allreduce, or "
         "GetDynamicOnePeerSendRecvRanks)");
  }
}

// Number of distinct exponential-2 distances 1, 2, 4, ... <= m - 1 in a ring
// of m participants (floor(log2(m - 1)) + 1); 0 when m < 2.
int Exp2DistanceCount(int m) { return m < 2 ? 0 : FloorLog2(m - 1) + 1; }

// The inner ring of machine `machine` at step k: the local ranks other than
// t = k mod local_size, in local-index order starting after t. Fills `out`
// for the rank at local index `local` (which is not t) with the ranks at
// ring distance +distance (send) and -distance (recv).
void InnerRingStep(int machine, int local, int local_size, int64_t k, int64_t distance,
                   SendRecv* out) {
  const int t = static_cast<int>(k % local_size);
  const int ring = local_size - 1;
  if (ring < 2) return;  // alone in the ring
  const int64_t position = Mod(local - t - 1, local_size);
  auto rank_at = [&](int64_t p) {
    return machine * local_size + static_cast<int>(Mod(t + 1 + Mod(p, ring), local_size));
  };
  out->send_ranks.push_back(rank_at(position + distance));
  out->recv_ranks.push_back(rank_at(position - distance));
}

}  // namespace

Exp2MachineSchedule::Exp2MachineSchedule(int world_size, int local_size)
    : machines_(MachineCount("Exp2MachineSchedule", world_size, local_size)),
      exponents_(std::max(1, Exp2DistanceCount(machines_))) {}

SendRecv Exp2MachineSchedule::Step(int machine, int64_t k) const {
  CheckStep(machine, k);
  SendRecv result;
  if (machines_ < 2) return result;
  const int64_t distance = int64_t{1} << (k % exponents_);
  result.send_ranks.push_back(static_cast<int>(Mod(machine + distance, machines_)));
  result.recv_ranks.push_back(static_cast<int>(Mod(machine - distance, machines_)));
  return result;
}

InnerOuterSchedule::InnerOuterSchedule(std::string name, int world_size, int local_size)
    : name_(std::move(name)), world_size_(world_size), local_size_(local_size) {
  CheckInnerOuterSizes((name_ + "Schedule").c_str(), world_size, local_size);
}

SendRecv InnerOuterSchedule::StepAt(int rank, int64_t k, int64_t outer_distance,
                                    int64_t inner_distance) const {
  const int machines = world_size_ / local_size_;
  const int machine = rank / local_size_;
  const int local = rank % local_size_;
  SendRecv result;
  if (local == static_cast<int>(k % local_size_)) {
    if (outer_distance == 0) return result;
    auto counterpart = [&](int64_t other_machine) {
      return static_cast<int>(Mod(other_machine, machines)) * local_size_ + local;
    };
    result.send_ranks.push_back(counterpart(machine + outer_distance));
    result.recv_ranks.push_back(counterpart(machine - outer_distance));
    return result;
  }
  if (inner_distance > 0) InnerRingStep(machine, local, local_size_, k, inner_distance, &result);
  return result;
}

InnerOuterRingSchedule::InnerOuterRingSchedule(int world_size, int local_size)
    : InnerOuterSchedule("InnerOuterRing", world_size, local_size) {}

SendRecv InnerOuterRingSchedule::Step(int rank, int64_t k) const {
  CheckStep(rank, k);
  const bool one_machine = world_size_ == local_size_;
  return StepAt(rank, k, one_machine ? 0 : 1, 1);
}

InnerOuterExpo2Schedule::InnerOuterExpo2Schedule(int world_size, int local_size)
    : InnerOuterSchedule("InnerOuterExpo2", world_size, local_size),
      outer_exponents_(Exp2DistanceCount(world_size / local_size)),
      inner_exponents_(Exp2DistanceCount(local_size - 1)),
      period_(local_size) {
  if (outer_exponents_ > 0) period_ = SaturatingLcm(period_, outer_exponents_);
  if (inner_exponents_ > 0) period_ = SaturatingLcm(period_, inner_exponents_);
}

SendRecv InnerOuterExpo2Schedule::Step(int rank, int64_t k) const {
  CheckStep(rank, k);
  const int64_t outer = outer_exponents_ == 0 ? 0 : int64_t{1} << (k % outer_exponents_);
  const int64_t inner = inner_exponents_ == 0 ? 0 : int64_t{1} << (k % inner_exponents_);
  return StepAt(rank, k, outer, inner);
}

}  // namespace topology
}  // namespace bluefog
