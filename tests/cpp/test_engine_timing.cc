// When things happen, on real engines over the loopback fabric: a barrier
// waits for its last rank, messages for an op a rank has not posted yet wait
// for it, and an op that changes payload memory before its send completed
// is caught by the fabric.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "bluefog/core/collectives.h"
#include "loopback_world.h"

namespace bluefog {
namespace {

class EngineTiming : public LoopbackTest {};

TEST_P(EngineTiming, BarrierCompletesOnlyAfterEveryRankPosted) {
  const int n = size();
  const int rounds = 3;
  for (uint64_t seed : kSeeds) {
    std::vector<std::atomic<int>> posted(rounds);  // ranks that posted each round
    LoopbackWorld world(n, seed);
    world.Run([&](int rank, Engine& engine) {
      for (int round = 0; round < rounds; ++round) {
        if (rank == static_cast<int>(seed + round) % n)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ++posted[round];
        ExpectOk(Barrier(engine), rank);
        EXPECT_EQ(posted[round].load(), n) << "round " << round << " finished early";
      }
    });
  }
}

std::vector<char> Pattern(int rank, size_t bytes) {
  std::vector<char> v(bytes);
  for (size_t i = 0; i < bytes; ++i) v[i] = static_cast<char>(rank * 41 + i * 7 + i / 997);
  return v;
}

// Sends its rank's pattern to every other rank (header step: its rank) and
// finishes once it has one message from each; logs whatever reaches it
// before Start, twice or other than sent.
class RecordingOp : public Op {
 public:
  RecordingOp(OpIdentity id, int rank, int n, size_t bytes, std::vector<std::string>* log)
      : Op(std::move(id)), rank_(rank), n_(n), bytes_(bytes), log_(log) {}

  void Start(OpContext& ctx) override {
    started_ = true;
    payload_ = Pattern(rank_, bytes_);
    for (int r = 0; r < n_; ++r)
      if (r != rank_) ctx.Send(r, MakeHeader(rank_), payload_.data(), payload_.size());
    MaybeFinish();
  }

  void OnData(OpContext&, Arrival& a) override {
    const std::string from = "message from rank " + std::to_string(a.src);
    if (!started_) log_->push_back(from + " delivered before Start");
    if (a.header.step != a.src) log_->push_back(from + " has the wrong step");
    if (std::vector<char>(a.data, a.data + a.bytes) != Pattern(a.src, bytes_))
      log_->push_back(from + " has the wrong payload");
    if (!heard_.insert(a.src).second) log_->push_back(from + " delivered twice");
    MaybeFinish();
  }

  std::vector<int> Participants() const override { return AllRanks(n_); }
  std::vector<int> WaitingOn() const override {
    std::vector<int> waiting;
    for (int r = 0; r < n_; ++r)
      if (r != rank_ && !heard_.count(r)) waiting.push_back(r);
    return waiting;
  }

 private:
  void MaybeFinish() {
    if (static_cast<int>(heard_.size()) == n_ - 1) Finish();
  }

