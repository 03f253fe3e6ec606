// Tests for the topology core: every generator against a definition written
// here independently, the schedules' consistency, and the mixing analysis
// against closed forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bluefog/core/status.h"
#include "bluefog/core/topology.h"

namespace bluefog {
namespace topology {
namespace {

constexpr int kMaxTestedSize = 64;
const double kPi = std::acos(-1.0);

int PosMod(int a, int m) { return ((a % m) + m) % m; }

// The set {1, base, base^2, ...} below n.
std::set<int> PowersBelow(int n, int base) {
  std::set<int> result;
  for (long long p = 1; p < n; p *= base) result.insert(static_cast<int>(p));
  return result;
}

void ExpectRowsSumToOne(const WeightMatrix& w, const std::string& what) {
  for (int i = 0; i < w.size(); ++i) {
    double sum = 0;
    for (int j = 0; j < w.size(); ++j) sum += w(i, j);
    EXPECT_NEAR(sum, 1.0, 1e-12) << what << " row " << i;
  }
}

void ExpectColumnsSumToOne(const WeightMatrix& w, const std::string& what) {
  for (int j = 0; j < w.size(); ++j) {
    double sum = 0;
    for (int i = 0; i < w.size(); ++i) sum += w(i, j);
    EXPECT_NEAR(sum, 1.0, 1e-12) << what << " column " << j;
  }
}

void ExpectSymmetric(const WeightMatrix& w, const std::string& what) {
  for (int i = 0; i < w.size(); ++i) {
    for (int j = 0; j < w.size(); ++j) {
      EXPECT_EQ(w(i, j), w(j, i)) << what << " at " << i << "," << j;
    }
  }
}

void ExpectNonNegative(const WeightMatrix& w, const std::string& what) {
  for (double value : w.values()) EXPECT_GE(value, 0.0) << what;
}

// W(i, j) == x[(j - i) mod n] exactly.
void ExpectCirculant(const WeightMatrix& w, const std::vector<double>& x,
                     const std::string& what) {
  const int n = w.size();
  ASSERT_EQ(static_cast<int>(x.size()), n) << what;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      ASSERT_EQ(w(i, j), x[static_cast<size_t>(PosMod(j - i, n))])
          << what << " at " << i << "," << j;
    }
  }
}

std::vector<double> OnesAt(int n, const std::function<bool(int)>& keep) {
  std::vector<double> x(static_cast<size_t>(n), 0.0);
  int count = 0;
  for (int k = 0; k < n; ++k) count += keep(k) ? 1 : 0;
  for (int k = 0; k < n; ++k) x[static_cast<size_t>(k)] = keep(k) ? 1.0 / count : 0.0;
  return x;
}

// max over m != 0 of |sum_k x_k exp(2 pi i m k / n)|: the contraction of a
// circulant (normal) matrix with first row x.
double CirculantContraction(const std::vector<double>& x) {
  const int n = static_cast<int>(x.size());
  double result = 0;
  for (int m = 1; m < n; ++m) {
    std::complex<double> sum = 0;
    for (int k = 0; k < n; ++k) {
      sum += x[static_cast<size_t>(k)] * std::polar(1.0, 2 * kPi * m * k / n);
    }
    result = std::max(result, std::abs(sum));
  }
  return result;
}

template <typename F>
void ExpectInvalid(F f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no InvalidArgument; expected a message with '" << fragment << "'";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------
// Generators

TEST(TopologyGraphs, ExponentialTwoIsDoublyStochasticCirculant) {
  for (int n = 1; n <= kMaxTestedSize; ++n) {
    const std::set<int> powers = PowersBelow(n, 2);
    const auto x = OnesAt(n, [&](int k) { return k == 0 || powers.count(k) > 0; });
    const WeightMatrix w = ExponentialTwoGraph(n);
    const std::string what = "ExponentialTwoGraph(" + std::to_string(n) + ")";
    ExpectCirculant(w, x, what);
    ExpectRowsSumToOne(w, what);
    ExpectColumnsSumToOne(w, what);
    ExpectNonNegative(w, what);
    EXPECT_EQ(w, ExponentialGraph(n, 2)) << what;
    // Rank i sends to i + 2^t.
    for (int i = 0; i < n; ++i) {
      std::vector<int> expected;
      for (int p : powers) expected.push_back((i + p) % n);
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(w.OutNeighbors(i), expected) << what << " rank " << i;
    }
  }
}

TEST(TopologyGraphs, ExponentialWithOtherBases) {
  for (int base = 2; base <= 7; ++base) {
    for (int n = 1; n <= kMaxTestedSize; ++n) {
      const std::set<int> powers = PowersBelow(n, base);
      const auto x = OnesAt(n, [&](int k) { return k == 0 || powers.count(k) > 0; });
      const std::string what =
          "ExponentialGraph(" + std::to_string(n) + ", " + std::to_string(base) + ")";
      const WeightMatrix w = ExponentialGraph(n, base);
      ExpectCirculant(w, x, what);
      ExpectRowsSumToOne(w, what);
      ExpectColumnsSumToOne(w, what);
    }
  }
  // Exact powers only, including those where floating-point log misjudges.
  const WeightMatrix w = ExponentialGraph(244, 3);
  EXPECT_GT(w(0, 243), 0.0);
  EXPECT_EQ(w(0, 242), 0.0);
  const WeightMatrix w10 = ExponentialGraph(1001, 10);
  EXPECT_GT(w10(0, 1000), 0.0);
}

TEST(TopologyGraphs, SymmetricExponentialIsSymmetricCirculant) {
  for (int base : {2, 3, 4, 5}) {
    for (int n = 1; n <= kMaxTestedSize; ++n) {
      const std::set<int> powers = PowersBelow(n, base);
      const auto x = OnesAt(n, [&](int k) {
        const int distance = std::min(k, n - k);
        return distance == 0 || powers.count(distance) > 0;
      });
      const std::string what =
          "SymmetricExponentialGraph(" + std::to_string(n) + ", " + std::to_string(base) + ")";
      const WeightMatrix w = SymmetricExponentialGraph(n, base);
      ExpectCirculant(w, x, what);
      ExpectSymmetric(w, what);
      ExpectRowsSumToOne(w, what);
      ExpectColumnsSumToOne(w, what);
    }
  }
  EXPECT_EQ(SymmetricExponentialGraph(16), SymmetricExponentialGraph(16, 4));
}

TEST(TopologyGraphs, MeshGridDefaultShape) {
  for (int n = 1; n <= kMaxTestedSize; ++n) {
    int rows = 1;
    for (int r = 1; r * r <= n; ++r) {
      if (n % r == 0) rows = r;
    }
    const GridShape shape = DefaultMeshGridShape(n);
    EXPECT_EQ(shape.rows, rows) << n;
    EXPECT_EQ(shape.cols, n / rows) << n;
    EXPECT_LE(shape.rows, shape.cols) << n;
  }
}

// Metropolis-Hastings on the non-periodic grid, written from the definition.
WeightMatrix ExpectedMeshGrid(int rows, int cols) {
  const int n = rows * cols;
  auto neighbors = [&](int i) {
    std::vector<int> result;
    const int r = i / cols, c = i % cols;
    if (r > 0) result.push_back(i - cols);
    if (r + 1 < rows) result.push_back(i + cols);
    if (c > 0) result.push_back(i - 1);
    if (c + 1 < cols) result.push_back(i + 1);
    return result;
  };
  WeightMatrix w(n);
  for (int i = 0; i < n; ++i) {
    double rest = 1.0;
    for (int j : neighbors(i)) {
      const int di = 1 + static_cast<int>(neighbors(i).size());
      const int dj = 1 + static_cast<int>(neighbors(j).size());
      w(i, j) = 1.0 / std::max(di, dj);
      rest -= w(i, j);
    }
    w(i, i) = rest;
  }
  return w;
}

void ExpectMeshGrid(const WeightMatrix& w, int rows, int cols) {
  const std::string what = "MeshGrid2DGraph " + std::to_string(rows) + "x" + std::to_string(cols);
  const WeightMatrix expected = ExpectedMeshGrid(rows, cols);
  ASSERT_EQ(w.size(), expected.size()) << what;
  for (int i = 0; i < w.size(); ++i) {
    for (int j = 0; j < w.size(); ++j) {
      if (i == j) {
        EXPECT_NEAR(w(i, j), expected(i, j), 1e-15) << what << " at " << i;
      } else {
        EXPECT_EQ(w(i, j), expected(i, j)) << what << " at " << i << "," << j;
      }
    }
  }
  ExpectSymmetric(w, what);
  ExpectRowsSumToOne(w, what);
  ExpectColumnsSumToOne(w, what);
  ExpectNonNegative(w, what);
}

TEST(TopologyGraphs, MeshGridIsSymmetricDoublyStochastic) {
  for (int n = 1; n <= kMaxTestedSize; ++n) {
    const GridShape shape = DefaultMeshGridShape(n);
    ExpectMeshGrid(MeshGrid2DGraph(n), shape.rows, shape.cols);
  }
  ExpectMeshGrid(MeshGrid2DGraph(12, {3, 4}), 3, 4);
  ExpectMeshGrid(MeshGrid2DGraph(12, {4, 3}), 4, 3);
  ExpectMeshGrid(MeshGrid2DGraph(7, {1, 7}), 1, 7);
  ExpectMeshGrid(MeshGrid2DGraph(7, {7, 1}), 7, 1);
  ExpectMeshGrid(MeshGrid2DGraph(300), 15, 20);  // rows longer than numpy's 128-block
  // Known values: 2x2, every node has degree 3 with itself.
  const WeightMatrix w = MeshGrid2DGraph(4);
  EXPECT_EQ(w(0, 1), 1.0 / 3);
  EXPECT_EQ(w(0, 2), 1.0 / 3);
  EXPECT_EQ(w(0, 3), 0.0);
}

TEST(TopologyGraphs, Star) {
  for (int n = 1; n <= kMaxTestedSize; ++n) {
    for (int center : {0, n / 2, n - 1}) {
      const std::string what =
          "StarGraph(" + std::to_string(n) + ", " + std::to_string(center) + ")";
      const WeightMatrix w = StarGraph(n, center);
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) {
          double expected = 0.0;
          if (i == center || j == center) {
            expected = 1.0 / n;
          } else if (i == j) {
            expected = 1.0 - 1.0 / n;
          }
          ASSERT_EQ(w(i, j), expected) << what << " at " << i << "," << j;
        }
      }
      ExpectSymmetric(w, what);
      ExpectRowsSumToOne(w, what);
      ExpectColumnsSumToOne(w, what);
    }
  }
  EXPECT_EQ(StarGraph(5), StarGraph(5, 0));
}

