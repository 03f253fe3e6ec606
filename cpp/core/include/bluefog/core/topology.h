// Topologies: the weight matrices of the built-in graphs, the weights a rank
// receives and sends, dynamic (time-varying) schedules, and mixing analysis.
//
// Convention (as in BlueFog 0.3): W(i, j) is the weight of the edge i -> j,
// self-loops on the diagonal. Rank j combines with the weights in column j:
//   x_j <- sum_i W(i, j) * x_i.
// Circulant graphs are built from a first row x; row i is x rotated right by
// i, so W(i, j) = x[(j - i) mod n].
//
// Every function here throws InvalidArgument (bluefog/core/status.h) for bad
// input, with a message naming the function, the argument and its value.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bluefog {
namespace topology {

// Throws InvalidArgument "<function>: <what> must be in [0, <size>), got <rank>"
// unless 0 <= rank < size. The Python topology functions check ranks with it.
void CheckRank(const std::string& function, const std::string& what, int rank, int size);

// A dense n x n matrix of doubles, row-major.
class WeightMatrix {
 public:
  WeightMatrix() = default;
  explicit WeightMatrix(int size);  // all zeros
  static WeightMatrix Identity(int size);
  // `values` holds size*size entries, row-major.
  static WeightMatrix FromRowMajor(int size, std::vector<double> values);

  int size() const { return size_; }
  double& operator()(int i, int j) { return values_[Index(i, j)]; }
  double operator()(int i, int j) const { return values_[Index(i, j)]; }
  const std::vector<double>& values() const { return values_; }
  double* data() { return values_.data(); }
  const double* data() const { return values_.data(); }

  // Ranks i != rank with W(i, rank) != 0, ascending.
  std::vector<int> InNeighbors(int rank) const;
  // Ranks j != rank with W(rank, j) != 0, ascending.
  std::vector<int> OutNeighbors(int rank) const;

  bool operator==(const WeightMatrix& other) const {
    return size_ == other.size_ && values_ == other.values_;
  }
  bool operator!=(const WeightMatrix& other) const { return !(*this == other); }

 private:
  std::size_t Index(int i, int j) const {
    return static_cast<std::size_t>(i) * static_cast<std::size_t>(size_) +
           static_cast<std::size_t>(j);
  }
  int size_ = 0;
  std::vector<double> values_;
};

// ---------------------------------------------------------------------------
// Built-in graphs (BlueFog 0.3's topology_util, same weights bit for bit).

// x[k] = 1 for k = 0 and k a power of two, normalised.
WeightMatrix ExponentialTwoGraph(int size);
// x[k] = 1 for k = 0 and k an exact power of `base` (1, base, base^2, ...),
// normalised. base >= 2.
WeightMatrix ExponentialGraph(int size, int base = 2);
// x[k] = 1 when min(k, size - k) is 0 or an exact power of `base`, normalised.
WeightMatrix SymmetricExponentialGraph(int size, int base = 4);

struct GridShape {
  int rows = 0;
  int cols = 0;
};
// The two closest factors of `size`, rows <= cols.
GridShape DefaultMeshGridShape(int size);
// Non-periodic 2-D grid, rank r at (r / cols, r % cols), 4-neighbour.
// Metropolis-Hastings weights: W(i, j) = 1 / max(d_i, d_j) for neighbours,
// where d counts the node itself; W(i, i) = the rest of row i. Computed as
// BlueFog 0.3 did (W(i, i) = 2 - numpy.sum(row with 1 on the diagonal)), so
// the diagonal matches it to the last bit.
WeightMatrix MeshGrid2DGraph(int size);
WeightMatrix MeshGrid2DGraph(int size, GridShape shape);
// Leaves keep 1 - 1/size; every leaf <-> center edge and the center's
// self-loop carry 1/size.
WeightMatrix StarGraph(int size, int center_rank = 0);
// connect_style 0: to both sides, 1/3 each (self included); 1: to i-1 and
// 2: to i+1, 1/2 each. Size 1 is [[1]], size 2 is all 1/2 (any style).
WeightMatrix RingGraph(int size, int connect_style = 0);
// All 1/size.
WeightMatrix FullyConnectedGraph(int size);

// ---------------------------------------------------------------------------
// What one rank receives (column `rank`) or sends (row `rank`).
struct RankWeights {
  double self_weight = 0.0;
  std::vector<std::pair<int, double>> neighbors;  // nonzero, self excluded, ascending
};
RankWeights RecvWeights(const WeightMatrix& w, int rank);
RankWeights SendWeights(const WeightMatrix& w, int rank);

// ---------------------------------------------------------------------------
// Dynamic schedules: at step k (k = 0, 1, ...) each participant sends to some
// and receives from some others. Participants are ranks, or machines for a
// machine-level schedule. Step k depends only on k mod period().
struct SendRecv {
  std::vector<int> send_ranks;
  std::vector<int> recv_ranks;  // ascending
};

class DynamicSchedule {
 public:
  virtual ~DynamicSchedule() = default;
  virtual std::string name() const = 0;
  // Number of participants.
  virtual int size() const = 0;
  // Steps after which the schedule repeats (saturates at INT64_MAX).
  virtual int64_t period() const = 0;
  // Step k of one participant. Throws for rank out of range or k < 0.
  virtual SendRecv Step(int rank, int64_t k) const = 0;
  // Step k of every participant, indexed by rank.
  virtual std::vector<SendRecv> StepAll(int64_t k) const;

