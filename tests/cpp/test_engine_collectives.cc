// Broadcast, allgather, the neighbour averages with uniform weights and
// ops over a subgroup, on real engines over the loopback fabric: results
// checked byte for byte (or correctly rounded) against values computed here.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "bluefog/core/collectives.h"
#include "bluefog/core/neighbor_ops.h"
#include "loopback_world.h"
#include "rounding.h"

namespace bluefog {
namespace {

class EngineCollectives : public LoopbackTest {};

struct BroadcastCase {
  int root;
  DataType dtype;
  int64_t count;
  bool in_place;
};

char InputByte(DataType dtype, int r, size_t b) {
  if (dtype == DataType::kBool) return static_cast<char>((b * 7 + r) % 2);
  return static_cast<char>(b * 31 + r * 101 + b / 256);
}

std::vector<BroadcastCase> BroadcastCases(int n) {
  std::vector<BroadcastCase> cases;
  for (int root = 0; root < n; ++root) {
    cases.push_back({root, DataType::kFloat32, 5, root % 2 == 0});
    cases.push_back({root, DataType::kFloat64, 4000, root % 2 == 1});  // a separate payload
  }
  for (int root : {0, n - 1}) {
    cases.push_back({root, DataType::kUInt8, 100000, false});
    cases.push_back({root, DataType::kBool, 17, true});
    cases.push_back({root, DataType::kInt8, 0, false});
    cases.push_back({root, DataType::kBFloat16, 3, false});
    cases.push_back({root, DataType::kInt16, 8192, true});  // just inline
    cases.push_back({root, DataType::kInt16, 8193, true});  // just not
  }
  return cases;
}

// Non-roots must not finish before their root posted: each root waits a
// little before posting and says when it has.
TEST_P(EngineCollectives, BroadcastEveryRootDtypeAndSize) {
  const int n = size();
  const std::vector<BroadcastCase> cases = BroadcastCases(n);
  for (uint64_t seed : kSeeds) {
    std::vector<std::atomic<bool>> root_posted(cases.size());
    LoopbackWorld world(n, seed);
    world.Run([&](int rank, Engine& engine) {
      for (size_t k = 0; k < cases.size(); ++k) {
        const BroadcastCase& c = cases[k];
        const size_t bytes = c.count * DataTypeSize(c.dtype);
        std::vector<char> in(bytes + 1, 0x11), out(bytes + 1, 0x22), root_input(bytes);
        for (size_t b = 0; b < bytes; ++b) {
          in[b] = InputByte(c.dtype, rank, b);
          root_input[b] = InputByte(c.dtype, c.root, b);
        }
        const std::vector<char> original = in;
        std::vector<char>& result = c.in_place ? in : out;
        if (rank == c.root) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          root_posted[k] = true;
        }
        const std::string name = "bc." + std::to_string(k);
        ExpectOk(Broadcast(engine, name, View(in, c.dtype, {c.count}),
                           View(result, c.dtype, {c.count}), c.root),
                 rank);
        EXPECT_EQ(std::vector<char>(result.begin(), result.begin() + bytes), root_input) << name;
        EXPECT_EQ(result[bytes], c.in_place ? 0x11 : 0x22) << name << " wrote past the end";
        if (!c.in_place) EXPECT_EQ(in, original) << name << " modified its input";
        EXPECT_TRUE(root_posted[k]) << name << " finished before its root posted it";
      }
    });
  }
}

int64_t Rows(int r) { return (r * 5 + 1) % 4; }  // 1 2 3 0: rank 3 gives none

TEST_P(EngineCollectives, AllgatherDifferingFirstDimensionWithZeroRows) {
  const int n = size();
  struct Case {
    int64_t cols;
    bool one_dim;
    bool all_empty;
  };
  // Up to 24000-byte pieces with 1000 columns.
  const Case cases[] = {{3, false, false}, {1, true, false}, {1000, false, false},
                        {4, false, true}};
  ForEachSeed([&](int rank, Engine& engine) {
    for (const Case& c : cases) {
      auto rows = [&](int r) { return c.all_empty ? 0 : Rows(r); };
      auto shape_of = [&](int64_t first) {
        return c.one_dim ? std::vector<int64_t>{first} : std::vector<int64_t>{first, c.cols};
      };
      auto input_of = [&](int r) {
        std::vector<double> v(rows(r) * (c.one_dim ? 1 : c.cols));
        for (size_t i = 0; i < v.size(); ++i) v[i] = r * 100000.0 + i;
        return v;
      };
      std::vector<double> in = input_of(rank), out;
      std::vector<int64_t> out_shape;
      int allocations = 0;
      OutputAllocator allocate = [&](const std::vector<int64_t>& shape) -> void* {
        ++allocations;
        out_shape = shape;
        out.assign(TensorView{nullptr, DataType::kFloat64, shape}.numel() + 1, -1.0);
        return out.data();
      };
      TensorView view{in.data(), DataType::kFloat64, shape_of(rows(rank))};
      const std::string name = "ag." + std::to_string(c.cols) + (c.one_dim ? ".1d" : "") +
                               (c.all_empty ? ".empty" : "");
      ExpectOk(RunOp(engine, OpType::kAllgather, name,
                     [&](OpIdentity id) {
                       return MakeAllgatherOp(std::move(id), rank, view, allocate, AllRanks(n));
                     }),
               rank);
      int64_t total = 0;
      std::vector<double> expected;
      for (int r = 0; r < n; ++r) {
        total += rows(r);
        std::vector<double> piece = input_of(r);
        expected.insert(expected.end(), piece.begin(), piece.end());
      }
      expected.push_back(-1.0);  // the guard element stays
      EXPECT_EQ(allocations, 1) << name;
      EXPECT_EQ(out_shape, shape_of(total)) << name;
      EXPECT_EQ(out, expected) << name;
    }
  });
}

// Integers below 2^19 in magnitude (below 2^10 for float16): sums of a few,
// some doubled, are exact in float32.
float UniformValue(int r, int64_t i, DataType dtype) {
  const int64_t v = ((r + 1) * 7919 * (i + 3) + r * r * 104729) % (1 << 20) - (1 << 19);
  return static_cast<float>(dtype == DataType::kFloat16 ? v % 1024 : v);
}

void StoreValue(DataType dtype, std::vector<char>& bytes, int64_t i, float v) {
  if (dtype == DataType::kFloat16) {
    uint16_t bits = FloatToHalf(v);
    std::memcpy(bytes.data() + i * 2, &bits, 2);
  } else {
    std::memcpy(bytes.data() + i * 4, &v, 4);
  }
}

float LoadValue(DataType dtype, const std::vector<char>& bytes, int64_t i) {
  if (dtype == DataType::kFloat16) {
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + i * 2, 2);
    return HalfToFloat(bits);
  }
  float v;
  std::memcpy(&v, bytes.data() + i * 4, 4);
  return v;
}