TEST(TopologyGraphs, Ring) {
  EXPECT_EQ(RingGraph(1), WeightMatrix::FromRowMajor(1, {1.0}));
  for (int style = 0; style <= 2; ++style) {
    EXPECT_EQ(RingGraph(1, style), WeightMatrix::FromRowMajor(1, {1.0}));
    EXPECT_EQ(RingGraph(2, style), WeightMatrix::FromRowMajor(2, {0.5, 0.5, 0.5, 0.5}));
  }
  for (int n = 3; n <= kMaxTestedSize; ++n) {
    for (int style = 0; style <= 2; ++style) {
      const std::string what = "RingGraph(" + std::to_string(n) + ", " + std::to_string(style) + ")";
      const WeightMatrix w = RingGraph(n, style);
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) {
          const bool left = j == PosMod(i - 1, n), right = j == PosMod(i + 1, n);
          double expected = 0.0;
          if (style == 0 && (i == j || left || right)) expected = 1.0 / 3.0;
          if (style == 1 && (i == j || left)) expected = 0.5;
          if (style == 2 && (i == j || right)) expected = 0.5;
          ASSERT_EQ(w(i, j), expected) << what << " at " << i << "," << j;
        }
      }
      ExpectRowsSumToOne(w, what);
      ExpectColumnsSumToOne(w, what);
      if (style == 0) ExpectSymmetric(w, what);
    }
  }
  EXPECT_EQ(RingGraph(9), RingGraph(9, 0));
}

