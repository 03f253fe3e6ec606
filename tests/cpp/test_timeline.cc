// The timeline recorder: layout (a row per tensor, tids per thread),
// ordering, nesting, many threads, flush and stop, and a file that parses
// while it is being written.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bluefog/core/status.h"
#include "bluefog/core/timeline.h"
#include "json_reader.h"

namespace bluefog {
namespace {

using testing::Json;

std::string TempPath(const std::string& leaf) {
  std::string dir = ::testing::TempDir();
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return dir + leaf + "_" + std::to_string(::getpid()) + ".json";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct Event {
  std::string ph, name, tensor;
  int64_t ts;
  int pid, tid;
};

// A parsed timeline file.
struct View {
  Json clock;
  std::map<int, std::string> tensor_of_pid;
  std::map<std::pair<int, int>, std::string> thread_names;
  std::vector<Event> events;  // B/E/i in file order

  std::vector<Event> For(const std::string& tensor) const {
    std::vector<Event> out;
    for (const Event& e : events)
      if (e.tensor == tensor) out.push_back(e);
    return out;
  }
};

View Parse(const std::string& text) {
  Json all = testing::ParseOpenArray(text);
  View view;
  EXPECT_FALSE(all.items.empty());
  if (all.items.empty()) return view;
  view.clock = all.items[0];
  for (size_t k = 1; k < all.items.size(); ++k) {
    const Json& e = all.items[k];
    int pid = static_cast<int>(e.Int("pid")), tid = static_cast<int>(e.Int("tid"));
    if (e.Str("ph") == "M") {
      if (e.Str("name") == "process_name") {
        EXPECT_EQ(view.tensor_of_pid.count(pid), 0u) << "pid " << pid << " named twice";
        view.tensor_of_pid[pid] = e.At("args").Str("name");
      } else if (e.Str("name") == "thread_name") {
        view.thread_names[{pid, tid}] = e.At("args").Str("name");
      }
      continue;
    }
    EXPECT_EQ(view.tensor_of_pid.count(pid), 1u) << "event before its row's metadata";
    Event ev{e.Str("ph"), e.Find("name") ? e.Str("name") : "", view.tensor_of_pid[pid],
             e.Int("ts"), pid, tid};
    view.events.push_back(ev);
  }
  return view;
}

View ParseFile(const std::string& path) { return Parse(ReadAll(path)); }

// A timeline recording to a fresh file for the test; removed afterwards.
class TimelineRecording : public ::testing::Test {
 protected:
  void SetUp() override {
    path = TempPath(std::string("tl_") +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    timeline.Start(path, 0, 1);
  }
  void TearDown() override {
    timeline.Stop();
    std::remove(path.c_str());
  }

  std::string path;
  Timeline timeline;
};

TEST(Timeline, OffRecordsNothing) {
  Timeline timeline;
  EXPECT_FALSE(timeline.enabled());
  EXPECT_FALSE(timeline.BeginActivity("x", "A"));
  EXPECT_FALSE(timeline.EndActivity("x"));
  EXPECT_FALSE(timeline.Begin("x", "A", Timeline::kEngineTid));
  EXPECT_FALSE(timeline.Instant("x", "note", Timeline::kEngineTid));
  timeline.Flush();
  timeline.Stop();
}

TEST(Timeline, StartWritesTheClockLineAtOnce) {
  std::string path = TempPath("tl_clock");
  Timeline timeline;
  int64_t before_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  timeline.Start(path, 2, 5);
  EXPECT_TRUE(timeline.enabled());
  std::string text = ReadAll(path);  // no flush: Start wrote it
  EXPECT_EQ(text.substr(0, 2), "[\n");
  View view = Parse(text);
  EXPECT_EQ(view.clock.Str("name"), "bluefog_clock");
  const Json& args = view.clock.At("args");
  EXPECT_EQ(args.Int("rank"), 2);
  EXPECT_EQ(args.Int("size"), 5);
  EXPECT_GT(args.Int("steady_origin_us"), 0);
  EXPECT_GE(args.Int("system_origin_us"), before_us);
  EXPECT_LT(args.Int("system_origin_us"), before_us + 60 * 1000 * 1000);
  EXPECT_FALSE(args.Str("hostname").empty());
  timeline.Stop();
  std::remove(path.c_str());
}

TEST_F(TimelineRecording, RowsPerTensorTidsPerThreadAndOrder) {
  EXPECT_TRUE(timeline.BeginActivity("x", "FAKE_ACTIVITY"));
  EXPECT_TRUE(timeline.Begin("y", "MPI_ALLREDUCE", Timeline::kEngineTid));
  EXPECT_TRUE(timeline.Instant("y", "queued", Timeline::kEngineTid));
  EXPECT_TRUE(timeline.End("y", Timeline::kEngineTid));
  EXPECT_TRUE(timeline.EndActivity("x"));
  timeline.Stop();
  std::string text = ReadAll(path);
  View view = Parse(text);
  EXPECT_EQ(view.tensor_of_pid, (std::map<int, std::string>{{1, "x"}, {2, "y"}}));
  ASSERT_EQ(view.events.size(), 5u);
  std::vector<std::string> order;
  for (const Event& e : view.events) order.push_back(e.tensor + ":" + e.ph + ":" + e.name);
  EXPECT_EQ(order, (std::vector<std::string>{"x:B:FAKE_ACTIVITY", "y:B:MPI_ALLREDUCE",
                                             "y:i:queued", "y:E:", "x:E:"}));
  for (size_t k = 1; k < view.events.size(); ++k)
    EXPECT_LE(view.events[k - 1].ts, view.events[k].ts);
  EXPECT_EQ(view.events[0].tid, 1);
  EXPECT_EQ(view.events[1].tid, Timeline::kEngineTid);
  EXPECT_EQ(view.events[4].tid, 1);
  EXPECT_EQ(view.thread_names.at({1, 1}), "thread 1");
  EXPECT_EQ(view.thread_names.at({2, Timeline::kEngineTid}), "engine");
  // The text form 0.3 users' tools read.
  EXPECT_NE(text.find("{\"ph\": \"B\", \"name\": \"FAKE_ACTIVITY\", \"ts\": "), std::string::npos);
  EXPECT_NE(text.find(", \"pid\": 1, \"tid\": 1},\n"), std::string::npos);
}

TEST_F(TimelineRecording, CompleteEventsInstantsWithArgsAndMetadata) {
  auto begin = std::chrono::steady_clock::now();
  auto end = begin + std::chrono::milliseconds(7);
  EXPECT_TRUE(timeline.Complete("op", "WAIT_FOR_RANK_3", begin, end, Timeline::PeerTid(3)));
  EXPECT_TRUE(timeline.Instant("op", "FUSED_FRAME_TO_RANK_3", Timeline::PeerTid(3),
                               "{\"messages\": 2}"));
  EXPECT_TRUE(timeline.Metadata("bluefog_clock_offset", "{\"offset_us\": 5}"));
  timeline.Stop();
  Json all = testing::ParseOpenArray(ReadAll(path));
  View view = ParseFile(path);
  EXPECT_EQ(view.tensor_of_pid, (std::map<int, std::string>{{1, "op"}}));  // metadata: no row
  EXPECT_EQ(view.thread_names.at({1, Timeline::PeerTid(3)}), "rank 3");
  const Json* wait = nullptr;
  const Json* offset = nullptr;
  for (const Json& e : all.items) {
    if (e.Find("name") && e.Str("name") == "WAIT_FOR_RANK_3") wait = &e;
    if (e.Find("name") && e.Str("name") == "bluefog_clock_offset") offset = &e;
  }
  ASSERT_TRUE(wait && offset);
  EXPECT_EQ(wait->Str("ph"), "X");
  EXPECT_EQ(wait->Int("dur"), 7000);
  EXPECT_GE(wait->Int("ts"), 0);
  EXPECT_EQ(offset->At("args").Int("offset_us"), 5);
  EXPECT_EQ(view.events.back().name, "FUSED_FRAME_TO_RANK_3");
}

TEST_F(TimelineRecording, ActivitiesNestAndUnmatchedEndsRecordNothing) {
  EXPECT_FALSE(timeline.EndActivity("x"));  // nothing open
  EXPECT_TRUE(timeline.BeginActivity("x", "OUTER"));
  EXPECT_TRUE(timeline.BeginActivity("x", "INNER"));
  EXPECT_FALSE(timeline.End("x", Timeline::kEngineTid));  // the engine opened nothing there
  EXPECT_TRUE(timeline.EndActivity("x"));
  EXPECT_TRUE(timeline.EndActivity("x"));
  EXPECT_FALSE(timeline.EndActivity("x"));
  timeline.Stop();
  View view = ParseFile(path);
  std::vector<std::string> phases;
  for (const Event& e : view.events) phases.push_back(e.ph + e.name);
  EXPECT_EQ(phases, (std::vector<std::string>{"BOUTER", "BINNER", "E", "E"}));
}

TEST_F(TimelineRecording, AnotherThreadCanEndAnActivityUnderItsOpenersTid) {
  EXPECT_TRUE(timeline.BeginActivity("w", "HOOK"));  // main thread: tid 1
  bool ended = false;
  std::thread other([&] { ended = timeline.EndActivity("w"); });
  other.join();
  EXPECT_TRUE(ended);
  EXPECT_FALSE(timeline.EndActivity("w"));
  timeline.Stop();
  View view = ParseFile(path);
  ASSERT_EQ(view.events.size(), 2u);
  EXPECT_EQ(view.events[1].ph, "E");
  EXPECT_EQ(view.events[1].tid, 1);
}

TEST_F(TimelineRecording, ThreadsGetTidsInOrderOfFirstUse) {
  // One after the other: a finished thread's std::thread::id is often
  // reused by the next, yet each thread must get its own tid.
  for (int k = 0; k < 3; ++k) {
    std::thread t([&, k] {
      std::string tensor = "t" + std::to_string(k);
      EXPECT_TRUE(timeline.BeginActivity(tensor, "WORK"));
      EXPECT_TRUE(timeline.EndActivity(tensor));
      EXPECT_EQ(timeline.ThreadTid(), k + 1);
    });
    t.join();
  }
  EXPECT_EQ(timeline.ThreadTid(), 4);  // the main thread comes fourth
  timeline.Stop();
  View view = ParseFile(path);
  for (int k = 0; k < 3; ++k)
    for (const Event& e : view.For("t" + std::to_string(k))) EXPECT_EQ(e.tid, k + 1);
  // A new Start counts again from 1.
  timeline.Start(path, 0, 1);
  EXPECT_EQ(timeline.ThreadTid(), 1);
  timeline.Stop();
}

TEST_F(TimelineRecording, NamesNeedingEscapesSurviveTheRoundTrip) {
  const std::vector<std::string> names = {
      "quote\"d", "back\\slash", "new\nline", "tab\tand\x01", "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80",
      "", "trailing\\"};
  for (const std::string& name : names) {
    EXPECT_TRUE(timeline.BeginActivity(name, "ACT " + name));
    EXPECT_TRUE(timeline.EndActivity(name));
  }
  timeline.Stop();
  View view = ParseFile(path);
  ASSERT_EQ(view.tensor_of_pid.size(), names.size());
  for (size_t k = 0; k < names.size(); ++k) {
    EXPECT_EQ(view.tensor_of_pid.at(static_cast<int>(k) + 1), names[k]);
    std::vector<Event> events = view.For(names[k]);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].name, "ACT " + names[k]);
  }
}

TEST_F(TimelineRecording, ManyThreadsRecordEveryEventWellNested) {
  constexpr int kThreads = 8, kPairs = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int k = 0; k < kPairs; ++k) {
        const std::string tensor = k % 2 ? "shared" : "own" + std::to_string(t);
        ASSERT_TRUE(timeline.BeginActivity(tensor, "STEP"));
        ASSERT_TRUE(timeline.BeginActivity(tensor, "INNER"));
        ASSERT_TRUE(timeline.EndActivity(tensor));
        ASSERT_TRUE(timeline.EndActivity(tensor));
      }
    });
  }
  for (auto& t : threads) t.join();
  timeline.Stop();
  View view = ParseFile(path);
  EXPECT_EQ(view.events.size(), size_t(kThreads) * kPairs * 4);
  std::map<std::pair<int, int>, int> depth;   // (pid, tid) -> open slices
  std::map<int, int64_t> last_ts;             // tid -> last ts
  std::map<int, int> count_per_tid;
  for (const Event& e : view.events) {
    int& d = depth[{e.pid, e.tid}];
    d += e.ph == "B" ? 1 : -1;
    ASSERT_GE(d, 0) << "an E without its B on pid " << e.pid << " tid " << e.tid;
    ASSERT_LE(d, 2);
    EXPECT_GE(e.ts, last_ts[e.tid]);
    last_ts[e.tid] = e.ts;
    count_per_tid[e.tid]++;
  }
  for (const auto& d : depth) EXPECT_EQ(d.second, 0);
  ASSERT_EQ(count_per_tid.size(), size_t(kThreads));
  for (const auto& c : count_per_tid) {
    EXPECT_GE(c.first, 1);
    EXPECT_LE(c.first, kThreads);
    EXPECT_EQ(c.second, kPairs * 4);
  }
}

