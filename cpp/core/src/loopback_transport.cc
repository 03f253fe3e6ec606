#include "bluefog/core/loopback_transport.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <tuple>
#include <unordered_map>

namespace bluefog {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kFirstPayloadTag = 16;
constexpr int kLastPayloadTag = 1 << 30;

struct Request {
  // Completes only once its data reached the receiver (rendezvous).
  bool needs_delivery = false;
  bool delivered = false;
  bool cancelled = false;
  Clock::time_point done_at;
  std::string error;
  // A payload send: the sender's memory, what it held at send (also the
  // eager copy) and whether a change to it was reported already.
  const char* memory = nullptr;
  std::vector<char> at_send;
  int src = -1;
  int dst = -1;
  bool changed = false;
};
using RequestPtr = std::shared_ptr<Request>;

struct Header {
  std::vector<char> bytes;
  Clock::time_point ready_at;
  RequestPtr send;
};

struct PayloadSend {
  RequestPtr request;
  size_t bytes = 0;
  bool copied = false;  // else read from the sender's memory at delivery
};

struct PayloadReceive {
  RequestPtr request;
  char* data = nullptr;
  size_t bytes = 0;
};

struct Transfer {
  PayloadSend send;
  PayloadReceive receive;
  Clock::time_point deliver_at;
};

}  // namespace

struct LoopbackFabric::State {
  std::mutex mutex;
  std::mt19937_64 rng;
  std::chrono::microseconds max_delay;
  std::vector<std::vector<std::deque<Header>>> headers;    // [dst][src]
  std::vector<std::vector<Clock::time_point>> last_ready;  // [src][dst]
  using Key = std::tuple<int, int, int>;                   // (src, dst, tag)
  std::map<Key, std::deque<PayloadSend>> sends;
  std::map<Key, std::deque<PayloadReceive>> receives;
  std::vector<Transfer> transfers;
  std::vector<std::unordered_map<Transport::RequestId, RequestPtr>> requests;  // per rank
  std::vector<Transport::RequestId> next_id;
  std::vector<std::string> violations;
  double rendezvous_share = 0.5;
  Clock::duration completion_lag{};

  Clock::duration Delay() {
    if (max_delay.count() == 0) return Clock::duration::zero();
    std::uniform_int_distribution<int64_t> pick(0, max_delay.count());
    return std::chrono::microseconds(pick(rng));
  }
  size_t eager_limit = 0;
  // Whether a message of `bytes` waits for its receiver.
  bool Rendezvous(size_t bytes) {
    return max_delay.count() != 0 && bytes > eager_limit &&
           std::bernoulli_distribution(rendezvous_share)(rng);
  }

  void CheckUnchanged(Request& send, const char* when) {
    if (send.changed || send.at_send.empty() ||
        std::memcmp(send.memory, send.at_send.data(), send.at_send.size()) == 0)
      return;
    send.changed = true;
    violations.push_back("rank " + std::to_string(send.src) + " changed the memory of its " +
                         std::to_string(send.at_send.size()) + "-byte payload send to rank " +
                         std::to_string(send.dst) + " before the send completed (seen at " +
                         when + ")");
  }

  Transport::RequestId Add(int rank, RequestPtr request) {
    Transport::RequestId id = next_id[rank]++;
    requests[rank][id] = std::move(request);
    return id;
  }

  template <typename T>
  static bool PopLive(std::deque<T>* queue, T* out) {
    while (!queue->empty()) {
      T front = std::move(queue->front());
      queue->pop_front();
      if (!front.request->cancelled) {
        *out = std::move(front);
        return true;
      }
    }
    return false;
  }

  void Match(PayloadSend send, PayloadReceive receive) {
    transfers.push_back({std::move(send), std::move(receive), Clock::now() + Delay()});
  }

