// Built-in graphs, dynamic schedules and mixing analysis (see topology.h).
#include "bluefog/core/topology.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "bluefog/core/status.h"

namespace bluefog {
namespace topology {

namespace {

// Dense matrices are n*n doubles: 32768 ranks is already 8 GiB.
constexpr int kMaxSize = 32768;

template <typename... Parts>
[[noreturn]] void Fail(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw InvalidArgument(message.str());
}

void CheckSize(const char* function, int size) {
  if (size < 1) Fail(function, ": size must be at least 1, got ", size);
  if (size > kMaxSize) {
    Fail(function, ": size must be at most ", kMaxSize, " (dense weight matrix), got ", size);
  }
}

void CheckBase(const char* function, int base) {
  if (base < 2) Fail(function, ": base must be an integer >= 2, got ", base);
}

void CheckRank(const char* function, const char* what, int rank, int size) {
  if (rank < 0 || rank >= size) {
    Fail(function, ": ", what, " must be in [0, ", size, "), got ", rank);
  }
}

int64_t Mod(int64_t a, int64_t m) {
  int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// floor(log2(x)) for x >= 1.
int FloorLog2(int64_t x) {
  int result = 0;
  while (x > 1) {
    x >>= 1;
    ++result;
  }
  return result;
}

// k >= 1 is base^e for some e >= 0.
bool IsExactPower(int64_t k, int base) {
  if (k < 1) return false;
  while (k % base == 0) k /= base;
  return k == 1;
}

int64_t SaturatingLcm(int64_t a, int64_t b) {
  const int64_t g = std::gcd(a, b);
  const int64_t a_over_g = a / g;
  if (a_over_g > std::numeric_limits<int64_t>::max() / b) {
    return std::numeric_limits<int64_t>::max();
  }
  return a_over_g * b;
}

// Row i = x rotated right by i: W(i, j) = x[(j - i) mod n].
WeightMatrix Circulant(const std::vector<double>& x) {
  const int n = static_cast<int>(x.size());
  WeightMatrix w(n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) w(i, j) = x[static_cast<std::size_t>(Mod(j - i, n))];
  }
  return w;
}

// First row with ones where `keep(k)` holds, divided by their count (the count
// is exact in double, so every weight is 1.0 / count as numpy gives it).
template <typename Keep>
WeightMatrix NormalisedCirculant(int size, Keep keep) {
  std::vector<double> x(static_cast<std::size_t>(size), 0.0);
  int count = 0;
  for (int k = 0; k < size; ++k) {
    if (keep(k)) {
      x[static_cast<std::size_t>(k)] = 1.0;
      ++count;
    }
  }
  for (double& value : x) value /= static_cast<double>(count);
  return Circulant(x);
}

// numpy.add.reduce over a contiguous float64 array, in numpy's order: the
// identity 0 plus numpy's pairwise sum (8 interleaved partial sums in blocks
// of up to 128, halves above). BlueFog 0.3 computed MeshGrid's self weights
// with it; reproducing the order reproduces its last bits.
double NumpyPairwiseSum(const double* a, std::size_t n) {
  if (n < 8) {
    double result = 0.0;
    for (std::size_t i = 0; i < n; ++i) result += a[i];
    return result;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + static_cast<std::size_t>(j)];
    }
    double result = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) result += a[i];
    return result;
  }
  std::size_t half = n / 2;
  half -= half % 8;
  return NumpyPairwiseSum(a, half) + NumpyPairwiseSum(a + half, n - half);
}

double NumpySum(const double* a, std::size_t n) { return 0.0 + NumpyPairwiseSum(a, n); }

}  // namespace

// ---------------------------------------------------------------------------
// WeightMatrix

WeightMatrix::WeightMatrix(int size) : size_(size) {
  if (size < 0) Fail("WeightMatrix: size must be >= 0, got ", size);
  if (size > kMaxSize) Fail("WeightMatrix: size must be at most ", kMaxSize, ", got ", size);
  values_.assign(static_cast<std::size_t>(size) * static_cast<std::size_t>(size), 0.0);
}

