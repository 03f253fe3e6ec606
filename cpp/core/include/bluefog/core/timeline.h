// The timeline recorder: begin/end ("B"/"E") and instant ("i") events, keyed
// by a tensor name, written in Chrome trace format (viewable in Perfetto or
// chrome://tracing) to one file per rank, `BLUEFOG_TIMELINE<rank>.json`.
//
// Layout (as BlueFog 0.3's): each tensor name is a "process" (pid 1, 2, ...
// in order of first use, named by process_name metadata), so that it is one
// row; inside it each recording thread is a "thread": user threads get tid
// 1, 2, ... in order of their first activity, the engine thread kEngineTid.
// The file's first event, "bluefog_clock", gives the rank and the clock
// origin of every "ts" (microseconds on the steady clock). docs/design.md
// shows a sample.
//
// Recording takes a lock and appends to a queue; it never waits for file
// I/O. A writer thread drains the queue every kDrainInterval, so events
// reach the file within about 50 ms, and the file parses at any moment (an
// open JSON array of comma-terminated lines; see timeline_file.h). When the
// timeline is off, every call is one relaxed atomic load.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace bluefog {

class Timeline {
 public:
  // The tid of the engine thread's events inside each tensor's row.
  static constexpr int kEngineTid = 0;
  // The tid of the engine's events about peer rank p (waiting for it, its
  // transfers, its window requests served) inside a tensor's row.
  static constexpr int kPeerTidBase = 100000;
  static int PeerTid(int rank) { return kPeerTidBase + rank; }
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::milliseconds kDrainInterval{50};

  // The process's timeline (started by api::init when BLUEFOG_TIMELINE is
  // set). Never destroyed, so that any thread may use it until exit.
  static Timeline& Global();

  Timeline();
  ~Timeline();  // Stop()
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Creates (truncates) `path`, writes the opening "[" and the clock line,
  // starts the writer thread, and turns recording on. Throws InvalidArgument
  // naming the path when the file cannot be created, Error when already on.
  void Start(const std::string& path, int rank, int size);
  // Writes everything recorded, closes the file, stops the writer thread.
  // Idempotent; Start may be called again afterwards (a new file).
  void Stop();
  // Writes everything recorded before the call, on the calling thread, and
  // returns when it is in the file. For paths about to end the process
  // (not async-signal-safe). Does nothing when off.
  void Flush();

  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  // Pauses (false) or resumes (true) recording while the file stays open,
  // for benchmarks that compare both in one process; call it between ops,
  // as spans open across a pause lose their end. Returns false (and does
  // nothing) when the timeline was not started.
  bool SetRecording(bool on);

  // Events under an explicit tid (the engine passes kEngineTid). Begin/End
  // pairs nest per (tensor_name, tid); End with nothing open there records
  // nothing. Each returns whether it recorded an event (false when off).
  bool Begin(const std::string& tensor_name, const std::string& activity, int tid);
  bool End(const std::string& tensor_name, int tid);
  // `args`, when not empty, is a JSON object's text ({"bytes": 8}) that the
  // event carries.
  bool Instant(const std::string& tensor_name, const std::string& text, int tid,
               const std::string& args = std::string());
  // A complete ("X") event: `name` from `begin` to `end` on the steady clock.
  bool Complete(const std::string& tensor_name, const std::string& name, TimePoint begin,
                TimePoint end, int tid, const std::string& args = std::string());
  // The engine's cheap forms: `name` lives as long as the program (a
  // literal or a static table) and is not copied; a `peer` >= 0 is appended
  // to it when the event is written ("WAIT_FOR_RANK_" and 3).
  bool Begin(const std::string& tensor_name, const char* name, int tid);
  bool Complete(const std::string& tensor_name, const char* name, int peer, TimePoint begin,
                TimePoint end, int tid);
  bool Instant(const std::string& tensor_name, const char* name, int peer, int tid,
               const std::string& args);
  // Events of one row recorded together under one lock, with the times
  // they happened (the engine writes an op's events once it completed, off
  // the op's path). B/E pairs are the caller's to balance.
  struct Event {
    char phase;            // 'B', 'E', 'X' or 'i'
    const char* name;      // static, as above; nullptr: `text`
    int peer;              // appended to `name` when >= 0
    TimePoint begin, end;  // 'X' spans both; the others happen at `begin`
    int tid;
    std::string text;      // a name built at run time ("FAILED: ...")
  };
  bool RecordAll(const std::string& tensor_name, const std::vector<Event>& events);
  // A metadata ("M") line outside any row, e.g. the clock offsets.
  bool Metadata(const std::string& name, const std::string& args);

  // User activities, under the calling thread's tid (ThreadTid()).
  // EndActivity closes the caller's innermost activity on `tensor_name`, or
  // else the innermost one another user thread opened there (its "E" then
  // carries that thread's tid, so the slice still closes in viewers).
  bool BeginActivity(const std::string& tensor_name, const std::string& activity);
  bool EndActivity(const std::string& tensor_name);
  // The calling thread's tid: 1, 2, ... in order of first call since Start.
  int ThreadTid();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> enabled_{false};
};

// Records `activity` under the calling thread's tid in `tensor_name`'s row
// while in scope; nothing when the timeline is off. `tensor_name` must
// outlive it.
class TimelineActivity {
 public:
  TimelineActivity(const std::string& tensor_name, const char* activity)
      : name_(tensor_name), on_(Timeline::Global().BeginActivity(tensor_name, activity)) {}
  ~TimelineActivity() {
    if (on_) Timeline::Global().EndActivity(name_);
  }
  TimelineActivity(const TimelineActivity&) = delete;
  TimelineActivity& operator=(const TimelineActivity&) = delete;

 private:
  const std::string& name_;
  bool on_;
};

}  // namespace bluefog