TEST(TopologyGraphs, FullyConnected) {
  for (int n = 1; n <= kMaxTestedSize; ++n) {
    const WeightMatrix w = FullyConnectedGraph(n);
    for (double value : w.values()) ASSERT_EQ(value, 1.0 / n) << n;
    ExpectRowsSumToOne(w, "FullyConnectedGraph");
  }
}

TEST(TopologyGraphs, BadArgumentsThrow) {
  ExpectInvalid([] { ExponentialTwoGraph(0); }, "size must be at least 1, got 0");
  ExpectInvalid([] { ExponentialGraph(-3); }, "got -3");
  ExpectInvalid([] { ExponentialGraph(8, 1); }, "base must be an integer >= 2, got 1");
  ExpectInvalid([] { SymmetricExponentialGraph(8, 0); }, "base");
  ExpectInvalid([] { SymmetricExponentialGraph(0); }, "size");
  ExpectInvalid([] { MeshGrid2DGraph(0); }, "size");
  ExpectInvalid([] { MeshGrid2DGraph(12, {3, 5}); }, "shape (3, 5) does not match size 12");
  ExpectInvalid([] { MeshGrid2DGraph(12, {0, 12}); }, "shape");
  ExpectInvalid([] { MeshGrid2DGraph(12, {-3, -4}); }, "shape");
  ExpectInvalid([] { StarGraph(4, 4); }, "center_rank must be in [0, 4), got 4");
  ExpectInvalid([] { StarGraph(4, -1); }, "center_rank");
  ExpectInvalid([] { StarGraph(0); }, "size");
  ExpectInvalid([] { RingGraph(5, 3); }, "connect_style must be 0");
  ExpectInvalid([] { RingGraph(1, -1); }, "connect_style");
  ExpectInvalid([] { RingGraph(0); }, "size");
  ExpectInvalid([] { FullyConnectedGraph(0); }, "size");
}