WeightMatrix WeightMatrix::Identity(int size) {
  WeightMatrix w(size);
  for (int i = 0; i < size; ++i) w(i, i) = 1.0;
  return w;
}

WeightMatrix WeightMatrix::FromRowMajor(int size, std::vector<double> values) {
  WeightMatrix w(size);
  if (values.size() != w.values_.size()) {
    Fail("WeightMatrix: a ", size, "x", size, " matrix needs ", w.values_.size(),
         " values, got ", values.size());
  }
  w.values_ = std::move(values);
  return w;
}

std::vector<int> WeightMatrix::InNeighbors(int rank) const {
  CheckRank("InNeighbors", "rank", rank, size_);
  std::vector<int> result;
  for (int i = 0; i < size_; ++i) {
    if (i != rank && (*this)(i, rank) != 0.0) result.push_back(i);
  }
  return result;
}

std::vector<int> WeightMatrix::OutNeighbors(int rank) const {
  CheckRank("OutNeighbors", "rank", rank, size_);
  std::vector<int> result;
  for (int j = 0; j < size_; ++j) {
    if (j != rank && (*this)(rank, j) != 0.0) result.push_back(j);
  }
  return result;
}

// ---------------------------------------------------------------------------
// Built-in graphs

WeightMatrix ExponentialTwoGraph(int size) {
  CheckSize("ExponentialTwoGraph", size);
  return NormalisedCirculant(size, [](int k) { return k == 0 || IsExactPower(k, 2); });
}

WeightMatrix ExponentialGraph(int size, int base) {
  CheckSize("ExponentialGraph", size);
  CheckBase("ExponentialGraph", base);
  return NormalisedCirculant(size, [base](int k) { return k == 0 || IsExactPower(k, base); });
}

WeightMatrix SymmetricExponentialGraph(int size, int base) {
  CheckSize("SymmetricExponentialGraph", size);
  CheckBase("SymmetricExponentialGraph", base);
  return NormalisedCirculant(size, [size, base](int k) {
    const int distance = std::min(k, size - k);
    return distance == 0 || IsExactPower(distance, base);
  });
}

GridShape DefaultMeshGridShape(int size) {
  CheckSize("MeshGrid2DGraph", size);
  int rows = static_cast<int>(std::sqrt(static_cast<double>(size)));
  while (static_cast<int64_t>(rows + 1) * (rows + 1) <= size) ++rows;
  while (static_cast<int64_t>(rows) * rows > size) --rows;
  while (size % rows != 0) --rows;
  return GridShape{rows, size / rows};
}

WeightMatrix MeshGrid2DGraph(int size) { return MeshGrid2DGraph(size, DefaultMeshGridShape(size)); }

WeightMatrix MeshGrid2DGraph(int size, GridShape shape) {
  CheckSize("MeshGrid2DGraph", size);
  if (shape.rows < 1 || shape.cols < 1 ||
      static_cast<int64_t>(shape.rows) * shape.cols != size) {
    Fail("MeshGrid2DGraph: shape (", shape.rows, ", ", shape.cols,
         ") does not match size ", size, " (rows * cols must equal size)");
  }
  const int cols = shape.cols;
  WeightMatrix w(size);
  for (int i = 0; i < size; ++i) {
    w(i, i) = 1.0;
    if ((i + 1) % cols != 0) w(i, i + 1) = w(i + 1, i) = 1.0;
    if (i + cols < size) w(i, i + cols) = w(i + cols, i) = 1.0;
  }
  // Degrees counting the node itself.
  std::vector<int> degree(static_cast<std::size_t>(size), 0);
  std::vector<std::vector<int>> neighbors(static_cast<std::size_t>(size));
  for (int i = 0; i < size; ++i) {
    for (int j = 0; j < size; ++j) {
      if (w(i, j) != 0.0) {
        ++degree[static_cast<std::size_t>(i)];
        if (j != i) neighbors[static_cast<std::size_t>(i)].push_back(j);
      }
    }
  }
  for (int i = 0; i < size; ++i) {
    for (int j : neighbors[static_cast<std::size_t>(i)]) {
      w(i, j) = 1.0 / std::max(degree[static_cast<std::size_t>(i)],
                               degree[static_cast<std::size_t>(j)]);
    }
    // The diagonal still holds 1 here: the rest of the row is 2 - row sum.
    const double* row = w.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(size);
    w(i, i) = 2.0 - NumpySum(row, static_cast<std::size_t>(size));
  }
  return w;
}