// Rank r averages with its sources r - 1, r - 2, r - 4, ... with uniform
// weights 1/(d + 1); a sender weighs what it sends to r + 1 by 2, the rest
// by 1. Expected: (x_r + sum_s dst_weight_s * x_s) / (d + 1), correctly
// rounded (sum, then divide).
TEST_P(EngineCollectives, NeighborAllreduceUniformWeightsDivideTheSum) {
  const int n = size();
  auto dst_weight = [&](int from, int to) { return to == (from + 1) % n ? 2.0 : 1.0; };
  ForEachSeed([&](int rank, Engine& engine) {
    std::vector<int> sources;
    RankWeights dsts;
    for (int d = 1; d < n; d *= 2) {
      sources.push_back((rank - d + n) % n);
      dsts.emplace_back((rank + d) % n, dst_weight(rank, (rank + d) % n));
    }
    const double w = 1.0 / static_cast<double>(sources.size() + 1);
    // 13 elements travel inline, 6000 (24 KB as float32) apart from the header.
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
      for (int64_t count : {13, 6000})
        for (bool in_place : {false, true}) {
          const size_t bytes = count * DataTypeSize(dtype);
          std::vector<char> in(bytes + 1, 0), out(bytes + 1, 0x55);
          for (int64_t i = 0; i < count; ++i)
            StoreValue(dtype, in, i, UniformValue(rank, i, dtype));
          std::vector<char>& result = in_place ? in : out;
          TensorView input = View(in, dtype, {count}), output = View(result, dtype, {count});
          const std::string name = std::string("nar.") + DataTypeName(dtype) + "." +
                                   std::to_string(count) + (in_place ? ".in_place" : "");
          ExpectOk(RunOp(engine, OpType::kNeighborAllreduce, name,
                         [&](OpIdentity id) {
                           return MakeNeighborAllreduceOp(std::move(id), rank, n, input,
                                                          output, w, Uniform(sources, w), dsts);
                         }),
                   rank);
          for (int64_t i = 0; i < count; ++i) {
            double sum = UniformValue(rank, i, dtype);
            for (int s : sources) sum += dst_weight(s, rank) * UniformValue(s, i, dtype);
            const double exact = sum / static_cast<double>(sources.size() + 1);
            const float expected =
                dtype == DataType::kFloat16
                    ? HalfToFloat(NearestLowPrecision(dtype, exact))
                    : static_cast<float>(exact);
            const float got = LoadValue(dtype, result, i);
            ASSERT_EQ(std::memcmp(&got, &expected, sizeof(float)), 0)
                << name << " element " << i << ": got " << got << ", expected " << expected;
          }
          EXPECT_EQ(result[bytes], in_place ? 0 : 0x55) << name << " wrote past the end";
        }
  });
}