TEST(TopologyGraphs, RecvAndSendWeights) {
  const WeightMatrix w = ExponentialTwoGraph(8);  // x: 0,1,2,4 at 1/4 each
  const RankWeights recv = RecvWeights(w, 0);
  EXPECT_EQ(recv.self_weight, 0.25);
  const std::vector<std::pair<int, double>> expected_recv = {{4, 0.25}, {6, 0.25}, {7, 0.25}};
  EXPECT_EQ(recv.neighbors, expected_recv);
  const RankWeights send = SendWeights(w, 0);
  const std::vector<std::pair<int, double>> expected_send = {{1, 0.25}, {2, 0.25}, {4, 0.25}};
  EXPECT_EQ(send.self_weight, 0.25);
  EXPECT_EQ(send.neighbors, expected_send);

  const WeightMatrix star = StarGraph(4, 2);
  EXPECT_EQ(RecvWeights(star, 0).self_weight, 0.75);
  EXPECT_EQ(RecvWeights(star, 0).neighbors, (std::vector<std::pair<int, double>>{{2, 0.25}}));
  EXPECT_EQ(SendWeights(star, 2).self_weight, 0.25);
  EXPECT_EQ(SendWeights(star, 2).neighbors.size(), 3u);
  ExpectInvalid([&] { RecvWeights(w, 8); }, "rank must be in [0, 8), got 8");
  ExpectInvalid([&] { SendWeights(w, -1); }, "rank");
}

// ---------------------------------------------------------------------------
// Schedules

// Every send is matched by the receiver's recv list and vice versa; nobody
// talks to itself; recv lists ascending.
void ExpectConsistent(const DynamicSchedule& s, int64_t steps) {
  for (int64_t k = 0; k < steps; ++k) {
    std::vector<SendRecv> all = s.StepAll(k);
    ASSERT_EQ(static_cast<int>(all.size()), s.size());
    std::map<int, std::vector<int>> expected_recv;
    for (int r = 0; r < s.size(); ++r) {
      const SendRecv one = s.Step(r, k);
      EXPECT_EQ(one.send_ranks, all[static_cast<size_t>(r)].send_ranks) << s.name() << " k=" << k;
      EXPECT_EQ(one.recv_ranks, all[static_cast<size_t>(r)].recv_ranks) << s.name() << " k=" << k;
      EXPECT_TRUE(std::is_sorted(one.recv_ranks.begin(), one.recv_ranks.end()));
      for (int dst : one.send_ranks) {
        EXPECT_NE(dst, r) << s.name() << " self send at k=" << k;
        expected_recv[dst].push_back(r);
      }
    }
    for (int r = 0; r < s.size(); ++r) {
      EXPECT_EQ(all[static_cast<size_t>(r)].recv_ranks, expected_recv[r])
          << s.name() << " rank " << r << " step " << k;
    }
    // Periodic.
    for (int r = 0; r < s.size(); ++r) {
      const SendRecv later = s.Step(r, k + s.period());
      EXPECT_EQ(later.send_ranks, all[static_cast<size_t>(r)].send_ranks);
      EXPECT_EQ(later.recv_ranks, all[static_cast<size_t>(r)].recv_ranks);
    }
  }
}

TEST(TopologySchedules, OnePeerOverExponentialTwo) {
  for (int n = 1; n <= kMaxTestedSize; ++n) {
    const OnePeerSchedule s = OnePeerSchedule::FromGraph(ExponentialTwoGraph(n));
    const std::set<int> power_set = PowersBelow(n, 2);
    const std::vector<int> powers(power_set.begin(), power_set.end());
    EXPECT_EQ(s.period(), n == 1 ? 1 : static_cast<int64_t>(powers.size())) << n;
    ExpectConsistent(s, 2 * s.period() + 1);
    for (int64_t k = 0; k < 3 * s.period(); ++k) {
      for (int r = 0; r < n; ++r) {
        const SendRecv step = s.Step(r, k);
        if (n == 1) {
          EXPECT_TRUE(step.send_ranks.empty());
          EXPECT_TRUE(step.recv_ranks.empty());
          continue;
        }
        // Exactly one send, to r + 2^(k mod T); one recv from r - 2^(k mod T).
        const int distance = powers[static_cast<size_t>(k % static_cast<int64_t>(powers.size()))];
        ASSERT_EQ(step.send_ranks, std::vector<int>{(r + distance) % n}) << n << " k=" << k;
        ASSERT_EQ(step.recv_ranks, std::vector<int>{PosMod(r - distance, n)}) << n << " k=" << k;
      }
    }
  }
}

