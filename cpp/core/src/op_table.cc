#include "op_table.h"

#include <algorithm>

namespace bluefog {

void OpTable::Activate(const std::shared_ptr<Job>& job) {
  const OpIdentity& id = job->op->id();
  uint64_t& started = started_[id.key];
  started = std::max(started, id.instance + 1);
  active_[KeyOf(id)] = job;
}

void OpTable::Remove(const std::shared_ptr<Job>& job) {
  OpKey key = KeyOf(job->op->id());
  if (job->op->finished() && !job->op->status().ok() && failed_.insert(key).second) {
    failed_order_.push_back(key);
    if (failed_order_.size() > kFailuresKept) {
      failed_.erase(failed_order_.front());
      failed_order_.pop_front();
    }
  }
  auto it = active_.find(key);
  if (it != active_.end() && it->second == job) active_.erase(it);
}

std::shared_ptr<Job> OpTable::Find(const OpKey& key) const {
  auto it = active_.find(key);
  return it == active_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Job>> OpTable::Active() const {
  std::vector<std::shared_ptr<Job>> jobs;
  jobs.reserve(active_.size());
  for (const auto& entry : active_) jobs.push_back(entry.second);
  return jobs;
}

const Job* OpTable::Oldest() const {
  const Job* oldest = nullptr;
  for (const auto& entry : active_) {
    const Job* job = entry.second.get();
    if (job->completed) continue;
    if (oldest == nullptr || job->start_time < oldest->start_time) oldest = job;
  }
  return oldest;
}

bool OpTable::Started(const std::string& key, uint64_t instance) const {
  auto it = started_.find(key);
  return it != started_.end() && it->second > instance;
}

std::vector<std::shared_ptr<Incoming>> OpTable::TakeParked(const OpKey& key) {
  auto it = parked_.find(key);
  if (it == parked_.end()) return {};
  auto list = std::move(it->second);
  parked_.erase(it);
  return list;
}

}  // namespace bluefog
