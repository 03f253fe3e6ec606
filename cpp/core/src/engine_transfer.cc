// Moving bytes: ops' sends (inline in the header or as a tagged payload,
// small ones fused into frames per destination), receives, and polling the
// transport's requests.
#include "engine_impl.h"

namespace bluefog {

void Engine::Impl::Send(int dst, const MessageHeader& header, const void* payload, size_t bytes) {
  // Window requests may target this rank's own window (its mutex).
  bool to_self_ok = header.kind == MessageKind::kWindow;
  if ((dst == world_.rank && !to_self_ok) || dst < 0 || dst >= world_.size)
    throw Error("internal error: op sends to invalid rank " +
                std::to_string(dst));
  if (!peers_.reachable(dst)) return;  // the op fails through its participants
  auto bytes_out = std::make_unique<std::vector<char>>();
  MessageHeader h = header;
  h.payload_bytes = bytes;
  if (bytes <= kInlineLimit) {
    h.payload_tag = 0;
    QueuedMessage queued;
    EncodeMessage(h, payload, bytes, &queued.bytes);
    queued.part = {current_, h.step, true};
    current_->op->pending_sends++;
    outbox_[dst].push_back(std::move(queued));
  } else {
    h.payload_tag = transport_->ReservePayloadTag(dst, bytes);
    EncodeMessage(h, nullptr, 0, bytes_out.get());
    auto request = transport_->SendHeader(dst, *bytes_out);
    AddSend(dst, request, h.step, false, std::move(bytes_out));
    AddSend(dst, transport_->SendPayload(dst, h.payload_tag, payload, bytes),
            h.step, true, nullptr);
  }
}

bool Engine::Impl::FlushOutbox() {
  if (outbox_.empty()) return false;
  const size_t limit = static_cast<size_t>(config_.fusion_threshold_bytes);
  for (auto& entry : outbox_) {
    int dst = entry.first;
    auto& queue = entry.second;
    for (size_t begin = 0; begin < queue.size();) {
      size_t end = begin + 1;
      size_t frame_bytes = queue[begin].bytes.size() + 8;
      while (end < queue.size() && frame_bytes + queue[end].bytes.size() + 4 <= limit) {
        frame_bytes += queue[end].bytes.size() + 4;
        ++end;
      }
      auto bytes = std::make_unique<std::vector<char>>();
      std::vector<SendPart> parts;
      if (end - begin == 1) {
        *bytes = std::move(queue[begin].bytes);
      } else {
        std::vector<const std::vector<char>*> messages;
        for (size_t i = begin; i < end; ++i) messages.push_back(&queue[i].bytes);
        EncodeFrame(messages, bytes.get());
      }
      for (size_t i = begin; i < end; ++i) parts.push_back(std::move(queue[i].part));
      auto request = transport_->SendHeader(dst, *bytes);
      sends_.push_back({request, dst, std::move(parts), std::move(bytes)});
      begin = end;
    }
  }
  outbox_.clear();
  return true;
}

bool Engine::Impl::PollIncoming() {
  bool progressed = false;
  int src = -1;
  std::string error;
  while (transport_->TakeHeader(&src, &message_bytes_, &error)) {
    progressed = true;
    const char* data = message_bytes_.data();
    size_t length = message_bytes_.size();
    Count(src, data, length);
    if (IsFrame(data, length)) {
      bool ok = ForEachInFrame(data, length, [&](const char* m, size_t n) {
        HandleMessage(src, m, n);
      });
      if (!ok) {
        BF_LOG(kError) << "dropping the rest of a malformed frame from rank " << src;
      }
    } else {
      HandleMessage(src, data, length);
    }
  }
  if (!error.empty()) {
    BF_LOG(kError) << "receiving a message failed: " << error;
  }
  return progressed;
}

void Engine::Impl::Count(int src, const char* data, size_t length) {
  uint64_t messages = 1;
  if (IsFrame(data, length)) {
    messages = 0;
    ForEachInFrame(data, length, [&](const char*, size_t) { messages++; });
  }
  std::lock_guard<std::mutex> lock(mutex_);
  received_from_[src] += messages;
  mpi_messages_received_++;
}

bool Engine::Impl::PollReceives() {
  return TakeCompleted(
      &receives_, [](const PendingReceive& r) { return r.request; },
      [&](PendingReceive& done, const std::string& error) {
        auto incoming = done.incoming;
        incoming->complete = true;
        if (incoming->window_request) {
          if (error.empty()) ServeWindowRequest(incoming->arrival);
          return;
        }
        auto job = incoming->target.lock();
        if (!job) return;  // parked (or stale) until an op wants it
        if (!error.empty()) {
          FailJob(job,
                  Status::PeerFailure("receiving from rank " + std::to_string(incoming->arrival.src) +
                                  " failed: " + error),
                  true);
          return;
        }
        Deliver(job, incoming->arrival);
      });
}

bool Engine::Impl::PollSends() {
  return TakeCompleted(
      &sends_, [](const PendingSend& s) { return s.request; },
      [&](PendingSend& done, const std::string& error) {
        for (SendPart& part : done.parts) {
          auto& job = part.job;
          job->op->pending_sends--;
          job->last_progress = Clock::now();
          if (!error.empty()) {
            FailJob(job,
                    Status::PeerFailure("sending to rank " + std::to_string(done.dst) +
                                    " failed: " + error),
                    true);
          } else if (part.carries_payload) {
            Guarded(job, [&] { job->op->OnSendComplete(*this, part.step); });
          }
          MaybeComplete(job);
        }
      });
}

void Engine::Impl::SendControl(int dst, std::vector<char> bytes) {
  auto holder = std::make_unique<std::vector<char>>(std::move(bytes));
  control_sends_.push_back({transport_->SendHeader(dst, *holder), std::move(holder)});
  PollControlSends();
}

}  // namespace bluefog