TEST(TopologySchedules, OnePeerClockwiseOrderAndUnevenDegrees) {
  // Star with center 2 over 5 ranks: leaves send to 2 only; the center cycles
  // clockwise 3, 4, 0, 1.
  const OnePeerSchedule s = OnePeerSchedule::FromGraph(StarGraph(5, 2));
  EXPECT_EQ(s.ClockwiseOutNeighbors(2), (std::vector<int>{3, 4, 0, 1}));
  EXPECT_EQ(s.period(), 4);
  ExpectConsistent(s, 9);
  const int order[] = {3, 4, 0, 1};
  for (int k = 0; k < 8; ++k) {
    const SendRecv center = s.Step(2, k);
    EXPECT_EQ(center.send_ranks, std::vector<int>{order[k % 4]});
    EXPECT_EQ(center.recv_ranks, (std::vector<int>{0, 1, 3, 4}));
    for (int leaf : {0, 1, 3, 4}) {
      const SendRecv step = s.Step(leaf, k);
      EXPECT_EQ(step.send_ranks, std::vector<int>{2});
      EXPECT_EQ(step.recv_ranks, leaf == order[k % 4] ? std::vector<int>{2} : std::vector<int>{});
    }
  }
  // Period is the lcm of the out-degrees; duplicates and self are ignored.
  const OnePeerSchedule uneven({{1, 2, 1, 0}, {0, 2, 3}, {3}, {0, 1, 2, 3}});
  EXPECT_EQ(uneven.ClockwiseOutNeighbors(0), (std::vector<int>{1, 2}));
  EXPECT_EQ(uneven.ClockwiseOutNeighbors(1), (std::vector<int>{2, 3, 0}));
  EXPECT_EQ(uneven.period(), 6);
  ExpectConsistent(uneven, 13);
  ExpectInvalid([] { OnePeerSchedule({{1}, {2}}); }, "out-neighbour 2 outside [0, 2)");
  ExpectInvalid([] { OnePeerSchedule(std::vector<std::vector<int>>{}); }, "size");
  ExpectInvalid([&] { uneven.Step(4, 0); }, "rank must be in [0, 4), got 4");
  ExpectInvalid([&] { uneven.Step(0, -1); }, "step must be >= 0");
}

// With weights 1/2 self + 1/2 received, exponential-2 one-peer averages
// exactly in log2(n) steps.
TEST(TopologySchedules, OnePeerExponentialTwoReachesExactAverage) {
  for (int n : {2, 4, 8, 16, 32}) {
    const OnePeerSchedule s = OnePeerSchedule::FromGraph(ExponentialTwoGraph(n));
    const int rounds = static_cast<int>(std::lround(std::log2(n)));
    EXPECT_EQ(s.period(), rounds);
    std::vector<double> x(static_cast<size_t>(n));
    double sum = 0;
    for (int r = 0; r < n; ++r) {
      x[static_cast<size_t>(r)] = r * r * 3.0 - 7.0 * r + 11.0;  // integers: exact dyadic sums
      sum += x[static_cast<size_t>(r)];
    }
    const double average = sum / n;
    for (int k = 0; k < rounds; ++k) {
      std::vector<double> next(x);
      for (int r = 0; r < n; ++r) {
        const SendRecv step = s.Step(r, k);
        ASSERT_EQ(step.recv_ranks.size(), 1u);
        next[static_cast<size_t>(r)] =
            0.5 * x[static_cast<size_t>(r)] + 0.5 * x[static_cast<size_t>(step.recv_ranks[0])];
      }
      x = next;
    }
    for (int r = 0; r < n; ++r) EXPECT_EQ(x[static_cast<size_t>(r)], average) << n << " " << r;
  }
}

TEST(TopologySchedules, Exp2Machine) {
  for (int machines = 1; machines <= 33; ++machines) {
    for (int local : {1, 2, 3}) {
      const Exp2MachineSchedule s(machines * local, local);
      ASSERT_EQ(s.size(), machines);
      int exponents = 1;
      while (machines > 1 && (1 << exponents) <= machines - 1) ++exponents;
      EXPECT_EQ(s.period(), exponents) << machines;
      ExpectConsistent(s, 2 * s.period() + 1);
      for (int k = 0; k < 3 * exponents; ++k) {
        for (int m = 0; m < machines; ++m) {
          const SendRecv step = s.Step(m, k);
          if (machines == 1) {
            EXPECT_TRUE(step.send_ranks.empty() && step.recv_ranks.empty());
            continue;
          }
          const int d = 1 << (k % exponents);
          EXPECT_EQ(step.send_ranks, std::vector<int>{(m + d) % machines});
          EXPECT_EQ(step.recv_ranks, std::vector<int>{PosMod(m - d, machines)});
        }
      }
    }
  }
  ExpectInvalid([] { Exp2MachineSchedule(10, 4); }, "local_size 4 does not divide world_size 10");
  ExpectInvalid([] { Exp2MachineSchedule(8, 0); }, "local_size must be at least 1");
  ExpectInvalid([] { Exp2MachineSchedule(0, 1); }, "world_size must be at least 1");
}

