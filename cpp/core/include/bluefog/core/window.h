// One-sided windows. A window is a named tensor of the user's that this rank
// exposes to its out-neighbours, plus one receive buffer per in-neighbour.
// Neighbours' puts, accumulates and get replies are applied by this rank's
// engine thread; win_update runs on the user's thread. Both hold the window's
// mutex, so neither sees the other half done.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bluefog/core/tensor.h"

namespace bluefog {

class Window {
 public:
  // `tensor` must stay valid until the window is freed. Buffers start as a
  // copy of it, or as zeros.
  Window(std::string name, TensorView tensor, std::vector<int> in_neighbors, bool zero_init);

  const std::string& name() const { return name_; }
  const TensorView& tensor() const { return tensor_; }
  const std::vector<int>& in_neighbors() const { return in_neighbors_; }
  bool HasInNeighbor(int rank) const { return buffers_.count(rank) > 0; }

  // Engine thread: a neighbour's put (or accumulate) of `data`, already
  // scaled by its sender, with its share `p` of the push-sum weight.
  void Write(int src, const void* data, bool accumulate, bool with_p, double p);
  // Engine thread: the reply to this rank's win_get from `src`.
  void StoreGet(int src, const void* data, double weight, bool with_p, double p);
  // Copy of this rank's tensor (for a neighbour's win_get) and its p.
  double ReadSelf(void* out);
  // tensor *= weight (and p, when with_p): win_put's self_weight.
  void ScaleSelf(double weight, bool with_p);

  // out = self_weight * tensor + sum weights[j] * buffer_j (out may be the
  // tensor itself); p likewise when with_p. Uniform weights sum, then divide
  // (averaging.h). `reset` zeroes the buffers used.
  // Versions of the buffers used go back to 0.
  void Update(double self_weight, const std::vector<std::pair<int, double>>& weights,
              bool reset, bool with_p, void* out);
  // tensor += sum of all buffers, then the buffers (and their p) become 0.
  void UpdateThenCollect(bool with_p);

  std::map<int, int64_t> Versions();
  double p();
  void set_p(double p);

  // The distributed mutex on this window (engine thread only): Lock returns
  // true when the waiter holds it now; otherwise it is queued and gets it in
  // order. Unlock releases it if `rank` holds it (any of its ops, since
  // win_mutex locks and unlocks with two ops; with `exact`, only the op
  // `waiter` names, which is also dropped from the queue) and returns the
  // next holder's request, if any. An `exclusive` holder (the owner's
  // win_lock) also keeps out the neighbours' puts, accumulates and gets,
  // which its engine defers until Exclusive() is false again.
  struct Waiter {
    int rank;
    std::string key;
    uint64_t instance;
    bool exclusive = false;
  };
  bool Lock(const Waiter& waiter);
  bool Unlock(const Waiter& waiter, bool exact, Waiter* next);
  // `rank` is gone: drops its waiters and its hold; returns the waiter that
  // holds the mutex now, if one took it over.
  std::vector<Waiter> ReleaseRank(int rank);
  // Ranks that hold or await the mutex.
  std::vector<int> MutexRanks();
  bool Exclusive();

 private:
  struct Buffer {
    std::vector<char> data;
    double p = 0.0;
    int64_t version = 0;
  };
  std::string name_;
  TensorView tensor_;
  std::vector<int> in_neighbors_;
  std::mutex mutex_;
  std::map<int, Buffer> buffers_;
  double p_ = 1.0;
  bool held_ = false;
  Waiter holder_{};
  std::deque<Waiter> waiters_;
};

// The windows of this process, by name (thread-safe).
class WindowRegistry {
 public:
  // Throws InvalidArgument if the name is taken.
  std::shared_ptr<Window> Create(const std::string& name, TensorView tensor,
                                 std::vector<int> in_neighbors, bool zero_init);
  bool Free(const std::string& name);
  std::shared_ptr<Window> Find(const std::string& name);
  std::vector<std::string> Names();
  std::vector<std::shared_ptr<Window>> All();

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Window>> windows_;
};

}  // namespace bluefog
