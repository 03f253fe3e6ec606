// Liveness: what this rank learns of its peers' lives (their closing,
// goodbye and abort notices; same-host pid checks) and what follows for
// the ops that need them: a lost peer fails them at once, naming it, and a
// peer that left normally fails those it never posted. Engine thread only.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "bluefog/core/transport.h"
#include "engine_services.h"
#include "op_table.h"
#include "payload_receiver.h"
#include "peers.h"
#include "send_queue.h"
#include "stall_monitor.h"
#include "window_service.h"

namespace bluefog {

class Liveness {
 public:
  struct Parts {
    EngineServices& engine;
    OpTable& ops;
    SendQueue& sends;
    PayloadReceiver& receiver;
    WindowService& windows;
    StallMonitor& stalls;
    PeerTable& peers;
  };
  explicit Liveness(Parts parts) : parts_(parts), peers_(parts.peers) {}
  void Reset(Transport* transport, int rank);

  static bool IsLifecycle(MessageKind kind) {
    return kind == MessageKind::kClosing || kind == MessageKind::kGone ||
           kind == MessageKind::kAbort || kind == MessageKind::kAbortAck;
  }
  void OnLifecycle(int src, const MessageHeader& h);

  // Called every check period: dead same-host peers, and ranks that left.
  void Check(Clock::time_point now);
  // Same-host peers only: pid liveness says nothing across machines.
  void CheckAlive(int r);
  // The job cannot start or go on if a rank it needs is lost, or left
  // without posting it.
  void CheckStart(const std::shared_ptr<Job>& job);
  void CheckDeparted(const std::shared_ptr<Job>& job);

  void TellPeer(int dst, MessageKind kind, const std::string& text,
                bool even_if_unreachable = false, uint8_t flags = 0);
  void TellPeers(MessageKind kind, const std::string& text, uint8_t flags = 0) {
    for (int r = 0; r < peers_.size(); ++r) TellPeer(r, kind, text, false, flags);
  }
  // This rank aborts: tell everyone, then AwaitingAcks() until they answer.
  void SendAbort(const std::string& reason, bool consequence);
  const std::set<int>& AwaitingAcks() const { return awaiting_acks_; }

 private:
  // A failed or dead rank: nothing more comes from it, and nothing sent to
  // it will be read. Every op that needs it fails, now and later.
  void PeerLost(int r);
  // Sends to `r` that will never be read: their ops fail (if they have not
  // already) and stop waiting for them.
  void AbandonSendsTo(int r);
  // The unreachable rank an error about `ranks` should name: peers that left
  // may have left because another one died or failed, so a dead or failed
  // rank comes first, then the one that left first.
  int CulpritAmong(const std::vector<int>& ranks);
  Status LostStatus(int r, const Op& op) const {
    return Status::PeerFailure(peers_.Why(r) + "; " + op.Describe() + " cannot complete");
  }
  bool IsPeer(int r) const { return r >= 0 && r < peers_.size() && r != rank_; }

  Parts parts_;
  Transport* transport_ = nullptr;
  int rank_ = 0;
  PeerTable& peers_;
  std::set<int> awaiting_acks_;
};

}  // namespace bluefog