// Two machines: each rank takes its machine's average and combines it with
// its counterpart's on the other machine, weights 1/k. Expected:
// fl(fl(A_mine + A_other) / k), A = fl(machine sum / ranks per machine).
TEST(EngineHierarchical, UniformWeightsDivideTheMachineSums) {
  for (int local : {2, 3}) {
    const int n = 2 * local;
    for (uint64_t seed : kSeeds) {
      LoopbackWorld world(n, seed, local);
      world.Run([&](int rank, Engine& engine) {
        const WorldInfo& w = engine.world();
        ASSERT_EQ(w.local_size, local);
        const int counterpart = (rank + local) % n;
        auto average = [&](int machine, int64_t i) {
          double sum = 0;
          for (int q = machine * local; q < (machine + 1) * local; ++q)
            sum += UniformValue(q, i, DataType::kFloat32);
          return static_cast<float>(sum / local);
        };
        for (int k : {2, 3})
          for (int64_t count : {13, 6000}) {
            std::vector<float> in(count), out(count);
            for (int64_t i = 0; i < count; ++i)
              in[i] = UniformValue(rank, i, DataType::kFloat32);
            TensorView input = View(in), output = View(out);
            const std::string name = "hier." + std::to_string(k) + "." + std::to_string(count);
            ExpectOk(RunOp(engine, OpType::kHierarchicalNeighborAllreduce, name,
                           [&](OpIdentity id) {
                             return MakeHierarchicalNeighborAllreduceOp(
                                 std::move(id), rank, n, input, output, w.local_ranks, 1.0 / k,
                                 {{counterpart, 1.0 / k}}, {{counterpart, 1.0}});
                           }),
                     rank);
            const int machine = rank / local;
            for (int64_t i = 0; i < count; ++i) {
              const float expected =
                  (average(machine, i) + average(1 - machine, i)) / static_cast<float>(k);
              ASSERT_EQ(std::memcmp(&out[i], &expected, sizeof(float)), 0)
                  << name << " element " << i << ": got " << out[i] << ", expected "
                  << expected;
            }
          }
      });
    }
  }
}

// Ops over ranks 1, 3 and 4 of five: right results, and no message to or
// from the two ranks outside the group.
TEST(EngineGroups, OpsOverASubgroupTalkOnlyToIt) {
  const std::vector<int> group = {1, 3, 4};
  auto member = [&](int r) { return std::find(group.begin(), group.end(), r) != group.end(); };
  for (uint64_t seed : kSeeds) {
    LoopbackWorld world(5, seed);
    world.Run([&](int rank, Engine& engine) {
      if (!member(rank)) return;
      for (int64_t count : {10, 3000, 40001}) {  // inline, separate payloads, the ring
        std::vector<double> data(count);
        for (int64_t i = 0; i < count; ++i) data[i] = rank * 1000.0 + i * 0.5;
        TensorView view{data.data(), DataType::kFloat64, {count}};
        ExpectOk(Allreduce(engine, "group.ar." + std::to_string(count), view, view, false,
                           group),
                 rank);
        for (int64_t i = 0; i < count; ++i)
          ASSERT_EQ(data[i], (1 + 3 + 4) * 1000.0 + 3 * i * 0.5) << "element " << i;
      }
      std::vector<int32_t> ints(9000);
      for (size_t i = 0; i < ints.size(); ++i) ints[i] = rank * 1000 + int32_t(i);
      TensorView int_view{ints.data(), DataType::kInt32, {9000}};
      ExpectOk(Broadcast(engine, "group.bc", int_view, int_view, 4, group), rank);
      for (size_t i = 0; i < ints.size(); ++i) ASSERT_EQ(ints[i], 4000 + int32_t(i));
      std::vector<float> rows(rank, float(rank)), gathered;  // rank r gives r rows
      TensorView rows_view = View(rows, {rank});
      OutputAllocator allocate = [&](const std::vector<int64_t>& shape) -> void* {
        gathered.resize(shape[0]);
        return gathered.data();
      };
      ExpectOk(RunOp(engine, OpType::kAllgather, "group.ag",
                     [&](OpIdentity id) {
                       return MakeAllgatherOp(std::move(id), rank, rows_view, allocate, group);
                     }),
               rank);
      std::vector<float> expected;
      for (int q : group) expected.insert(expected.end(), q, float(q));
      EXPECT_EQ(gathered, expected);
      ExpectOk(Barrier(engine, group), rank);
    });
    for (int r = 0; r < 5; ++r) {
      MessageCounts counts = world.engine(r).Counts();
      for (int s = 0; s < 5; ++s) {
        if (member(r) && member(s) && r != s)
          EXPECT_GT(counts.logical_from[s], 0u) << "rank " << r << " from " << s;
        else
          EXPECT_EQ(counts.logical_from[s], 0u) << "rank " << r << " from " << s;
      }
    }
  }
}

BLUEFOG_LOOPBACK_RANKS(EngineCollectives);

}  // namespace
}  // namespace bluefog