WeightMatrix StarGraph(int size, int center_rank) {
  CheckSize("StarGraph", size);
  CheckRank("StarGraph", "center_rank", center_rank, size);
  WeightMatrix w(size);
  const double edge = 1.0 / size;
  for (int i = 0; i < size; ++i) {
    w(i, i) = 1.0 - edge;
    w(center_rank, i) = edge;
    w(i, center_rank) = edge;
  }
  return w;
}

WeightMatrix RingGraph(int size, int connect_style) {
  CheckSize("RingGraph", size);
  if (connect_style < 0 || connect_style > 2) {
    Fail("RingGraph: connect_style must be 0 (both sides), 1 (left) or 2 (right), got ",
         connect_style);
  }
  if (size == 1) return WeightMatrix::Identity(1);
  if (size == 2) return WeightMatrix::FromRowMajor(2, {0.5, 0.5, 0.5, 0.5});
  std::vector<double> x(static_cast<std::size_t>(size), 0.0);
  if (connect_style == 0) {
    x[0] = x[1] = x[static_cast<std::size_t>(size - 1)] = 1.0 / 3.0;
  } else if (connect_style == 1) {
    x[0] = x[static_cast<std::size_t>(size - 1)] = 0.5;
  } else {
    x[0] = x[1] = 0.5;
  }
  return Circulant(x);
}

WeightMatrix FullyConnectedGraph(int size) {
  CheckSize("FullyConnectedGraph", size);
  WeightMatrix w(size);
  std::fill(w.data(), w.data() + w.values().size(), 1.0 / size);
  return w;
}

// ---------------------------------------------------------------------------
// Weights of one rank

RankWeights RecvWeights(const WeightMatrix& w, int rank) {
  CheckRank("RecvWeights", "rank", rank, w.size());
  RankWeights result;
  result.self_weight = w(rank, rank);
  for (int i : w.InNeighbors(rank)) result.neighbors.emplace_back(i, w(i, rank));
  return result;
}

RankWeights SendWeights(const WeightMatrix& w, int rank) {
  CheckRank("SendWeights", "rank", rank, w.size());
  RankWeights result;
  result.self_weight = w(rank, rank);
  for (int j : w.OutNeighbors(rank)) result.neighbors.emplace_back(j, w(rank, j));
  return result;
}

// ---------------------------------------------------------------------------
// Schedules

