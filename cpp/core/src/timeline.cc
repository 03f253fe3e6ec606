#include "bluefog/core/timeline.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bluefog/core/logging.h"
#include "bluefog/core/status.h"
#include "timeline_file.h"
#include "timeline_format.h"

namespace bluefog {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A number per thread, never reused in the process (std::thread::id values
// of finished threads are).
uint64_t ThreadSerial() {
  static std::atomic<uint64_t> next{1};
  thread_local uint64_t serial = next.fetch_add(1);
  return serial;
}

template <typename Duration>
int64_t Micros(Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

struct Record {
  char phase;
  int tid;
  int64_t ts_us;
  std::string tensor;  // empty for 'M'
  std::string name;    // activity, instant text or metadata name; empty for 'E'
  int64_t dur_us = 0;  // for 'X'
  std::string args;    // a JSON object's text, or empty
  const char* static_name = nullptr;  // instead of `name`, followed by name_peer
  int name_peer = -1;

  std::string Name() const {
    if (static_name == nullptr) return name;
    return name_peer < 0 ? std::string(static_name)
                         : std::string(static_name) + std::to_string(name_peer);
  }
};

}  // namespace

class Timeline::Impl {
 public:
  explicit Impl(std::atomic<bool>* enabled) : enabled_(enabled) {}

  // ---- recording (mu_) ----
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  SteadyClock::time_point origin_;
  std::vector<Record> queue_;
  // Per tensor name: the tids of its open activities, innermost last.
  std::unordered_map<std::string, std::vector<int>> open_;
  std::unordered_map<uint64_t, int> tids_;  // ThreadSerial() -> tid

  void PushLocked(char phase, int tid, const std::string& tensor, const std::string& name,
                  const std::string& args = std::string()) {
    queue_.push_back(
        Record{phase, tid, Micros(SteadyClock::now() - origin_), tensor, name, 0, args});
  }

  int TidLocked() {
    auto it = tids_.emplace(ThreadSerial(), static_cast<int>(tids_.size()) + 1).first;
    return it->second;
  }

  // Removes the innermost open activity of `tensor` under `tid`.
  bool PopOpenLocked(const std::string& tensor, int tid) {
    auto it = open_.find(tensor);
    if (it == open_.end()) return false;
    std::vector<int>& stack = it->second;
    for (auto k = stack.rbegin(); k != stack.rend(); ++k) {
      if (*k != tid) continue;
      stack.erase(std::next(k).base());
      if (stack.empty()) open_.erase(it);
      return true;
    }
    return false;
  }

  // The tid whose activity EndActivity closes: the caller's innermost, else
  // the innermost of another user thread; -1 when none.
  int UserTidToCloseLocked(const std::string& tensor) {
    auto it = open_.find(tensor);
    if (it == open_.end()) return -1;
    auto self = tids_.find(ThreadSerial());
    int fallback = -1;
    for (auto k = it->second.rbegin(); k != it->second.rend(); ++k) {
      if (self != tids_.end() && *k == self->second) return *k;
      if (fallback < 0 && *k != kEngineTid) fallback = *k;
    }
    return fallback;
  }

  // ---- writing (write_mu_, taken before mu_) ----
  std::mutex write_mu_;
  timeline::TimelineFile file_;
  std::string path_;
  std::vector<Record> batch_;
  std::unordered_map<std::string, int> pids_;  // tensor name -> pid (its row)
  std::unordered_set<int64_t> named_threads_;  // pid << 32 | tid
  std::string scratch_;

  // Takes everything queued and writes it. Holding write_mu_ throughout
  // keeps concurrent drains (writer thread, Flush) in order.
  void Drain() {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch_.swap(queue_);
    }
    if (!file_.is_open()) {
      batch_.clear();
      return;
    }
    if (batch_.empty()) return;
    for (const Record& r : batch_) WriteRecord(r);
    batch_.clear();
    if (!file_.Write()) {
      BF_LOG(kError) << "timeline: writing '" << path_ << "' failed (" << file_.error()
                     << "); recording stops";
      enabled_->store(false, std::memory_order_relaxed);
      file_.Close();
    }
  }

  void WriteRecord(const Record& r) {
    scratch_.clear();
    if (r.phase == 'M') {
      timeline::AppendMetadataLine(&scratch_, r.name, r.args);
      file_.Append(scratch_);
      return;
    }
    auto row = pids_.emplace(r.tensor, static_cast<int>(pids_.size()) + 1);
    int pid = row.first->second;
    if (row.second) {
      scratch_.clear();
      timeline::AppendTensorRowLines(&scratch_, pid, r.tid, r.tensor);
      file_.Append(scratch_);
    }
    if (named_threads_.insert((int64_t(pid) << 32) | uint32_t(r.tid)).second) {
      scratch_.clear();
      timeline::AppendThreadNameLine(&scratch_, pid, r.tid, ThreadName(r.tid));
      file_.Append(scratch_);
    }
    scratch_.clear();
    timeline::AppendEventLine(&scratch_, r.phase, r.Name(), r.ts_us, pid, r.tid, r.dur_us,
                              r.args);
    file_.Append(scratch_);
  }

  static std::string ThreadName(int tid) {
    if (tid == kEngineTid) return "engine";
    if (tid >= kPeerTidBase) return "rank " + std::to_string(tid - kPeerTidBase);
    return "thread " + std::to_string(tid);
  }

  void WriterLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      wake_.wait_for(lock, kDrainInterval, [this] { return stopping_; });
      lock.unlock();
      Drain();
      lock.lock();
    }
  }

  // ---- lifecycle (lifecycle_mu_, taken first) ----
  std::mutex lifecycle_mu_;
  std::thread writer_;

 private:
  std::atomic<bool>* enabled_;
};

