// An in-process transport for tests: N ranks are threads of one process,
// each with its own LoopbackTransport over one shared LoopbackFabric. Header
// messages between a pair of ranks keep their order (the engine relies on
// it, as it does on MPI's per-tag ordering); everything else is delivered
// after seeded random delays: a header source is picked at random among
// those ready, payloads are copied either at send (eager) or only at
// delivery (rendezvous, the sender's buffer is read late), and a send may
// stay incomplete a while after its receiver has the data.
//
// Every payload send also keeps what its memory held when it was sent and
// compares it when the payload is read and when the send completes: a
// sender that changed the memory in between broke the transport's contract
// (MPI may read it at any time until then), and the fabric records a
// violation, whether or not that send happened to be read late.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/transport.h"

namespace bluefog {

struct LoopbackOptions {
  int size = 1;
  // Ranks per emulated machine (each machine gets its own host name); 0:
  // one machine. Config::nodes_per_machine, when set, takes precedence.
  int local_size = 0;
  uint64_t seed = 1;
  // Upper bound of each random delay; zero delivers at once, in order.
  std::chrono::microseconds max_delay{300};
  // Messages up to this size always complete at send, as MPI's eager ones
  // do (the engine's goodbye relies on it); larger ones may wait for their
  // receiver.
  size_t eager_limit = 4096;
  // Share of the messages above eager_limit that wait for their receiver:
  // 1 reads every such payload from the sender's memory only at delivery,
  // 0 copies every one at send.
  double rendezvous_share = 0.5;
  // Payload sends complete no sooner than this after their data was copied
  // or delivered, so that ops finish with sends outstanding.
  std::chrono::microseconds completion_lag{0};
};

class LoopbackFabric {
 public:
  explicit LoopbackFabric(LoopbackOptions options);
  ~LoopbackFabric();
  const LoopbackOptions& options() const { return options_; }
  // Header messages sent to `dst` that its engine has not taken yet (tests
  // use it to act once a message has arrived).
  size_t HeadersWaiting(int dst) const;
  // The contract violations seen so far (see above), which it forgets.
  std::vector<std::string> TakeViolations();

 private:
  friend class LoopbackTransport;
  struct State;
  LoopbackOptions options_;
  std::unique_ptr<State> state_;
};

class LoopbackTransport final : public Transport {
 public:
  LoopbackTransport(std::shared_ptr<LoopbackFabric> fabric, int rank);
  ~LoopbackTransport() override;

  Status Init(const Config& config, WorldInfo* world) override;
  void Finalize() override;

  RequestId SendHeader(int dst, const std::vector<char>& bytes) override;
  RequestId SendPayload(int dst, int tag, const void* data, size_t bytes) override;
  RequestId ReceivePayload(int src, int tag, void* data, size_t bytes) override;
  int ReservePayloadTag(int dst, size_t bytes) override;
  bool Test(RequestId id, std::string* error) override;
  void Abandon(RequestId id) override;
  bool TakeHeader(int* src, std::vector<char>* bytes, std::string* error) override;

 private:
  std::shared_ptr<LoopbackFabric> fabric_;
  int rank_;
  std::vector<int> next_tag_;
};

}  // namespace bluefog
