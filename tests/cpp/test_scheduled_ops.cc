// Tests for the collective op state machines (allreduce, broadcast,
// allgather, barrier, and the neighbour averages) without MPI. One process drives one op per simulated
// rank through a fake OpContext and an in-process network that behaves like
// the engine (engine.cc) does with MPI underneath:
//
//  * Send() encodes the header with EncodeMessage; the receiver decodes it.
//    Payloads up to 16 KiB travel inline; larger ones travel separately: the
//    receiving op is asked for a PayloadDestination when the header arrives
//    and the payload lands there (or in a pooled buffer) later.
//  * Messages for an op that has not been started are held and delivered
//    right after its Start().
//  * OnSendComplete(step) is called once the payload has left the sender's
//    memory; an op that fails tells its participants with a kError message.
//  * Once an op finished and all its sends completed, a successful op's
//    Conclude() runs; only then is its result checked.
//
// The simulator picks the next event (start an op, a header arrives, a large
// payload lands, a send completes) at random from everything possible, so a
// seed is a schedule; the tests try many. Two payload timings:
//
//  * kCopyAtSend: the payload is copied inside Send() (eager MPI sends).
//  * kCopyAtDelivery: the payload is read from the sender's memory only when
//    it is delivered (rendezvous), and the send completes only after that.
//    The simulator also keeps what the payload held at Send() and reports a
//    violation if the memory changed in between: the op broke the rule that
//    payload memory stays unchanged until its send has completed.
//
// Receive buffers the simulator hands to ops are poisoned as soon as the op
// gives them back to their pool, so an op that keeps sending from a buffer it
// already released is caught too. SimOptions can also hold chosen send
// completions or payload landings back, to force a given interleaving.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bluefog/core/buffer_pool.h"
#include "bluefog/core/collectives.h"
#include "bluefog/core/dtype.h"
#include "bluefog/core/kernels.h"
#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/op.h"
#include "bluefog/core/status.h"
#include "bluefog/core/tensor.h"
#include "bluefog/core/wire.h"

namespace bluefog {
namespace {

constexpr size_t kInlineLimit = 16 * 1024;  // as in engine.cc
constexpr uint8_t kErrorIsInvalidArgument = 1;

enum class Timing { kCopyAtSend, kCopyAtDelivery };

const char* TimingName(Timing t) {
  return t == Timing::kCopyAtSend ? "copy-at-send" : "copy-at-delivery";
}

class Network;

struct SimOptions {
  uint64_t seed = 1;
  Timing timing = Timing::kCopyAtSend;
  // To force a particular interleaving: a send completion is held back while
  // this returns true (asked again before every event), or until nothing
  // else can happen.
  std::function<bool(const Network&, int src, int32_t step)> defer_completion;
  // Large payloads of matching messages land only when nothing else can happen.
  std::function<bool(int src, int32_t step)> defer_landing;
};

SimOptions Schedule(uint64_t seed, Timing timing) {
  SimOptions o;
  o.seed = seed;
  o.timing = timing;
  return o;
}

std::string Describe(const SimOptions& o) {
  return std::string("seed ") + std::to_string(o.seed) + ", " + TimingName(o.timing);
}

class FakeContext final : public OpContext {
 public:
  FakeContext(Network* net, int rank, int size) : net_(net), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void Send(int dst, const MessageHeader& header, const void* payload,
            size_t bytes) override;
  BufferPool& pool() override { return pool_; }

 private:
  Network* net_;
  int rank_;
  int size_;
  BufferPool pool_;
};

struct Message {
  int src = -1;
  int dst = -1;
  int32_t step = 0;
  bool large = false;              // payload travels apart from the header
  std::vector<char> wire;          // encoded header (+ inline payload)
  bool inline_payload = false;     // wire carries the payload
  const char* source = nullptr;    // sender memory, read at delivery
  size_t bytes = 0;
  std::vector<char> at_send;       // the payload as it was in Send()
  Arrival arrival;                 // valid once the header arrived
  bool landed = false;             // payload in arrival.data
};

// A receive buffer whose release by the op is detected and then poisoned.
struct TrackedBuffer {
  std::unique_ptr<BufferPool> pool;  // this buffer's own pool
  size_t capacity = 0;
  char* data = nullptr;
  PooledBuffer reclaimed;  // declared after `pool`: destroyed first
};

struct Node {
  std::unique_ptr<FakeContext> ctx;
  std::unique_ptr<Op> op;
  bool started = false;
  bool failure_sent = false;
  bool saw_finish = false;
  bool completed = false;  // finished, sends done, Conclude() run: the waiter would wake
  int started_when_finished = -1;  // ops started (any rank) when this one finished
  std::vector<char> started_at_finish;  // which ranks had started then
  std::vector<std::shared_ptr<Message>> held;  // arrived before Start()
};

class Network {
 public:
  Network(int world_size, SimOptions options)
      : options_(options), rng_(options.seed * 0x9E3779B97F4A7C15ull + 17) {
    sent_to_.resize(world_size);
    delivered_.resize(world_size);
    for (int r = 0; r < world_size; ++r) {
      nodes_.emplace_back();
      nodes_.back().ctx = std::make_unique<FakeContext>(this, r, world_size);
    }
    // Schedule flavour: how eagerly ops start, payloads land and sends
    // complete, relative to header arrivals.
    const double choices[] = {0.05, 1.0, 20.0};
    weight_start_ = choices[rng_() % 3];
    weight_land_ = choices[rng_() % 3];
    weight_complete_ = choices[rng_() % 3];
  }

  ~Network() {
    // Ops may still hold tracked buffers; they go back to their pools first.
    for (auto& node : nodes_) node.op.reset();
  }

  int size() const { return static_cast<int>(nodes_.size()); }
  void SetOp(int rank, std::unique_ptr<Op> op) { nodes_[rank].op = std::move(op); }
  Op* op(int rank) { return nodes_[rank].op.get(); }
  const Node& node(int rank) const { return nodes_[rank]; }
  const std::vector<std::string>& violations() const { return violations_; }
  // Ranks each rank sent data messages to.
  const std::set<int>& sent_to(int rank) const { return sent_to_[rank]; }
  // Whether data with this step has been handed to the rank's op.
  bool delivered(int rank, int32_t step) const { return delivered_[rank].count(step) > 0; }
  int group_size() const {
    int n = 0;
    for (auto& node : nodes_) n += node.op != nullptr;
    return n;
  }

  // Runs until nothing more can happen. Returns false if it had to give up.
  bool Run(size_t max_events = 10000000) {
    for (size_t events = 0; events < max_events; ++events) {
      for (size_t i = 0; i < deferred_.size();) {  // released by now?
        if (options_.defer_completion(*this, deferred_[i]->src, deferred_[i]->step)) {
          ++i;
          continue;
        }
        completing_.push_back(std::move(deferred_[i]));
        deferred_[i] = std::move(deferred_.back());
        deferred_.pop_back();
      }
      std::vector<int> startable;
      for (int r = 0; r < size(); ++r)
        if (nodes_[r].op && !nodes_[r].started) startable.push_back(r);
      double w[4] = {startable.empty() ? 0 : weight_start_,
                     wire_.empty() ? 0 : 1.0,
                     landing_.empty() ? 0 : weight_land_,
                     completing_.empty() ? 0 : weight_complete_};
      double total = w[0] + w[1] + w[2] + w[3];
      if (total == 0 && !deferred_landing_.empty()) {
        PayloadLands(Take(&deferred_landing_));
        PoisonReleasedBuffers();
        continue;
      }
      if (total == 0 && !deferred_.empty()) {
        SendCompletes(Take(&deferred_));
        PoisonReleasedBuffers();
        continue;
      }
      if (total == 0) return true;
      double x = std::uniform_real_distribution<double>(0, total)(rng_);
      int kind = -1;
      for (int k = 0; k < 4; ++k) {
        if (w[k] == 0) continue;
        kind = k;  // the last possible kind, should rounding leave x >= 0
        if (x < w[k]) break;
        x -= w[k];
      }
      switch (kind) {
        case 0:
          StartOp(startable[Pick(startable.size())]);
          break;
        case 1:
          HeaderArrives(Take(&wire_));
          break;
        case 2:
          PayloadLands(Take(&landing_));
          break;
        default:
          SendCompletes(Take(&completing_));
          break;
      }
      PoisonReleasedBuffers();
    }
    ADD_FAILURE() << "simulation did not settle after " << max_events << " events";
    return false;
  }