void DynamicSchedule::CheckStep(int rank, int64_t k) const {
  const std::string function = name() + "Schedule.Step";
  CheckRank(function.c_str(), "rank", rank, size());
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
int InnerOuterMachineCount(const char* function, int world_size, int local_size) {
  const int machines = MachineCount(function, world_size, local_size);
  if (local_size == 2) {
    Fail(function, ": local_size 2 is not supported: the two local ranks of a machine would "
         "never exchange (use local_size 1 or > 2, hierarchical_neighbor_allreduce, or "
         "GetDynamicOnePeerSendRecvRanks)");
  }
  return machines;
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

InnerOuterRingSchedule::InnerOuterRingSchedule(int world_size, int local_size)
    : world_size_(world_size), local_size_(local_size) {
  InnerOuterMachineCount("InnerOuterRingSchedule", world_size, local_size);
}

SendRecv InnerOuterRingSchedule::Step(int rank, int64_t k) const {
  CheckStep(rank, k);
  const int machines = world_size_ / local_size_;
  const int machine = rank / local_size_;
  const int local = rank % local_size_;
  SendRecv result;
  if (local == static_cast<int>(k % local_size_)) {
    if (machines < 2) return result;
    result.send_ranks.push_back(static_cast<int>(Mod(machine + 1, machines)) * local_size_ + local);
    result.recv_ranks.push_back(static_cast<int>(Mod(machine - 1, machines)) * local_size_ + local);
    return result;
  }
  InnerRingStep(machine, local, local_size_, k, 1, &result);
  return result;
}

InnerOuterExpo2Schedule::InnerOuterExpo2Schedule(int world_size, int local_size)
    : world_size_(world_size), local_size_(local_size) {
  const int machines = InnerOuterMachineCount("InnerOuterExpo2Schedule", world_size, local_size);
  outer_exponents_ = Exp2DistanceCount(machines);
  inner_exponents_ = Exp2DistanceCount(local_size - 1);
  period_ = local_size;
  if (outer_exponents_ > 0) period_ = SaturatingLcm(period_, outer_exponents_);
  if (inner_exponents_ > 0) period_ = SaturatingLcm(period_, inner_exponents_);
}

SendRecv InnerOuterExpo2Schedule::Step(int rank, int64_t k) const {
  CheckStep(rank, k);
  const int machines = world_size_ / local_size_;
  const int machine = rank / local_size_;
  const int local = rank % local_size_;
  SendRecv result;
  if (local == static_cast<int>(k % local_size_)) {
    if (outer_exponents_ == 0) return result;  // one machine
    const int64_t distance = int64_t{1} << (k % outer_exponents_);
    result.send_ranks.push_back(static_cast<int>(Mod(machine + distance, machines)) * local_size_ +
                                local);
    result.recv_ranks.push_back(static_cast<int>(Mod(machine - distance, machines)) * local_size_ +
                                local);
    return result;
  }
  if (inner_exponents_ == 0) return result;
  const int64_t distance = int64_t{1} << (k % inner_exponents_);
  InnerRingStep(machine, local, local_size_, k, distance, &result);
  return result;
}

// ---------------------------------------------------------------------------
// Analysis

namespace {

// Householder reduction of the symmetric n x n matrix `a` (row-major, both
// triangles, destroyed) to tridiagonal form: diagonal d, subdiagonal e.
void Tridiagonalize(std::vector<double>& a, int n, std::vector<double>* d,
                    std::vector<double>* e) {
  const std::size_t N = static_cast<std::size_t>(n);
  d->assign(N, 0.0);
  e->assign(N > 0 ? N - 1 : 0, 0.0);
  std::vector<double> v(N, 0.0), p(N, 0.0);
  auto at = [&](std::size_t i, std::size_t j) -> double& { return a[i * N + j]; };
  for (std::size_t k = 0; k + 2 < N; ++k) {
    (*d)[k] = at(k, k);
    const double x0 = at(k + 1, k);
    double tail = 0.0;
    for (std::size_t i = k + 2; i < N; ++i) tail += at(i, k) * at(i, k);
    if (tail == 0.0) {
      (*e)[k] = x0;
      continue;
    }
    const double norm = std::sqrt(x0 * x0 + tail);
    const double alpha = x0 > 0 ? -norm : norm;
    v[k + 1] = x0 - alpha;
    for (std::size_t i = k + 2; i < N; ++i) v[i] = at(i, k);
    const double beta = 2.0 / (v[k + 1] * v[k + 1] + tail);
    // p = beta * S v over the trailing block S = a[k+1.., k+1..].
    double vp = 0.0;
    for (std::size_t i = k + 1; i < N; ++i) {
      const double* row = &a[i * N];
      double sum = 0.0;
      for (std::size_t j = k + 1; j < N; ++j) sum += row[j] * v[j];
      p[i] = beta * sum;
      vp += v[i] * p[i];
    }
    const double half_k = 0.5 * beta * vp;
    for (std::size_t i = k + 1; i < N; ++i) p[i] -= half_k * v[i];
    // S <- S - v p^T - p v^T  (= H S H with H = I - beta v v^T).
    for (std::size_t i = k + 1; i < N; ++i) {
      double* row = &a[i * N];
      const double vi = v[i], pi = p[i];
      for (std::size_t j = k + 1; j < N; ++j) row[j] -= vi * p[j] + pi * v[j];
    }
    (*e)[k] = alpha;
  }
  if (N >= 2) {
    (*d)[N - 2] = at(N - 2, N - 2);
    (*e)[N - 2] = at(N - 1, N - 2);
  }
  if (N >= 1) (*d)[N - 1] = at(N - 1, N - 1);
}

// Number of eigenvalues of the tridiagonal (d, e) below x (Sturm sequence).
int CountBelow(const std::vector<double>& d, const std::vector<double>& e, double x,
               double pivmin) {
  int count = 0;
  double q = 1.0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    q = d[i] - x - (i > 0 ? e[i - 1] * e[i - 1] / q : 0.0);
    if (std::fabs(q) <= pivmin) q = -pivmin;
    if (q < 0) ++count;
  }
  return count;
}

// Smallest and largest eigenvalue of the tridiagonal (d, e), by bisection.
std::pair<double, double> ExtremeEigenvalues(const std::vector<double>& d,
                                             const std::vector<double>& e) {
  const int n = static_cast<int>(d.size());
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  double max_e2 = 1.0;
  for (int i = 0; i < n; ++i) {
    double radius = 0.0;
    if (i > 0) radius += std::fabs(e[static_cast<std::size_t>(i - 1)]);
    if (i + 1 < n) radius += std::fabs(e[static_cast<std::size_t>(i)]);
    lo = std::min(lo, d[static_cast<std::size_t>(i)] - radius);
    hi = std::max(hi, d[static_cast<std::size_t>(i)] + radius);
  }
  for (double value : e) max_e2 = std::max(max_e2, value * value);
  const double pivmin = DBL_MIN * max_e2;
  const double tolerance = 4 * DBL_EPSILON * std::max(std::fabs(lo), std::fabs(hi));
  lo -= tolerance;
  hi += tolerance;
  auto bisect = [&](auto is_above) {  // is_above(x): the wanted eigenvalue is < x
    double a = lo, b = hi;
    for (int iteration = 0; iteration < 200 && b - a > tolerance; ++iteration) {
      const double mid = 0.5 * (a + b);
      if (mid <= a || mid >= b) break;
      if (is_above(mid)) {
        b = mid;
      } else {
        a = mid;
      }
    }
    return 0.5 * (a + b);
  };
  const double smallest = bisect([&](double x) { return CountBelow(d, e, x, pivmin) >= 1; });
  const double largest = bisect([&](double x) { return CountBelow(d, e, x, pivmin) >= n; });
  return {smallest, largest};
}

std::vector<std::vector<std::pair<int, double>>> RowNonzeros(const WeightMatrix& w) {
  std::vector<std::vector<std::pair<int, double>>> rows(static_cast<std::size_t>(w.size()));
  for (int i = 0; i < w.size(); ++i) {
    for (int j = 0; j < w.size(); ++j) {
      if (w(i, j) != 0.0) rows[static_cast<std::size_t>(i)].emplace_back(j, w(i, j));
    }
  }
  return rows;
}

// m <- m * w, skipping zeros (mixing matrices are sparse).
void MultiplyInPlace(WeightMatrix* m, const WeightMatrix& w) {
  const int n = m->size();
  const auto rows = RowNonzeros(w);
  std::vector<double> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::fill(out.begin(), out.end(), 0.0);
    for (int l = 0; l < n; ++l) {
      const double value = (*m)(i, l);
      if (value == 0.0) continue;
      for (const auto& [j, weight] : rows[static_cast<std::size_t>(l)]) {
        out[static_cast<std::size_t>(j)] += value * weight;
      }
    }
    std::copy(out.begin(), out.end(), m->data() + static_cast<std::size_t>(i) * n);
  }
}

int MaxDegree(const WeightMatrix& w) {
  int result = 0;
  for (int r = 0; r < w.size(); ++r) {
    int in = 0, out = 0;
    for (int o = 0; o < w.size(); ++o) {
      if (o == r) continue;
      if (w(o, r) != 0.0) ++in;
      if (w(r, o) != 0.0) ++out;
    }
    result = std::max({result, in, out});
  }
  return result;
}

int MaxDegree(const std::vector<SendRecv>& step) {
  int result = 0;
  for (const SendRecv& s : step) {
    result = std::max({result, static_cast<int>(s.send_ranks.size()),
                       static_cast<int>(s.recv_ranks.size())});
  }
  return result;
}

void CheckTolerance(double tolerance) {
  if (!(tolerance > 0.0 && tolerance < 1.0)) {
    Fail("AnalyzeMixing: tolerance must be in (0, 1), got ", tolerance);
  }
}

MixingAnalysis Summarise(const WeightMatrix& period_matrix, int64_t period, int max_degree,
                         double tolerance) {
  MixingAnalysis result;
  result.size = period_matrix.size();
  result.period = period;
  result.max_degree = max_degree;
  result.contraction = ConsensusContraction(period_matrix);
  result.spectral_gap = 1.0 - result.contraction;
  result.contraction_per_step =
      std::pow(result.contraction, 1.0 / static_cast<double>(period));
  if (result.size == 1) {
    result.periods = result.steps = 0;
  } else if (result.contraction >= 1.0 - 1e-12) {
    result.periods = result.steps = -1;
  } else if (result.contraction <= tolerance) {
    result.periods = 1;
    result.steps = period;
  } else {
    const double ratio = std::log(tolerance) / std::log(result.contraction);
    // A hair below an integer is that integer (log rounding).
    result.periods = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ratio - 1e-9)));
    result.steps = result.periods > std::numeric_limits<int64_t>::max() / period
                       ? std::numeric_limits<int64_t>::max()
                       : result.periods * period;
  }
  return result;
}

}  // namespace

