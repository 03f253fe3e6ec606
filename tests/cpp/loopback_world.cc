#include "loopback_world.h"

#include <thread>

namespace bluefog {

Config LoopbackTestConfig() {
  Config config;
  config.stall_warning_seconds = 5;
  config.op_timeout_seconds = 30;
  config.log_level = LogLevel::kError;
  return config;
}

namespace {
LoopbackOptions Options(int size, uint64_t seed, int local_size) {
  LoopbackOptions options;
  options.size = size;
  options.local_size = local_size;
  options.seed = seed;
  return options;
}
}  // namespace

LoopbackWorld::LoopbackWorld(int size, uint64_t seed, int local_size, Config config)
    : LoopbackWorld(Options(size, seed, local_size), config) {}

LoopbackWorld::LoopbackWorld(const LoopbackOptions& options, Config config)
    : fabric_(std::make_shared<LoopbackFabric>(options)) {
  for (int r = 0; r < options.size; ++r) {
    engines_.push_back(std::make_unique<Engine>());
    engines_.back()->Start(config, std::make_unique<LoopbackTransport>(fabric_, r));
  }
}

LoopbackWorld::~LoopbackWorld() { Stop(); }

void LoopbackWorld::Run(const std::function<void(int, Engine&)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size(); ++r)
    threads.emplace_back([&, r] { body(r, *engines_[r]); });
  for (auto& t : threads) t.join();
}

void LoopbackWorld::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // Together: each engine's goodbye waits for its peers'.
  Run([](int, Engine& engine) { engine.Stop(); });
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

}  // namespace bluefog