 protected:
  void CheckStep(int rank, int64_t k) const;
};

// One peer per step from a graph: at step k, rank r sends to its
// (k mod out_degree)-th out-neighbour counted clockwise from itself (out-
// neighbours sorted by (j - r) mod n, self excluded) and receives from every
// rank that sends to it at step k. A rank without out-neighbours sends to
// nobody. Period: lcm of the nonzero out-degrees.
class OnePeerSchedule final : public DynamicSchedule {
 public:
  // out_neighbors[r]: the ranks r sends to; self and duplicates are ignored.
  explicit OnePeerSchedule(const std::vector<std::vector<int>>& out_neighbors);
  static OnePeerSchedule FromGraph(const WeightMatrix& w);

  std::string name() const override { return "OnePeer"; }
  int size() const override { return static_cast<int>(clockwise_.size()); }
  int64_t period() const override { return period_; }
  SendRecv Step(int rank, int64_t k) const override;
  std::vector<SendRecv> StepAll(int64_t k) const override;
  // Out-neighbours of `rank`, clockwise from it.
  const std::vector<int>& ClockwiseOutNeighbors(int rank) const;

 private:
  int SendAt(int rank, int64_t k) const;  // -1: none
  std::vector<std::vector<int>> clockwise_;
  int64_t period_ = 1;
};

// Machine-level exponential-2 one-peer schedule over M = world_size /
// local_size machines: at step k machine m sends to (m + d) mod M and
// receives from (m - d) mod M with d = 2^(k mod (floor(log2(M - 1)) + 1)).
// Participants are machine ranks. With one machine nobody communicates.
class Exp2MachineSchedule final : public DynamicSchedule {
 public:
  Exp2MachineSchedule(int world_size, int local_size);
  std::string name() const override { return "Exp2Machine"; }
  int size() const override { return machines_; }
  int64_t period() const override { return exponents_; }
  SendRecv Step(int machine, int64_t k) const override;

 private:
  int machines_;
  int exponents_;  // floor(log2(M - 1)) + 1, or 1 when M == 1
};

// Inner-outer schedules over world_size ranks, local_size per machine,
// rank r = machine * local_size + local, and t = k mod local_size:
// - the rank with local == t talks to the rank with the same local index on
//   another machine: the next machine (ring) or the machine at distance
//   2^(k mod (floor(log2(M - 1)) + 1)) (expo2); it sends forward and
//   receives from backward. With one machine it sits the step out.
// - the other local_size - 1 ranks of each machine form a ring in local-index
//   order that skips t: each sends to the next one (ring) or the one at
//   distance 2^(k mod (floor(log2(local_size - 2)) + 1)) (expo2), and
//   receives from the one as far behind. A lone rank sits the step out.
// local_size must divide world_size and must not be 2 (the rank not talking
// across machines would have no partner: the local indices would never mix).
class InnerOuterSchedule : public DynamicSchedule {
 public:
  std::string name() const override { return name_; }
  int size() const override { return world_size_; }

