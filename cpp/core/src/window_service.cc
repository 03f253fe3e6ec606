#include "window_service.h"

#include <cstring>

#include "bluefog/core/logging.h"
#include "bluefog/core/tensor.h"
#include "op_timeline.h"

namespace bluefog {

void* WindowService::Accept(Incoming& incoming, const char* inline_data, size_t inline_bytes) {
  Arrival& a = incoming.arrival;
  a.bytes = a.header.payload_bytes;
  if (a.bytes > 0) {
    a.buffer = pool_.Acquire(a.bytes);
    a.data = a.buffer.data();
  }
  if (a.header.payload_tag != 0) {
    incoming.window_request = true;
    return a.buffer.data();
  }
  if (inline_bytes != a.bytes) {
    BF_LOG(kError) << "dropping window request from rank " << a.src
                   << " with inconsistent payload size";
    return nullptr;
  }
  if (a.bytes > 0) std::memcpy(a.buffer.data(), inline_data, a.bytes);
  Serve(a);
  return nullptr;
}

std::string WindowService::Problem(const Arrival& a, const Window* window) const {
  const MessageHeader& h = a.header;
  if (!window)
    return "rank " + std::to_string(rank_) + " has no window '" + h.text +
           "' (not created there, or already freed)";
  if (h.op != OpType::kWinLock && h.op != OpType::kWinUnlock &&
      (h.dtype != window->tensor().dtype || h.shape != window->tensor().shape))
    return "window '" + h.text + "' on rank " + std::to_string(rank_) + " holds " +
           DataTypeName(window->tensor().dtype) + " " + ShapeString(window->tensor().shape) +
           ", not " + DataTypeName(h.dtype) + " " + ShapeString(h.shape);
  if ((h.op == OpType::kWinPut || h.op == OpType::kWinAccumulate) &&
      !window->HasInNeighbor(a.src))
    return "rank " + std::to_string(a.src) + " is not an in-neighbour of rank " +
           std::to_string(rank_) + " for window '" + h.text + "'";
  return "";
}

void WindowService::Serve(Arrival& a) {
  if (!op_timeline::On()) return ServeRequest(a);
  Clock::time_point begin = Clock::now();
  MessageHeader header = a.header;  // a deferred request is moved away
  int src = a.src;
  ServeRequest(a);
  op_timeline::Served(header, src, begin);
}

void WindowService::ServeRequest(Arrival& a) {
  const MessageHeader& h = a.header;
  MessageHeader reply = h;
  reply.kind = MessageKind::kData;
  reply.step = 1;
  reply.flags = 0;
  auto window = windows_.Find(h.text);
  std::string problem = Problem(a, window.get());
  if (!problem.empty()) {
    if (h.op == OpType::kWinUnlock && (h.flags & kWinUnlockAbandon)) return;
    reply.kind = MessageKind::kError;
    reply.flags = static_cast<uint8_t>(StatusCode::kInvalidArgument);
    reply.text = problem;
    return Reply(a.src, reply);
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
      return Reply(a.src, reply);
    case OpType::kWinGet: {
      std::vector<char> copy(window->tensor().bytes());
      reply.weight = window->ReadSelf(copy.data());
      return Reply(a.src, reply, copy.data(), copy.size());
    }
    case OpType::kWinLock: {
      bool exclusive = a.src == rank_ && (h.flags & kWinLockExclusive);
      if (window->Lock({a.src, h.name, h.instance, exclusive})) Reply(a.src, reply);
      return;
    }
    case OpType::kWinUnlock: {
      Window::Waiter next;
      if (window->Unlock({a.src, h.name, h.instance}, h.flags & kWinUnlockAbandon, &next))
        Grant(*window, next);
      ServeDeferred(*window);
      if (h.flags & kWinUnlockAbandon) return;  // the op is gone: nobody awaits a reply
      return Reply(a.src, reply);
    }
    default:
      BF_LOG(kError) << "dropping window request of unknown type from rank " << a.src;
  }
}

void WindowService::Grant(const Window& window, const Window::Waiter& next) {
  MessageHeader grant;
  grant.kind = MessageKind::kData;
  grant.op = OpType::kWinLock;
  grant.step = 1;
  grant.name = next.key;
  grant.instance = next.instance;
  grant.text = window.name();
  grant.dtype = window.tensor().dtype;
  grant.shape = window.tensor().shape;
  Reply(next.rank, grant);
}

void WindowService::ServeDeferred(Window& window) {
  auto it = deferred_.find(window.name());
  if (it == deferred_.end() || window.Exclusive()) return;
  std::deque<Arrival> waiting = std::move(it->second);
  deferred_.erase(it);
  for (Arrival& arrival : waiting) Serve(arrival);
}

void WindowService::ReleaseRank(int r) {
  for (const auto& window : windows_.All()) {
    for (const Window::Waiter& next : window->ReleaseRank(r)) Grant(*window, next);
    ServeDeferred(*window);  // a win_lock it held has ended with it
  }
}

std::vector<int> WindowService::MutexRanks() {
  std::vector<int> ranks;
  for (const auto& window : windows_.All())
    for (int r : window->MutexRanks()) ranks.push_back(r);
  return ranks;
}

}  // namespace bluefog
