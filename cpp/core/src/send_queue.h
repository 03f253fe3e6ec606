// The engine thread's sending side. An op's message travels inline in its
// header up to kInlineLimit bytes, else as a header and a tagged payload;
// inline ones wait in a per-destination outbox until Flush(), which fuses
// those to one destination into frames of at most the fusion threshold.
// Control messages (failure notices, probes, replies, lifecycle notices)
// belong to no op and nothing waits for them.
#pragma once
#include <chrono>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bluefog/core/transport.h"
#include "bluefog/core/wire.h"
#include "engine_job.h"
#include "request_list.h"

namespace bluefog {

// One message of an op; several may share one transport send (a fused frame).
struct SendPart {
  std::shared_ptr<Job> job;
  int32_t step;
  bool carries_payload;
};

class SendQueue {
 public:
  void Reset(Transport* transport, size_t fusion_threshold_bytes) {
    transport_ = transport;
    fusion_threshold_ = fusion_threshold_bytes;
  }

  // The payload stays the op's until the send completed: the job counts it
  // in pending_sends until then.
  void Queue(const std::shared_ptr<Job>& job, int dst, MessageHeader header,
             const void* payload, size_t bytes);
  // Copies the payload, if any.
  void SendControl(int dst, MessageHeader header, const void* payload = nullptr,
                   size_t bytes = 0);

  // Sends the outbox; returns whether it held anything.
  bool Flush();
  // Hands each part of a completed send to on_sent(part, dst, error), error
  // empty on success; returns whether any send completed.
  template <typename OnSent>
  bool Poll(OnSent on_sent) {
    return TakeCompleted(*transport_, &sends_, [](const PendingSend& s) { return s.request; },
                         [&](PendingSend& done, const std::string& error) {
                           for (SendPart& part : done.parts) on_sent(part, done.dst, error);
                         });
  }
  void PollControl() {
    DropCompleted(*transport_, &control_, [](const ControlSend& c) { return c.request; });
  }
  // Polls until the control messages went out or `limit` passed.
  void DrainControl(std::chrono::steady_clock::duration limit);

  // The parts of every message to `dst`, queued or in flight, which will
  // never be read: their sends are abandoned.
  std::vector<SendPart> TakeTo(int dst);
  // Everything, abandoned (shutdown gave up, or this rank aborts).
  std::vector<SendPart> TakeAll();

  bool empty() const { return sends_.empty() && outbox_.empty(); }
  std::vector<int> Destinations() const;
  // The jobs of the messages queued or in flight.
  std::vector<std::shared_ptr<Job>> Jobs() const;

 private:
  struct PendingSend {
    Transport::RequestId request;
    int dst;
    std::vector<SendPart> parts;
    std::unique_ptr<std::vector<char>> bytes;  // what the transport reads, when ours
  };
  struct QueuedMessage {
    std::vector<char> bytes;
    SendPart part;
  };
  struct ControlSend {
    Transport::RequestId request;
    std::unique_ptr<std::vector<char>> bytes;
  };

  // Encodes `header` for dst with the payload inline (returns 0), or alone
  // with a payload tag reserved for it (returns the tag).
  int Encode(int dst, MessageHeader header, const void* payload, size_t bytes,
              std::vector<char>* encoded);
  // The timeline's instant in the row of each op with a message in a frame.
  static void RecordFrame(const std::vector<SendPart>& parts, int dst, size_t bytes);
  void AddSend(int dst, Transport::RequestId request, std::vector<SendPart> parts,
               std::unique_ptr<std::vector<char>> bytes);
  void AddControl(Transport::RequestId request, std::unique_ptr<std::vector<char>> bytes) {
    control_.push_back({request, std::move(bytes)});
  }

  Transport* transport_ = nullptr;
  size_t fusion_threshold_ = 0;
  std::vector<PendingSend> sends_;
  std::unordered_map<int, std::vector<QueuedMessage>> outbox_;
  std::vector<ControlSend> control_;
};

}  // namespace bluefog