Timeline& Timeline::Global() {
  static Timeline* timeline = new Timeline();
  return *timeline;
}

Timeline::Timeline() : impl_(new Impl(&enabled_)) {}

Timeline::~Timeline() { Stop(); }

void Timeline::Start(const std::string& path, int rank, int size) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lifecycle(s.lifecycle_mu_);
  if (s.writer_.joinable())
    throw Error("the timeline is already recording to '" + s.path_ + "'");
  SteadyClock::time_point origin = SteadyClock::now();
  timeline::ClockOrigin clock;
  clock.rank = rank;
  clock.size = size;
  clock.hostname = Hostname();
  clock.steady_origin_us = Micros(origin.time_since_epoch());
  clock.system_origin_us = Micros(std::chrono::system_clock::now().time_since_epoch());
  {
    std::lock_guard<std::mutex> write_lock(s.write_mu_);
    s.file_.Open(path);
    s.path_ = path;
    s.pids_.clear();
    s.named_threads_.clear();
    std::string head = "[\n";
    timeline::AppendClockLine(&head, clock);
    s.file_.Append(head);
    if (!s.file_.Write()) {
      std::string reason = s.file_.error();
      s.file_.Close();
      throw InvalidArgument("cannot write the timeline file '" + path + "': " + reason);
    }
  }
  {
    std::lock_guard<std::mutex> lock(s.mu_);
    s.origin_ = origin;
    s.queue_.clear();
    s.open_.clear();
    s.tids_.clear();
    s.stopping_ = false;
    enabled_.store(true, std::memory_order_relaxed);
  }
  s.writer_ = std::thread([&s] { s.WriterLoop(); });
}

void Timeline::Stop() {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lifecycle(s.lifecycle_mu_);
  if (!s.writer_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(s.mu_);
    enabled_.store(false, std::memory_order_relaxed);  // nothing is queued after this
    s.stopping_ = true;
  }
  s.wake_.notify_all();
  s.writer_.join();
  s.Drain();
  std::lock_guard<std::mutex> write_lock(s.write_mu_);
  s.file_.Close();
}

void Timeline::Flush() { impl_->Drain(); }