TEST(TopologySchedules, InnerOuterRing) {
  for (int machines = 1; machines <= 6; ++machines) {
    for (int local = 1; local <= 7; ++local) {
      if (local == 2) continue;
      const int world = machines * local;
      const InnerOuterRingSchedule s(world, local);
      EXPECT_EQ(s.period(), local);
      ExpectConsistent(s, 2 * local + 1);
      for (int k = 0; k < 2 * local; ++k) {
        const int target = k % local;
        for (int rank = 0; rank < world; ++rank) {
          const int machine = rank / local, node = rank % local;
          const SendRecv step = s.Step(rank, k);
          std::vector<int> send, recv;
          if (node == target) {
            if (machines > 1) {
              send = {(machine + 1) % machines * local + node};
              recv = {PosMod(machine - 1, machines) * local + node};
            }
          } else if (local > 2) {
            // BlueFog 0.3's rule: next local index, skipping the target.
            int to = (node + 1) % local;
            if (to == target) to = (node + 2) % local;
            int from = PosMod(node - 1, local);
            if (from == target) from = PosMod(node - 2, local);
            send = {machine * local + to};
            recv = {machine * local + from};
          }
          EXPECT_EQ(step.send_ranks, send) << world << "/" << local << " rank " << rank << " k=" << k;
          EXPECT_EQ(step.recv_ranks, recv) << world << "/" << local << " rank " << rank << " k=" << k;
        }
      }
    }
  }
  ExpectInvalid([] { InnerOuterRingSchedule(9, 2); }, "local_size 2 does not divide world_size 9");
  ExpectInvalid([] { InnerOuterRingSchedule(8, 2); }, "local_size 2 is not supported");
  ExpectInvalid([] { InnerOuterRingSchedule(8, 0); }, "local_size must be at least 1");
}

TEST(TopologySchedules, InnerOuterExpo2) {
  for (int machines = 1; machines <= 9; ++machines) {
    for (int local = 1; local <= 9; ++local) {
      if (local == 2) continue;
      const int world = machines * local;
      const InnerOuterExpo2Schedule s(world, local);
      ExpectConsistent(s, 2 * s.period() + 1);
      const int outer = machines > 1 ? static_cast<int>(std::floor(std::log2(machines - 1))) + 1 : 0;
      const int ring = local - 1;
      const int inner = ring > 1 ? static_cast<int>(std::floor(std::log2(ring - 1))) + 1 : 0;
      for (int k = 0; k < 2 * s.period(); ++k) {
        const int target = k % local;
        for (int rank = 0; rank < world; ++rank) {
          const int machine = rank / local, node = rank % local;
          const SendRecv step = s.Step(rank, k);
          std::vector<int> send, recv;
          if (node == target) {
            if (outer > 0) {
              const int d = 1 << (k % outer);
              send = {(machine + d) % machines * local + node};
              recv = {PosMod(machine - d, machines) * local + node};
            }
          } else if (inner > 0) {
            // The other local indices in order after the target, and the one
            // d places further along (or back) in that list.
            std::vector<int> others;
            for (int i = 1; i < local; ++i) others.push_back((target + i) % local);
            const int position = static_cast<int>(
                std::find(others.begin(), others.end(), node) - others.begin());
            const int d = 1 << (k % inner);
            send = {machine * local + others[static_cast<size_t>((position + d) % ring)]};
            recv = {machine * local + others[static_cast<size_t>(PosMod(position - d, ring))]};
          }
          EXPECT_EQ(step.send_ranks, send) << world << "/" << local << " rank " << rank << " k=" << k;
          EXPECT_EQ(step.recv_ranks, recv) << world << "/" << local << " rank " << rank << " k=" << k;
        }
      }
    }
  }
  // lcm(local 4, outer distances 1 and 2 over 3 machines, inner 1 and 2 in a ring of 3).
  EXPECT_EQ(InnerOuterExpo2Schedule(12, 4).period(), 4);
  EXPECT_EQ(InnerOuterExpo2Schedule(15, 5).period(), 10);  // lcm(5, 2, 2)
  ExpectInvalid([] { InnerOuterExpo2Schedule(10, 3); }, "does not divide");
  ExpectInvalid([] { InnerOuterExpo2Schedule(2, 2); }, "local_size 2 is not supported");
}

// ---------------------------------------------------------------------------
// Analysis