  // Called by FakeContext::Send.
  void Send(int src, int dst, const MessageHeader& header, const void* payload,
            size_t bytes) {
    Node& sender = nodes_[src];
    if (dst == src || dst < 0 || dst >= size())
      throw Error("internal error: op sends to invalid rank " + std::to_string(dst));
    if (!nodes_[dst].op)
      Violation("rank " + std::to_string(src) + " sent to rank " +
                std::to_string(dst) + ", which takes no part in the op");
    if (bytes > 0 && payload == nullptr)
      Violation("rank " + std::to_string(src) + " sent " + std::to_string(bytes) +
                " bytes from a null pointer");
    const OpIdentity& id = sender.op->id();
    if (header.name != id.key || header.instance != id.instance || header.op != id.type)
      Violation("rank " + std::to_string(src) + " sent a header that does not "
                "name its op");
    auto m = std::make_shared<Message>();
    m->src = src;
    m->dst = nodes_[dst].op ? dst : -1;
    m->step = header.step;
    m->bytes = bytes;
    m->large = bytes > kInlineLimit;
    MessageHeader h = header;
    h.payload_bytes = bytes;
    h.payload_tag = m->large ? 1 + static_cast<int32_t>(next_tag_++ % 1000) : 0;
    const char* p = static_cast<const char*>(payload);
    if (bytes > 0) m->at_send.assign(p, p + bytes);
    if (options_.timing == Timing::kCopyAtSend && !m->large) {
      EncodeMessage(h, payload, bytes, &m->wire);  // copied into the message
      m->inline_payload = true;
    } else {
      EncodeMessage(h, nullptr, 0, &m->wire);
      // Eager large payloads come from at_send; rendezvous ones are read
      // from the sender's memory when they are delivered.
      if (options_.timing == Timing::kCopyAtDelivery) m->source = p;
    }
    if (header.kind == MessageKind::kData) sent_to_[src].insert(dst);
    sender.op->pending_sends++;
    // Eager: the payload has been copied already, the send may complete.
    if (options_.timing == Timing::kCopyAtSend) MayComplete(m);
    if (m->dst < 0) {
      // Nobody will receive it: drop it, but let the send complete.
      if (options_.timing == Timing::kCopyAtDelivery) MayComplete(m);
      return;
    }
    wire_.push_back(std::move(m));
  }

 private:
  size_t Pick(size_t n) { return static_cast<size_t>(rng_() % n); }

  void MayComplete(const std::shared_ptr<Message>& m) {
    if (options_.defer_completion && options_.defer_completion(*this, m->src, m->step))
      deferred_.push_back(m);
    else
      completing_.push_back(m);
  }

  std::shared_ptr<Message> Take(std::vector<std::shared_ptr<Message>>* list) {
    size_t i = Pick(list->size());
    std::shared_ptr<Message> m = std::move((*list)[i]);
    (*list)[i] = std::move(list->back());
    list->pop_back();
    return m;
  }

  void Violation(const std::string& what) { violations_.push_back(what); }

  int StartedCount() const {
    int n = 0;
    for (auto& node : nodes_) n += node.started;
    return n;
  }

  PooledBuffer NewReceiveBuffer(size_t bytes) {
    auto t = std::make_unique<TrackedBuffer>();
    t->capacity = 4096;
    while (t->capacity < bytes) t->capacity <<= 1;
    t->pool = std::make_unique<BufferPool>();
    t->data = static_cast<char*>(std::malloc(t->capacity));
    PooledBuffer buffer(t->pool.get(), t->data, t->capacity);
    unreleased_.push_back(t.get());
    tracked_.push_back(std::move(t));
    return buffer;
  }

  // Buffers the ops gave back are taken out of their pools and overwritten,
  // so a stale pointer into one reads garbage.
  void PoisonReleasedBuffers() {
    for (size_t i = 0; i < unreleased_.size();) {
      TrackedBuffer* t = unreleased_[i];
      if (t->pool->cached_bytes() == 0) {
        ++i;
        continue;
      }
      t->reclaimed = t->pool->Acquire(t->capacity);
      if (t->reclaimed.data() != t->data) Violation("simulator: pool did not return the buffer");
      std::memset(t->reclaimed.data(), 0xDB, t->capacity);
      unreleased_[i] = unreleased_.back();
      unreleased_.pop_back();
    }
  }

  // The payload leaves the sender's memory now.
  void ReadPayload(Message& m, char* destination) {
    if (m.bytes == 0) return;
    if (m.source != nullptr) {
      if (std::memcmp(m.source, m.at_send.data(), m.bytes) != 0) {
        const OpIdentity& id = nodes_[m.src].op->id();
        Violation(std::string(OpTypeName(id.type)) + " on rank " + std::to_string(m.src) +
                  " changed the payload of its step " + std::to_string(m.step) +
                  " send to rank " + std::to_string(m.dst) +
                  " (" + std::to_string(m.bytes) + " bytes) before the send completed");
      }
      std::memcpy(destination, m.source, m.bytes);
    } else {
      std::memcpy(destination, m.at_send.data(), m.bytes);
    }
  }

  void StartOp(int r) {
    Node& node = nodes_[r];
    node.started = true;
    Guarded(r, [&] { node.op->Start(*node.ctx); });
    auto held = std::move(node.held);
    node.held.clear();
    for (auto& m : held)
      if (m->landed) Deliver(r, m->arrival);
    // Payloads still in transit are delivered when they land.
    MaybeComplete(r);
  }

  // As the engine: once the op finished and all its sends completed, a
  // successful op concludes (e.g. averages) and its waiter wakes.
  void MaybeComplete(int r) {
    Node& node = nodes_[r];
    Op& op = *node.op;
    if (!op.finished() || op.pending_sends > 0 || node.completed) return;
    if (op.status().ok()) Guarded(r, [&] { op.Conclude(*node.ctx); }, true);
    if (op.pending_sends > 0) return;  // Conclude failed and told the peers
    node.completed = true;
  }

  void HeaderArrives(std::shared_ptr<Message> m) {
    Node& node = nodes_[m->dst];
    Arrival& a = m->arrival;
    a.src = m->src;
    const char* inline_data = nullptr;
    size_t inline_bytes = 0;
    if (!DecodeMessage(m->wire.data(), m->wire.size(), &a.header, &inline_data,
                       &inline_bytes)) {
      Violation("simulator: a header did not decode");
      return;
    }
    a.bytes = a.header.payload_bytes;
    if (a.bytes != m->bytes) Violation("simulator: payload_bytes mismatch");
    if (!m->large) {
      if (m->bytes > 0) {
        a.buffer = NewReceiveBuffer(m->bytes);
        a.data = a.buffer.data();
        if (m->inline_payload) {
          if (inline_bytes != m->bytes) Violation("simulator: inline payload size");
          std::memcpy(a.buffer.data(), inline_data, m->bytes);
        } else {
          ReadPayload(*m, a.buffer.data());
        }
      }
      if (options_.timing == Timing::kCopyAtDelivery) MayComplete(m);
      m->landed = true;
      if (!node.started) {
        node.held.push_back(std::move(m));
      } else {
        Deliver(m->dst, a);
      }
      return;
    }
    void* destination = nullptr;
    if (node.started && !node.op->finished()) {
      destination = node.op->PayloadDestination(m->src, a.header);
    }
    if (destination == nullptr) {
      a.buffer = NewReceiveBuffer(m->bytes);
      destination = a.buffer.data();
    }
    a.data = static_cast<const char*>(destination);
    if (!node.started) node.held.push_back(m);
    if (options_.defer_landing && options_.defer_landing(m->src, m->step))
      deferred_landing_.push_back(std::move(m));
    else
      landing_.push_back(std::move(m));
  }

  void PayloadLands(std::shared_ptr<Message> m) {
    ReadPayload(*m, const_cast<char*>(m->arrival.data));
    m->landed = true;
    if (options_.timing == Timing::kCopyAtDelivery) MayComplete(m);
    // Not started: it is in node.held and goes to the op after Start().
    if (nodes_[m->dst].started) Deliver(m->dst, m->arrival);
  }

  void SendCompletes(std::shared_ptr<Message> m) {
    Node& node = nodes_[m->src];
    node.op->pending_sends--;
    Guarded(m->src, [&] { node.op->OnSendComplete(*node.ctx, m->step); });
    MaybeComplete(m->src);
  }

  void Deliver(int r, Arrival& a) {
    Node& node = nodes_[r];
    if (node.op->finished()) return;
    if (a.header.kind == MessageKind::kError) {
      std::string text = "peer rank " + std::to_string(a.src) + " reported: " + a.header.text;
      node.op->Fail((a.header.flags & kErrorIsInvalidArgument) ? Status::Invalid(text)
                                                               : Status::Internal(text));
      node.failure_sent = true;  // the peer told everyone already
      AfterCallback(r);
    } else {
      delivered_[r].insert(a.header.step);
      Guarded(r, [&] { node.op->OnData(*node.ctx, a); });
    }
    MaybeComplete(r);
  }

  template <typename F>
  void Guarded(int r, F&& f, bool even_if_finished = false) {
    Node& node = nodes_[r];
    if (node.op->finished() && !even_if_finished) return;
    try {
      f();
    } catch (const std::invalid_argument& e) {
      node.op->Fail(Status::Invalid(e.what()));
    } catch (const std::exception& e) {
      node.op->Fail(Status::Internal(e.what()));
    }
    AfterCallback(r);
  }