double SpectralNorm(const WeightMatrix& a) {
  const int n = a.size();
  if (n == 0) return 0.0;
  double scale = 0.0;
  for (double value : a.values()) {
    if (!std::isfinite(value)) Fail("SpectralNorm: the matrix has a non-finite entry ", value);
    scale = std::max(scale, std::fabs(value));
  }
  if (scale == 0.0) return 0.0;
  const std::size_t N = static_cast<std::size_t>(n);
  // Scaled so that the largest entry is 1: the norm is then in [1, n].
  std::vector<double> s(a.values());
  for (double& value : s) value /= scale;
  bool symmetric = true;
  for (std::size_t i = 0; i < N && symmetric; ++i) {
    for (std::size_t j = i + 1; j < N; ++j) {
      if (s[i * N + j] != s[j * N + i]) {
        symmetric = false;
        break;
      }
    }
  }
  std::vector<double> d, e;
  if (symmetric) {
    Tridiagonalize(s, n, &d, &e);
    const auto [smallest, largest] = ExtremeEigenvalues(d, e);
    return scale * std::max(std::fabs(smallest), std::fabs(largest));
  }
  // B = S^T S (upper triangle accumulated row by row of S, then mirrored).
  std::vector<double> b(N * N, 0.0);
  for (std::size_t k = 0; k < N; ++k) {
    const double* row = &s[k * N];
    for (std::size_t i = 0; i < N; ++i) {
      const double ski = row[i];
      if (ski == 0.0) continue;
      double* out = &b[i * N];
      for (std::size_t j = i; j < N; ++j) out[j] += ski * row[j];
    }
  }
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t j = 0; j < i; ++j) b[i * N + j] = b[j * N + i];
  }
  Tridiagonalize(b, n, &d, &e);
  const double largest = ExtremeEigenvalues(d, e).second;
  return scale * std::sqrt(std::max(0.0, largest));
}

