#include "loopback_world.h"

#include <set>
#include <thread>

#include "bluefog/core/collectives.h"
#include "bluefog/core/window_ops.h"

namespace bluefog {

Config LoopbackTestConfig() {
  Config config;
  config.stall_warning_seconds = 5;
  config.op_timeout_seconds = 30;
  config.log_level = LogLevel::kError;
  return config;
}

LoopbackOptions MakeLoopbackOptions(int size, uint64_t seed, Delivery delivery,
                                    int local_size) {
  LoopbackOptions options;
  options.size = size;
  options.local_size = local_size;
  options.seed = seed;
  if (delivery == Delivery::kEager) options.rendezvous_share = 0;
  if (delivery == Delivery::kRendezvous) options.rendezvous_share = 1;
  // Several times the longest delivery delay: the last messages of an op
  // arrive before its first sends complete.
  if (delivery == Delivery::kLateCompletion)
    options.completion_lag = std::chrono::microseconds(2000);
  return options;
}

LoopbackWorld::LoopbackWorld(int size, uint64_t seed, int local_size, Config config)
    : LoopbackWorld(MakeLoopbackOptions(size, seed, Delivery::kRandom, local_size), config) {}

LoopbackWorld::LoopbackWorld(const LoopbackOptions& options, Config config)
    : fabric_(std::make_shared<LoopbackFabric>(options)) {
  label_ = std::to_string(options.size) + " ranks, seed " + std::to_string(options.seed);
  if (options.rendezvous_share == 0) label_ += ", payloads copied at send";
  if (options.rendezvous_share == 1) label_ += ", payloads read at delivery";
  if (options.completion_lag.count() != 0)
    label_ += ", completion lag " + std::to_string(options.completion_lag.count()) + " us";
  for (int r = 0; r < options.size; ++r) {
    engines_.push_back(std::make_unique<Engine>());
    engines_.back()->Start(config, std::make_unique<LoopbackTransport>(fabric_, r));
  }
}

LoopbackWorld::~LoopbackWorld() { Stop(); }

void LoopbackWorld::Run(const std::function<void(int, Engine&)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size(); ++r)
    threads.emplace_back([&, r] {
      // gtest's traces are per thread.
      SCOPED_TRACE(label_ + ": rank " + std::to_string(r));
      body(r, *engines_[r]);
    });
  for (auto& t : threads) t.join();
}

void LoopbackWorld::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // Together: each engine's goodbye waits for its peers'.
  Run([](int, Engine& engine) { engine.Stop(); });
  for (const std::string& violation : fabric_->TakeViolations())
    ADD_FAILURE() << label_ << ": loopback: " << violation;
}

Status RunOp(Engine& engine, OpType type, const std::string& name, const OpFactory& make,
             double seconds) {
  int64_t handle = engine.Submit(type, name, make);
  if (!engine.WaitFor(handle, seconds)) {
    engine.Abandon(handle);
    return Status::Timeout("test gave up waiting for '" + name + "' after " +
                           std::to_string(seconds) + " s");
  }
  return engine.Release(handle);
}

std::vector<int> AllRanks(int size) {
  std::vector<int> ranks(size);
  for (int r = 0; r < size; ++r) ranks[r] = r;
  return ranks;
}

std::vector<int> RingNeighbors(int rank, int size) {
  std::set<int> peers = {(rank + size - 1) % size, (rank + 1) % size};
  peers.erase(rank);
  return {peers.begin(), peers.end()};
}

RankWeights Uniform(const std::vector<int>& ranks, double weight) {
  RankWeights weights;
  for (int r : ranks) weights.emplace_back(r, weight);
  return weights;
}

void ExpectOk(const Status& status, int rank) {
  EXPECT_TRUE(status.ok()) << "rank " << rank << ": " << status.message();
}

TensorView View(std::vector<float>& v, std::vector<int64_t> shape) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  return TensorView{v.data(), DataType::kFloat32, std::move(shape)};
}

TensorView View(std::vector<char>& bytes, DataType dtype, std::vector<int64_t> shape) {
  return TensorView{bytes.data(), dtype, std::move(shape)};
}

namespace {
// Allreduce (option: average), broadcast (option: the root) or barrier over
// `group`, empty for every rank.
Status RunCollective(Engine& engine, OpType type, const std::string& name, TensorView input,
                     TensorView output, int option, std::vector<int> group) {
  if (group.empty()) group = AllRanks(engine.world().size);
  const int rank = engine.world().rank;
  return RunOp(engine, type, name, [&](OpIdentity id) {
    if (type == OpType::kAllreduce)
      return MakeAllreduceOp(std::move(id), rank, input, output, option != 0, group);
    if (type == OpType::kBroadcast)
      return MakeBroadcastOp(std::move(id), rank, input, output, option, group);
    return MakeBarrierOp(std::move(id), rank, group);
  });
}
}  // namespace

Status Allreduce(Engine& engine, const std::string& name, TensorView input, TensorView output,
                 bool average, std::vector<int> group) {
  return RunCollective(engine, OpType::kAllreduce, name, input, output, average, group);
}

Status Allreduce(Engine& engine, const std::string& name, std::vector<float>& data,
                 bool average) {
  return Allreduce(engine, name, View(data), View(data), average);
}

Status Broadcast(Engine& engine, const std::string& name, TensorView input, TensorView output,
                 int root, std::vector<int> group) {
  return RunCollective(engine, OpType::kBroadcast, name, input, output, root, group);
}

Status Barrier(Engine& engine, std::vector<int> group) {
  return RunCollective(engine, OpType::kBarrier, "", {}, {}, 0, group);
}

Status WindowPut(Engine& engine, std::shared_ptr<Window> window, RankWeights peers,
                 TensorView payload) {
  WindowOpArgs args;
  args.window = std::move(window);
  args.peers = std::move(peers);
  args.payload = std::move(payload);
  const std::string key = NewPrivateKey(args.window->name());
  return RunOp(engine, OpType::kWinPut, key,
               [&](OpIdentity id) { return MakeWindowTransferOp(std::move(id), args); });
}

bool WaitUntil(const std::function<bool()>& done, double seconds) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  return done();
}

void LoopbackTest::ForEachSeed(const std::function<void(int, Engine&)>& body, int local_size,
                               Config config) {
  for (uint64_t seed : kSeeds) {
    LoopbackWorld world(size(), seed, local_size, config);
    world.Run(body);
  }
}

void LoopbackTest::ForEachSchedule(const std::vector<Delivery>& deliveries,
                                   const std::function<void(int, Engine&)>& body) {
  for (Delivery delivery : deliveries)
    for (uint64_t seed : kSeeds) {
      LoopbackWorld world(MakeLoopbackOptions(size(), seed, delivery));
      world.Run(body);
    }
}

std::string RanksParamName(const ::testing::TestParamInfo<int>& info) {
  return std::to_string(info.param);
}

}  // namespace bluefog