  void AfterCallback(int r) {
    Node& node = nodes_[r];
    Op& op = *node.op;
    if (op.finished() && !node.saw_finish) {
      node.saw_finish = true;
      node.started_when_finished = StartedCount();
      for (auto& other : nodes_) node.started_at_finish.push_back(other.started);
    }
    if (!op.finished()) {
      for (int w : op.WaitingOn()) {
        auto p = op.Participants();
        if (w == r || std::find(p.begin(), p.end(), w) == p.end())
          Violation("rank " + std::to_string(r) + " waits on rank " + std::to_string(w) +
                    ", not one of its peers");
      }
    }
    if (op.finished() && !op.status().ok() && !node.failure_sent) {
      node.failure_sent = true;
      MessageHeader h = op.MakeHeader(-1);
      h.kind = MessageKind::kError;
      h.flags = op.status().code() == StatusCode::kInvalidArgument ? kErrorIsInvalidArgument : 0;
      h.text = op.status().message();
      for (int peer : op.Participants())
        if (peer != r) Send(r, peer, h, nullptr, 0);
    }
  }

  SimOptions options_;
  std::mt19937_64 rng_;
  double weight_start_ = 1, weight_land_ = 1, weight_complete_ = 1;
  uint64_t next_tag_ = 0;
  // Declared before nodes_: ops release into these pools when destroyed.
  std::vector<std::unique_ptr<TrackedBuffer>> tracked_;
  std::vector<TrackedBuffer*> unreleased_;
  std::vector<Node> nodes_;
  std::vector<std::shared_ptr<Message>> wire_;        // headers in flight
  std::vector<std::shared_ptr<Message>> landing_;     // large payloads in flight
  std::vector<std::shared_ptr<Message>> completing_;  // sends that may complete
  std::vector<std::shared_ptr<Message>> deferred_;    // ... but not yet
  std::vector<std::shared_ptr<Message>> deferred_landing_;
  std::vector<std::set<int32_t>> delivered_;  // steps of data delivered to each rank
  std::vector<std::string> violations_;
  std::vector<std::set<int>> sent_to_;
};

void FakeContext::Send(int dst, const MessageHeader& header, const void* payload,
                       size_t bytes) {
  net_->Send(rank_, dst, header, payload, bytes);
}

// ---- helpers ----

OpIdentity Id(OpType type, const std::string& name = "tensor") {
  OpIdentity id;
  id.type = type;
  id.key = name;
  id.display_name = name;
  id.instance = 7;
  return id;
}

std::vector<int> Range(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

std::vector<SimOptions> Schedules(int seeds) {
  std::vector<SimOptions> out;
  for (Timing t : {Timing::kCopyAtSend, Timing::kCopyAtDelivery})
    for (int s = 1; s <= seeds; ++s) out.push_back(Schedule(static_cast<uint64_t>(s), t));
  return out;
}

// Every op started, finished with OK, and has no send outstanding; the
// network is empty and no rule was broken. Returns whether every op
// completed successfully (so that results can be checked; rule violations
// are reported but do not stop that).
bool ExpectAllSucceeded(Network& net, const std::vector<int>& group,
                        bool finish_needs_everyone) {
  bool good = true;
  for (const std::string& v : net.violations()) ADD_FAILURE() << "violation: " << v;
  for (int r : group) {
    const Node& node = net.node(r);
    if (!node.started || !node.op->finished() || !node.completed) {
      ADD_FAILURE() << "rank " << r << " did not finish (hang)";
      good = false;
      continue;
    }
    if (!node.op->status().ok()) {
      ADD_FAILURE() << "rank " << r << " failed: " << node.op->status().message();
      good = false;
    }
    if (node.op->pending_sends != 0) {
      ADD_FAILURE() << "rank " << r << " has " << node.op->pending_sends
                    << " sends outstanding";
      good = false;
    }
    if (finish_needs_everyone && node.started_when_finished != net.group_size()) {
      ADD_FAILURE() << "rank " << r << " finished when only "
                    << node.started_when_finished << " of " << net.group_size()
                    << " ops had started";
      good = false;
    }
  }
  return good;
}

// Every op in `group` finished (no hang) and failed; each message contains
// `needle`. Returns true if so.
bool ExpectAllFailedWith(Network& net, const std::vector<int>& group,
                         const std::string& needle) {
  bool good = true;
  for (int r : group) {
    const Node& node = net.node(r);
    if (!node.started || !node.op->finished() || !node.completed) {
      ADD_FAILURE() << "rank " << r << " did not finish (hang)";
      good = false;
      continue;
    }
    if (node.op->status().ok()) {
      ADD_FAILURE() << "rank " << r << " succeeded despite the mismatch";
      good = false;
      continue;
    }
    if (node.op->status().message().find(needle) == std::string::npos) {
      ADD_FAILURE() << "rank " << r << " failed without mentioning '" << needle
                    << "': " << node.op->status().message();
      good = false;
    }
    if (node.op->pending_sends != 0) {
      ADD_FAILURE() << "rank " << r << " has sends outstanding";
      good = false;
    }
  }
  return good;
}

size_t Numel(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

template <typename T>
T* As(std::vector<char>& v) {
  return reinterpret_cast<T*>(v.data());
}

// ---- allreduce ----

double F64Value(int r, int64_t i) {
  return ((r * 37 + i * 11) % 101 - 50) * 0.25 + r * 1024.0 - 0.125 * (i % 3);
}

uint64_t I64Value(int r, int64_t i) {
  // Large magnitudes, both signs: the sum wraps around (two's complement).
  return (static_cast<uint64_t>(r) + 1) * 0x0123456789ABCDEFull * static_cast<uint64_t>(i + 1) ^
         (static_cast<uint64_t>(r) << 60);
}

struct AllreduceCase {
  int n;
  DataType dtype;
  int64_t count;
  bool average;
  bool in_place;
};

std::string Describe(const AllreduceCase& c) {
  return "n=" + std::to_string(c.n) + " " + DataTypeName(c.dtype) + "[" +
         std::to_string(c.count) + "]" + (c.average ? " average" : " sum") +
         (c.in_place ? " in-place" : "");
}

void CheckExactAllreduce(const AllreduceCase& c, const SimOptions& options) {
  SCOPED_TRACE(Describe(c) + ", " + Describe(options));
  const size_t esize = DataTypeSize(c.dtype);
  std::vector<std::vector<char>> in(c.n), out(c.n);
  Network net(c.n, options);
  for (int r = 0; r < c.n; ++r) {
    in[r].resize(c.count * esize + 1);
    for (int64_t i = 0; i < c.count; ++i) {
      if (c.dtype == DataType::kFloat64) As<double>(in[r])[i] = F64Value(r, i);
      else As<uint64_t>(in[r])[i] = I64Value(r, i);
    }
    out[r].assign(c.count * esize + 1, 0x55);
    TensorView input{in[r].data(), c.dtype, {c.count}};
    TensorView output{c.in_place ? in[r].data() : out[r].data(), c.dtype, {c.count}};
    net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, input, output,
                                 c.average, Range(c.n)));
  }
  ASSERT_TRUE(net.Run());
  if (!ExpectAllSucceeded(net, Range(c.n), true)) return;
  for (int r = 0; r < c.n; ++r) {
    std::vector<char>& result = c.in_place ? in[r] : out[r];
    int bad = 0;
    for (int64_t i = 0; i < c.count && bad < 5; ++i) {
      if (c.dtype == DataType::kFloat64) {
        double sum = 0;
        for (int q = 0; q < c.n; ++q) sum += F64Value(q, i);
        double expected = c.average ? sum / c.n : sum;  // divided, not times 1/n
        double got = As<double>(result)[i];
        if (std::memcmp(&got, &expected, 8) != 0) {
          ADD_FAILURE() << "rank " << r << " element " << i << ": got " << got
                        << ", expected " << expected;
          ++bad;
        }
      } else {
        uint64_t expected = 0;
        for (int q = 0; q < c.n; ++q) expected += I64Value(q, i);
        uint64_t got = As<uint64_t>(result)[i];
        if (got != expected) {
          ADD_FAILURE() << "rank " << r << " element " << i << ": got "
                        << static_cast<int64_t>(got) << ", expected "
                        << static_cast<int64_t>(expected);
          ++bad;
        }
      }
    }
    // Nothing written past the end.
    EXPECT_EQ(result[c.count * esize], c.in_place ? 0 : 0x55) << "rank " << r;
    if (!c.in_place) {  // the input is left alone
      for (int64_t i = 0; i < c.count; ++i) {
        bool same = c.dtype == DataType::kFloat64
                        ? As<double>(in[r])[i] == F64Value(r, i)
                        : As<uint64_t>(in[r])[i] == I64Value(r, i);
        if (!same) {
          ADD_FAILURE() << "rank " << r << " input modified at " << i;
          break;
        }
      }
    }
  }
}

// Sizes: recursive doubling with inline messages, recursive doubling with
// separate payloads (16..64 KiB), ring (> kAllreduceRingThreshold bytes),
// ring with uneven segments.
constexpr int64_t kSmallCount = 13;
constexpr int64_t kMidCount = 3000;     // 24000 bytes of float64
constexpr int64_t kRingCount = 40001;   // 320008 bytes: segments > 16 KiB up to n = 8
static_assert(kMidCount * 8 > kInlineLimit && kMidCount * 8 <= kAllreduceRingThreshold,
              "mid size must use recursive doubling with separate payloads");
static_assert(kRingCount * 8 / 8 > kInlineLimit, "ring segments must travel apart");

TEST(SimAllreduce, SumIsExactFloat64AndInt64) {
  for (int n = 1; n <= 8; ++n)
    for (DataType dtype : {DataType::kFloat64, DataType::kInt64})
      for (int64_t count : {int64_t(0), int64_t(1), kSmallCount, kMidCount, kRingCount}) {
        int seeds = count >= kMidCount ? 3 : 10;
        for (const SimOptions& o : Schedules(seeds))
          CheckExactAllreduce({n, dtype, count, false, (o.seed % 2) == 1}, o);
      }
}

TEST(SimAllreduce, AverageIsExactFloat64Eager) {
  for (int n = 1; n <= 8; ++n)
    for (int64_t count : {int64_t(1), kSmallCount, kMidCount, kRingCount})
      for (int seed = 1; seed <= (count >= kMidCount ? 3 : 10); ++seed)
        CheckExactAllreduce({n, DataType::kFloat64, count, true, seed % 2 == 0},
                            Schedule(static_cast<uint64_t>(seed), Timing::kCopyAtSend));
}

TEST(SimAllreduce, AverageIsExactFloat64Rendezvous) {
  for (int n = 1; n <= 8; ++n)
    for (int64_t count : {int64_t(1), kSmallCount, kMidCount, kRingCount})
      for (int seed = 1; seed <= (count >= kMidCount ? 3 : 10); ++seed)
        CheckExactAllreduce({n, DataType::kFloat64, count, true, seed % 2 == 0},
                            Schedule(static_cast<uint64_t>(seed), Timing::kCopyAtDelivery));
}

// The ring's allgather phase may receive a segment before the reduce-scatter
// send of that segment (step 0 for the rank's own segment) has completed. It
// then forwards from the received buffer and copies into the output only on
// OnSendComplete. This forces that path on every rank: the step-0 send
// completes only once the rank's first allgather message (step n - 1) was
// delivered, and the forwarded payloads (steps >= n) land last. The buffer
// forwarded from must stay intact until that forward send completes.
TEST(SimAllreduce, RingForwardsFromReceivedBufferSafely) {
  for (int n = 3; n <= 8; ++n)
    for (Timing timing : {Timing::kCopyAtSend, Timing::kCopyAtDelivery})
      for (uint64_t seed = 1; seed <= 3; ++seed) {
        SimOptions o = Schedule(seed, timing);
        o.defer_completion = [n](const Network& net, int src, int32_t step) {
          return step == 0 && !net.delivered(src, n - 1);
        };
        o.defer_landing = [n](int, int32_t step) { return step >= n; };
        CheckExactAllreduce({n, DataType::kFloat64, kRingCount, false, false}, o);
      }
}

// Sends completing and large payloads landing as late as possible: ops
// finish with sends outstanding, so averaging (which rewrites the buffer the
// sends read) must wait until they are done.
TEST(SimAllreduce, AverageWithSendsCompletingLast) {
  for (int n = 2; n <= 8; ++n)
    for (int64_t count : {kSmallCount, kMidCount, kRingCount})
      for (Timing timing : {Timing::kCopyAtSend, Timing::kCopyAtDelivery})
        for (uint64_t seed = 1; seed <= 3; ++seed) {
          SimOptions o = Schedule(seed, timing);
          if (seed == 1) o.defer_completion = [](const Network&, int, int32_t) { return true; };
          if (seed != 1) o.defer_landing = [](int, int32_t) { return true; };
          CheckExactAllreduce({n, DataType::kFloat64, count, true, false}, o);
        }
}

TEST(SimAllreduce, UsesRingAboveThresholdAndRecursiveDoublingBelow) {
  // The algorithms are told apart by their message pattern: the ring sends
  // only to the next rank in the group.
  for (int n : {3, 5, 8}) {
    for (int64_t count : {kMidCount, kRingCount}) {
      std::vector<std::vector<double>> data(n, std::vector<double>(count, 1.0));
      Network net(n, Schedule(1, Timing::kCopyAtSend));
      for (int r = 0; r < n; ++r) {
        TensorView t{data[r].data(), DataType::kFloat64, {count}};
        net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, t, t, false, Range(n)));
      }
      ASSERT_TRUE(net.Run());
      ASSERT_TRUE(ExpectAllSucceeded(net, Range(n), true));
      int p = 1;
      while (p * 2 <= n) p *= 2;
      for (int r = 0; r < n; ++r) {
        std::vector<int> waiting = net.op(r)->WaitingOn();
        EXPECT_TRUE(waiting.empty());
        for (double v : data[r]) ASSERT_EQ(v, n);
        std::set<int> expected;
        if (count * 8 > static_cast<int64_t>(kAllreduceRingThreshold)) {
          expected.insert((r + 1) % n);  // ring: only the next rank
        } else if (r >= p) {
          expected.insert(r - p);  // folds into its partner
        } else {
          for (int mask = 1; mask < p; mask <<= 1) expected.insert(r ^ mask);
          if (r + p < n) expected.insert(r + p);
        }
        EXPECT_EQ(net.sent_to(r), expected) << "rank " << r << " count " << count;
      }
    }
  }
}

