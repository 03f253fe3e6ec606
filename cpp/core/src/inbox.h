// The engine thread's receiving side: header messages (alone or in fused
// frames) are counted, then routed: lifecycle notices to Liveness, probes
// to the StallMonitor, window requests to the WindowService, op messages to
// their op, or parked until it starts. Payloads that travel apart are
// received into the op's memory when it says where, else a pooled buffer.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bluefog/core/buffer_pool.h"
#include "bluefog/core/engine.h"
#include "bluefog/core/transport.h"
#include "engine_services.h"
#include "liveness.h"
#include "op_table.h"
#include "payload_receiver.h"
#include "peers.h"
#include "stall_monitor.h"
#include "window_service.h"

namespace bluefog {

class Inbox {
 public:
  struct Parts {
    EngineServices& engine;
    OpTable& ops;
    PayloadReceiver& receiver;
    WindowService& windows;
    StallMonitor& stalls;
    Liveness& liveness;
    PeerTable& peers;
    BufferPool& pool;
  };
  explicit Inbox(Parts parts) : parts_(parts) {}
  void Reset(Transport* transport, int size);

  // Takes every waiting header message; returns whether there was any.
  bool PollHeaders();
  // Delivers landed payloads; returns whether any landed.
  bool PollPayloads();
  // This rank is exiting on an error: only lifecycle notices matter now.
  void IgnoreAllButLifecycle() { aborting_ = true; }

  // Thread-safe: a consistent snapshot of both counters.
  MessageCounts Counts() {
    std::lock_guard<std::mutex> lock(counts_mutex_);
    return counts_;
  }

 private:
  void Count(int src, const char* data, size_t length);
  void Route(int src, const char* bytes, size_t length);
  void ForOp(const std::shared_ptr<Incoming>& incoming, const char* inline_data,
             size_t inline_bytes);

  Parts parts_;
  Transport* transport_ = nullptr;
  std::vector<char> message_bytes_;
  bool aborting_ = false;
  std::mutex counts_mutex_;
  MessageCounts counts_;
};

}  // namespace bluefog