TEST(TopologyAnalysis, SpectralNormOfSmallMatrices) {
  EXPECT_EQ(SpectralNorm(WeightMatrix(3)), 0.0);
  EXPECT_NEAR(SpectralNorm(WeightMatrix::FromRowMajor(2, {0, 1, 0, 0})), 1.0, 1e-14);
  // [[1, 2], [3, 4]]: sigma_max^2 = 15 + sqrt(221).
  EXPECT_NEAR(SpectralNorm(WeightMatrix::FromRowMajor(2, {1, 2, 3, 4})),
              std::sqrt(15 + std::sqrt(221.0)), 1e-13);
  // Symmetric with a dominant negative eigenvalue: diag(-5, 2, 1) rotated.
  EXPECT_NEAR(SpectralNorm(WeightMatrix::FromRowMajor(3, {-5, 0, 0, 0, 2, 0, 0, 0, 1})), 5.0,
              1e-13);
  EXPECT_NEAR(SpectralNorm(WeightMatrix::FromRowMajor(2, {1, 2, 2, 1})), 3.0, 1e-13);
  EXPECT_NEAR(SpectralNorm(WeightMatrix::FromRowMajor(1, {-2.5})), 2.5, 1e-15);
  // A large multiple of the identity minus a shift.
  WeightMatrix big = WeightMatrix::Identity(50);
  for (double* p = big.data(); p != big.data() + big.values().size(); ++p) *p *= 1e6;
  EXPECT_NEAR(SpectralNorm(big), 1e6, 1e-6);
}

TEST(TopologyAnalysis, FullyConnectedContractsToZero) {
  for (int n = 1; n <= kMaxTestedSize; ++n) {
    EXPECT_NEAR(ConsensusContraction(FullyConnectedGraph(n)), 0.0, 1e-12) << n;
    const MixingAnalysis a = AnalyzeMixing(FullyConnectedGraph(n));
    EXPECT_EQ(a.max_degree, n - 1);
    EXPECT_EQ(a.steps, n == 1 ? 0 : 1) << n;
  }
}

TEST(TopologyAnalysis, RingMatchesClosedForm) {
  for (int n : [] {
         std::vector<int> sizes;
         for (int n = 3; n <= kMaxTestedSize; ++n) sizes.push_back(n);
         sizes.push_back(127);
         sizes.push_back(256);
         return sizes;
       }()) {
    const double expected = 1.0 / 3.0 + 2.0 / 3.0 * std::cos(2 * kPi / n);
    const MixingAnalysis a = AnalyzeMixing(RingGraph(n));
    EXPECT_NEAR(a.contraction, expected, 1e-9) << n;
    EXPECT_NEAR(a.spectral_gap, 1 - expected, 1e-9) << n;
    EXPECT_EQ(a.period, 1);
    EXPECT_EQ(a.max_degree, 2);
    if (n > 3) {
      EXPECT_EQ(a.steps, static_cast<int64_t>(std::ceil(std::log(1e-6) / std::log(expected))))
          << n;
    }
  }
  EXPECT_EQ(AnalyzeMixing(RingGraph(3)).steps, 1);  // 1/3 + 2/3 cos(2 pi / 3) = 0
  // Ring to one side: eigenvalues (1 + w^m) / 2, largest modulus cos(pi / n).
  for (int n = 3; n <= 40; ++n) {
    EXPECT_NEAR(ConsensusContraction(RingGraph(n, 1)), std::cos(kPi / n), 1e-9) << n;
    EXPECT_NEAR(ConsensusContraction(RingGraph(n, 2)), std::cos(kPi / n), 1e-9) << n;
  }
}

TEST(TopologyAnalysis, CirculantGraphsMatchTheirFourierModes) {
  for (int n = 2; n <= kMaxTestedSize; ++n) {
    for (const WeightMatrix& w : {ExponentialTwoGraph(n), ExponentialGraph(n, 3),
                                  SymmetricExponentialGraph(n), RingGraph(n)}) {
      std::vector<double> x(w.values().begin(), w.values().begin() + n);
      EXPECT_NEAR(ConsensusContraction(w), CirculantContraction(x), 1e-10) << n;
    }
  }
  // n = 4: x = (1/3, 1/3, 1/3, 0); mode m = 2 gives |1/3 - 1/3 + 1/3| = 1/3,
  // mode m = 1 gives |1/3 + i/3 - 1/3| = 1/3.
  EXPECT_NEAR(ConsensusContraction(ExponentialTwoGraph(4)), 1.0 / 3.0, 1e-12);
}

TEST(TopologyAnalysis, StaticGraphsConverge) {
  for (int n = 2; n <= kMaxTestedSize; ++n) {
    for (const WeightMatrix& w : {MeshGrid2DGraph(n), StarGraph(n), ExponentialTwoGraph(n)}) {
      const MixingAnalysis a = AnalyzeMixing(w);
      EXPECT_LT(a.contraction, 1.0 - 1e-9) << n;
      EXPECT_GT(a.steps, 0) << n;
    }
  }
  // Star over n ranks: W - J has eigenvalue 1 - 1/n on the leaves' differences.
  for (int n = 3; n <= 20; ++n) {
    EXPECT_NEAR(ConsensusContraction(StarGraph(n)), 1.0 - 1.0 / n, 1e-10) << n;
  }
  // Disconnected: identity never mixes.
  const MixingAnalysis identity = AnalyzeMixing(WeightMatrix::Identity(4));
  EXPECT_NEAR(identity.contraction, 1.0, 1e-12);
  EXPECT_EQ(identity.steps, -1);
  EXPECT_EQ(identity.periods, -1);
  EXPECT_EQ(AnalyzeMixing(WeightMatrix::Identity(1)).steps, 0);
}

