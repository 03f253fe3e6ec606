// The window's distributed mutex as its owner's engine keeps it.
#include <gtest/gtest.h>

#include <vector>

#include "bluefog/core/window.h"

namespace bluefog {
namespace {

class WindowMutex : public ::testing::Test {
 protected:
  WindowMutex() : window_("w", View(), {1, 2, 3}, true) {}
  TensorView View() {
    TensorView v;
    v.data = data_.data();
    v.shape = {static_cast<int64_t>(data_.size())};
    return v;
  }
  std::vector<float> data_ = std::vector<float>(4, 1.0f);
  Window window_;
};

Window::Waiter Op(int rank, const char* key, uint64_t instance = 0) {
  return {rank, key, instance};
}

TEST_F(WindowMutex, GrantsInArrivalOrder) {
  EXPECT_TRUE(window_.Lock(Op(1, "a")));
  EXPECT_FALSE(window_.Lock(Op(2, "b")));
  EXPECT_FALSE(window_.Lock(Op(3, "c")));
  Window::Waiter next;
  ASSERT_TRUE(window_.Unlock(Op(1, "a"), false, &next));
  EXPECT_EQ(next.rank, 2);
  ASSERT_TRUE(window_.Unlock(Op(2, "b"), false, &next));
  EXPECT_EQ(next.rank, 3);
  EXPECT_FALSE(window_.Unlock(Op(3, "c"), false, &next));
}

TEST_F(WindowMutex, ReleasingAGoneHolderGrantsTheNextWaiter) {
  EXPECT_TRUE(window_.Lock(Op(1, "a")));
  EXPECT_FALSE(window_.Lock(Op(2, "b", 7)));
  auto granted = window_.ReleaseRank(1);
  ASSERT_EQ(granted.size(), 1u);
  EXPECT_EQ(granted[0].rank, 2);
  EXPECT_EQ(granted[0].key, "b");
  EXPECT_EQ(granted[0].instance, 7u);
  // Rank 2 holds it now: rank 3 queues behind it.
  EXPECT_FALSE(window_.Lock(Op(3, "c")));
}

TEST_F(WindowMutex, ReleasingAGoneWaiterDropsItFromTheQueue) {
  EXPECT_TRUE(window_.Lock(Op(1, "a")));
  EXPECT_FALSE(window_.Lock(Op(2, "b")));
  EXPECT_FALSE(window_.Lock(Op(3, "c")));
  EXPECT_TRUE(window_.ReleaseRank(2).empty());  // rank 1 still holds it
  Window::Waiter next;
  ASSERT_TRUE(window_.Unlock(Op(1, "a"), false, &next));
  EXPECT_EQ(next.rank, 3);  // rank 2's request is gone
}

TEST_F(WindowMutex, ReleasingTheLastHolderLeavesItFree) {
  EXPECT_TRUE(window_.Lock(Op(1, "a")));
  EXPECT_TRUE(window_.ReleaseRank(1).empty());
  EXPECT_TRUE(window_.Lock(Op(2, "b")));
}

TEST_F(WindowMutex, MutexRanksAreTheHolderAndTheWaiters) {
  EXPECT_TRUE(window_.MutexRanks().empty());
  EXPECT_TRUE(window_.Lock(Op(3, "a")));
  EXPECT_FALSE(window_.Lock(Op(1, "b")));
  EXPECT_EQ(window_.MutexRanks(), (std::vector<int>{3, 1}));
}

TEST_F(WindowMutex, ReleasingAnUninvolvedRankChangesNothing) {
  EXPECT_TRUE(window_.Lock(Op(1, "a")));
  EXPECT_FALSE(window_.Lock(Op(2, "b")));
  EXPECT_TRUE(window_.ReleaseRank(3).empty());
  Window::Waiter next;
  ASSERT_TRUE(window_.Unlock(Op(1, "a"), false, &next));
  EXPECT_EQ(next.rank, 2);
}

}  // namespace
}  // namespace bluefog