  int rank_, n_;
  size_t bytes_;
  std::vector<std::string>* log_;
  bool started_ = false;
  std::vector<char> payload_;
  std::set<int> heard_;
};

// The late rank posts each op only once every peer's message for it has
// reached its engine: those (and separate payloads still landing) are held
// and handed over after Start.
TEST_P(EngineTiming, HoldsMessagesUntilTheOpIsPosted) {
  const int n = size();
  const std::vector<size_t> sizes = {0, 100, 40000};  // empty, inline, separate payload
  for (uint64_t seed : kSeeds) {
    const int late = static_cast<int>(seed) % n;
    LoopbackWorld world(n, seed);
    world.Run([&](int rank, Engine& engine) {
      for (size_t k = 0; k < sizes.size(); ++k) {
        if (rank == late) {
          // Nothing but these ops sends to it: one message per peer and op.
          bool all_arrived = WaitUntil([&] {
            MessageCounts counts = engine.Counts();
            for (int p = 0; p < n; ++p)
              if (p != rank && counts.logical_from[p] < k + 1) return false;
            return true;
          });
          ASSERT_TRUE(all_arrived) << "the peers' messages for op " << k << " never came";
        }
        std::vector<std::string> log;
        ExpectOk(RunOp(engine, OpType::kBarrier, "recording." + std::to_string(k),
                       [&](OpIdentity id) {
                         return std::make_unique<RecordingOp>(std::move(id), rank, n, sizes[k],
                                                              &log);
                       }),
                 rank);
        for (const std::string& problem : log) ADD_FAILURE() << problem;
      }
    });
  }
}

// Rank 0 sends its buffer to rank 1 and overwrites it right after the send
// (the bug) or in Conclude, once the send completed (allowed).
class ScribblingOp : public Op {
 public:
  ScribblingOp(OpIdentity id, int rank, size_t bytes, bool too_early, std::string* received)
      : Op(std::move(id)), rank_(rank), buffer_(bytes, 'a'), too_early_(too_early),
        received_(received) {}

  void Start(OpContext& ctx) override {
    if (rank_ != 0) return;
    ctx.Send(1, MakeHeader(0), buffer_.data(), buffer_.size());
    if (too_early_) Scribble();
    Finish();
  }
  void Conclude(OpContext&) override {
    if (rank_ == 0 && !too_early_) Scribble();
  }
  void OnData(OpContext&, Arrival& a) override {
    received_->assign(a.data, a.data + a.bytes);
    Finish();
  }
  std::vector<int> Participants() const override { return {0, 1}; }
  std::vector<int> WaitingOn() const override {
    if (rank_ == 1 && !finished()) return {0};
    return {};
  }

 private:
  void Scribble() { std::fill(buffer_.begin(), buffer_.end(), 'b'); }

  int rank_;
  std::string buffer_;
  bool too_early_;
  std::string* received_;
};

TEST(EngineTimingChecks, EarlyPayloadReuseIsCaught) {
  for (Delivery delivery : {Delivery::kEager, Delivery::kRendezvous})
    for (size_t bytes : {size_t(10), size_t(100000)})
      for (bool too_early : {false, true}) {
        const bool rendezvous = delivery == Delivery::kRendezvous;
        SCOPED_TRACE(std::to_string(bytes) + " bytes, " + (rendezvous ? "rendezvous" : "eager") +
                     (too_early ? ", overwritten right after the send" : ", in Conclude"));
        std::string received;
        LoopbackWorld world(MakeLoopbackOptions(2, 3, delivery));
        world.Run([&](int rank, Engine& engine) {
          ExpectOk(RunOp(engine, OpType::kBarrier, "scribble",
                         [&](OpIdentity id) {
                           return std::make_unique<ScribblingOp>(std::move(id), rank, bytes,
                                                                 too_early, &received);
                         }),
                   rank);
        });
        std::vector<std::string> violations = world.fabric().TakeViolations();
        // The engine copies payloads that travel inline at once.
        const bool caught = too_early && bytes > 16 * 1024;
        if (!caught) {
          EXPECT_TRUE(violations.empty()) << violations[0];
          EXPECT_EQ(received, std::string(bytes, 'a'));
          continue;
        }
        ASSERT_EQ(violations.size(), 1u);
        EXPECT_NE(violations[0].find("rank 0 changed the memory of its 100000-byte payload "
                                     "send to rank 1 before the send completed"),
                  std::string::npos)
            << violations[0];
        // Read at delivery, the receiver even gets the overwritten bytes.
        EXPECT_EQ(received, std::string(bytes, rendezvous ? 'b' : 'a'));
      }
}

BLUEFOG_LOOPBACK_RANKS(EngineTiming);

}  // namespace
}  // namespace bluefog
