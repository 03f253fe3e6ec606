// The engine's private bookkeeping types and constants: handles, jobs
// (an op with its engine state), op keys, arriving messages, sends and
// stall probes. Only the engine_*.cc files include it (via engine_impl.h).
#pragma once
#include "bluefog/core/engine.h"

#include <pthread.h>
#include <signal.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "bluefog/core/logging.h"
#include "bluefog/core/tensor.h"
#include "bluefog/core/mpi_transport.h"
#include "bluefog/core/transport.h"
#include "bluefog/core/window.h"
#include "peers.h"

namespace bluefog {

// Engine-private types and constants (only the engine_*.cc files include
// this header).

using Clock = std::chrono::steady_clock;
constexpr size_t kInlineLimit = 16 * 1024;
// How long the engine keeps polling (yielding the core between polls) after
// its last progress before it starts sleeping: longer while ops are pending.
constexpr auto kBusySpinWindow = std::chrono::microseconds(2000);
constexpr auto kIdleSpinWindow = std::chrono::microseconds(100);
constexpr auto kCheckPeriod = std::chrono::milliseconds(100);
constexpr int kWaitSpins = 50;
// How long a deadline waits for the peers' answers on what they are doing.
constexpr auto kDeadlineProbeWait = std::chrono::seconds(2);
// A rank exiting on an error waits this long at most for its peers to
// acknowledge, then this long more so that their scripts can report the
// error before the launcher kills them.
constexpr auto kAbortAckWait = std::chrono::seconds(2);
constexpr auto kAbortGrace = std::chrono::milliseconds(300);
// A send to a rank that has shut down that has not completed this long after
// its goodbye never will.
constexpr auto kGoneSendGrace = std::chrono::seconds(1);

struct HandleState {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  Status status;
  // Its waiter was interrupted (Ctrl-C): shutdown need not wait for it.
  std::atomic<bool> abandoned{false};
};

struct Job {
  std::shared_ptr<Op> op;
  std::shared_ptr<HandleState> handle;
  bool failure_sent = false;  // peers were told this op failed
  bool completed = false;     // the waiter was woken
  // Ranks whose data reached the op: told of its failure even when the op
  // does not count them as participants (they sent to a rank that did not
  // expect them, or ran it over another group).
  std::vector<int> senders;
  // The op's deadline counts from here: its start, its last message or
  // completed send.
  std::chrono::steady_clock::time_point last_progress;
};

struct OpKey {
  std::string key;
  uint64_t instance;
  bool operator==(const OpKey& o) const {
    return instance == o.instance && key == o.key;
  }
};

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
  std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
  bool reported = false;      // a stall warning named it already
};

// One message of an op; several may share one MPI send (a fused frame).
struct SendPart {
  std::shared_ptr<Job> job;
  int32_t step;
  bool carries_payload;
};

struct PendingSend {
  Transport::RequestId request;
  int dst;
  std::vector<SendPart> parts;
  std::unique_ptr<std::vector<char>> bytes;  // what MPI reads, when engine-owned
};

// A small message waiting for the end of the engine iteration, when messages
// to the same destination are fused into frames.
struct QueuedMessage {
  std::vector<char> bytes;
  SendPart part;
};

struct PendingReceive {
  Transport::RequestId request;
  std::shared_ptr<Incoming> incoming;
};

// Asking peers whether they posted an op, and what they are doing: for a
// stall warning, at a deadline, or when a peer starts shutting down.
struct StallProbe {
  struct Answer {
    int rank;
    bool posted;
    std::string doing;
  };
  std::shared_ptr<Job> job;
  std::set<int> awaiting;
  std::vector<Answer> answers;
  bool report_stall = false;  // log what the answers say
  bool for_deadline = false;  // fail the op with the answers
  std::chrono::steady_clock::time_point sent;
};

inline bool ProcessAlive(int pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no procfs: trust kill()
  size_t paren = line.rfind(')');
  return !(paren != std::string::npos && paren + 2 < line.size() &&
           (line[paren + 2] == 'Z' || line[paren + 2] == 'X'));
}

inline std::string RankList(const std::vector<int>& ranks) { return ListString(ranks); }

// Set in the child of a fork() after an engine started (pthread_atfork).
inline std::atomic<bool> g_forked{false};


}  // namespace bluefog
