// The engine thread: it owns the transport and every part that only it
// touches, runs the progress loop (start queued jobs, receive, send, flush,
// periodic liveness and stall checks, backoff), and shuts down or aborts.
#pragma once
#include <memory>
#include <string>

#include "bluefog/core/buffer_pool.h"
#include "bluefog/core/config.h"
#include "bluefog/core/engine.h"
#include "bluefog/core/transport.h"
#include "bluefog/core/world.h"
#include "engine_services.h"
#include "engine_shared.h"
#include "inbox.h"
#include "liveness.h"
#include "op_lifecycle.h"
#include "op_names.h"
#include "op_table.h"
#include "payload_receiver.h"
#include "peers.h"
#include "send_queue.h"
#include "stall_monitor.h"
#include "window_service.h"

namespace bluefog {

class EngineThread : public RankActivity {
 public:
  EngineThread(EngineShared& shared, OpNames& names);
  // Before the thread starts.
  void Prepare(const Config& config, std::unique_ptr<Transport> transport) {
    config_ = config;
    transport_ = std::move(transport);
  }
  // The thread's body: init (reported through EngineShared), the loop, then
  // a goodbye and finalize, or an abort.
  void Main();

  // Valid once init succeeded.
  const WorldInfo& world() const { return world_; }
  const Config& config() const { return config_; }
  MessageCounts Counts() { return inbox_.Counts(); }
  WindowRegistry& windows() { return windows_.registry(); }

  std::string DescribeActivity() override;
  bool HasPosted(const std::string& key, uint64_t instance) override;

 private:
  void Loop();
  // A pass that began after the request, received nothing and awaits no
  // window payload has applied everything that had reached this rank.
  void AnswerDeliveries(uint64_t wanted);
  // At shutdown, ops that make no progress for the stall interval are failed
  // rather than waited for forever.
  bool ShutdownStuck(Clock::time_point now, Clock::time_point last_progress);
  bool StartQueued();
  bool PollSends();
  void SayGoodbye();
  // Exiting on an error: tell every peer why, fail what is pending here,
  // give the peers a moment to acknowledge.
  void RunAbort();
  // Completes every handle with `status` (queued ops too), without telling
  // peers: used when this rank exits.
  void FailEverything(const Status& status);

  EngineShared& shared_;
  OpNames& names_;
  Config config_;
  WorldInfo world_;
  std::unique_ptr<Transport> transport_;
  bool stop_seen_ = false;  // the loop's copy of shared_.stop_requested
  bool closing_sent_ = false;
  uint64_t deliveries_answered_ = 0;
  BufferPool pool_;
  PeerTable peers_;
  OpTable ops_;
  SendQueue sends_;
  PayloadReceiver receiver_;
  WindowService windows_;
  StallMonitor stalls_;
  Liveness liveness_;
  OpLifecycle lifecycle_;
  Inbox inbox_;
};

}  // namespace bluefog
