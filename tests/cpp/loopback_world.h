// N engines as threads of the test process, over one loopback fabric, and
// what the engine tests share: seeds, rank lists, views and op runners.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/engine.h"
#include "bluefog/core/loopback_transport.h"
#include "bluefog/core/neighbor_ops.h"

namespace bluefog {

// Short stall and deadline settings so a broken test fails quickly.
Config LoopbackTestConfig();

// How the fabric moves payloads above its eager limit: at random, all
// copied at send, all read from the sender's memory at delivery, or at
// random with sends completing well after their data was delivered.
enum class Delivery { kRandom, kEager, kRendezvous, kLateCompletion };
LoopbackOptions MakeLoopbackOptions(int size, uint64_t seed,
                                    Delivery delivery = Delivery::kRandom,
                                    int local_size = 0);

class LoopbackWorld {
 public:
  LoopbackWorld(int size, uint64_t seed, int local_size = 0,
                Config config = LoopbackTestConfig());
  LoopbackWorld(const LoopbackOptions& options, Config config = LoopbackTestConfig());
  ~LoopbackWorld();  // stops every engine

  int size() const { return static_cast<int>(engines_.size()); }
  Engine& engine(int rank) { return *engines_[rank]; }
  LoopbackFabric& fabric() { return *fabric_; }
  // Runs body(rank, engine) on one thread per rank and joins them.
  void Run(const std::function<void(int rank, Engine& engine)>& body);
  // Stops the engines, then fails the test for every contract violation the
  // fabric saw (a payload changed before its send completed).
  void Stop();

 private:
  std::shared_ptr<LoopbackFabric> fabric_;
  std::vector<std::unique_ptr<Engine>> engines_;
  std::string label_;  // names the world in failures
  bool stopped_ = false;
};

// Submits an op and waits for it at most `seconds`; a wait that runs out
// gives the op up (so Stop does not wait for it) and returns a failure
// saying so.
Status RunOp(Engine& engine, OpType type, const std::string& name,
             const OpFactory& make, double seconds = 20);

inline constexpr uint64_t kSeeds[] = {1, 2, 3};

std::vector<int> AllRanks(int size);
// The ring's neighbours of `rank`, each once and never itself.
std::vector<int> RingNeighbors(int rank, int size);
RankWeights Uniform(const std::vector<int>& ranks, double weight);
void ExpectOk(const Status& status, int rank);

TensorView View(std::vector<float>& v, std::vector<int64_t> shape = {});
// Bytes as a tensor of `dtype` and `shape`.
TensorView View(std::vector<char>& bytes, DataType dtype, std::vector<int64_t> shape);

// An empty group means every rank.
Status Allreduce(Engine& engine, const std::string& name, TensorView input, TensorView output,
                 bool average, std::vector<int> group = {});
Status Allreduce(Engine& engine, const std::string& name, std::vector<float>& data,
                 bool average);
Status Broadcast(Engine& engine, const std::string& name, TensorView input, TensorView output,
                 int root, std::vector<int> group = {});
Status Barrier(Engine& engine, std::vector<int> group = {});
// Puts `payload` into the peers' copies of `window`.
Status WindowPut(Engine& engine, std::shared_ptr<Window> window, RankWeights peers,
                 TensorView payload);

// Polls `done` until it holds or `seconds` have passed; returns it.
bool WaitUntil(const std::function<bool()>& done, double seconds = 10);

// A test per number of ranks (GetParam()).
class LoopbackTest : public ::testing::TestWithParam<int> {
 protected:
  int size() const { return GetParam(); }
  // Runs body on a fresh world for each seed.
  void ForEachSeed(const std::function<void(int, Engine&)>& body, int local_size = 0,
                   Config config = LoopbackTestConfig());
  // Runs body on a fresh world for each seed and each of `deliveries`.
  void ForEachSchedule(const std::vector<Delivery>& deliveries,
                       const std::function<void(int, Engine&)>& body);
};

std::string RanksParamName(const ::testing::TestParamInfo<int>& info);

}  // namespace bluefog

#define BLUEFOG_LOOPBACK_RANKS(suite)                                               \
  INSTANTIATE_TEST_SUITE_P(Ranks, suite, ::testing::Values(1, 2, 3, 4), \
                           ::bluefog::RanksParamName)
