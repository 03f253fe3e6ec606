// Weight matrices, the built-in graphs, and one rank's weights (see topology.h).
#include "bluefog/core/topology.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>

#include "topology_checks.h"

namespace bluefog {
namespace topology {
using namespace detail;

void CheckRank(const std::string& function, const std::string& what, int rank, int size) {
  if (rank < 0 || rank >= size) Fail(function, ": ", what, " must be in [0, ", size, "), got ", rank);
}

namespace {

void CheckBase(const char* function, int base) {
  if (base < 2) Fail(function, ": base must be an integer >= 2, got ", base);
}


// k >= 1 is base^e for some e >= 0.
bool IsExactPower(int64_t k, int base) {
  if (k < 1) return false;
  while (k % base == 0) k /= base;
  return k == 1;
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

// The ranks other than `rank` with a nonzero weight in column `rank` of w
// (`in`) or in its row, ascending.
std::vector<int> NonzeroOthers(const WeightMatrix& w, int rank, bool in) {
  std::vector<int> result;
  for (int other = 0; other < w.size(); ++other) {
    const double weight = in ? w(other, rank) : w(rank, other);
    if (other != rank && weight != 0.0) result.push_back(other);
  }
  return result;
}

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
  return NonzeroOthers(*this, rank, true);
}

std::vector<int> WeightMatrix::OutNeighbors(int rank) const {
  CheckRank("OutNeighbors", "rank", rank, size_);
  return NonzeroOthers(*this, rank, false);
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

namespace {

// Column `rank` of w (`receiving`) or its row.
RankWeights WeightsOf(const char* function, const WeightMatrix& w, int rank, bool receiving) {
  CheckRank(function, "rank", rank, w.size());
  RankWeights result;
  result.self_weight = w(rank, rank);
  for (int other : receiving ? w.InNeighbors(rank) : w.OutNeighbors(rank)) {
    result.neighbors.emplace_back(other, receiving ? w(other, rank) : w(rank, other));
  }
  return result;
}

}  // namespace

RankWeights RecvWeights(const WeightMatrix& w, int rank) {
  return WeightsOf("RecvWeights", w, rank, true);
}

RankWeights SendWeights(const WeightMatrix& w, int rank) {
  return WeightsOf("SendWeights", w, rank, false);
}

}  // namespace topology
}  // namespace bluefog
