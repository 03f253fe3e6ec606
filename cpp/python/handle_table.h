// The integer handles of the Python API (API.md: `X_nonblocking` returns an
// int for poll/synchronize). The C++ API has Work objects; Python's ints
// name them here, until synchronize releases them. The int is the Work's
// id(), the engine's handle, which the engine's messages name.
//
// A handle that is never synchronized. Python cannot tell when its int is
// dropped, so the table decides: it keeps at most `limit` handles
// (BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES, default 4096). Issuing one more
// releases the oldest handles whose ops have finished, until `limit` are
// left (or only unfinished ones and the new one), and the first such
// release in the process warns. An unfinished op is never released here:
// its memory is in use; at most it waits for its own synchronize. A released
// handle's Work is dropped (its result freed), and synchronize or poll on it
// raises InvalidArgumentError saying it was released and why.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_set>

#include "bluefog/core/config.h"
#include "bluefog/work.h"

class HandleTable {
 public:
  static HandleTable& Get();

  void set_limit(int64_t limit);

  // Keeps `work` under its id(), returned. Sets *first_release when this call was
  // the first in the process to release handles nobody synchronized.
  int64_t Add(bluefog::api::Work work, bool* first_release);
  // The Work of a handle; throws InvalidArgument for one released above,
  // synchronized already, or never issued.
  bluefog::api::Work Find(int64_t handle) const;
  // synchronize is done with it.
  void Remove(int64_t handle);
  // Whether `handle` is kept (issued, neither synchronized nor released).
  bool Holds(int64_t handle) const;

  // Handles issued and neither synchronized nor released.
  size_t kept() const;
  // Handles released unsynchronized so far.
  uint64_t released() const;
  int64_t limit() const;

 private:
  // Takes the oldest finished Works but `newest` out of works_ while more than
  // limit_ are kept; the caller destroys them after unlocking.
  std::deque<bluefog::api::Work> TakeOldestFinished(int64_t newest);
  void RememberReleased(int64_t handle);

  mutable std::mutex mutex_;
  std::map<int64_t, bluefog::api::Work> works_;  // by id: oldest first
  int64_t limit_ = bluefog::Config().max_unsynchronized_handles;
  // The newest released handles, for the error that names them.
  std::unordered_set<int64_t> released_;
  std::deque<int64_t> released_order_;
  uint64_t released_count_ = 0;
};