bool Timeline::SetRecording(bool on) {
  std::lock_guard<std::mutex> lifecycle(impl_->lifecycle_mu_);
  if (!impl_->writer_.joinable()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  enabled_.store(on, std::memory_order_relaxed);
  return true;
}

bool Timeline::Begin(const std::string& tensor_name, const std::string& activity, int tid) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  impl_->open_[tensor_name].push_back(tid);
  impl_->PushLocked('B', tid, tensor_name, activity);
  return true;
}

bool Timeline::End(const std::string& tensor_name, int tid) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled() || !impl_->PopOpenLocked(tensor_name, tid)) return false;
  impl_->PushLocked('E', tid, tensor_name, std::string());
  return true;
}

bool Timeline::Instant(const std::string& tensor_name, const std::string& text, int tid,
                       const std::string& args) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  impl_->PushLocked('i', tid, tensor_name, text, args);
  return true;
}

bool Timeline::Complete(const std::string& tensor_name, const std::string& name,
                        TimePoint begin, TimePoint end, int tid, const std::string& args) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  int64_t ts = std::max<int64_t>(0, Micros(begin - impl_->origin_));
  int64_t dur = std::max<int64_t>(0, Micros(end - impl_->origin_) - ts);
  impl_->queue_.push_back(Record{'X', tid, ts, tensor_name, name, dur, args});
  return true;
}

bool Timeline::Begin(const std::string& tensor_name, const char* name, int tid) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  impl_->open_[tensor_name].push_back(tid);
  impl_->PushLocked('B', tid, tensor_name, std::string());
  impl_->queue_.back().static_name = name;
  return true;
}

bool Timeline::Complete(const std::string& tensor_name, const char* name, int peer,
                        TimePoint begin, TimePoint end, int tid) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  int64_t ts = std::max<int64_t>(0, Micros(begin - impl_->origin_));
  int64_t dur = std::max<int64_t>(0, Micros(end - impl_->origin_) - ts);
  impl_->queue_.push_back(Record{'X', tid, ts, tensor_name, std::string(), dur, std::string(),
                                 name, peer});
  return true;
}

bool Timeline::Instant(const std::string& tensor_name, const char* name, int peer, int tid,
                       const std::string& args) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  impl_->PushLocked('i', tid, tensor_name, std::string(), args);
  impl_->queue_.back().static_name = name;
  impl_->queue_.back().name_peer = peer;
  return true;
}

bool Timeline::RecordAll(const std::string& tensor_name, const std::vector<Event>& events) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  for (const Event& e : events) {
    int64_t ts = std::max<int64_t>(0, Micros(e.begin - impl_->origin_));
    int64_t dur = e.phase == 'X' ? std::max<int64_t>(0, Micros(e.end - impl_->origin_) - ts) : 0;
    impl_->queue_.push_back(Record{e.phase, e.tid, ts, tensor_name, e.name ? std::string() : e.text,
                                   dur, std::string(), e.name, e.peer});
  }
  return true;
}

bool Timeline::Metadata(const std::string& name, const std::string& args) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  impl_->PushLocked('M', kEngineTid, std::string(), name, args);
  return true;
}

bool Timeline::BeginActivity(const std::string& tensor_name, const std::string& activity) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  int tid = impl_->TidLocked();
  impl_->open_[tensor_name].push_back(tid);
  impl_->PushLocked('B', tid, tensor_name, activity);
  return true;
}

bool Timeline::EndActivity(const std::string& tensor_name) {
  if (!enabled()) return false;
  std::lock_guard<std::mutex> lock(impl_->mu_);
  if (!enabled()) return false;
  int tid = impl_->UserTidToCloseLocked(tensor_name);
  if (tid < 0) return false;
  impl_->PopOpenLocked(tensor_name, tid);
  impl_->PushLocked('E', tid, tensor_name, std::string());
  return true;
}

int Timeline::ThreadTid() {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->TidLocked();
}

}  // namespace bluefog
