// The loopback transport's own promises, which the engine tests rely on.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "bluefog/core/loopback_transport.h"

namespace bluefog {
namespace {

using Clock = std::chrono::steady_clock;

LoopbackOptions PairOptions(uint64_t seed, size_t eager_limit = 4096) {
  LoopbackOptions options;
  options.size = 2;
  options.seed = seed;
  options.eager_limit = eager_limit;
  return options;
}

struct Pair {
  explicit Pair(uint64_t seed, size_t eager_limit = 4096)
      : Pair(PairOptions(seed, eager_limit)) {}
  explicit Pair(const LoopbackOptions& options) {
    fabric = std::make_shared<LoopbackFabric>(options);
    a = std::make_unique<LoopbackTransport>(fabric, 0);
    b = std::make_unique<LoopbackTransport>(fabric, 1);
    WorldInfo world;
    EXPECT_TRUE(a->Init(Config(), &world).ok());
    EXPECT_TRUE(b->Init(Config(), &world).ok());
  }
  std::shared_ptr<LoopbackFabric> fabric;
  std::unique_ptr<LoopbackTransport> a, b;
};

bool WaitDone(Transport& t, Transport::RequestId id) {
  std::string error;
  auto end = Clock::now() + std::chrono::seconds(5);
  while (Clock::now() < end)
    if (t.Test(id, &error)) return error.empty();
  return false;
}

TEST(LoopbackTransport, HeadersOfAPairKeepTheirOrder) {
  for (uint64_t seed : {1, 2, 3}) {
    Pair p(seed);
    for (char c = 0; c < 50; ++c) p.a->SendHeader(1, {c});
    std::vector<char> bytes;
    int src = -1;
    std::string error;
    for (char c = 0; c < 50; ++c) {
      while (!p.b->TakeHeader(&src, &bytes, &error)) std::this_thread::yield();
      EXPECT_EQ(src, 0);
      ASSERT_EQ(bytes, std::vector<char>{c}) << "seed " << seed;
    }
  }
}

TEST(LoopbackTransport, SomeLargeSendsReadTheBufferOnlyAtDelivery) {
  int late_reads = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Pair p(seed, 0);
    std::vector<char> out(64, 'x'), in(64, 0);
    int tag = p.a->ReservePayloadTag(1, out.size());
    auto send = p.a->SendPayload(1, tag, out.data(), out.size());
    out.assign(64, 'y');  // too early: only a rendezvous send sees it
    auto receive = p.b->ReceivePayload(0, tag, in.data(), in.size());
    ASSERT_TRUE(WaitDone(*p.b, receive));
    ASSERT_TRUE(WaitDone(*p.a, send));
    late_reads += in[0] == 'y';
  }
  EXPECT_GT(late_reads, 0);
  EXPECT_LT(late_reads, 20);
}

// Whether the payload is read at send or at delivery, a change before the
// send completed is reported; the receiver sees it only when read late.
TEST(LoopbackTransport, ChangingAPayloadBeforeItsSendCompletedIsAViolation) {
  for (double share : {0.0, 1.0}) {
    for (bool change : {false, true}) {
      LoopbackOptions options = PairOptions(1, 0);
      options.rendezvous_share = share;
      Pair p(options);
      std::vector<char> out(64, 'x'), in(64, 0);
      int tag = p.a->ReservePayloadTag(1, out.size());
      auto send = p.a->SendPayload(1, tag, out.data(), out.size());
      if (change) out[10] = 'y';
      auto receive = p.b->ReceivePayload(0, tag, in.data(), in.size());
      ASSERT_TRUE(WaitDone(*p.b, receive));
      ASSERT_TRUE(WaitDone(*p.a, send));
      std::vector<std::string> violations = p.fabric->TakeViolations();
      EXPECT_EQ(in[10], change && share == 1.0 ? 'y' : 'x') << "share " << share;
      if (!change) {
        EXPECT_TRUE(violations.empty()) << violations[0];
        continue;
      }
      ASSERT_EQ(violations.size(), 1u) << "share " << share;
      EXPECT_NE(violations[0].find("rank 0 changed the memory of its 64-byte payload send "
                                   "to rank 1"),
                std::string::npos)
          << violations[0];
      EXPECT_TRUE(p.fabric->TakeViolations().empty());
    }
  }
}

TEST(LoopbackTransport, CompletionLagHoldsSendsBackAfterDelivery) {
  LoopbackOptions options = PairOptions(2, 0);
  options.completion_lag = std::chrono::milliseconds(30);
  for (double share : {0.0, 1.0}) {
    options.rendezvous_share = share;
    Pair p(options);
    std::vector<char> out(64, 'x'), in(64, 0);
    auto sent_at = Clock::now();
    auto send = p.a->SendPayload(1, 16, out.data(), out.size());
    auto receive = p.b->ReceivePayload(0, 16, in.data(), in.size());
    ASSERT_TRUE(WaitDone(*p.b, receive));
    ASSERT_TRUE(WaitDone(*p.a, send));
    EXPECT_GE(Clock::now() - sent_at, options.completion_lag) << "share " << share;
    EXPECT_EQ(in, out);
  }
}

TEST(LoopbackTransport, AnAbandonedReceiveIsNeverWritten) {
  Pair p(1);
  std::vector<char> in(8, 0), out(8, 'z');
  auto receive = p.b->ReceivePayload(0, 16, in.data(), in.size());
  p.b->Abandon(receive);
  auto send = p.a->SendPayload(1, 16, out.data(), out.size());
  std::string error;
  auto end = Clock::now() + std::chrono::milliseconds(20);
  while (Clock::now() < end) p.a->Test(send, &error);
  EXPECT_EQ(in, std::vector<char>(8, 0));
}

TEST(LoopbackTransport, EmulatedMachinesGiveLocalRanksAndHosts) {
  LoopbackOptions options;
  options.size = 4;
  options.local_size = 2;
  auto fabric = std::make_shared<LoopbackFabric>(options);
  LoopbackTransport t(fabric, 3);
  WorldInfo world;
  ASSERT_TRUE(t.Init(Config(), &world).ok());
  EXPECT_EQ(world.local_rank, 1);
  EXPECT_EQ(world.local_ranks, (std::vector<int>{2, 3}));
  EXPECT_FALSE(t.same_host(0));
  EXPECT_TRUE(t.same_host(2));
  options.local_size = 3;
  LoopbackTransport bad(std::make_shared<LoopbackFabric>(options), 0);
  EXPECT_FALSE(bad.Init(Config(), &world).ok());
}

}  // namespace
}  // namespace bluefog
