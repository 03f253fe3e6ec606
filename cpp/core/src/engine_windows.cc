// The window service: this rank's engine serves its neighbours' put,
// accumulate, get, lock and unlock requests on its windows.
#include "engine_impl.h"

namespace bluefog {

void Engine::Impl::ReceiveWindowRequest(const std::shared_ptr<Incoming>& incoming,
                                        const char* inline_data, size_t inline_bytes) {
  Arrival& a = incoming->arrival;
  a.bytes = a.header.payload_bytes;
  if (a.bytes > 0) {
    a.buffer = pool_.Acquire(a.bytes);
    a.data = a.buffer.data();
  }
  if (a.header.payload_tag == 0) {
    if (inline_bytes != a.bytes) {
      BF_LOG(kError) << "dropping window request from rank " << a.src
                     << " with inconsistent payload size";
      return;
    }
    if (a.bytes > 0) std::memcpy(a.buffer.data(), inline_data, a.bytes);
    return ServeWindowRequest(a);
  }
  incoming->window_request = true;
  receives_.push_back({transport_->ReceivePayload(a.src, a.header.payload_tag,
                                                 a.buffer.data(), a.bytes),
                       incoming});
}

void Engine::Impl::ServeWindowRequest(Arrival& a) {
  const MessageHeader& h = a.header;
  MessageHeader reply = h;
  reply.kind = MessageKind::kData;
  reply.step = 1;
  reply.flags = 0;
  auto window = windows_.Find(h.text);
  std::string problem;
  if (!window) {
    problem = "rank " + std::to_string(world_.rank) + " has no window '" + h.text +
              "' (not created there, or already freed)";
  } else if (h.op != OpType::kWinLock && h.op != OpType::kWinUnlock &&
             (h.dtype != window->tensor().dtype || h.shape != window->tensor().shape)) {
    problem = "window '" + h.text + "' on rank " + std::to_string(world_.rank) + " holds " +
              DataTypeName(window->tensor().dtype) + " " +
              ShapeString(window->tensor().shape) + ", not " + DataTypeName(h.dtype) + " " +
              ShapeString(h.shape);
  } else if ((h.op == OpType::kWinPut || h.op == OpType::kWinAccumulate) &&
             !window->HasInNeighbor(a.src)) {
    problem = "rank " + std::to_string(a.src) + " is not an in-neighbour of rank " +
              std::to_string(world_.rank) + " for window '" + h.text + "'";
  }
  if (!problem.empty()) {
    if (h.op == OpType::kWinUnlock && (h.flags & kWinUnlockAbandon)) return;
    reply.kind = MessageKind::kError;
    reply.flags = static_cast<uint8_t>(StatusCode::kInvalidArgument);
    reply.text = problem;
    return SendReply(a.src, reply, nullptr, 0);
  }
  bool transfer = h.op == OpType::kWinPut || h.op == OpType::kWinAccumulate ||
                  h.op == OpType::kWinGet;
  if (transfer && window->Exclusive()) {
    deferred_[h.text].push_back(std::move(a));  // served once win_lock's block ends
    return;
  }
  switch (h.op) {
    case OpType::kWinPut:
    case OpType::kWinAccumulate:
      window->Write(a.src, a.data, h.op == OpType::kWinAccumulate,
                    (h.flags & kWinCarriesP) != 0, h.weight);
      return SendReply(a.src, reply, nullptr, 0);
    case OpType::kWinGet: {
      std::vector<char> copy(window->tensor().bytes());
      reply.weight = window->ReadSelf(copy.data());
      return SendReply(a.src, reply, copy.data(), copy.size());
    }
    case OpType::kWinLock: {
      bool exclusive = a.src == world_.rank && (h.flags & kWinLockExclusive);
      if (window->Lock({a.src, h.name, h.instance, exclusive}))
        SendReply(a.src, reply, nullptr, 0);
      return;
    }
    case OpType::kWinUnlock: {
      Window::Waiter next;
      if (window->Unlock({a.src, h.name, h.instance}, h.flags & kWinUnlockAbandon, &next)) {
        MessageHeader grant = reply;
        grant.name = next.key;
        grant.instance = next.instance;
        grant.op = OpType::kWinLock;
        SendReply(next.rank, grant, nullptr, 0);
      }
      ServeDeferred(*window);
      if (h.flags & kWinUnlockAbandon) return;  // the op is gone: nobody awaits a reply
      return SendReply(a.src, reply, nullptr, 0);
    }
    default:
      BF_LOG(kError) << "dropping window request of unknown type from rank " << a.src;
  }
}

void Engine::Impl::ServeDeferred(Window& window) {
  auto it = deferred_.find(window.name());
  if (it == deferred_.end() || window.Exclusive()) return;
  std::deque<Arrival> waiting = std::move(it->second);
  deferred_.erase(it);
  for (Arrival& arrival : waiting) ServeWindowRequest(arrival);
}

void Engine::Impl::SendReply(int dst, MessageHeader h, const void* payload, size_t bytes) {
  std::vector<char> encoded;
  h.payload_bytes = bytes;
  if (bytes <= kInlineLimit) {
    h.payload_tag = 0;
    EncodeMessage(h, payload, bytes, &encoded);
    return SendControl(dst, std::move(encoded));
  }
  h.payload_tag = transport_->ReservePayloadTag(dst, bytes);
  EncodeMessage(h, nullptr, 0, &encoded);
  SendControl(dst, std::move(encoded));
  auto copy = std::make_unique<std::vector<char>>(static_cast<const char*>(payload),
                                                  static_cast<const char*>(payload) + bytes);
  control_sends_.push_back({transport_->SendPayload(dst, h.payload_tag, copy->data(), bytes),
                            std::move(copy)});
}

}  // namespace bluefog