  void Deliver(Transfer& t, Clock::time_point now) {
    PayloadSend& send = t.send;
    PayloadReceive& receive = t.receive;
    // A rendezvous sender that gave up may have freed its buffer.
    if (send.request->cancelled && !send.copied) return;
    if (!send.copied) CheckUnchanged(*send.request, "delivery");
    if (!receive.request->cancelled) {
      if (send.bytes > receive.bytes) {
        receive.request->error = send.request->error =
            "loopback: message truncated (" + std::to_string(send.bytes) +
            " bytes sent, " + std::to_string(receive.bytes) + " posted)";
      } else if (send.bytes > 0) {
        std::memcpy(receive.data,
                    send.copied ? send.request->at_send.data() : send.request->memory,
                    send.bytes);
      }
      receive.request->delivered = true;
      receive.request->done_at = now + Delay();
    }
    if (send.request->needs_delivery) {
      send.request->delivered = true;
      send.request->done_at = now + Delay() + completion_lag;
    }
  }

  void Progress() {
    auto now = Clock::now();
    auto due = std::stable_partition(transfers.begin(), transfers.end(),
                                     [&](const Transfer& t) { return t.deliver_at > now; });
    for (auto it = due; it != transfers.end(); ++it) Deliver(*it, now);
    transfers.erase(due, transfers.end());
  }
};

LoopbackFabric::LoopbackFabric(LoopbackOptions options)
    : options_(options), state_(new State) {
  int n = options_.size;
  state_->rng.seed(options_.seed);
  state_->max_delay = options_.max_delay;
  state_->eager_limit = options_.eager_limit;
  state_->rendezvous_share = options_.rendezvous_share;
  state_->completion_lag = options_.completion_lag;
  state_->headers.assign(n, std::vector<std::deque<Header>>(n));
  state_->last_ready.assign(n, std::vector<Clock::time_point>(n));
  state_->requests.resize(n);
  state_->next_id.assign(n, 0);
}

LoopbackFabric::~LoopbackFabric() = default;

size_t LoopbackFabric::HeadersWaiting(int dst) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  size_t waiting = 0;
  for (const auto& from : state_->headers[dst]) waiting += from.size();
  return waiting;
}

std::vector<std::string> LoopbackFabric::TakeViolations() {
  std::vector<std::string> violations;
  std::lock_guard<std::mutex> lock(state_->mutex);
  violations.swap(state_->violations);
  return violations;
}

LoopbackTransport::LoopbackTransport(std::shared_ptr<LoopbackFabric> fabric, int rank)
    : fabric_(std::move(fabric)), rank_(rank),
      next_tag_(fabric_->options().size, kFirstPayloadTag) {}

LoopbackTransport::~LoopbackTransport() = default;

Status LoopbackTransport::Init(const Config& config, WorldInfo* world) {
  int size = fabric_->options().size;
  if (rank_ < 0 || rank_ >= size)
    return Status::Invalid("loopback rank " + std::to_string(rank_) +
                           " outside a fabric of " + std::to_string(size));
  int local = config.nodes_per_machine > 0 ? config.nodes_per_machine
              : fabric_->options().local_size > 0 ? fabric_->options().local_size
                                                  : size;
  if (size % local != 0)
    return Status::Invalid(std::to_string(local) + " ranks per machine do not divide " +
                           std::to_string(size) + " ranks");
  world->rank = rank_;
  world->size = size;
  world->local_size = local;
  world->local_rank = rank_ % local;
  world->local_ranks.clear();
  for (int r = rank_ - rank_ % local; r < rank_ - rank_ % local + local; ++r)
    world->local_ranks.push_back(r);
  world->homogeneous = true;
  world->mpi_threads_supported = true;
  // One process: the engine's liveness check sees every rank alive.
  pids_.assign(size, static_cast<int>(getpid()));
  hosts_.clear();
  same_host_.clear();
  for (int r = 0; r < size; ++r) {
    hosts_.push_back("loopback-" + std::to_string(r / local));
    same_host_.push_back(r / local == rank_ / local);
  }
  return Status::Ok();
}

void LoopbackTransport::Finalize() {}

