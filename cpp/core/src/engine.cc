// The engine facade (Engine, forwarding to Engine::Impl) and the user
// threads' side of the engine: start, stop, abort, submit, handles, suspend,
// DeliverArrived.
#include "engine_impl.h"
#include "op_timeline.h"

#include <pthread.h>
#include <unistd.h>

#include "bluefog/core/logging.h"
#include "bluefog/core/mpi_transport.h"

namespace bluefog {

void Engine::Impl::Start(const Config& config, std::unique_ptr<Transport> transport) {
  std::unique_lock<std::mutex> lock(shared_.mutex);
  if (shared_.state == State::kRunning) return;
  if (shared_.state == State::kStopped)
    throw ShutdownError(
        "bluefog cannot be initialised again after shutdown() in the same "
        "process (MPI cannot be restarted)");
  engine_thread_.Prepare(config,
                         transport ? std::move(transport) : std::make_unique<MpiTransport>());
  owner_pid_ = getpid();
  static std::once_flag at_fork;
  std::call_once(at_fork, [] { pthread_atfork(nullptr, nullptr, [] { g_forked = true; }); });
  SetLogLevel(config.log_level);
  SetLogHideTime(config.log_hide_time);
  shared_.init_done = false;
  thread_ = std::thread([this] { engine_thread_.Main(); });
  shared_.cv.wait(lock, [this] { return shared_.init_done; });
  if (!shared_.init_status.ok()) {
    lock.unlock();
    thread_.join();
    lock.lock();
    shared_.state = State::kNew;
    shared_.init_status.ThrowIfError();
  }
  shared_.state = State::kRunning;
}

void Engine::Impl::Abort(const std::string& reason, bool consequence) {
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    shared_.abort_is_consequence = consequence;
  }
  StopThread(reason.empty() ? "aborted" : reason);
}

void Engine::Impl::StopThread(const std::string& abort_reason) {
  // A forked child has no engine thread and shares the parent's MPI: it
  // leaves both to the parent (its exit handlers call shutdown too).
  if (InForkedChild()) return;
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    if (shared_.state != State::kRunning) return;
    if (!abort_reason.empty()) {
      shared_.abort_reason = abort_reason;
      shared_.abort_flag = true;
    }
    if (shared_.stop_requested && abort_reason.empty()) {
      // Another thread is stopping it already; wait for that.
    } else {
      shared_.stop_requested = true;
      shared_.stop_flag = true;
      shared_.suspended = false;
    }
  }
  shared_.cv.notify_all();
  std::lock_guard<std::mutex> join(join_mutex_);
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(shared_.mutex);
  shared_.state = State::kStopped;
}

void Engine::Impl::CheckProcess(const char* what) const {
  if (InForkedChild())
    throw Error(std::string(what) + ": bluefog was initialized in process " +
                std::to_string(owner_pid_) + "; this process (pid " +
                std::to_string(getpid()) +
                ") is a fork of it, which cannot use bluefog (its engine thread "
                "and MPI stay with the parent)");
}

int64_t Engine::Impl::Submit(OpType type, const std::string& name, const OpFactory& make) {
  CheckProcess(OpTypeName(type));
  std::unique_ptr<Op> op;
  int64_t handle;
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    CheckRunning();
    if (shared_.stop_requested)
      throw ShutdownError(std::string(OpTypeName(type)) +
                          ": bluefog is shutting down on this rank; no new ops are accepted");
    OpIdentity id = names_.Next(type, name, world().rank);
    op = make(id);  // may throw for bad arguments; nothing is recorded then
    names_.Commit(id);
    auto job = std::make_shared<Job>();
    op_timeline::Queued(*job);
    job->op = std::shared_ptr<Op>(std::move(op));
    job->handle = std::make_shared<HandleState>();
    handle = handles_.Add(job->handle);
    shared_.queue.push_back(std::move(job));
  }
  shared_.cv.notify_all();
  return handle;
}

std::shared_ptr<HandleState> Engine::Impl::FindHandle(int64_t handle) {
  CheckProcess("waiting for a handle");
  return handles_.Find(handle);
}

