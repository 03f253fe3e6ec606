// Payloads on their way in: each receive belongs to a message whose header
// arrived (for an op, or a window request). Engine thread only.
#pragma once
#include <memory>
#include <vector>

#include "bluefog/core/transport.h"
#include "engine_job.h"
#include "request_list.h"

namespace bluefog {

class PayloadReceiver {
 public:
  void Reset(Transport* transport) { transport_ = transport; }

  void Post(const std::shared_ptr<Incoming>& incoming, void* destination) {
    const Arrival& a = incoming->arrival;
    receives_.push_back({transport_->ReceivePayload(a.src, a.header.payload_tag, destination,
                                                    a.header.payload_bytes),
                         incoming});
  }
  // Hands each landed payload's message to on_done(incoming, error), error
  // empty on success; returns whether any landed.
  template <typename OnDone>
  bool Poll(OnDone on_done) {
    return TakeCompleted(*transport_, &receives_, [](const Receive& r) { return r.request; },
                         [&](Receive& done, const std::string& error) {
                           done.incoming->complete = true;
                           on_done(done.incoming, error);
                         });
  }
  // A lost sender's payloads will not arrive. The transport may still
  // finish such a receive while it progresses others, so its buffer stays
  // alive until then.
  void Orphan(int src);
  void DropLandedOrphans() {
    DropCompleted(*transport_, &orphaned_, [](const Receive& r) { return r.request; });
  }
  void AbandonAll();

  bool empty() const { return receives_.empty(); }
  bool WindowDataInFlight() const;
  bool OnItsWay(const std::shared_ptr<Job>& job, int src) const;

 private:
  struct Receive {
    Transport::RequestId request;
    std::shared_ptr<Incoming> incoming;
  };
  Transport* transport_ = nullptr;
  std::vector<Receive> receives_;
  std::vector<Receive> orphaned_;  // from lost peers, not awaited
};

}  // namespace bluefog