Transport::RequestId LoopbackTransport::SendHeader(int dst, const std::vector<char>& bytes) {
  auto& s = *fabric_->state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  auto now = Clock::now();
  auto request = std::make_shared<Request>();
  request->needs_delivery = s.Rendezvous(bytes.size());
  request->done_at = now + s.Delay();
  auto& last = s.last_ready[rank_][dst];
  last = std::max(last, now + s.Delay());
  s.headers[dst][rank_].push_back({bytes, last, request});
  return s.Add(rank_, request);
}

Transport::RequestId LoopbackTransport::SendPayload(int dst, int tag, const void* data,
                                                    size_t bytes) {
  auto& s = *fabric_->state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  PayloadSend send;
  send.request = std::make_shared<Request>();
  Request& request = *send.request;
  request.memory = static_cast<const char*>(data);
  request.at_send.assign(request.memory, request.memory + bytes);
  request.src = rank_;
  request.dst = dst;
  send.bytes = bytes;
  send.copied = !s.Rendezvous(bytes);
  if (send.copied) {
    request.done_at = Clock::now() + s.Delay() + s.completion_lag;
  } else {
    send.request->needs_delivery = true;
  }
  RequestId id = s.Add(rank_, send.request);
  PayloadReceive receive;
  if (LoopbackFabric::State::PopLive(&s.receives[{rank_, dst, tag}], &receive))
    s.Match(std::move(send), std::move(receive));
  else
    s.sends[{rank_, dst, tag}].push_back(std::move(send));
  return id;
}

Transport::RequestId LoopbackTransport::ReceivePayload(int src, int tag, void* data,
                                                       size_t bytes) {
  auto& s = *fabric_->state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  PayloadReceive receive{std::make_shared<Request>(), static_cast<char*>(data), bytes};
  receive.request->needs_delivery = true;
  RequestId id = s.Add(rank_, receive.request);
  PayloadSend send;
  if (LoopbackFabric::State::PopLive(&s.sends[{src, rank_, tag}], &send))
    s.Match(std::move(send), std::move(receive));
  else
    s.receives[{src, rank_, tag}].push_back(std::move(receive));
  return id;
}

int LoopbackTransport::ReservePayloadTag(int dst, size_t) {
  int& next = next_tag_[dst];
  if (next >= kLastPayloadTag) next = kFirstPayloadTag;
  return next++;
}

bool LoopbackTransport::Test(RequestId id, std::string* error) {
  auto& s = *fabric_->state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.Progress();
  auto& mine = s.requests[rank_];
  auto it = mine.find(id);
  if (it == mine.end()) {
    *error = "loopback: unknown request " + std::to_string(id);
    return true;
  }
  Request& request = *it->second;
  if ((request.needs_delivery && !request.delivered) || Clock::now() < request.done_at)
    return false;
  if (request.memory != nullptr) s.CheckUnchanged(request, "completion");
  if (!request.error.empty()) *error = request.error;
  mine.erase(it);
  return true;
}

void LoopbackTransport::Abandon(RequestId id) {
  auto& s = *fabric_->state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  auto& mine = s.requests[rank_];
  auto it = mine.find(id);
  if (it == mine.end()) return;
  it->second->cancelled = true;
  mine.erase(it);
}

bool LoopbackTransport::TakeHeader(int* src, std::vector<char>* bytes, std::string*) {
  auto& s = *fabric_->state_;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.Progress();
  auto now = Clock::now();
  auto& inbox = s.headers[rank_];
  std::vector<int> ready;
  for (int r = 0; r < static_cast<int>(inbox.size()); ++r)
    if (!inbox[r].empty() && inbox[r].front().ready_at <= now) ready.push_back(r);
  if (ready.empty()) return false;
  int from = ready[s.rng() % ready.size()];
  Header header = std::move(inbox[from].front());
  inbox[from].pop_front();
  if (header.send->needs_delivery && !header.send->delivered) {
    header.send->delivered = true;
    header.send->done_at = now + s.Delay();
  }
  *bytes = std::move(header.bytes);
  *src = from;
  return true;
}

}  // namespace bluefog