bool Engine::Impl::Poll(int64_t handle) {
  auto state = FindHandle(handle);
  std::lock_guard<std::mutex> lock(state->mutex);
  return state->done;
}

bool Engine::Impl::WaitFor(int64_t handle, double timeout_seconds) {
  auto state = FindHandle(handle);
  CheckNotSuspended(handle, state);
  state->abandoned = false;
  return WaitDone(*state, timeout_seconds);
}

void Engine::Impl::CheckNotSuspended(int64_t handle, const std::shared_ptr<HandleState>& state) {
  if (!shared_.suspended) return;
  std::lock_guard<std::mutex> lock(shared_.mutex);
  if (!shared_.suspended) return;
  for (const auto& job : shared_.queue)
    if (job->handle == state)
      throw Error(job->op->Describe() + " (handle " + std::to_string(handle) +
                  ") cannot start: bluefog is suspended on this rank (bf.suspend()); it "
                  "stays queued and starts at bf.resume(): wait for it after that");
}

void Engine::Impl::SetSuspended(bool suspended) {
  CheckProcess(suspended ? "suspend" : "resume");
  {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    CheckRunning();
    shared_.suspended = suspended;
  }
  shared_.cv.notify_all();
}

bool Engine::Impl::DeliverArrived(double max_wait_seconds) {
  std::unique_lock<std::mutex> lock(shared_.mutex);
  if (shared_.state != State::kRunning || InForkedChild()) return false;
  uint64_t ticket = ++shared_.deliveries_wanted;
  shared_.cv.notify_all();
  shared_.cv.wait_for(lock, std::chrono::duration<double>(max_wait_seconds), [&] {
    return shared_.deliveries_done >= ticket || shared_.state != State::kRunning;
  });
  return shared_.deliveries_done >= ticket;
}

bool Engine::Impl::running() {
  std::lock_guard<std::mutex> lock(shared_.mutex);
  return shared_.state == State::kRunning;
}

bool Engine::Impl::stopped() {
  std::lock_guard<std::mutex> lock(shared_.mutex);
  return shared_.state == State::kStopped;
}

void Engine::Impl::CheckRunning() const {
  if (shared_.state == State::kStopped)
    throw ShutdownError("bluefog has been shut down; ops are no longer accepted");
  if (shared_.state != State::kRunning)
    throw InvalidArgument("bluefog is not initialized; call bf.init() first");
}

Engine& Engine::Get() {
  static Engine* engine = new Engine();  // never destroyed: outlives atexit
  return *engine;
}

Engine::Engine() : impl_(new Impl) {}
Engine::~Engine() = default;

void Engine::Start(const Config& config, std::unique_ptr<Transport> transport) {
  impl_->Start(config, std::move(transport));
}
void Engine::Stop() { impl_->Stop(); }
void Engine::Abort(const std::string& reason, bool consequence) {
  impl_->Abort(reason, consequence);
}
bool Engine::running() const { return impl_->running(); }
bool Engine::stopped() const { return impl_->stopped(); }
bool Engine::in_forked_child() const { return impl_->InForkedChild(); }
const WorldInfo& Engine::world() const { return impl_->world(); }
const Config& Engine::config() const { return impl_->config(); }
int64_t Engine::Submit(OpType type, const std::string& name,
                       const OpFactory& make) {
  return impl_->Submit(type, name, make);
}
bool Engine::Poll(int64_t handle) { return impl_->Poll(handle); }
bool Engine::WaitFor(int64_t handle, double timeout_seconds) {
  return impl_->WaitFor(handle, timeout_seconds);
}
Status Engine::Release(int64_t handle) { return impl_->Release(handle); }
void Engine::Abandon(int64_t handle) { impl_->Abandon(handle); }
void Engine::Suspend() { impl_->SetSuspended(true); }
void Engine::Resume() { impl_->SetSuspended(false); }
bool Engine::DeliverArrived(double max_wait_seconds) {
  return impl_->DeliverArrived(max_wait_seconds);
}
MessageCounts Engine::Counts() { return impl_->Counts(); }
WindowRegistry& Engine::Windows() { return impl_->windows(); }

}  // namespace bluefog
