// Tests for BufferPool / PooledBuffer: size classes, reuse, the cache cap and
// move semantics (a buffer goes back to the pool exactly once).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "bluefog/core/buffer_pool.h"

namespace bluefog {
namespace {

bool IsPowerOfTwo(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

TEST(BufferPool, CapacityIsPowerOfTwoClassAtLeast4096) {
  BufferPool pool;
  const size_t requests[] = {0,    1,    100,  4095,  4096,    4097,
                             8191, 8192, 8193, 65536, 1000000, (size_t(1) << 20) + 1};
  for (size_t n : requests) {
    PooledBuffer b = pool.Acquire(n);
    ASSERT_NE(b.data(), nullptr) << n;
    EXPECT_GE(b.capacity(), n);
    EXPECT_GE(b.capacity(), 4096u);
    EXPECT_TRUE(IsPowerOfTwo(b.capacity())) << b.capacity();
    // The smallest such class: half of it would not do (unless at 4096).
    if (b.capacity() > 4096) {
      EXPECT_LT(b.capacity() / 2, n);
    }
    // The memory is usable over its whole capacity.
    std::memset(b.data(), 0xAB, b.capacity());
  }
  EXPECT_EQ(pool.Acquire(4097).capacity(), 8192u);
  EXPECT_EQ(pool.Acquire(1).capacity(), 4096u);
  EXPECT_EQ(pool.Acquire(1 << 20).capacity(), size_t(1) << 20);
}

TEST(BufferPool, ReleasedBufferIsReusedForTheSameClass) {
  BufferPool pool;
  char* first = nullptr;
  {
    PooledBuffer b = pool.Acquire(5000);
    first = b.data();
    EXPECT_EQ(pool.allocations(), 1u);
    EXPECT_EQ(pool.cached_bytes(), 0u);
  }
  EXPECT_EQ(pool.cached_bytes(), 8192u);
  for (size_t n : {size_t(5000), size_t(4097), size_t(8192)}) {  // same class
    PooledBuffer b = pool.Acquire(n);
    EXPECT_EQ(b.data(), first) << n;
    EXPECT_EQ(b.capacity(), 8192u);
    EXPECT_EQ(pool.allocations(), 1u);
    EXPECT_EQ(pool.cached_bytes(), 0u);
  }
  // Another class does not take it.
  PooledBuffer small = pool.Acquire(10);
  EXPECT_EQ(pool.allocations(), 2u);
  EXPECT_EQ(pool.cached_bytes(), 8192u);
}

TEST(BufferPool, ManyRoundsDoNotAllocateAgain) {
  BufferPool pool;
  for (int round = 0; round < 100; ++round) {
    std::vector<PooledBuffer> held;
    for (size_t n : {size_t(1), size_t(5000), size_t(5000), size_t(70000)})
      held.push_back(pool.Acquire(n));
    std::set<char*> distinct;
    for (auto& b : held) distinct.insert(b.data());
    EXPECT_EQ(distinct.size(), held.size());  // live buffers never alias
  }
  EXPECT_EQ(pool.allocations(), 4u);
  EXPECT_EQ(pool.cached_bytes(), 4096u + 2 * 8192u + 131072u);
}

TEST(BufferPool, CachedBytesAccounting) {
  BufferPool pool;
  PooledBuffer a = pool.Acquire(4096);
  PooledBuffer b = pool.Acquire(4096);
  PooledBuffer c = pool.Acquire(100000);  // 131072
  EXPECT_EQ(pool.cached_bytes(), 0u);
  a.Reset();
  EXPECT_EQ(pool.cached_bytes(), 4096u);
  c.Reset();
  EXPECT_EQ(pool.cached_bytes(), 4096u + 131072u);
  b.Reset();
  EXPECT_EQ(pool.cached_bytes(), 2 * 4096u + 131072u);
  PooledBuffer d = pool.Acquire(1);
  EXPECT_EQ(pool.cached_bytes(), 4096u + 131072u);
  PooledBuffer e = pool.Acquire(131072);
  EXPECT_EQ(pool.cached_bytes(), 4096u);
  EXPECT_EQ(pool.allocations(), 3u);
}

TEST(BufferPool, CapFreesInsteadOfCaching) {
  BufferPool pool(/*max_cached_bytes=*/3 * 4096);
  std::vector<PooledBuffer> held;
  for (int i = 0; i < 5; ++i) held.push_back(pool.Acquire(100));
  EXPECT_EQ(pool.allocations(), 5u);
  held.clear();  // three fit under the cap, two are freed
  EXPECT_EQ(pool.cached_bytes(), 3 * 4096u);
  for (int i = 0; i < 5; ++i) held.push_back(pool.Acquire(100));
  EXPECT_EQ(pool.allocations(), 7u);  // three reused, two new
  EXPECT_EQ(pool.cached_bytes(), 0u);
  held.clear();

  // A buffer bigger than the whole cap is never cached.
  {
    PooledBuffer big = pool.Acquire(1 << 20);
  }
  EXPECT_LE(pool.cached_bytes(), 3 * 4096u);
  size_t before = pool.allocations();
  PooledBuffer big = pool.Acquire(1 << 20);
  EXPECT_EQ(pool.allocations(), before + 1);
}

TEST(BufferPool, ZeroCapNeverCaches) {
  BufferPool pool(0);
  for (int i = 0; i < 3; ++i) {
    PooledBuffer b = pool.Acquire(10);
    EXPECT_NE(b.data(), nullptr);
  }
  EXPECT_EQ(pool.cached_bytes(), 0u);
  EXPECT_EQ(pool.allocations(), 3u);
}

TEST(PooledBuffer, DefaultIsEmpty) {
  PooledBuffer b;
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.capacity(), 0u);
  b.Reset();  // harmless
  EXPECT_EQ(b.data(), nullptr);
}

TEST(PooledBuffer, MoveConstructionTransfersOwnership) {
  BufferPool pool;
  PooledBuffer a = pool.Acquire(100);
  char* p = a.data();
  PooledBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.capacity(), 4096u);
  a.Reset();  // the moved-from buffer gives nothing back
  EXPECT_EQ(pool.cached_bytes(), 0u);
  b.Reset();
  EXPECT_EQ(pool.cached_bytes(), 4096u);
  b.Reset();  // second reset: no double release
  EXPECT_EQ(pool.cached_bytes(), 4096u);
}

TEST(PooledBuffer, MoveAssignmentReleasesTheOldBuffer) {
  BufferPool pool;
  PooledBuffer a = pool.Acquire(100);    // 4096
  PooledBuffer b = pool.Acquire(10000);  // 16384
  char* pa = a.data();
  b = std::move(a);
  EXPECT_EQ(pool.cached_bytes(), 16384u);  // b's old buffer went back
  EXPECT_EQ(a.data(), nullptr);            // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.data(), pa);
  EXPECT_EQ(b.capacity(), 4096u);
  b = PooledBuffer();  // assigning empty releases
  EXPECT_EQ(pool.cached_bytes(), 16384u + 4096u);
  EXPECT_EQ(b.data(), nullptr);
}

TEST(PooledBuffer, SelfMoveAssignmentKeepsTheBuffer) {
  BufferPool pool;
  PooledBuffer a = pool.Acquire(100);
  char* p = a.data();
  PooledBuffer& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.data(), p);
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

TEST(PooledBuffer, MovesInsideContainersReleaseEachBufferOnce) {
  BufferPool pool;
  {
    std::vector<PooledBuffer> v;
    for (int i = 0; i < 50; ++i) v.push_back(pool.Acquire(100));  // reallocations move
    std::vector<PooledBuffer> w = std::move(v);
    w.erase(w.begin(), w.begin() + 10);
  }
  EXPECT_EQ(pool.allocations(), 50u);
  EXPECT_EQ(pool.cached_bytes(), 50 * 4096u);
  std::set<char*> seen;
  std::vector<PooledBuffer> again;
  for (int i = 0; i < 50; ++i) {
    again.push_back(pool.Acquire(100));
    EXPECT_TRUE(seen.insert(again.back().data()).second)
        << "the same buffer was cached twice";
  }
  EXPECT_EQ(pool.allocations(), 50u);
}

TEST(PooledBuffer, ResetGivesTheBufferBack) {
  BufferPool pool;
  PooledBuffer a = pool.Acquire(100);
  char* p = a.data();
  a.Reset();
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(pool.cached_bytes(), 4096u);
  PooledBuffer b = pool.Acquire(200);
  EXPECT_EQ(b.data(), p);
}

}  // namespace
}  // namespace bluefog
