// Real engines, one per rank, as threads over the loopback transport: the
// ops' state machines, the engine's matching and its failure paths, with
// randomised delivery and no MPI.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "bluefog/core/collectives.h"
#include "bluefog/core/neighbor_ops.h"
#include "loopback_world.h"

namespace bluefog {
namespace {

class EngineLoopback : public LoopbackTest {};

TEST_P(EngineLoopback, AllreduceSumAndAverageExactOnBothPaths) {
  const int n = size();
  const float triangle = n * (n + 1) / 2.0f;
  ForEachSeed([&](int rank, Engine& engine) {
    // 20000 floats are above the ring threshold, 10 below it.
    for (size_t count : {size_t(10), size_t(20000)}) {
      ASSERT_GT(size_t(20000) * sizeof(float), kAllreduceRingThreshold);
      for (bool average : {false, true}) {
        std::vector<float> data(count);
        for (size_t i = 0; i < count; ++i) data[i] = float(n * (rank + 1) * (i % 13));
        std::string name = "ar." + std::to_string(count) + (average ? ".avg" : ".sum");
        ExpectOk(Allreduce(engine, name, data, average), rank);
        for (size_t i = 0; i < count; ++i) {
          float sum = n * triangle * (i % 13);
          ASSERT_EQ(data[i], average ? sum / n : sum) << "rank " << rank << " i " << i;
        }
      }
    }
  });
}

Status NeighborAllreduce(Engine& engine, const std::string& name, std::vector<float>& data,
                         const std::vector<int>& srcs, const std::vector<int>& dsts) {
  const WorldInfo& w = engine.world();
  double weight = 1.0 / (srcs.size() + 1);
  TensorView view = View(data);
  return RunOp(engine, OpType::kNeighborAllreduce, name, [&](OpIdentity id) {
    return MakeNeighborAllreduceOp(std::move(id), w.rank, w.size, view, view, weight,
                                   Uniform(srcs, weight), Uniform(dsts, 1.0));
  });
}

TEST_P(EngineLoopback, NeighborAllreduceOverARing) {
  const int n = size();
  ForEachSeed([&](int rank, Engine& engine) {
    std::vector<int> peers = RingNeighbors(rank, n);
    const float k1 = float(peers.size() + 1);
    for (size_t count : {size_t(7), size_t(30000)}) {
      std::vector<float> data(count);
      for (size_t i = 0; i < count; ++i) data[i] = k1 * (rank + 1) * (i % 5 + 1);
      ExpectOk(NeighborAllreduce(engine, "nar." + std::to_string(count), data, peers, peers),
               rank);
      float ranks_sum = rank + 1;
      for (int p : peers) ranks_sum += p + 1;
      for (size_t i = 0; i < count; ++i)
        ASSERT_EQ(data[i], ranks_sum * (i % 5 + 1)) << "rank " << rank << " i " << i;
    }
  });
}

TEST_P(EngineLoopback, NeighborAllreduceWithDynamicOnePeerTopologies) {
  const int n = size();
  if (n < 2) GTEST_SKIP() << "one rank has no peer";
  ForEachSeed([&](int rank, Engine& engine) {
    for (int step = 0; step < 6; ++step) {
      int shift = 1 + step % (n - 1);
      int dst = (rank + shift) % n, src = (rank + n - shift) % n;
      std::vector<float> data(100, float(2 * (rank + 1) * (step + 1)));
      ExpectOk(NeighborAllreduce(engine, "dynamic", data, {src}, {dst}), rank);
      EXPECT_EQ(data, std::vector<float>(100, float((rank + src + 2) * (step + 1))))
          << "rank " << rank << " step " << step;
    }
  });
}

TEST_P(EngineLoopback, NeighborAllgatherInTheOrderOfTheSources) {
  const int n = size();
  ForEachSeed([&](int rank, Engine& engine) {
    std::vector<int> srcs = RingNeighbors(rank, n);
    std::reverse(srcs.begin(), srcs.end());
    std::vector<float> input(4, float(rank));
    std::vector<float> output;
    TensorView view = View(input, {2, 2});
    OutputAllocator allocate = [&](const std::vector<int64_t>& shape) {
      output.resize(shape[0] * shape[1]);
      return static_cast<void*>(output.data());
    };
    ExpectOk(RunOp(engine, OpType::kNeighborAllgather, "nag",
                   [&](OpIdentity id) {
                     return MakeNeighborAllgatherOp(std::move(id), rank, n, view, allocate, srcs,
                                                    RingNeighbors(rank, n));
                   }),
             rank);
    std::vector<float> expected;
    for (int s : srcs) expected.insert(expected.end(), 4, float(s));
    EXPECT_EQ(output, expected) << "rank " << rank;
  });
}

TEST_P(EngineLoopback, HierarchicalNeighborAllreduceOverEmulatedMachines) {
  const int n = size();
  const int local = n % 2 == 0 ? 2 : 1;
  const int machines = n / local;
  ForEachSeed(
      [&](int rank, Engine& engine) {
        const WorldInfo& w = engine.world();
        ASSERT_EQ(w.local_size, local);
        int machine = rank / local;
        std::vector<int> neighbor_machines = RingNeighbors(machine, machines);
        std::vector<int> counterparts;
        for (int m : neighbor_machines) counterparts.push_back(m * local + w.local_rank);
        const float k1 = float(neighbor_machines.size() + 1);
        double weight = 1.0 / k1;
        std::vector<float> data(50);
        for (size_t i = 0; i < data.size(); ++i)
          data[i] = local * k1 * (rank + 1) * (i % 3 + 1);
        TensorView view = View(data);
        ExpectOk(RunOp(engine, OpType::kHierarchicalNeighborAllreduce, "hier",
                       [&](OpIdentity id) {
                         return MakeHierarchicalNeighborAllreduceOp(
                             std::move(id), rank, n, view, view, w.local_ranks, weight,
                             Uniform(counterparts, weight), Uniform(counterparts, 1.0));
                       }),
                 rank);
        float ranks_sum = 0;
        neighbor_machines.push_back(machine);
        for (int m : neighbor_machines)
          for (int r = m * local; r < (m + 1) * local; ++r) ranks_sum += r + 1;
        for (size_t i = 0; i < data.size(); ++i)
          ASSERT_FLOAT_EQ(data[i], ranks_sum * (i % 3 + 1)) << "rank " << rank << " i " << i;
      },
      local);
}

TEST_P(EngineLoopback, WindowPutThenUpdateAveragesTheNeighbours) {
  const int n = size();
  ForEachSeed([&](int rank, Engine& engine) {
    std::vector<int> peers = RingNeighbors(rank, n);
    const float k1 = float(peers.size() + 1);
    std::vector<float> tensor(6, k1 * (rank + 1));
    auto window = engine.Windows().Create("w", View(tensor), peers, true);
    ExpectOk(Barrier(engine), rank);
    ExpectOk(WindowPut(engine, window, Uniform(peers, 1.0), View(tensor)), rank);
    ExpectOk(Barrier(engine), rank);
    window->Update(1.0 / k1, Uniform(peers, 1.0 / k1), false, false, tensor.data());
    float ranks_sum = rank + 1;
    for (int p : peers) ranks_sum += p + 1;
    EXPECT_EQ(tensor, std::vector<float>(6, ranks_sum)) << "rank " << rank;
    ExpectOk(Barrier(engine), rank);
    EXPECT_TRUE(engine.Windows().Free("w"));
  });
}

TEST_P(EngineLoopback, NamedOpsIssuedInDifferentOrders) {
  const int n = size();
  ForEachSeed([&](int rank, Engine& engine) {
    std::vector<std::string> names = {"a", "b", "c", "d"};
    std::rotate(names.begin(), names.begin() + rank % names.size(), names.end());
    if (rank % 2) std::reverse(names.begin(), names.end());
    std::vector<std::vector<float>> data(names.size());
    std::vector<int64_t> handles;
    for (size_t k = 0; k < names.size(); ++k) {
      int which = names[k][0] - 'a';
      // Sizes differ per name, so a mix-up fails as a mismatch.
      data[k].assign(100 * (which + 1) + (which % 2) * 20000, float(rank + which));
      TensorView view = View(data[k]);
      handles.push_back(engine.Submit(OpType::kAllreduce, names[k], [&](OpIdentity id) {
        return MakeAllreduceOp(std::move(id), rank, view, view, false, AllRanks(n));
      }));
    }
    for (size_t k = 0; k < handles.size(); ++k) {
      if (!engine.WaitFor(handles[k], 20)) {
        ADD_FAILURE() << "rank " << rank << ": '" << names[k] << "' did not finish";
        engine.Abandon(handles[k]);
        continue;
      }
      ExpectOk(engine.Release(handles[k]), rank);
      int which = names[k][0] - 'a';
      float expected = n * (n - 1) / 2.0f + n * which;
      EXPECT_EQ(data[k], std::vector<float>(data[k].size(), expected)) << names[k];
    }
  });
}

TEST_P(EngineLoopback, DeadlineFailsAnOpOneRankNeverPosts) {
  const int n = size();
  if (n < 2) GTEST_SKIP() << "needs a rank that does not post";
  Config config = LoopbackTestConfig();
  config.op_timeout_seconds = 0.5;
  ForEachSeed(
      [&](int rank, Engine& engine) {
        if (rank == n - 1) return;
        std::vector<float> data(8, 1.0f);
        Status status = Allreduce(engine, "lonely", data, false);
        EXPECT_EQ(status.code(), StatusCode::kTimeout) << "rank " << rank << ": "
                                                       << status.message();
        EXPECT_NE(status.message().find("lonely"), std::string::npos) << status.message();
      },
      0, config);
}

// The window owner's engine sleeps long when idle; a put that has reached it
// must still be applied when the owner reads the window, not when the
// engine next wakes.
TEST(EngineDelivery, WindowReadAppliesAPutThatReachedASleepingEngine) {
  LoopbackOptions options;
  options.size = 2;
  options.max_delay = std::chrono::microseconds(0);  // a sent header has arrived
  Config config = LoopbackTestConfig();
  config.cycle_time_ms = 60000;
  LoopbackWorld world(options, config);
  std::atomic<bool> owner_asleep{false};
  world.Run([&](int rank, Engine& engine) {
    std::vector<float> tensor(4, float(rank));
    auto window = engine.Windows().Create("w", View(tensor), {1 - rank}, true);
    ExpectOk(Barrier(engine), rank);
    if (rank == 0) {
      ASSERT_TRUE(WaitUntil([&] { return owner_asleep.load(); }));
      std::vector<float> sent(4, 7.0f);
      ExpectOk(WindowPut(engine, window, {{1, 1.0}}, View(sent)), rank);
    } else {
      // Idle this long, the engine's backoff has reached sleeps of ~100 ms.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      owner_asleep = true;
      ASSERT_TRUE(WaitUntil([&] { return world.fabric().HeadersWaiting(1) > 0; }));
      EXPECT_TRUE(engine.DeliverArrived(10));
      window->Update(0.0, {{0, 1.0}}, false, false, tensor.data());
      EXPECT_EQ(tensor, std::vector<float>(4, 7.0f));
    }
    ExpectOk(Barrier(engine), rank);
    EXPECT_TRUE(engine.Windows().Free("w"));
  });
}

TEST(EngineDelivery, StoppedEngineDoesNotWait) {
  LoopbackWorld world(1, 1);
  world.Stop();
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(world.engine(0).DeliverArrived(30));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

BLUEFOG_LOOPBACK_RANKS(EngineLoopback);

}  // namespace
}  // namespace bluefog