TEST_F(TimelineRecording, EventsReachTheFileWithoutFlush) {
  timeline.BeginActivity("live", "VISIBLE_SOON");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    seen = !ParseFile(path).For("live").empty();
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << "the writer thread did not write the event within 5 s";
  timeline.Stop();
}

TEST_F(TimelineRecording, FlushWritesEverythingRecordedBeforeIt) {
  for (int k = 0; k < 500; ++k) {
    timeline.BeginActivity("f", "A" + std::to_string(k));
    timeline.EndActivity("f");
  }
  timeline.Flush();
  View view = ParseFile(path);  // at once, no waiting
  EXPECT_EQ(view.For("f").size(), 1000u);
  EXPECT_EQ(view.For("f").back().ph, "E");
  timeline.Stop();
}

TEST_F(TimelineRecording, StopWritesEverythingThenRecordsNothing) {
  EXPECT_THROW(timeline.Start(path, 0, 1), Error);
  timeline.BeginActivity("s", "LAST");
  timeline.EndActivity("s");
  timeline.Stop();
  EXPECT_FALSE(timeline.enabled());
  EXPECT_FALSE(timeline.BeginActivity("s", "AFTER"));
  timeline.Stop();  // idempotent
  timeline.Flush();
  View view = ParseFile(path);
  ASSERT_EQ(view.For("s").size(), 2u);
  EXPECT_EQ(view.For("s")[0].name, "LAST");
}