void CheckFloat32Allreduce(int n, int64_t count, bool average, const SimOptions& o) {
  SCOPED_TRACE("n=" + std::to_string(n) + " float32[" + std::to_string(count) + "]" +
               (average ? " average, " : " sum, ") + Describe(o));
  std::vector<std::vector<float>> data(n, std::vector<float>(count));
  std::vector<double> reference(count, 0.0);
  for (int r = 0; r < n; ++r) {
    std::mt19937 gen(1000 + r);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (int64_t i = 0; i < count; ++i) {
      data[r][i] = dist(gen) * (i % 7 == 0 ? 1000.0f : 1.0f);
      reference[i] += data[r][i];
    }
  }
  Network net(n, o);
  for (int r = 0; r < n; ++r) {
    TensorView t{data[r].data(), DataType::kFloat32, {count}};
    net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, t, t, average, Range(n)));
  }
  ASSERT_TRUE(net.Run());
  if (!ExpectAllSucceeded(net, Range(n), true)) return;
  for (int r = 1; r < n; ++r) {
    ASSERT_EQ(0, std::memcmp(data[r].data(), data[0].data(), count * sizeof(float)))
        << "rank " << r << " differs bitwise from rank 0";
  }
  for (int64_t i = 0; i < count; ++i) {
    double expected = average ? reference[i] / n : reference[i];
    ASSERT_NEAR(data[0][i], expected, 1e-4 * (1 + std::fabs(expected)) * n) << i;
  }
}

TEST(SimAllreduce, Float32ResultsAreBitwiseIdenticalAcrossRanks) {
  for (int n = 2; n <= 8; ++n)
    for (int64_t count : {int64_t(5), int64_t(6000), int64_t(50000)})
      for (bool average : {false, true})
        for (const SimOptions& o : Schedules(2)) CheckFloat32Allreduce(n, count, average, o);
}

// The float16/bfloat16 pattern nearest to `value` (ties to even), searched
// among the neighbours of the float32-rounded guess. `value` is a double
// quotient of a float32 sum by a small integer: it is never a midpoint of
// 16-bit values unless the exact quotient is, so this is the correct rounding.
template <class Encode, class Decode>
uint16_t NearestLowPrecision(double value, Encode encode, Decode decode) {
  const uint16_t guess = encode(static_cast<float>(value));
  uint16_t best = guess;
  for (int step : {-1, 1}) {
    const auto other = static_cast<uint16_t>(guess + step);
    const double d_best = std::fabs(decode(best) - value);
    const double d_other = std::fabs(decode(other) - value);
    if (d_other < d_best || (d_other == d_best && other % 2 == 0)) best = other;
  }
  return best;
}

// float16/bfloat16 are summed in float32 and rounded once at the end; an
// average divides the sum, correctly rounded to 16 bits.
void CheckLowPrecisionAllreduce(int n, DataType dtype, int64_t count, bool average,
                                const SimOptions& o) {
  SCOPED_TRACE("n=" + std::to_string(n) + " " + DataTypeName(dtype) + "[" +
               std::to_string(count) + "]" + (average ? " average, " : " sum, ") +
               Describe(o));
  const bool half = dtype == DataType::kFloat16;
  auto encode = [&](float v) { return half ? FloatToHalf(v) : FloatToBFloat16(v); };
  auto decode = [&](uint16_t b) { return half ? HalfToFloat(b) : BFloat16ToFloat(b); };
  // Values exactly representable in the low-precision type whose float32
  // sums are exact. Element 0 is where low-precision accumulation would go
  // wrong: big + 1 + 1 + ... loses the ones one at a time.
  const float big = half ? 2048.0f : 256.0f;
  auto value = [&](int r, int64_t i) -> float {
    if (i == 0) return r == 0 ? big : 1.0f;
    float v = static_cast<float>((r * 13 + i * 7) % 61 - 30) * 0.5f;
    if (i % 3 == 0) v += half ? 512.0f : 64.0f;
    return decode(encode(v));
  };
  std::vector<std::vector<uint16_t>> in(n, std::vector<uint16_t>(count));
  std::vector<std::vector<uint16_t>> out(n, std::vector<uint16_t>(count, 0xFFFF));
  Network net(n, o);
  for (int r = 0; r < n; ++r) {
    for (int64_t i = 0; i < count; ++i) in[r][i] = encode(value(r, i));
    TensorView input{in[r].data(), dtype, {count}};
    TensorView output{out[r].data(), dtype, {count}};
    net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, input, output, average, Range(n)));
  }
  ASSERT_TRUE(net.Run());
  if (!ExpectAllSucceeded(net, Range(n), true)) return;
  for (int r = 0; r < n; ++r) {
    int bad = 0;
    for (int64_t i = 0; i < count && bad < 5; ++i) {
      float sum = 0;  // exact in float32 by construction
      for (int q = 0; q < n; ++q) sum += value(q, i);
      uint16_t expected = average ? NearestLowPrecision(static_cast<double>(sum) / n, encode,
                                                        decode)
                                  : encode(sum);
      if (out[r][i] != expected) {
        ADD_FAILURE() << "rank " << r << " element " << i << ": got " << decode(out[r][i])
                      << ", expected " << decode(expected) << " (float32 sum " << sum << ")";
        ++bad;
      }
      if (in[r][i] != encode(value(r, i))) {
        ADD_FAILURE() << "rank " << r << " input modified at " << i;
        ++bad;
      }
    }
  }
  if (n >= 3 && !average) {  // the case a float16 accumulator gets wrong
    EXPECT_EQ(decode(out[0][0]), decode(encode(big + (n - 1))));
    EXPECT_NE(decode(out[0][0]), big);
  }
}