TEST(TopologyAnalysis, ExponentialOnePeerPeriodIsExactAverage) {
  for (int n : {2, 4, 8, 16, 32, 64}) {
    const OnePeerSchedule s = OnePeerSchedule::FromGraph(ExponentialTwoGraph(n));
    // Each step: self 1/2, the received rank 1/2.
    const WeightMatrix step = StepMixingMatrix(s, 0);
    for (int j = 0; j < n; ++j) {
      EXPECT_EQ(step(j, j), 0.5);
      EXPECT_EQ(step(PosMod(j - 1, n), j), 0.5);
    }
    const WeightMatrix product = PeriodMixingMatrix(s);
    for (double value : product.values()) EXPECT_NEAR(value, 1.0 / n, 1e-15);
    const MixingAnalysis a = AnalyzeMixing(s);
    EXPECT_NEAR(a.contraction, 0.0, 1e-12) << n;
    EXPECT_EQ(a.period, std::lround(std::log2(n)));
    EXPECT_EQ(a.periods, 1);
    EXPECT_EQ(a.steps, a.period);
    EXPECT_EQ(a.max_degree, 1);
  }
  // Not a power of two: still converges, but not in one period.
  const MixingAnalysis six = AnalyzeMixing(OnePeerSchedule::FromGraph(ExponentialTwoGraph(6)));
  EXPECT_GT(six.contraction, 1e-3);
  EXPECT_LT(six.contraction, 1.0);
  // The per-step matrices given directly agree with the schedule.
  const OnePeerSchedule s8 = OnePeerSchedule::FromGraph(ExponentialTwoGraph(6));
  std::vector<WeightMatrix> steps;
  for (int64_t k = 0; k < s8.period(); ++k) steps.push_back(StepMixingMatrix(s8, k));
  EXPECT_NEAR(AnalyzeMixing(steps).contraction, six.contraction, 1e-14);
}

TEST(TopologyAnalysis, InnerOuterSchedulesConverge) {
  for (const auto& [world, local] : std::vector<std::pair<int, int>>{
           {8, 4}, {12, 4}, {16, 4}, {12, 3}, {32, 8}, {6, 1}, {8, 8}, {5, 5}, {9, 3}}) {
    const MixingAnalysis ring = AnalyzeMixing(InnerOuterRingSchedule(world, local));
    const MixingAnalysis expo = AnalyzeMixing(InnerOuterExpo2Schedule(world, local));
    EXPECT_LT(ring.contraction, 1.0 - 1e-9) << world << "/" << local;
    EXPECT_LT(expo.contraction, 1.0 - 1e-9) << world << "/" << local;
    EXPECT_EQ(ring.max_degree, 1);
    EXPECT_GT(expo.steps, 0);
  }
  // Machine level.
  EXPECT_NEAR(AnalyzeMixing(Exp2MachineSchedule(32, 4)).contraction, 0.0, 1e-12);
  EXPECT_EQ(AnalyzeMixing(Exp2MachineSchedule(4, 4)).steps, 0);
}

TEST(TopologyAnalysis, BadArguments) {
  ExpectInvalid([] { AnalyzeMixing(RingGraph(4), 0.0); }, "tolerance");
  ExpectInvalid([] { AnalyzeMixing(RingGraph(4), 1.5); }, "tolerance");
  ExpectInvalid([] { AnalyzeMixing(std::vector<WeightMatrix>{}); }, "no steps");
  ExpectInvalid([] { AnalyzeMixing(std::vector<WeightMatrix>{RingGraph(3), RingGraph(4)}); },
                "step 1 is 4x4");
  // Out-degrees 1..17 make a period of lcm(1..17) = 12252240 steps.
  std::vector<std::vector<int>> out(18);
  for (int r = 0; r < 18; ++r) {
    for (int d = 1; d <= r; ++d) out[static_cast<size_t>(r)].push_back((r + d) % 18);
  }
  ExpectInvalid([&] { AnalyzeMixing(OnePeerSchedule(out)); }, "repeats only after 12252240");
  ExpectInvalid([] { WeightMatrix::FromRowMajor(2, {1.0}); }, "needs 4 values, got 1");
}

}  // namespace
}  // namespace topology
}  // namespace bluefog
