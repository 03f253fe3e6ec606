#include <gtest/gtest.h>

#include "peers.h"

namespace bluefog {
namespace {

using State = PeerTable::State;

PeerTable ThreePeers() {
  PeerTable peers;
  peers.Reset({100, 101, 102}, {"a", "b", ""});
  return peers;
}

TEST(PeerTable, StartsAlive) {
  PeerTable peers = ThreePeers();
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(peers.state(r), State::kAlive);
    EXPECT_TRUE(peers.reachable(r));
    EXPECT_FALSE(peers.lost(r));
  }
  EXPECT_FALSE(peers.any_lost());
}

TEST(PeerTable, NamesRankPidAndHost) {
  PeerTable peers = ThreePeers();
  EXPECT_EQ(peers.Name(1), "rank 1 (pid 101 on b)");
  EXPECT_EQ(peers.Name(2), "rank 2 (pid 102)");  // host unknown
}

TEST(PeerTable, ShutdownGoesThroughClosingToGone) {
  PeerTable peers = ThreePeers();
  EXPECT_TRUE(peers.MarkClosing(1));
  EXPECT_EQ(peers.state(1), State::kClosing);
  EXPECT_TRUE(peers.reachable(1));  // it still finishes what it posted
  EXPECT_NE(peers.Why(1).find("is shutting down"), std::string::npos);
  EXPECT_TRUE(peers.MarkGone(1));
  EXPECT_FALSE(peers.reachable(1));
  EXPECT_FALSE(peers.lost(1));  // a normal end: MPI_Finalize is still fine
  EXPECT_NE(peers.Why(1).find("has shut down"), std::string::npos);
  EXPECT_FALSE(peers.any_lost());
}

TEST(PeerTable, FailedKeepsItsReason) {
  PeerTable peers = ThreePeers();
  EXPECT_TRUE(peers.MarkFailed(0, "its script raised ValueError: boom"));
  EXPECT_TRUE(peers.lost(0));
  EXPECT_TRUE(peers.any_lost());
  EXPECT_EQ(peers.Why(0), "rank 0 (pid 100 on a) failed: its script raised ValueError: boom");
}

TEST(PeerTable, StatesOnlyMoveForward) {
  PeerTable peers = ThreePeers();
  EXPECT_TRUE(peers.MarkDead(2));
  // A dead rank's late notices change nothing.
  EXPECT_FALSE(peers.MarkGone(2));
  EXPECT_FALSE(peers.MarkClosing(2));
  EXPECT_FALSE(peers.MarkFailed(2, "late"));
  EXPECT_EQ(peers.state(2), State::kDead);
  EXPECT_EQ(peers.Why(2), "rank 2 (pid 102) has died");
  // A failed rank that then dies is dead.
  EXPECT_TRUE(peers.MarkFailed(1, "x"));
  EXPECT_TRUE(peers.MarkDead(1));
  EXPECT_FALSE(peers.MarkClosing(0) && peers.MarkClosing(0));  // twice: second is a no-op
}

TEST(PeerTable, SinceMarksTheChange) {
  PeerTable peers = ThreePeers();
  auto before = PeerTable::Clock::now();
  peers.MarkGone(1);
  EXPECT_GE(peers.since(1), before);
  EXPECT_LE(peers.since(1), PeerTable::Clock::now());
}

}  // namespace
}  // namespace bluefog