TEST(SimAllreduce, Float16ReducedInFloat32) {
  for (int n = 1; n <= 8; ++n)
    for (int64_t count : {int64_t(1), int64_t(31), int64_t(10000), int64_t(20000)})
      for (bool average : {false, true})
        for (const SimOptions& o : Schedules(2))
          CheckLowPrecisionAllreduce(n, DataType::kFloat16, count, average, o);
}

TEST(SimAllreduce, BFloat16ReducedInFloat32) {
  for (int n = 1; n <= 8; ++n)
    for (int64_t count : {int64_t(31), int64_t(20000)})
      for (bool average : {false, true})
        for (const SimOptions& o : Schedules(1))
          CheckLowPrecisionAllreduce(n, DataType::kBFloat16, count, average, o);
}

TEST(SimAllreduce, Int32SumWraps) {
  for (int n : {1, 3, 8}) {
    for (int64_t count : {int64_t(9), int64_t(30000)}) {
      for (const SimOptions& o : Schedules(2)) {
        SCOPED_TRACE("n=" + std::to_string(n) + " int32[" + std::to_string(count) + "], " +
                     Describe(o));
        std::vector<std::vector<int32_t>> data(n, std::vector<int32_t>(count));
        for (int r = 0; r < n; ++r)
          for (int64_t i = 0; i < count; ++i)
            data[r][i] = static_cast<int32_t>(0x7FFF0000u + r * 77777u + i);
        Network net(n, o);
        for (int r = 0; r < n; ++r) {
          TensorView t{data[r].data(), DataType::kInt32, {count}};
          net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, t, t, false, Range(n)));
        }
        ASSERT_TRUE(net.Run());
        ASSERT_TRUE(ExpectAllSucceeded(net, Range(n), true));
        for (int r = 0; r < n; ++r)
          for (int64_t i = 0; i < count; ++i) {
            uint32_t expected = 0;
            for (int q = 0; q < n; ++q) expected += 0x7FFF0000u + q * 77777u + i;
            ASSERT_EQ(static_cast<uint32_t>(data[r][i]), expected) << r << " " << i;
          }
      }
    }
  }
}

TEST(SimAllreduce, MultiDimensionalShape) {
  const int n = 5;
  std::vector<int64_t> shape = {3, 0, 4};  // empty
  std::vector<int64_t> shape2 = {7, 50, 30};  // ring
  for (auto& s : {shape, shape2}) {
    for (const SimOptions& o : Schedules(2)) {
      SCOPED_TRACE(ShapeString(s) + ", " + Describe(o));
      size_t count = Numel(s);
      std::vector<std::vector<double>> data(n, std::vector<double>(count + 1, 0.0));
      Network net(n, o);
      for (int r = 0; r < n; ++r) {
        for (size_t i = 0; i < count; ++i) data[r][i] = F64Value(r, i);
        TensorView t{data[r].data(), DataType::kFloat64, s};
        net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, t, t, false, Range(n)));
      }
      ASSERT_TRUE(net.Run());
      ASSERT_TRUE(ExpectAllSucceeded(net, Range(n), true));
      for (int r = 0; r < n; ++r)
        for (size_t i = 0; i < count; ++i) {
          double sum = 0;
          for (int q = 0; q < n; ++q) sum += F64Value(q, i);
          ASSERT_EQ(data[r][i], sum);
        }
    }
  }
}

// ---- neighbour averages with uniform weights ----

// Integers below 2^19 in magnitude (below 2^10 for float16): sums of a few,
// some doubled, are exact in float32.
float UniformValue(int r, int64_t i, DataType dtype) {
  const int64_t v = ((r + 1) * 7919 * (i + 3) + r * r * 104729) % (1 << 20) - (1 << 19);
  return static_cast<float>(dtype == DataType::kFloat16 ? v % 1024 : v);
}

void StoreValue(DataType dtype, void* data, int64_t i, float v) {
  if (dtype == DataType::kFloat16) static_cast<uint16_t*>(data)[i] = FloatToHalf(v);
  else static_cast<float*>(data)[i] = v;
}

// What rounding `exact` (a double) to dtype must give, as a float; `exact`
// is a quotient of a float32-exact sum by a small integer, so the double
// quotient rounds to the correctly rounded result.
float RoundedQuotient(double exact, DataType dtype) {
  if (dtype == DataType::kFloat16)
    return HalfToFloat(NearestLowPrecision(exact, FloatToHalf, HalfToFloat));
  return static_cast<float>(exact);
}

float LoadValue(DataType dtype, const void* data, int64_t i) {
  if (dtype == DataType::kFloat16) return HalfToFloat(static_cast<const uint16_t*>(data)[i]);
  return static_cast<const float*>(data)[i];
}

// Rank r averages with its exponential-2 sources r - 1, r - 2, r - 4, ...
// with uniform weights 1/(d + 1). A sender's dst weight is 2 towards r + 1
// and 1 otherwise. Every schedule must give the correctly rounded
// (x_r + sum_s dst_weight_s * x_s) / (d + 1).
void CheckUniformNeighborAllreduce(int n, DataType dtype, int64_t count, bool in_place,
                                   const SimOptions& o) {
  SCOPED_TRACE("n=" + std::to_string(n) + " " + DataTypeName(dtype) + "[" +
               std::to_string(count) + "]" + (in_place ? " in-place, " : ", ") + Describe(o));
  const size_t bytes = static_cast<size_t>(count) * DataTypeSize(dtype);
  std::vector<std::vector<char>> in(n), out(n);
  std::vector<std::vector<int>> sources(n);
  auto dst_weight = [&](int from, int to) { return to == (from + 1) % n ? 2.0 : 1.0; };
  Network net(n, o);
  for (int r = 0; r < n; ++r) {
    in[r].resize(bytes + 1, 0);
    out[r].assign(bytes + 1, 0x55);
    for (int64_t i = 0; i < count; ++i) StoreValue(dtype, in[r].data(), i, UniformValue(r, i, dtype));
    RankWeights srcs, dsts;
    for (int d = 1; d < n; d *= 2) {
      sources[r].push_back((r - d + n) % n);
      dsts.emplace_back((r + d) % n, dst_weight(r, (r + d) % n));
    }
    const double w = 1.0 / static_cast<double>(sources[r].size() + 1);
    for (int s : sources[r]) srcs.emplace_back(s, w);
    TensorView input{in[r].data(), dtype, {count}};
    TensorView output{in_place ? in[r].data() : out[r].data(), dtype, {count}};
    net.SetOp(r, MakeNeighborAllreduceOp(Id(OpType::kNeighborAllreduce), r, n, input, output,
                                         w, srcs, dsts));
  }
  ASSERT_TRUE(net.Run());
  if (!ExpectAllSucceeded(net, Range(n), false)) return;
  for (int r = 0; r < n; ++r) {
    const std::vector<char>& result = in_place ? in[r] : out[r];
    for (int64_t i = 0; i < count; ++i) {
      double sum = UniformValue(r, i, dtype);
      for (int s : sources[r]) sum += dst_weight(s, r) * UniformValue(s, i, dtype);
      const float expected = RoundedQuotient(sum / static_cast<double>(sources[r].size() + 1),
                                             dtype);
      const float got = LoadValue(dtype, result.data(), i);
      ASSERT_EQ(std::memcmp(&got, &expected, sizeof(float)), 0)
          << "rank " << r << " element " << i << ": got " << got << ", expected " << expected;
    }
    EXPECT_EQ(result[bytes], in_place ? 0 : 0x55) << "rank " << r << " wrote past the end";
  }
}

