// Settings read from BLUEFOG_* environment variables at init.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "bluefog/core/logging.h"

namespace bluefog {

struct Config {
  LogLevel log_level = LogLevel::kWarning;
  bool log_hide_time = false;
  std::string timeline_prefix;           // empty: no timeline
  int64_t fusion_threshold_bytes = 8 << 20;
  double cycle_time_ms = 1.0;            // longest sleep of a waiting engine
  int nodes_per_machine = 0;             // 0: use the shared-memory split
  int mpi_thread_level = 3;              // MPI_THREAD_MULTIPLE
  double stall_warning_seconds = 60.0;
  // An op that makes no progress for this long fails with TimeoutError; 0:
  // never. Long enough for a rank that checkpoints or evaluates while its
  // peers wait (torch.distributed's gloo default is the same 30 minutes).
  double op_timeout_seconds = 1800.0;
  // Read by the Python module, not the engine: how many finished handles
  // nobody synchronized it keeps before releasing the oldest.
  int64_t max_unsynchronized_handles = 4096;
};

// Upper ends of the ranges ParseConfig accepts. A waiting engine sleeps at
// most the cycle time, so one second already makes every op slow; waits past
// 1e7 s (16 weeks) are not meant (0 turns the op deadline off).
constexpr double kMaxCycleTimeMs = 1000.0;
constexpr double kMaxWaitSeconds = 1e7;
constexpr int64_t kMaxUnsynchronizedHandles = int64_t(1) << 30;

using EnvLookup = std::function<const char*(const char* name)>;

// Parses every BLUEFOG_* variable; throws InvalidArgument naming the variable,
// the offending value and what is allowed (for numbers, the range) for
// anything malformed.
Config ParseConfig(const EnvLookup& lookup);
Config ParseConfigFromEnvironment();

}  // namespace bluefog
