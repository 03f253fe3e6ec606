#include "handle_table.h"

#include <string>
#include <utility>

#include "bluefog/core/status.h"

namespace {

// How many released handles the error message can still recognise.
constexpr size_t kReleasedRemembered = 1 << 16;

}  // namespace

HandleTable& HandleTable::Get() {
  // Never destroyed: the Works' tensors must not be freed during static
  // destruction, after torch's own state is gone.
  static HandleTable* table = new HandleTable();
  return *table;
}

void HandleTable::set_limit(int64_t limit) {
  std::lock_guard<std::mutex> lock(mutex_);
  limit_ = limit < 1 ? 1 : limit;
}

int64_t HandleTable::limit() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return limit_;
}

int64_t HandleTable::Add(bluefog::api::Work work, bool* first_release) {
  *first_release = false;
  std::deque<bluefog::api::Work> released;  // destroyed after the lock, last
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t handle = work.id();
  works_.emplace(handle, std::move(work));
  if (works_.size() > static_cast<size_t>(limit_)) {
    bool none_before = released_count_ == 0;
    released = TakeOldestFinished(handle);
    *first_release = none_before && released_count_ > 0;
  }
  return handle;
}

std::deque<bluefog::api::Work> HandleTable::TakeOldestFinished(int64_t newest) {
  std::deque<bluefog::api::Work> taken;
  for (auto it = works_.begin();
       it != works_.end() && works_.size() > static_cast<size_t>(limit_);) {
    bool finished = false;
    if (it->first != newest) {
      try {
        finished = it->second.test();
      } catch (const std::exception&) {
        finished = false;  // kept: its own synchronize reports the error
      }
    }
    if (!finished) {
      ++it;
      continue;
    }
    RememberReleased(it->first);
    taken.push_back(std::move(it->second));
    it = works_.erase(it);
  }
  return taken;
}

void HandleTable::RememberReleased(int64_t handle) {
  ++released_count_;
  released_.insert(handle);
  released_order_.push_back(handle);
  if (released_order_.size() > kReleasedRemembered) {
    released_.erase(released_order_.front());
    released_order_.pop_front();
  }
}

bluefog::api::Work HandleTable::Find(int64_t handle) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = works_.find(handle);
  if (it != works_.end()) return it->second;
  if (released_.count(handle))
    throw bluefog::InvalidArgument(
        "handle " + std::to_string(handle) +
        " was released without being synchronized: its op had finished, and more than " +
        std::to_string(limit_) +
        " handles were waiting for synchronize, so the oldest finished ones were released "
        "with their results (BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES=" + std::to_string(limit_) +
        "); synchronize each handle, or raise that limit");
  throw bluefog::InvalidArgument("unknown handle " + std::to_string(handle) +
                                 " (already synchronized, or never issued)");
}

void HandleTable::Remove(int64_t handle) {
  bluefog::api::Work work;  // destroyed after the lock
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = works_.find(handle);
  if (it == works_.end()) return;
  work = std::move(it->second);
  works_.erase(it);
}

bool HandleTable::Holds(int64_t handle) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return works_.count(handle) != 0;
}

size_t HandleTable::kept() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return works_.size();
}

uint64_t HandleTable::released() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return released_count_;
}