TEST(SimNeighborAllreduce, UniformWeightsDivideTheSumOnEverySchedule) {
  // 13 elements travel inline, 6000 (24 KB as float32) apart from the header.
  for (int n = 1; n <= 6; ++n)
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16})
      for (int64_t count : {int64_t(13), int64_t(6000)})
        for (bool in_place : {false, true})
          for (const SimOptions& o : Schedules(count > 13 ? 2 : 5))
            CheckUniformNeighborAllreduce(n, dtype, count, in_place, o);
}

// Two machines of three ranks: the machine average, then each rank combines
// it with its counterpart's on the other machine with weights 1/k. Expected:
// fl(fl(A_me + A_other) / k) with A = fl(machine sum / 3), in float32.
void CheckUniformHierarchical(int k, int64_t count, const SimOptions& o) {
  SCOPED_TRACE("k=" + std::to_string(k) + " count " + std::to_string(count) + ", " + Describe(o));
  const int n = 6;
  std::vector<std::vector<float>> in(n, std::vector<float>(count)), out(n, std::vector<float>(count));
  Network net(n, o);
  for (int r = 0; r < n; ++r) {
    for (int64_t i = 0; i < count; ++i) in[r][i] = UniformValue(r, i, DataType::kFloat32);
    const int machine = r / 3, counterpart = (r + 3) % n;
    std::vector<int> local = {3 * machine, 3 * machine + 1, 3 * machine + 2};
    TensorView input{in[r].data(), DataType::kFloat32, {count}};
    TensorView output{out[r].data(), DataType::kFloat32, {count}};
    net.SetOp(r, MakeHierarchicalNeighborAllreduceOp(
                     Id(OpType::kHierarchicalNeighborAllreduce), r, n, input, output, local,
                     1.0 / k, {{counterpart, 1.0 / k}}, {{counterpart, 1.0}}));
  }
  ASSERT_TRUE(net.Run());
  if (!ExpectAllSucceeded(net, Range(n), false)) return;
  auto average = [&](int machine, int64_t i) {
    double sum = 0;
    for (int q = 3 * machine; q < 3 * machine + 3; ++q) sum += in[q][i];
    return static_cast<float>(sum / 3);
  };
  for (int r = 0; r < n; ++r) {
    for (int64_t i = 0; i < count; ++i) {
      const float combined = average(r / 3, i) + average(1 - r / 3, i);
      const float expected = combined / static_cast<float>(k);
      ASSERT_EQ(std::memcmp(&out[r][i], &expected, sizeof(float)), 0)
          << "rank " << r << " element " << i << ": got " << out[r][i] << ", expected "
          << expected;
    }
  }
}

TEST(SimHierarchical, UniformWeightsDivideTheMachineSums) {
  for (int k : {2, 3})
    for (int64_t count : {int64_t(13), int64_t(6000)})
      for (const SimOptions& o : Schedules(3)) CheckUniformHierarchical(k, count, o);
}

// ---- broadcast ----

void CheckBroadcast(int n, int root, DataType dtype, int64_t count, bool in_place,
                    const SimOptions& o) {
  SCOPED_TRACE("n=" + std::to_string(n) + " root " + std::to_string(root) + " " +
               DataTypeName(dtype) + "[" + std::to_string(count) + "]" +
               (in_place ? " in-place, " : ", ") + Describe(o));
  const size_t bytes = count * DataTypeSize(dtype);
  std::vector<std::vector<char>> in(n), out(n), original(n);
  Network net(n, o);
  for (int r = 0; r < n; ++r) {
    in[r].resize(bytes + 1);
    for (size_t b = 0; b < bytes; ++b)
      in[r][b] = static_cast<char>(dtype == DataType::kBool ? (b * 7 + r) % 2
                                                            : (b * 31 + r * 101 + b / 256));
    in[r][bytes] = 0x11;
    original[r] = in[r];
    out[r].assign(bytes + 1, 0x22);
    TensorView input{in[r].data(), dtype, {count}};
    TensorView output{in_place ? in[r].data() : out[r].data(), dtype, {count}};
    net.SetOp(r, MakeBroadcastOp(Id(OpType::kBroadcast), r, input, output, root, Range(n)));
  }
  ASSERT_TRUE(net.Run());
  if (!ExpectAllSucceeded(net, Range(n), false)) return;
  for (int r = 0; r < n; ++r) {
    const std::vector<char>& result = in_place ? in[r] : out[r];
    ASSERT_EQ(0, std::memcmp(result.data(), original[root].data(), bytes))
        << "rank " << r << " did not get the root's data";
    EXPECT_EQ(result[bytes], in_place ? 0x11 : 0x22) << "wrote past the end";
    if (!in_place) {
      EXPECT_EQ(in[r], original[r]) << "rank " << r << " input modified";
    }
    if (r != root) {  // non-roots cannot finish before the root started
      EXPECT_TRUE(net.node(r).started_at_finish[root]) << "rank " << r;
    }
  }
}

TEST(SimBroadcast, FromEveryRoot) {
  for (int n = 1; n <= 8; ++n)
    for (int root = 0; root < n; ++root)
      for (const SimOptions& o : Schedules(4)) {
        bool in_place = o.seed % 2 == 0;
        CheckBroadcast(n, root, DataType::kFloat32, 5, in_place, o);
        CheckBroadcast(n, root, DataType::kFloat64, 4000, in_place, o);  // separate payload
      }
}

TEST(SimBroadcast, OtherDtypesAndSizes) {
  for (int n : {2, 3, 6}) {
    for (int root : {0, n - 1}) {
      for (const SimOptions& o : Schedules(2)) {
        CheckBroadcast(n, root, DataType::kUInt8, 100000, false, o);
        CheckBroadcast(n, root, DataType::kBool, 17, true, o);
        CheckBroadcast(n, root, DataType::kInt8, 0, false, o);
        CheckBroadcast(n, root, DataType::kBFloat16, 3, false, o);
        CheckBroadcast(n, root, DataType::kInt16, kInlineLimit / 2, true, o);  // exactly inline
        CheckBroadcast(n, root, DataType::kInt16, kInlineLimit / 2 + 1, true, o);
      }
    }
  }
}

// ---- allgather ----

int64_t Rows(int r) { return (r * 5 + 1) % 4; }  // 1 2 3 0 1 2 3 0: some zero

void CheckAllgather(int n, int64_t cols, bool one_dim, bool all_empty,
                    const SimOptions& o) {
  SCOPED_TRACE("n=" + std::to_string(n) + " cols " + std::to_string(cols) +
               (one_dim ? " 1-D" : "") + (all_empty ? " all empty" : "") + ", " +
               Describe(o));
  auto rows = [&](int r) { return all_empty ? 0 : Rows(r); };
  std::vector<std::vector<double>> in(n);
  std::vector<std::vector<double>> out(n);
  std::vector<std::vector<int64_t>> out_shape(n);
  std::vector<int> allocations(n, 0);
  Network net(n, o);
  for (int r = 0; r < n; ++r) {
    std::vector<int64_t> shape = one_dim ? std::vector<int64_t>{rows(r)}
                                         : std::vector<int64_t>{rows(r), cols};
    in[r].resize(Numel(shape));
    for (size_t i = 0; i < in[r].size(); ++i) in[r][i] = r * 100000.0 + i;
    TensorView input{in[r].data(), DataType::kFloat64, shape};
    OutputAllocator allocate = [&, r](const std::vector<int64_t>& s) -> void* {
      allocations[r]++;
      out_shape[r] = s;
      out[r].assign(Numel(s) + 1, -1.0);
      return out[r].data();
    };
    net.SetOp(r, MakeAllgatherOp(Id(OpType::kAllgather), r, input, allocate, Range(n)));
  }
  ASSERT_TRUE(net.Run());
  if (!ExpectAllSucceeded(net, Range(n), true)) return;
  int64_t total = 0;
  for (int r = 0; r < n; ++r) total += rows(r);
  std::vector<int64_t> expected_shape =
      one_dim ? std::vector<int64_t>{total} : std::vector<int64_t>{total, cols};
  std::vector<double> expected;
  for (int r = 0; r < n; ++r) expected.insert(expected.end(), in[r].begin(), in[r].end());
  expected.push_back(-1.0);  // the guard element stays
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(allocations[r], 1) << "rank " << r;
    EXPECT_EQ(out_shape[r], expected_shape) << "rank " << r;
    EXPECT_EQ(out[r], expected) << "rank " << r;
  }
}

TEST(SimAllgather, DifferingFirstDimensionWithZeroRows) {
  for (int n = 1; n <= 8; ++n)
    for (const SimOptions& o : Schedules(6)) {
      CheckAllgather(n, 3, false, false, o);
      CheckAllgather(n, 1, true, false, o);
      CheckAllgather(n, 1000, false, false, o);  // up to 24000-byte payloads
      if (o.seed <= 2) CheckAllgather(n, 4, false, true, o);
    }
}

// ---- barrier ----

TEST(SimBarrier, CompletesOnlyAfterEveryRankStarted) {
  for (int n = 1; n <= 8; ++n) {
    for (const SimOptions& o : Schedules(60)) {
      SCOPED_TRACE("n=" + std::to_string(n) + ", " + Describe(o));
      Network net(n, o);
      for (int r = 0; r < n; ++r)
        net.SetOp(r, MakeBarrierOp(Id(OpType::kBarrier), r, Range(n)));
      ASSERT_TRUE(net.Run());
      ASSERT_TRUE(ExpectAllSucceeded(net, Range(n), /*finish_needs_everyone=*/true));
    }
  }
}

