#include "bluefog/core/buffer_pool.h"

#include <cstdlib>
#include <new>

namespace bluefog {
namespace {

size_t SizeClass(size_t bytes) {
  size_t capacity = 4096;
  while (capacity < bytes) capacity <<= 1;
  return capacity;
}

}  // namespace

PooledBuffer& PooledBuffer::operator=(PooledBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    pool_ = other.pool_;
    data_ = other.data_;
    capacity_ = other.capacity_;
    other.pool_ = nullptr;
    other.data_ = nullptr;
    other.capacity_ = 0;
  }
  return *this;
}

void PooledBuffer::Reset() {
  if (data_ != nullptr) pool_->Give(data_, capacity_);
  pool_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
}

BufferPool::~BufferPool() {
  for (auto& entry : free_)
    for (char* p : entry.second) std::free(p);
}

size_t BufferPool::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_bytes_;
}

size_t BufferPool::allocations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return allocations_;
}

PooledBuffer BufferPool::Acquire(size_t bytes) {
  size_t capacity = SizeClass(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = free_.find(capacity);
  if (it != free_.end() && !it->second.empty()) {
    char* data = it->second.back();
    it->second.pop_back();
    cached_bytes_ -= capacity;
    return PooledBuffer(this, data, capacity);
  }
  char* data = static_cast<char*>(std::aligned_alloc(64, capacity));
  if (data == nullptr) throw std::bad_alloc();
  ++allocations_;
  return PooledBuffer(this, data, capacity);
}

void BufferPool::Give(char* data, size_t capacity) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cached_bytes_ + capacity > max_cached_bytes_) {
    std::free(data);
    return;
  }
  free_[capacity].push_back(data);
  cached_bytes_ += capacity;
}

}  // namespace bluefog