// The writers flush often, so that the file grows by many writes of lines
// crossing page boundaries; the reader checks every read's end and parses
// every few reads in full.
TEST_F(TimelineRecording, FileParsesAtAnyMomentWhileWritten) {
  constexpr int kWriters = 2, kIterations = 6000;
  std::atomic<int> running{kWriters};
  std::atomic<int> reads{0};
  std::vector<int> iterations(kWriters);
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      std::string base(100 + 150 * t, 'n');
      // At least kIterations, and on until the reader has read often.
      int k = 0;
      for (; k < kIterations || (reads < 300 && k < 10 * kIterations); ++k) {
        std::string tensor = base + std::to_string(k % 50);
        timeline.BeginActivity(tensor, "A\"\\\n" + std::string(k % 300, 'a'));
        timeline.EndActivity(tensor);
        if (k % 4 == 0) timeline.Flush();
      }
      iterations[t] = k;
      running--;
    });
  }
  while (running > 0) {
    std::string text = ReadAll(path);
    size_t end = text.find_last_not_of(" \n");
    ASSERT_NE(end, std::string::npos);
    bool whole = text.compare(0, end + 1, "[") == 0 ||
                 (end >= 1 && text.compare(end - 1, 2, "},") == 0 && text[end + 1] == '\n');
    ASSERT_TRUE(whole) << "a reader saw a file of " << text.size()
                       << " bytes ending inside an event: ..." << text.substr(end > 80 ? end - 80 : 0);
    if (reads++ % 100 == 0) testing::ParseOpenArray(text);
  }
  for (auto& t : writers) t.join();
  timeline.Stop();
  EXPECT_GT(reads, 5);
  View view = ParseFile(path);
  EXPECT_EQ(view.events.size(), size_t(iterations[0] + iterations[1]) * 2);
}

TEST(Timeline, GlobalIsOneInstance) {
  EXPECT_EQ(&Timeline::Global(), &Timeline::Global());
  EXPECT_FALSE(Timeline::Global().enabled());
}

}  // namespace
}  // namespace bluefog