// ---- ops over a subset of the world ----

TEST(SimGroups, OpsOverASubgroupTalkOnlyToIt) {
  const int world = 8;
  const std::vector<int> group = {1, 3, 4, 6};
  for (const SimOptions& o : Schedules(5)) {
    SCOPED_TRACE(Describe(o));
    for (int64_t count : {int64_t(10), kMidCount, kRingCount}) {
      std::vector<std::vector<double>> data(world);
      Network net(world, o);
      for (int r : group) {
        data[r].resize(count);
        for (int64_t i = 0; i < count; ++i) data[r][i] = F64Value(r, i);
        TensorView t{data[r].data(), DataType::kFloat64, {count}};
        net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, t, t, false, group));
      }
      ASSERT_TRUE(net.Run());
      ASSERT_TRUE(ExpectAllSucceeded(net, group, true));
      for (int r : group)
        for (int64_t i = 0; i < count; ++i) {
          double sum = 0;
          for (int q : group) sum += F64Value(q, i);
          ASSERT_EQ(data[r][i], sum) << "rank " << r << " element " << i;
        }
    }
    {  // broadcast rooted at group member 4
      std::vector<std::vector<int32_t>> data(world, std::vector<int32_t>(9000));
      Network net(world, o);
      for (int r : group) {
        for (size_t i = 0; i < data[r].size(); ++i) data[r][i] = r * 1000 + i;
        TensorView t{data[r].data(), DataType::kInt32, {9000}};
        net.SetOp(r, MakeBroadcastOp(Id(OpType::kBroadcast), r, t, t, 4, group));
      }
      ASSERT_TRUE(net.Run());
      ASSERT_TRUE(ExpectAllSucceeded(net, group, false));
      for (int r : group)
        for (size_t i = 0; i < data[r].size(); ++i) ASSERT_EQ(data[r][i], 4000 + int(i));
    }
    {  // allgather
      std::vector<std::vector<float>> in(world), out(world);
      Network net(world, o);
      for (int r : group) {
        in[r].assign(r, static_cast<float>(r));  // rank r contributes r rows
        TensorView t{in[r].data(), DataType::kFloat32, {r}};
        OutputAllocator allocate = [&out, r](const std::vector<int64_t>& s) -> void* {
          out[r].resize(s[0]);
          return out[r].data();
        };
        net.SetOp(r, MakeAllgatherOp(Id(OpType::kAllgather), r, t, allocate, group));
      }
      ASSERT_TRUE(net.Run());
      ASSERT_TRUE(ExpectAllSucceeded(net, group, true));
      std::vector<float> expected;
      for (int q : group) expected.insert(expected.end(), q, static_cast<float>(q));
      for (int r : group) EXPECT_EQ(out[r], expected);
    }
    {  // barrier
      Network net(world, o);
      for (int r : group) net.SetOp(r, MakeBarrierOp(Id(OpType::kBarrier), r, group));
      ASSERT_TRUE(net.Run());
      ASSERT_TRUE(ExpectAllSucceeded(net, group, true));
    }
  }
}

// ---- mismatches between ranks ----

// Every rank posts an allreduce; rank `odd` posts a different one.
void RunAllreduceMismatch(int n, int odd, TensorView usual, TensorView different,
                          bool odd_average, const std::string& needle,
                          const SimOptions& o) {
  Network net(n, o);
  std::vector<std::vector<char>> buffers(n);
  for (int r = 0; r < n; ++r) {
    TensorView t = r == odd ? different : usual;
    buffers[r].assign(t.bytes() + 8, 0);
    t.data = buffers[r].data();
    bool average = r == odd ? odd_average : false;
    net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, t, t, average, Range(n)));
  }
  ASSERT_TRUE(net.Run());
  EXPECT_TRUE(ExpectAllFailedWith(net, Range(n), needle));
  EXPECT_TRUE(net.violations().empty()) << net.violations()[0];
}

TensorView View(DataType dtype, std::vector<int64_t> shape) {
  return TensorView{nullptr, dtype, std::move(shape)};
}

TEST(SimMismatch, AllreduceShape) {
  for (int n = 2; n <= 8; ++n)
    for (int odd : {0, n - 1, n / 2})
      for (const SimOptions& o : Schedules(3)) {
        SCOPED_TRACE("n=" + std::to_string(n) + " odd rank " + std::to_string(odd) +
                     ", " + Describe(o));
        auto f64 = DataType::kFloat64;
        RunAllreduceMismatch(n, odd, View(f64, {6}), View(f64, {7}), false, "shape", o);
        // Same element count, different shape.
        RunAllreduceMismatch(n, odd, View(f64, {2, 3}), View(f64, {3, 2}), false, "shape", o);
        // Both ring-sized.
        RunAllreduceMismatch(n, odd, View(f64, {kRingCount}), View(f64, {kRingCount + 1}),
                             false, "shape", o);
        // One side recursive doubling, the other the ring.
        RunAllreduceMismatch(n, odd, View(f64, {8000}), View(f64, {9000}), false, "shape", o);
      }
}

TEST(SimMismatch, AllreduceDtype) {
  for (int n = 2; n <= 8; ++n)
    for (int odd : {0, n - 1})
      for (const SimOptions& o : Schedules(3)) {
        SCOPED_TRACE("n=" + std::to_string(n) + " odd rank " + std::to_string(odd) +
                     ", " + Describe(o));
        RunAllreduceMismatch(n, odd, View(DataType::kFloat32, {6}),
                             View(DataType::kFloat64, {6}), false, "dtype", o);
        // float16 travels as float32: same bytes on the wire, still caught.
        RunAllreduceMismatch(n, odd, View(DataType::kFloat32, {20000}),
                             View(DataType::kFloat16, {20000}), false, "dtype", o);
        RunAllreduceMismatch(n, odd, View(DataType::kInt64, {5}),
                             View(DataType::kFloat64, {5}), false, "dtype", o);
      }
}

TEST(SimMismatch, AllreduceAverageFlag) {
  for (int n = 2; n <= 8; ++n)
    for (const SimOptions& o : Schedules(3)) {
      SCOPED_TRACE("n=" + std::to_string(n) + ", " + Describe(o));
      RunAllreduceMismatch(n, n - 1, View(DataType::kFloat32, {6}),
                           View(DataType::kFloat32, {6}), true, "average", o);
      RunAllreduceMismatch(n, 0, View(DataType::kFloat32, {30000}),
                           View(DataType::kFloat32, {30000}), true, "average", o);
    }
}

TEST(SimMismatch, AllgatherTrailingShapeAndDtype) {
  for (int n = 2; n <= 8; ++n)
    for (const SimOptions& o : Schedules(3)) {
      SCOPED_TRACE("n=" + std::to_string(n) + ", " + Describe(o));
      for (int variant = 0; variant < 3; ++variant) {
        Network net(n, o);
        std::vector<std::vector<char>> in(n), out(n);
        for (int r = 0; r < n; ++r) {
          TensorView t{nullptr, DataType::kFloat32, {2, 3}};
          if (r == n - 1) {
            if (variant == 0) t.shape = {2, 4};
            if (variant == 1) t.shape = {3};
            if (variant == 2) t.dtype = DataType::kInt32;
          }
          in[r].assign(t.bytes(), 0);
          t.data = in[r].data();
          OutputAllocator allocate = [&out, r](const std::vector<int64_t>& s) -> void* {
            out[r].resize(Numel(s) * 8 + 8);
            return out[r].data();
          };
          net.SetOp(r, MakeAllgatherOp(Id(OpType::kAllgather), r, t, allocate, Range(n)));
        }
        ASSERT_TRUE(net.Run());
        EXPECT_TRUE(ExpectAllFailedWith(net, Range(n), variant == 2 ? "dtype" : "shape"))
            << "variant " << variant;
      }
    }
}

// Ranks disagreeing on root_rank: the ranks that can tell (they receive data
// sent for another root) fail with a message naming root_rank; nobody hangs.
TEST(SimMismatch, BroadcastDifferentRoots) {
  for (int n = 3; n <= 8; ++n)
    for (const SimOptions& o : Schedules(4)) {
      SCOPED_TRACE("n=" + std::to_string(n) + ", " + Describe(o));
      const int odd = n - 1;  // says root 1; everyone else says root 0
      std::vector<std::vector<float>> data(n, std::vector<float>(10));
      Network net(n, o);
      for (int r = 0; r < n; ++r) {
        std::fill(data[r].begin(), data[r].end(), static_cast<float>(r));
        TensorView t{data[r].data(), DataType::kFloat32, {10}};
        net.SetOp(r, MakeBroadcastOp(Id(OpType::kBroadcast), r, t, t, r == odd ? 1 : 0,
                                     Range(n)));
      }
      ASSERT_TRUE(net.Run());
      for (int r = 0; r < n; ++r) {
        const Op& op = *net.op(r);
        ASSERT_TRUE(op.finished()) << "rank " << r << " hangs";
        if (op.status().ok()) {
          EXPECT_NE(r, odd) << "the odd rank cannot succeed";
          EXPECT_EQ(data[r][0], 0.0f) << "rank " << r << " succeeded with wrong data";
        } else {
          EXPECT_NE(op.status().message().find("root_rank"), std::string::npos)
              << op.status().message();
        }
      }
      EXPECT_FALSE(net.op(odd)->status().ok());
    }
}

