// The engine thread's record of ops: those running (found by the key and
// instance their messages carry), how many instances of each key started,
// messages that came before their op started, and recently failed ops
// (whose peers' late messages are dropped quietly).
#pragma once
#include <deque>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine_job.h"

namespace bluefog {

class OpTable {
 public:
  // The job's op started: messages for it now go to it.
  void Activate(const std::shared_ptr<Job>& job);
  // No longer running (finished, or failed: then remembered as failed).
  void Remove(const std::shared_ptr<Job>& job);
  std::shared_ptr<Job> Find(const OpKey& key) const;
  std::vector<std::shared_ptr<Job>> Active() const;
  bool empty() const { return active_.empty(); }
  // The oldest running op whose waiter has not been woken, if any.
  const Job* Oldest() const;

  bool Started(const std::string& key, uint64_t instance) const;
  bool RecentlyFailed(const OpKey& key) const { return failed_.count(key) != 0; }

  // A message for an op not started yet.
  void Park(const OpKey& key, std::shared_ptr<Incoming> incoming) {
    parked_[key].push_back(std::move(incoming));
  }
  std::vector<std::shared_ptr<Incoming>> TakeParked(const OpKey& key);
  template <typename Visit>
  void ForEachParked(Visit visit) {
    for (auto& entry : parked_)
      for (auto& incoming : entry.second) visit(*incoming);
  }

 private:
  static constexpr size_t kFailuresKept = 4096;

  std::unordered_map<OpKey, std::shared_ptr<Job>, OpKeyHash> active_;
  std::unordered_map<std::string, uint64_t> started_;  // key -> instances started
  std::unordered_map<OpKey, std::vector<std::shared_ptr<Incoming>>, OpKeyHash> parked_;
  std::unordered_set<OpKey, OpKeyHash> failed_;
  std::deque<OpKey> failed_order_;
};

}  // namespace bluefog
