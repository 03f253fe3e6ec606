// Ranks that disagree about an op, on real engines over the loopback fabric:
// every rank fails (none hangs) with a mismatch naming what differs. And
// bad arguments, which the engine refuses at submit without a trace.
#include <gtest/gtest.h>

#include <set>

#include "bluefog/core/collectives.h"
#include "loopback_world.h"

namespace bluefog {
namespace {

class EngineMismatch : public LoopbackTest {};

void ExpectMismatch(const Status& status, const std::string& needle, const std::string& op) {
  EXPECT_EQ(status.code(), StatusCode::kMismatch) << op << ": " << status.message();
  EXPECT_NE(status.message().find(needle), std::string::npos)
      << op << " failed without naming the " << needle << ": " << status.message();
}

// Every rank posts `usual`; the odd one posts `odd` (with `odd_average`).
struct AllreduceVariant {
  TensorView usual;
  TensorView odd;
  bool odd_average;
  std::string needle;
};

TensorView Spec(DataType dtype, std::vector<int64_t> shape) {
  return TensorView{nullptr, dtype, std::move(shape)};
}

std::vector<AllreduceVariant> AllreduceVariants() {
  const DataType f32 = DataType::kFloat32, f64 = DataType::kFloat64;
  return {
      {Spec(f64, {6}), Spec(f64, {7}), false, "shape"},
      {Spec(f64, {2, 3}), Spec(f64, {3, 2}), false, "shape"},  // same element count
      {Spec(f64, {40001}), Spec(f64, {40002}), false, "shape"},  // both the ring
      {Spec(f64, {8000}), Spec(f64, {9000}), false, "shape"},  // recursive doubling vs ring
      {Spec(f32, {6}), Spec(f64, {6}), false, "dtype"},
      // float16 travels as float32: the same bytes on the wire, still caught.
      {Spec(f32, {20000}), Spec(DataType::kFloat16, {20000}), false, "dtype"},
      {Spec(DataType::kInt64, {5}), Spec(f64, {5}), false, "dtype"},
      {Spec(f32, {6}), Spec(f32, {6}), true, "average"},
      {Spec(f32, {30000}), Spec(f32, {30000}), true, "average"},
  };
}

TEST_P(EngineMismatch, AllreduceShapeDtypeAndAverage) {
  const int n = size();
  if (n < 2) GTEST_SKIP() << "needs two ranks to disagree";
  const std::set<int> odd_ranks = {0, n / 2, n - 1};
  const std::vector<AllreduceVariant> variants = AllreduceVariants();
  ForEachSeed([&](int rank, Engine& engine) {
    for (int odd : odd_ranks)
      for (size_t k = 0; k < variants.size(); ++k) {
        const AllreduceVariant& v = variants[k];
        TensorView t = rank == odd ? v.odd : v.usual;
        std::vector<char> buffer(t.bytes(), 0);
        t.data = buffer.data();
        const std::string name = "mismatch." + std::to_string(odd) + "." + std::to_string(k);
        ExpectMismatch(Allreduce(engine, name, t, t, rank == odd && v.odd_average), v.needle,
                       name);
      }
  });
}

TEST_P(EngineMismatch, AllgatherTrailingShapeAndDtype) {
  const int n = size();
  if (n < 2) GTEST_SKIP() << "needs two ranks to disagree";
  ForEachSeed([&](int rank, Engine& engine) {
    for (int variant = 0; variant < 3; ++variant) {
      TensorView t{nullptr, DataType::kFloat32, {2, 3}};
      if (rank == n - 1) {
        if (variant == 0) t.shape = {2, 4};
        if (variant == 1) t.shape = {3};
        if (variant == 2) t.dtype = DataType::kInt32;
      }
      std::vector<char> in(t.bytes(), 0), out;
      t.data = in.data();
      OutputAllocator allocate = [&](const std::vector<int64_t>& shape) -> void* {
        out.resize(TensorView{nullptr, DataType::kFloat64, shape}.bytes());
        return out.data();
      };
      const std::string name = "ag.mismatch." + std::to_string(variant);
      ExpectMismatch(RunOp(engine, OpType::kAllgather, name,
                           [&](OpIdentity id) {
                             return MakeAllgatherOp(std::move(id), rank, t, allocate,
                                                    AllRanks(n));
                           }),
                     variant == 2 ? "dtype" : "shape", name);
    }
  });
}

// `root_of(rank)`: the root each rank names.
void ExpectBroadcastRootsFail(int n, const std::function<int(int)>& root_of,
                              const std::string& needle) {
  for (uint64_t seed : kSeeds) {
    LoopbackWorld world(n, seed);
    world.Run([&](int rank, Engine& engine) {
      std::vector<float> data(10, float(rank));
      ExpectMismatch(Broadcast(engine, "roots", View(data), View(data), root_of(rank)), needle,
                     "broadcast");
    });
  }
}

// The last rank names root 1, the others root 0: the ranks that can tell
// fail first and tell the rest.
TEST_P(EngineMismatch, BroadcastDifferentRoots) {
  const int n = size();
  if (n < 3) GTEST_SKIP() << "needs a third rank to name a different root";
  ExpectBroadcastRootsFail(n, [n](int rank) { return rank == n - 1 ? 1 : 0; }, "root_rank");
}

// Each names the other as root: without the agreement round both would wait
// to receive.
TEST(EngineMismatchRoots, SwappedRootsFail) {
  ExpectBroadcastRootsFail(2, [](int rank) { return 1 - rank; }, "root");
}

// Ranks 0 and 1 name root 0, ranks 2 and 3 root 2: without agreement each
// half would broadcast from its own root and succeed with different data.
TEST(EngineMismatchRoots, SplitRootsFail) {
  ExpectBroadcastRootsFail(4, [](int rank) { return rank < 2 ? 0 : 2; }, "root");
}

TEST_P(EngineMismatch, DifferentOpTypesUnderOneName) {
  const int n = size();
  if (n < 2) GTEST_SKIP() << "needs two ranks to disagree";
  ForEachSeed([&](int rank, Engine& engine) {
    std::vector<float> data(4, 1.0f);
    TensorView t = View(data);
    Status status;
    if (rank == 0) {
      OutputAllocator never = [](const std::vector<int64_t>&) -> void* { return nullptr; };
      status = RunOp(engine, OpType::kAllgather, "same.name", [&](OpIdentity id) {
        return MakeAllgatherOp(std::move(id), rank, t, never, AllRanks(n));
      });
    } else {
      status = Allreduce(engine, "same.name", t, t, false);
    }
    ExpectMismatch(status, "under this name", "same.name");
  });
}

// A rejected op leaves nothing behind: the ranks' next op under the same
// name still matches.
TEST(EngineFactories, BadArgumentsAreRejectedAtSubmit) {
  LoopbackWorld world(2, 1);
  world.Run([&](int rank, Engine& engine) {
    float x[4] = {0, 0, 0, 0};
    int32_t ix[4] = {rank + 1, 2, 3, 4};
    TensorView f{x, DataType::kFloat32, {4}};
    TensorView i32{ix, DataType::kInt32, {4}};
    TensorView b{ix, DataType::kBool, {4}};
    TensorView scalar{x, DataType::kFloat32, {}};
    TensorView other_shape{x, DataType::kFloat32, {2, 2}};
    auto expect_rejected = [&](OpType type, const OpFactory& make, const std::string& what) {
      try {
        engine.Submit(type, "tensor", make);
        ADD_FAILURE() << what << " was accepted";
      } catch (const InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find("tensor"), std::string::npos)
            << what << ": " << e.what();
      }
    };
    auto allreduce = [&](TensorView in, TensorView out, bool average, int r,
                         std::vector<int> group, const std::string& what) {
      expect_rejected(OpType::kAllreduce, [=](OpIdentity id) {
        return MakeAllreduceOp(std::move(id), r, in, out, average, group);
      }, what);
    };
    allreduce(i32, i32, true, rank, {0, 1}, "an integer average");
    allreduce(b, b, false, rank, {0, 1}, "a bool sum");
    allreduce(f, f, false, 2, {0, 1}, "a rank outside the group");
    allreduce(f, f, false, rank, {1, 0}, "a descending group");
    allreduce(f, f, false, rank, {0, 0, 1}, "a group with a repeat");
    allreduce(f, other_shape, false, rank, {0, 1}, "an output of another shape");
    auto broadcast = [&](int root, std::vector<int> group, const std::string& what) {
      expect_rejected(OpType::kBroadcast, [=](OpIdentity id) {
        return MakeBroadcastOp(std::move(id), rank, f, f, root, group);
      }, what);
    };
    broadcast(2, {0, 1}, "a root outside the world");
    broadcast(-1, {0, 1}, "a negative root");
    broadcast(3, {0, 1, 2}, "a root outside the group");
    expect_rejected(OpType::kAllgather, [&](OpIdentity id) {
      OutputAllocator never = [](const std::vector<int64_t>&) -> void* { return nullptr; };
      return MakeAllgatherOp(std::move(id), rank, scalar, never, {0, 1});
    }, "an allgather of a scalar");
    expect_rejected(OpType::kBarrier, [&](OpIdentity id) {
      return MakeBarrierOp(std::move(id), 5, {0, 1, 2});
    }, "a barrier of a rank outside its group");
    ExpectOk(Allreduce(engine, "tensor", i32, i32, false), rank);
    EXPECT_EQ(std::vector<int32_t>(ix, ix + 4), (std::vector<int32_t>{3, 4, 6, 8}));
  });
}

BLUEFOG_LOOPBACK_RANKS(EngineMismatch);

}  // namespace
}  // namespace bluefog