// Two ranks that each think the other is the root would both wait to receive
// if nothing else were sent; the root-agreement signals make both fail.
TEST(SimMismatch, BroadcastSwappedRootsFails) {
  for (const SimOptions& o : Schedules(6)) {
    SCOPED_TRACE(Describe(o));
    Network net(2, o);
    std::vector<std::vector<float>> data(2, std::vector<float>(4, 0.0f));
    for (int r = 0; r < 2; ++r) {
      TensorView t{data[r].data(), DataType::kFloat32, {4}};
      net.SetOp(r, MakeBroadcastOp(Id(OpType::kBroadcast), r, t, t, 1 - r, Range(2)));
    }
    ASSERT_TRUE(net.Run());
    EXPECT_TRUE(ExpectAllFailedWith(net, Range(2), "root"));
  }
}

// Ranks 0 and 1 say root 0, ranks 2 and 3 say root 2. Without agreement each
// half would broadcast from its own root and succeed with different data.
TEST(SimMismatch, BroadcastSplitRootsFails) {
  for (const SimOptions& o : Schedules(6)) {
    SCOPED_TRACE(Describe(o));
    Network net(4, o);
    std::vector<std::vector<float>> data(4, std::vector<float>(4, 0.0f));
    for (int r = 0; r < 4; ++r) {
      std::fill(data[r].begin(), data[r].end(), static_cast<float>(r));
      TensorView t{data[r].data(), DataType::kFloat32, {4}};
      net.SetOp(r, MakeBroadcastOp(Id(OpType::kBroadcast), r, t, t, r < 2 ? 0 : 2, Range(4)));
    }
    ASSERT_TRUE(net.Run());
    EXPECT_TRUE(ExpectAllFailedWith(net, Range(4), "root"));
  }
}

TEST(SimMismatch, DifferentOpTypesUnderOneName) {
  for (int n = 2; n <= 5; ++n)
    for (const SimOptions& o : Schedules(3)) {
      SCOPED_TRACE("n=" + std::to_string(n) + ", " + Describe(o));
      std::vector<std::vector<float>> data(n, std::vector<float>(4, 1.0f));
      Network net(n, o);
      for (int r = 0; r < n; ++r) {
        TensorView t{data[r].data(), DataType::kFloat32, {4}};
        if (r == 0) {
          net.SetOp(r, MakeAllgatherOp(Id(OpType::kAllgather), r, t,
                                       [&](const std::vector<int64_t>&) -> void* {
                                         return nullptr;  // never reached
                                       },
                                       Range(n)));
        } else {
          net.SetOp(r, MakeAllreduceOp(Id(OpType::kAllreduce), r, t, t, false, Range(n)));
        }
      }
      ASSERT_TRUE(net.Run());
      EXPECT_TRUE(ExpectAllFailedWith(net, Range(n), "under this name"));
    }
}

// ---- argument checks in the factories ----

TEST(SimFactories, RejectBadArguments) {
  float x[4] = {0, 0, 0, 0};
  int32_t ix[4] = {0, 0, 0, 0};
  TensorView f{x, DataType::kFloat32, {4}};
  TensorView i32{ix, DataType::kInt32, {4}};
  TensorView b{ix, DataType::kBool, {4}};
  TensorView scalar{x, DataType::kFloat32, {}};
  auto id = Id(OpType::kAllreduce);
  EXPECT_THROW(MakeAllreduceOp(id, 0, i32, i32, true, Range(2)), InvalidArgument);
  EXPECT_THROW(MakeAllreduceOp(id, 0, b, b, false, Range(2)), InvalidArgument);
  EXPECT_THROW(MakeAllreduceOp(id, 2, f, f, false, Range(2)), InvalidArgument);
  EXPECT_THROW(MakeAllreduceOp(id, 0, f, f, false, {1, 0}), InvalidArgument);
  EXPECT_THROW(MakeAllreduceOp(id, 0, f, f, false, {0, 0, 1}), InvalidArgument);
  TensorView other_shape{x, DataType::kFloat32, {2, 2}};
  EXPECT_THROW(MakeAllreduceOp(id, 0, f, other_shape, false, Range(2)), InvalidArgument);
  EXPECT_NO_THROW(MakeAllreduceOp(id, 0, i32, i32, false, Range(2)));
  EXPECT_THROW(MakeBroadcastOp(Id(OpType::kBroadcast), 0, f, f, 2, Range(2)),
               InvalidArgument);
  EXPECT_THROW(MakeBroadcastOp(Id(OpType::kBroadcast), 0, f, f, -1, Range(2)),
               InvalidArgument);
  EXPECT_THROW(MakeBroadcastOp(Id(OpType::kBroadcast), 0, f, f, 3, {0, 1, 2}),
               InvalidArgument);
  EXPECT_THROW(MakeAllgatherOp(Id(OpType::kAllgather), 0, scalar,
                               [](const std::vector<int64_t>&) -> void* { return nullptr; },
                               Range(2)),
               InvalidArgument);
  EXPECT_THROW(MakeBarrierOp(Id(OpType::kBarrier), 5, Range(3)), InvalidArgument);
  try {
    MakeAllreduceOp(id, 0, i32, i32, true, Range(2));
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("tensor"), std::string::npos) << e.what();
  }
}

// ---- the simulator itself ----

// An op that sends its buffer to rank 1 and then scribbles over it before
// the send completed: the rendezvous timing must notice.
class ScribblingOp : public Op {
 public:
  ScribblingOp(int rank, size_t bytes) : Op(Id(OpType::kBarrier, "scribble")), rank_(rank),
                                          buffer_(bytes, 'a') {}
  void Start(OpContext& ctx) override {
    if (rank_ == 0) {
      MessageHeader h = MakeHeader(0);
      ctx.Send(1, h, buffer_.data(), buffer_.size());
      std::fill(buffer_.begin(), buffer_.end(), 'b');  // too early
      Finish();
    }
  }
  void OnData(OpContext&, Arrival& a) override {
      received.assign(a.data, a.data + a.bytes);
    Finish();
  }
  std::vector<int> Participants() const override { return {0, 1}; }
  std::vector<int> WaitingOn() const override { return {}; }
  std::string received;

 private:
  int rank_;
  std::vector<char> buffer_;
};

TEST(Simulator, RendezvousTimingCatchesEarlyReuse) {
  for (size_t bytes : {size_t(10), size_t(100000)}) {
    for (Timing timing : {Timing::kCopyAtSend, Timing::kCopyAtDelivery}) {
      Network net(2, Schedule(3, timing));
      net.SetOp(0, std::make_unique<ScribblingOp>(0, bytes));
      net.SetOp(1, std::make_unique<ScribblingOp>(1, bytes));
      ASSERT_TRUE(net.Run());
      auto* receiver = static_cast<ScribblingOp*>(net.op(1));
      if (timing == Timing::kCopyAtSend) {
        EXPECT_TRUE(net.violations().empty());
        EXPECT_EQ(receiver->received, std::string(bytes, 'a'));
      } else {
        ASSERT_EQ(net.violations().size(), 1u);
        EXPECT_NE(net.violations()[0].find("changed the payload"), std::string::npos);
      }
    }
  }
}

// An op that records the order of events: nothing before Start().
class RecordingOp : public Op {
 public:
  RecordingOp(int rank, int n, std::vector<std::string>* log)
      : Op(Id(OpType::kBarrier, "rec")), rank_(rank), n_(n), log_(log) {}
  void Start(OpContext& ctx) override {
    started_ = true;
    for (int r = 0; r < n_; ++r)
      if (r != rank_) ctx.Send(r, MakeHeader(rank_), nullptr, 0);
    if (n_ == 1) Finish();
  }
  void OnData(OpContext&, Arrival& a) override {
    if (!started_) log_->push_back("rank " + std::to_string(rank_) + " got data before Start");
    if (a.header.step != a.src) log_->push_back("wrong step");
    if (++received_ == n_ - 1) Finish();
  }
  std::vector<int> Participants() const override { return Range(n_); }
  std::vector<int> WaitingOn() const override { return {}; }

 private:
  int rank_, n_;
  std::vector<std::string>* log_;
  bool started_ = false;
  int received_ = 0;
};

TEST(Simulator, HoldsMessagesUntilStart) {
  for (const SimOptions& o : Schedules(30)) {
    std::vector<std::string> log;
    Network net(6, o);
    for (int r = 0; r < 6; ++r) net.SetOp(r, std::make_unique<RecordingOp>(r, 6, &log));
    ASSERT_TRUE(net.Run());
    EXPECT_TRUE(ExpectAllSucceeded(net, Range(6), true));
    EXPECT_TRUE(log.empty()) << log[0];
  }
}

}  // namespace
}  // namespace bluefog
