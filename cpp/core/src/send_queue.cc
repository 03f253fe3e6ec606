#include "send_queue.h"

#include <algorithm>
#include <thread>

#include "op_timeline.h"

namespace bluefog {

int SendQueue::Encode(int dst, MessageHeader header, const void* payload, size_t bytes,
                       std::vector<char>* encoded) {
  header.payload_bytes = bytes;
  if (bytes <= kInlineLimit) {
    header.payload_tag = 0;
    EncodeMessage(header, payload, bytes, encoded);
    return 0;
  }
  header.payload_tag = transport_->ReservePayloadTag(dst, bytes);
  EncodeMessage(header, nullptr, 0, encoded);
  return header.payload_tag;
}

void SendQueue::Queue(const std::shared_ptr<Job>& job, int dst, MessageHeader header,
                      const void* payload, size_t bytes) {
  auto encoded = std::make_unique<std::vector<char>>();
  int tag = Encode(dst, header, payload, bytes, encoded.get());
  if (tag == 0) {
    job->pending_sends++;
    outbox_[dst].push_back({std::move(*encoded), {job, header.step, true}});
    return;
  }
  job->pending_sends += 2;
  auto request = transport_->SendHeader(dst, *encoded);
  AddSend(dst, request, {{job, header.step, false}}, std::move(encoded));
  AddSend(dst, transport_->SendPayload(dst, tag, payload, bytes), {{job, header.step, true}},
          nullptr);
}

void SendQueue::SendControl(int dst, MessageHeader header, const void* payload, size_t bytes) {
  auto encoded = std::make_unique<std::vector<char>>();
  int tag = Encode(dst, header, payload, bytes, encoded.get());
  auto request = transport_->SendHeader(dst, *encoded);
  AddControl(request, std::move(encoded));
  if (tag != 0) {
    auto copy = std::make_unique<std::vector<char>>(static_cast<const char*>(payload),
                                                    static_cast<const char*>(payload) + bytes);
    auto payload_request = transport_->SendPayload(dst, tag, copy->data(), bytes);
    AddControl(payload_request, std::move(copy));
  }
  PollControl();
}

void SendQueue::AddSend(int dst, Transport::RequestId request, std::vector<SendPart> parts,
                        std::unique_ptr<std::vector<char>> bytes) {
  sends_.push_back({request, dst, std::move(parts), std::move(bytes)});
}

void SendQueue::RecordFrame(const std::vector<SendPart>& parts, int dst, size_t bytes) {
  for (size_t i = 0; i < parts.size(); ++i) {
    bool first_of_job = std::none_of(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(i),
                                     [&](const SendPart& p) { return p.job == parts[i].job; });
    if (first_of_job) op_timeline::Fused(*parts[i].job, dst, parts.size(), bytes);
  }
}

bool SendQueue::Flush() {
  if (outbox_.empty()) return false;
  for (auto& entry : outbox_) {
    int dst = entry.first;
    auto& queue = entry.second;
    for (size_t begin = 0; begin < queue.size();) {
      size_t end = begin + 1;
      size_t frame_bytes = queue[begin].bytes.size() + 8;
      while (end < queue.size() &&
             frame_bytes + queue[end].bytes.size() + 4 <= fusion_threshold_) {
        frame_bytes += queue[end].bytes.size() + 4;
        ++end;
      }
      auto bytes = std::make_unique<std::vector<char>>();
      if (end - begin == 1) {
        *bytes = std::move(queue[begin].bytes);
      } else {
        std::vector<const std::vector<char>*> messages;
        for (size_t i = begin; i < end; ++i) messages.push_back(&queue[i].bytes);
        EncodeFrame(messages, bytes.get());
      }
      std::vector<SendPart> parts;
      for (size_t i = begin; i < end; ++i) parts.push_back(std::move(queue[i].part));
      if (end - begin > 1 && op_timeline::On()) RecordFrame(parts, dst, bytes->size());
      auto request = transport_->SendHeader(dst, *bytes);
      AddSend(dst, request, std::move(parts), std::move(bytes));
      begin = end;
    }
  }
  outbox_.clear();
  return true;
}

void SendQueue::DrainControl(std::chrono::steady_clock::duration limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!control_.empty() && std::chrono::steady_clock::now() < end) {
    PollControl();
    std::this_thread::yield();
  }
}

std::vector<SendPart> SendQueue::TakeTo(int dst) {
  std::vector<SendPart> parts;
  for (size_t i = 0; i < sends_.size();) {
    if (sends_[i].dst != dst) {
      ++i;
      continue;
    }
    transport_->Abandon(sends_[i].request);
    for (SendPart& part : sends_[i].parts) parts.push_back(std::move(part));
    sends_[i] = std::move(sends_.back());
    sends_.pop_back();
  }
  auto queued = outbox_.find(dst);
  if (queued != outbox_.end()) {
    for (QueuedMessage& m : queued->second) parts.push_back(std::move(m.part));
    outbox_.erase(queued);
  }
  return parts;
}

std::vector<SendPart> SendQueue::TakeAll() {
  std::vector<SendPart> parts;
  for (auto& send : sends_) {
    transport_->Abandon(send.request);
    for (SendPart& part : send.parts) parts.push_back(std::move(part));
  }
  for (auto& entry : outbox_)
    for (QueuedMessage& m : entry.second) parts.push_back(std::move(m.part));
  sends_.clear();
  outbox_.clear();
  return parts;
}

std::vector<int> SendQueue::Destinations() const {
  std::vector<int> ranks;
  for (const auto& send : sends_) ranks.push_back(send.dst);
  for (const auto& entry : outbox_) ranks.push_back(entry.first);
  return ranks;
}

std::vector<std::shared_ptr<Job>> SendQueue::Jobs() const {
  std::vector<std::shared_ptr<Job>> jobs;
  for (const auto& send : sends_)
    for (const SendPart& part : send.parts) jobs.push_back(part.job);
  for (const auto& entry : outbox_)
    for (const QueuedMessage& m : entry.second) jobs.push_back(m.part.job);
  return jobs;
}

}  // namespace bluefog
