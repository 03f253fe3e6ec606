// Reusable memory. Touching fresh pages costs milliseconds per MiB on some
// machines, so buffers are recycled by power-of-two size class instead of
// being freed. Thread-safe: op outputs handed to users come back from
// whichever thread frees them.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace bluefog {

class BufferPool;

// Owns a pooled buffer; hands it back to the pool when destroyed.
class PooledBuffer {
 public:
  PooledBuffer() = default;
  PooledBuffer(BufferPool* pool, char* data, size_t capacity)
      : pool_(pool), data_(data), capacity_(capacity) {}
  PooledBuffer(PooledBuffer&& other) noexcept { *this = std::move(other); }
  PooledBuffer& operator=(PooledBuffer&& other) noexcept;
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  ~PooledBuffer() { Reset(); }

  char* data() const { return data_; }
  size_t capacity() const { return capacity_; }
  void Reset();

 private:
  BufferPool* pool_ = nullptr;
  char* data_ = nullptr;
  size_t capacity_ = 0;
};

class BufferPool {
 public:
  explicit BufferPool(size_t max_cached_bytes = size_t(1) << 30)
      : max_cached_bytes_(max_cached_bytes) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  PooledBuffer Acquire(size_t bytes);
  size_t cached_bytes() const;
  size_t allocations() const;

 private:
  friend class PooledBuffer;
  void Give(char* data, size_t capacity);

  mutable std::mutex mutex_;
  std::map<size_t, std::vector<char*>> free_;  // capacity -> buffers
  size_t cached_bytes_ = 0;
  size_t max_cached_bytes_;
  size_t allocations_ = 0;
};

}  // namespace bluefog
