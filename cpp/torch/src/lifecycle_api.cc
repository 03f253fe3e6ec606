// Init, shutdown and the queries about this rank and the world.
#include <mutex>
#include <string>

#include "bluefog/core/engine.h"
#include "bluefog/core/mpi_state.h"
#include "bluefog/torch.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {
namespace {

// Bounds on one exchange of the timeline's clock measurement (rank 0's
// side; the others wait that long for each rank before them).
constexpr double kInitClockLimitSeconds = 30;
constexpr double kShutdownClockLimitSeconds = 2;

// Why init failed after MPI had started (empty: it did not). MPI cannot be
// restarted, so bluefog stays uninitialised for the rest of the process.
std::mutex g_init_mutex;
std::string g_init_failure;

std::string InitFailure() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  return g_init_failure;
}

void RecordInitFailure(const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  if (g_init_failure.empty()) g_init_failure = reason.empty() ? "unknown error" : reason;
}

}  // namespace

Engine& RunningEngine() {
  Engine& engine = Engine::Get();
  if (!engine.running()) {
    std::string failure = InitFailure();
    if (!failure.empty())
      throw InvalidArgument("bluefog is not initialized: bf.init() failed on this rank (" +
                            failure + ")");
    if (engine.stopped())
      throw ShutdownError("bluefog has been shut down; this call needs a running bluefog");
    throw InvalidArgument("bluefog is not initialized; call bf.init() first");
  }
  return engine;
}

void init() {
  std::string failure = InitFailure();
  if (!failure.empty())
    throw Error("bluefog cannot be initialised: an earlier bf.init() in this process failed (" +
                failure + ") after MPI had started, and MPI cannot be restarted");
  Config config = ParseConfigFromEnvironment();
  Engine& engine = Engine::Get();
  if (engine.running()) return;  // a second init only resets the topology
  CheckTimelinePrefix(config.timeline_prefix);
  const bool mpi_was_active = MpiActive();
  try {
    engine.Start(config);
  } catch (const std::exception& e) {
    // The engine thread may have initialised MPI before failing (and then
    // ended without finalising it): finalise here, so that the process can
    // exit normally after the error.
    if (!mpi_was_active && MpiActive()) {
      FinalizeMpi();
      RecordInitFailure(e.what());
    }
    throw;
  }
  try {
    StartTimeline(config.timeline_prefix, engine.world());
  } catch (const std::exception& e) {
    abandon_init(e.what());
    throw;
  }
  MeasureClockOffset("init", kInitClockLimitSeconds);
}

void abandon_init(const std::string& reason) {
  Engine::Get().Stop();
  StopTimeline();
  RecordInitFailure(reason);
}

void shutdown() {
  if (Engine::Get().in_forked_child()) return;  // the parent's to stop, timeline too
  // Ranks reach shutdown at different times: a short limit, so that one
  // that never comes costs little.
  if (Engine::Get().running()) MeasureClockOffset("shutdown", kShutdownClockLimitSeconds);
  Engine::Get().Stop();
  StopTimeline();  // after the engine, whose last events it records
  ReleaseFinishedDroppedWorks();  // every op has finished now
}

void abort(const std::string& reason, bool consequence) {
  if (Engine::Get().in_forked_child()) return;
  Engine::Get().Abort(reason, consequence);
  StopTimeline();  // what it recorded is on disk before the process exits
  ReleaseFinishedDroppedWorks();
}
bool is_initialized() { return Engine::Get().running(); }
int size() { return RunningEngine().world().size; }
int rank() { return RunningEngine().world().rank; }
int local_size() { return RunningEngine().world().local_size; }
int local_rank() { return RunningEngine().world().local_rank; }
int machine_size() {
  const WorldInfo& w = RunningEngine().world();
  return w.size / w.local_size;
}
int machine_rank() {
  const WorldInfo& w = RunningEngine().world();
  return w.rank / w.local_size;
}
bool is_homogeneous() { return RunningEngine().world().homogeneous; }
bool mpi_threads_supported() { return RunningEngine().world().mpi_threads_supported; }
bool unified_mpi_window_model_supported() {
  return RunningEngine().world().unified_window_model;
}
void suspend() { RunningEngine().Suspend(); }
void resume() { RunningEngine().Resume(); }

MessageCounts message_counts() { return RunningEngine().Counts(); }

}  // namespace api
}  // namespace bluefog