double ConsensusContraction(const WeightMatrix& w) {
  const int n = w.size();
  if (n == 0) Fail("ConsensusContraction: empty matrix");
  WeightMatrix deviation = w;
  const double average = 1.0 / n;
  for (double* p = deviation.data(); p != deviation.data() + deviation.values().size(); ++p) {
    *p -= average;
  }
  return SpectralNorm(deviation);
}

WeightMatrix StepMixingMatrix(const DynamicSchedule& schedule, int64_t k) {
  const std::vector<SendRecv> step = schedule.StepAll(k);
  WeightMatrix m(schedule.size());
  for (int j = 0; j < schedule.size(); ++j) {
    const std::vector<int>& recv = step[static_cast<std::size_t>(j)].recv_ranks;
    const double weight = 1.0 / static_cast<double>(recv.size() + 1);
    m(j, j) = weight;
    for (int i : recv) m(i, j) = weight;
  }
  return m;
}

namespace {
void CheckAnalysisPeriod(const DynamicSchedule& schedule) {
  if (schedule.period() > kMaxAnalysisPeriod) {
    Fail("AnalyzeMixing: the ", schedule.name(), " schedule repeats only after ",
         schedule.period(), " steps; at most ", kMaxAnalysisPeriod, " can be analysed");
  }
}
}  // namespace

