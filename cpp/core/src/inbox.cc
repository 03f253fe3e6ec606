#include "inbox.h"

#include <cstring>

#include "bluefog/core/logging.h"
#include "op_timeline.h"

namespace bluefog {

void Inbox::Reset(Transport* transport, int size) {
  transport_ = transport;
  std::lock_guard<std::mutex> lock(counts_mutex_);
  counts_.logical_from.assign(size, 0);
  counts_.mpi = 0;
}

bool Inbox::PollHeaders() {
  bool progressed = false;
  int src = -1;
  std::string error;
  while (transport_->TakeHeader(&src, &message_bytes_, &error)) {
    progressed = true;
    const char* data = message_bytes_.data();
    size_t length = message_bytes_.size();
    Count(src, data, length);
    if (IsFrame(data, length)) {
      bool ok = ForEachInFrame(data, length, [&](const char* m, size_t n) { Route(src, m, n); });
      if (!ok) {
        BF_LOG(kError) << "dropping the rest of a malformed frame from rank " << src;
      }
    } else {
      Route(src, data, length);
    }
  }
  if (!error.empty()) {
    BF_LOG(kError) << "receiving a message failed: " << error;
  }
  return progressed;
}

void Inbox::Count(int src, const char* data, size_t length) {
  uint64_t messages = 1;
  if (IsFrame(data, length)) {
    messages = 0;
    ForEachInFrame(data, length, [&](const char*, size_t) { messages++; });
  }
  std::lock_guard<std::mutex> lock(counts_mutex_);
  counts_.logical_from[src] += messages;
  counts_.mpi++;
}

void Inbox::Route(int src, const char* bytes, size_t length) {
  auto incoming = std::make_shared<Incoming>();
  Arrival& a = incoming->arrival;
  a.src = src;
  const char* inline_data = nullptr;
  size_t inline_bytes = 0;
  if (!DecodeMessage(bytes, length, &a.header, &inline_data, &inline_bytes)) {
    BF_LOG(kError) << "dropping malformed message from rank " << src;
    return;
  }
  const MessageHeader& h = a.header;
  if (Liveness::IsLifecycle(h.kind)) return parts_.liveness.OnLifecycle(src, h);
  if (aborting_) return;
  if (!parts_.peers.reachable(src)) return;  // a failed rank's late messages
  if (h.kind == MessageKind::kProbe) return parts_.stalls.Answer(src, h);
  if (h.kind == MessageKind::kProbeReply) return parts_.stalls.TakeReply(src, h);
  if (h.kind == MessageKind::kWindow) {
    void* destination = parts_.windows.Accept(*incoming, inline_data, inline_bytes);
    if (destination != nullptr) parts_.receiver.Post(incoming, destination);
    return;
  }
  ForOp(incoming, inline_data, inline_bytes);
}

void Inbox::ForOp(const std::shared_ptr<Incoming>& incoming, const char* inline_data,
                  size_t inline_bytes) {
  Arrival& a = incoming->arrival;
  const MessageHeader& h = a.header;
  OpKey key{h.name, h.instance};
  std::shared_ptr<Job> job = parts_.ops.Find(key);
  bool stale = !job && parts_.ops.Started(h.name, h.instance);
  if (stale && h.kind == MessageKind::kData && !parts_.ops.RecentlyFailed(key))
    WarnUnconsumed(a.src, h);
  a.bytes = h.payload_bytes;
  if (h.payload_tag == 0) {
    if (inline_bytes != h.payload_bytes) {
      BF_LOG(kError) << "dropping message from rank " << a.src
                     << " with inconsistent payload size";
      return;
    }
    if (stale) return;
    if (inline_bytes > 0) {
      a.buffer = parts_.pool.Acquire(inline_bytes);
      std::memcpy(a.buffer.data(), inline_data, inline_bytes);
      a.data = a.buffer.data();
    }
    incoming->complete = true;
    if (job) return parts_.engine.Deliver(job, a);
    return parts_.ops.Park(key, incoming);
  }
  void* destination = nullptr;
  if (job && !job->op->finished()) destination = job->op->PayloadDestination(a.src, h);
  if (destination == nullptr) {
    a.buffer = parts_.pool.Acquire(h.payload_bytes);
    destination = a.buffer.data();
  }
  a.data = static_cast<const char*>(destination);
  if (job) {
    incoming->target = job;
  } else if (!stale) {
    parts_.ops.Park(key, incoming);
  }
  parts_.receiver.Post(incoming, destination);
}

bool Inbox::PollPayloads() {
  return parts_.receiver.Poll([&](const std::shared_ptr<Incoming>& incoming,
                                  const std::string& error) {
    if (incoming->window_request) {
      if (error.empty()) parts_.windows.Serve(incoming->arrival);
      return;
    }
    auto job = incoming->target.lock();
    if (!job) return;  // parked (or stale) until an op wants it
    if (!error.empty()) {
      parts_.engine.FailJob(
          job,
          Status::PeerFailure("receiving from rank " + std::to_string(incoming->arrival.src) +
                              " failed: " + error),
          true);
      return;
    }
    op_timeline::Transferred(*job, incoming->arrival.src, incoming->arrived);
    parts_.engine.Deliver(job, incoming->arrival);
  });
}

}  // namespace bluefog
