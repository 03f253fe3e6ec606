// Failures on real engines over the loopback fabric: a rank that aborts or
// shuts down while its peers need it, and window requests the target
// refuses.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bluefog/core/collectives.h"
#include "loopback_world.h"

namespace bluefog {
namespace {

class EngineFailures : public LoopbackTest {};

// The failures here are expected: no need to log them.
Config QuietConfig() {
  Config config = LoopbackTestConfig();
  config.log_level = LogLevel::kFatal;
  return config;
}

void ExpectFailure(const Status& status, StatusCode code, const std::string& needle,
                   const std::string& what) {
  EXPECT_EQ(status.code(), code) << what << ": " << status.message();
  EXPECT_NE(status.message().find(needle), std::string::npos)
      << what << " failed without saying '" << needle << "': " << status.message();
}

// The last rank aborts while the others wait in an allreduce with it: theirs
// fails, so does every later op that needs it (at once), while the
// survivors can still work among themselves.
TEST_P(EngineFailures, AbortFailsThePeersOps) {
  const int n = size();
  if (n < 2) GTEST_SKIP() << "needs a peer to fail";
  const std::string reason = "test: the script raised ValueError";
  const std::vector<int> survivors = AllRanks(n - 1);
  ForEachSeed([&](int rank, Engine& engine) {
    std::vector<float> data(20000, float(rank + 1));  // above the ring threshold
    if (rank == n - 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      engine.Abort(reason);
      EXPECT_THROW(Allreduce(engine, "after", data, false), ShutdownError);
      return;
    }
    ExpectFailure(Allreduce(engine, "pending", data, false), StatusCode::kPeerFailure, reason,
                  "the pending allreduce");
    auto start = std::chrono::steady_clock::now();
    ExpectFailure(Allreduce(engine, "later", data, false), StatusCode::kPeerFailure, reason,
                  "an allreduce posted after the abort");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // not the deadline
    std::vector<float> mine(100, float(rank + 1));
    ExpectOk(Allreduce(engine, "survivors", View(mine), View(mine), false, survivors), rank);
    EXPECT_EQ(mine, std::vector<float>(100, float(n * (n - 1) / 2)));
  }, 0, QuietConfig());
}

// The last rank shuts down without posting the op the others wait for.
TEST_P(EngineFailures, ShutdownWithoutPostingFailsThePeersOps) {
  const int n = size();
  if (n < 2) GTEST_SKIP() << "needs a peer to leave";
  ForEachSeed([&](int rank, Engine& engine) {
    if (rank != n - 1) {
      std::vector<float> data(10, 1.0f);
      Status status = Allreduce(engine, "never.posted", data, false);
      // "is shutting down" or "has shut down", depending on how far it got;
      // both paths then say "without posting".
      ExpectFailure(status, StatusCode::kPeerFailure, "allreduce 'never.posted'", "the allreduce");
      EXPECT_NE(status.message().find("without posting allreduce 'never.posted'"),
                std::string::npos)
          << status.message();
      EXPECT_NE(status.message().find("rank " + std::to_string(n - 1) + " (pid"),
                std::string::npos)
          << status.message();
    }
    engine.Stop();  // the leaving rank's goodbye waits for the others'
  }, 0, QuietConfig());
}

// Rank 0 puts into rank 1's windows: one rank 1 never created, one of
// another shape, one whose in-neighbours leave rank 0 out; each put fails
// with the target's reason and leaves its window alone, while a good put
// still lands. Last, rank 1 aborts and a put to it fails as a peer failure.
TEST(EngineWindowFailures, RefusedPutsFailAndLeaveTheTargetAlone) {
  for (uint64_t seed : kSeeds) {
    std::atomic<bool> aborted{false};
    LoopbackWorld world(MakeLoopbackOptions(2, seed), QuietConfig());
    world.Run([&](int rank, Engine& engine) {
      const int other = 1 - rank;
      std::vector<float> tensor(6, float(10 * (rank + 1)));
      std::vector<float> narrow(5, -1.0f), closed_tensor(6, -2.0f);
      WindowRegistry& windows = engine.Windows();
      std::shared_ptr<Window> ghost;
      if (rank == 0) ghost = windows.Create("ghost", View(tensor), {other}, true);
      auto shaped = rank == 0 ? windows.Create("shaped", View(tensor), {other}, true)
                              : windows.Create("shaped", View(narrow), {other}, true);
      auto closed = windows.Create("closed", View(closed_tensor), {}, true);
      auto good = windows.Create("good", View(tensor), {other}, true);
      ExpectOk(Barrier(engine), rank);
      if (rank == 0) {
        const StatusCode invalid = StatusCode::kInvalidArgument;
        ExpectFailure(WindowPut(engine, ghost, {{1, 1.0}}, View(tensor)), invalid,
                      "rank 1 has no window 'ghost'", "a put to a missing window");
        ExpectFailure(WindowPut(engine, shaped, {{1, 1.0}}, View(tensor)), invalid,
                      "window 'shaped' on rank 1 holds float32 [5], not float32 [6]",
                      "a put of another shape");
        ExpectFailure(WindowPut(engine, closed, {{1, 1.0}}, View(closed_tensor)), invalid,
                      "rank 0 is not an in-neighbour of rank 1", "a put from a non-neighbour");
        ExpectOk(WindowPut(engine, good, {{1, 1.0}}, View(tensor)), rank);
      }
      ExpectOk(Barrier(engine), rank);
      if (rank == 1) {
        std::vector<float> seen(6), seen_narrow(5);
        shaped->Update(0.0, {{0, 1.0}}, false, false, seen_narrow.data());
        EXPECT_EQ(seen_narrow, std::vector<float>(5, 0.0f)) << "the refused put landed";
        EXPECT_EQ(narrow, std::vector<float>(5, -1.0f));
        EXPECT_EQ(closed_tensor, std::vector<float>(6, -2.0f));
        good->Update(0.0, {{0, 1.0}}, false, false, seen.data());
        EXPECT_EQ(seen, std::vector<float>(6, 10.0f)) << "the good put did not land";
        // Abort returns once rank 0 acknowledged it.
        engine.Abort("test: rank 1 stops");
        aborted = true;
      } else {
        ASSERT_TRUE(WaitUntil([&] { return aborted.load(); }));
        ExpectFailure(WindowPut(engine, good, {{1, 1.0}}, View(tensor)),
                      StatusCode::kPeerFailure, "test: rank 1 stops", "a put to an aborted rank");
      }
      for (const std::string& name : windows.Names()) EXPECT_TRUE(windows.Free(name));
    });
  }
}

BLUEFOG_LOOPBACK_RANKS(EngineFailures);

}  // namespace
}  // namespace bluefog