 protected:
  // Checks the sizes, naming the schedule `name` + "Schedule" in the errors.
  InnerOuterSchedule(std::string name, int world_size, int local_size);
  // Step k of `rank`: the rank at local index t talks to the machines
  // `outer_distance` ahead and behind, the others to the inner ring at
  // `inner_distance` (a distance of 0: it sits the step out).
  SendRecv StepAt(int rank, int64_t k, int64_t outer_distance, int64_t inner_distance) const;

  std::string name_;
  int world_size_;
  int local_size_;
};

class InnerOuterRingSchedule final : public InnerOuterSchedule {
 public:
  InnerOuterRingSchedule(int world_size, int local_size);
  int64_t period() const override { return local_size_; }
  SendRecv Step(int rank, int64_t k) const override;
};

class InnerOuterExpo2Schedule final : public InnerOuterSchedule {
 public:
  InnerOuterExpo2Schedule(int world_size, int local_size);
  int64_t period() const override { return period_; }
  SendRecv Step(int rank, int64_t k) const override;

 private:
  int outer_exponents_;  // 0 when one machine
  int inner_exponents_;  // 0 when the inner ring has fewer than 2 ranks
  int64_t period_;
};

// ---------------------------------------------------------------------------
// Mixing analysis.
//
// The mixing matrix of a dynamic step k is built with uniform weights: rank j,
// receiving from the r_j ranks R_j at that step, sets
//   x_j <- (x_j + sum_{i in R_j} x_i) / (r_j + 1),
// i.e. M_k(j, j) = M_k(i, j) = 1 / (r_j + 1) for i in R_j, zeros elsewhere.
// For a one-peer schedule where each rank receives from exactly one peer this
// is self weight 1/2 and 1/2 from the received rank. One period of T steps
// maps x to (M_0 M_1 ... M_{T-1})^T x, so its matrix is the product
// P = M_0 M_1 ... M_{T-1} (a static graph: P = W, T = 1).
//
// The consensus contraction is ||P - 11^T/n||_2 (largest singular value): the
// factor by which one period shrinks the distance to the average at worst
// (exact for doubly stochastic P). It is computed by Householder reduction to
// a tridiagonal matrix and Sturm bisection (of P - J when symmetric, of
// (P - J)^T (P - J) otherwise), accurate to ~1e-13 for n <= 1024.
struct MixingAnalysis {
  int size = 0;
  int64_t period = 1;            // steps per period (1 for a static graph)
  int max_degree = 0;            // max over ranks (and steps) of max(in, out), self excluded
  double contraction = 0.0;      // ||P - J||_2 over one period
  double spectral_gap = 0.0;     // 1 - contraction
  double contraction_per_step = 0.0;  // contraction^(1 / period)
  // Smallest number of periods p with contraction^p <= tolerance, and
  // steps = p * period; both -1 when contraction >= 1 (no convergence), 0 for
  // a single rank.
  int64_t periods = 0;
  int64_t steps = 0;
};

// Largest singular value of a square matrix.
double SpectralNorm(const WeightMatrix& a);
// ||W - 11^T/n||_2.
double ConsensusContraction(const WeightMatrix& w);
// Uniform-weight mixing matrix of step k (see above).
WeightMatrix StepMixingMatrix(const DynamicSchedule& schedule, int64_t k);
// Product of the mixing matrices of steps 0 .. period-1 (period at most
// kMaxAnalysisPeriod).
WeightMatrix PeriodMixingMatrix(const DynamicSchedule& schedule);
constexpr int64_t kMaxAnalysisPeriod = 1 << 16;

MixingAnalysis AnalyzeMixing(const WeightMatrix& w, double tolerance = 1e-6);
MixingAnalysis AnalyzeMixing(const DynamicSchedule& schedule, double tolerance = 1e-6);
// One period given as its per-step mixing matrices, applied in order.
MixingAnalysis AnalyzeMixing(const std::vector<WeightMatrix>& steps,
                             double tolerance = 1e-6);

}  // namespace topology
}  // namespace bluefog
