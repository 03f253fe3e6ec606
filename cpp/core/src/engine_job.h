// A job: an op with what the engine keeps about it (its handle, pending
// sends, progress times, who sent to it), the key messages are matched by,
// and a message on its way to a job.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bluefog/core/op.h"
#include "bluefog/core/status.h"
#include "bluefog/core/wire.h"

namespace bluefog {

using Clock = std::chrono::steady_clock;
// Payloads up to this size travel inside their header message.
constexpr size_t kInlineLimit = 16 * 1024;

// What a waiting user thread sees of a job.
struct HandleState {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  Status status;
  // Its waiter was interrupted (Ctrl-C): shutdown need not wait for it.
  std::atomic<bool> abandoned{false};
};

struct OpTrace;  // op_timeline.h

struct Job {
  Job();
  ~Job();
  std::shared_ptr<Op> op;
  std::shared_ptr<HandleState> handle;
  int pending_sends = 0;      // the op completes only once they are 0
  bool failure_sent = false;  // peers were told this op failed
  bool completed = false;     // the waiter was woken
  // Ranks whose data reached the op: told of its failure even when the op
  // does not count them as participants (they sent to a rank that did not
  // expect them, or ran it over another group).
  std::vector<int> senders;
  Clock::time_point start_time;
  Clock::time_point last_stall_report;
  // The op's deadline counts from here: its start, its last message or
  // completed send.
  Clock::time_point last_progress;
  std::unique_ptr<OpTrace> trace;  // while the timeline records it
};

struct OpKey {
  std::string key;
  uint64_t instance;
  bool operator==(const OpKey& o) const {
    return instance == o.instance && key == o.key;
  }
};

inline OpKey KeyOf(const OpIdentity& id) { return OpKey{id.key, id.instance}; }

// What messages, errors and the timeline call an op: its name, for an
// unnamed one "<op>.noname.<instance>", for a private one (window ops) the
// name it was given.
inline std::string DisplayName(OpType type, const std::string& key, uint64_t instance) {
  if (key.size() > 0 && key[0] == kPrivateKeyPrefix) return PrivateKeyDisplayName(key);
  if (!IsUnnamedKey(key)) return key;
  return std::string(OpTypeName(type)) + ".noname." + std::to_string(instance);
}

inline std::string DisplayName(const MessageHeader& h) {
  return DisplayName(h.op, h.name, h.instance);
}

// Data for an op that already succeeded without it: the sender's
// destinations and this rank's sources disagree.
void WarnUnconsumed(int src, const MessageHeader& h);

struct OpKeyHash {
  size_t operator()(const OpKey& k) const {
    return std::hash<std::string>()(k.key) ^ (k.instance * 0x9E3779B97F4A7C15ull);
  }
};

// A message whose header arrived; its payload may still be in transit.
struct Incoming {
  Arrival arrival;
  bool complete = false;
  std::weak_ptr<Job> target;  // op to deliver to once complete, if any
  bool window_request = false;  // served by this engine once complete
  Clock::time_point arrived = Clock::now();
  bool reported = false;      // a stall warning named it already
};

}  // namespace bluefog
