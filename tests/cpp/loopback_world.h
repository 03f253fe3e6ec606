// N engines as threads of the test process, over one loopback fabric.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/engine.h"
#include "bluefog/core/loopback_transport.h"

namespace bluefog {

// Short stall and deadline settings so a broken test fails quickly.
Config LoopbackTestConfig();

class LoopbackWorld {
 public:
  LoopbackWorld(int size, uint64_t seed, int local_size = 0,
                Config config = LoopbackTestConfig());
  LoopbackWorld(const LoopbackOptions& options, Config config);
  ~LoopbackWorld();  // stops every engine

  int size() const { return static_cast<int>(engines_.size()); }
  Engine& engine(int rank) { return *engines_[rank]; }
  LoopbackFabric& fabric() { return *fabric_; }
  // Runs body(rank, engine) on one thread per rank and joins them.
  void Run(const std::function<void(int rank, Engine& engine)>& body);
  void Stop();

 private:
  std::shared_ptr<LoopbackFabric> fabric_;
  std::vector<std::unique_ptr<Engine>> engines_;
  bool stopped_ = false;
};

// Submits an op and waits for it at most `seconds`; a wait that runs out
// gives the op up (so Stop does not wait for it) and returns a failure
// saying so.
Status RunOp(Engine& engine, OpType type, const std::string& name,
             const OpFactory& make, double seconds = 20);

}  // namespace bluefog