WeightMatrix PeriodMixingMatrix(const DynamicSchedule& schedule) {
  CheckAnalysisPeriod(schedule);
  WeightMatrix product = WeightMatrix::Identity(schedule.size());
  for (int64_t k = 0; k < schedule.period(); ++k) {
    MultiplyInPlace(&product, StepMixingMatrix(schedule, k));
  }
  return product;
}

MixingAnalysis AnalyzeMixing(const WeightMatrix& w, double tolerance) {
  CheckTolerance(tolerance);
  if (w.size() < 1) Fail("AnalyzeMixing: empty matrix");
  return Summarise(w, 1, MaxDegree(w), tolerance);
}

MixingAnalysis AnalyzeMixing(const DynamicSchedule& schedule, double tolerance) {
  CheckTolerance(tolerance);
  CheckAnalysisPeriod(schedule);
  WeightMatrix product = WeightMatrix::Identity(schedule.size());
  int max_degree = 0;
  for (int64_t k = 0; k < schedule.period(); ++k) {
    max_degree = std::max(max_degree, MaxDegree(schedule.StepAll(k)));
    MultiplyInPlace(&product, StepMixingMatrix(schedule, k));
  }
  return Summarise(product, schedule.period(), max_degree, tolerance);
}

MixingAnalysis AnalyzeMixing(const std::vector<WeightMatrix>& steps, double tolerance) {
  CheckTolerance(tolerance);
  if (steps.empty()) Fail("AnalyzeMixing: no steps given");
  const int n = steps.front().size();
  if (n < 1) Fail("AnalyzeMixing: empty matrix");
  WeightMatrix product = WeightMatrix::Identity(n);
  int max_degree = 0;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    if (steps[k].size() != n) {
      Fail("AnalyzeMixing: step ", k, " is ", steps[k].size(), "x", steps[k].size(),
           ", step 0 is ", n, "x", n);
    }
    max_degree = std::max(max_degree, MaxDegree(steps[k]));
    MultiplyInPlace(&product, steps[k]);
  }
  return Summarise(product, static_cast<int64_t>(steps.size()), max_degree, tolerance);
}

}  // namespace topology
}  // namespace bluefog
