// The window service: this rank's engine serves its neighbours' put,
// accumulate, get, lock and unlock requests on its windows (and defers
// transfers while the owner holds win_lock). Engine thread only, except the
// registry, which is thread-safe.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/buffer_pool.h"
#include "bluefog/core/window.h"
#include "engine_job.h"
#include "send_queue.h"

namespace bluefog {

class WindowService {
 public:
  WindowService(SendQueue& sends, BufferPool& pool) : sends_(sends), pool_(pool) {}
  void Reset(int rank) { rank_ = rank; }
  WindowRegistry& registry() { return windows_; }

  // A request whose header arrived. Served at once when it carries its data
  // inline; else returns where its payload must be received, and Serve
  // is called once it has been.
  void* Accept(Incoming& incoming, const char* inline_data, size_t inline_bytes);
  void Serve(Arrival& request);
  // A rank that is gone: the window mutexes it held or awaited are freed.
  void ReleaseRank(int r);
  // Ranks holding or awaiting one of this rank's window mutexes.
  std::vector<int> MutexRanks();

 private:
  // The neighbours' requests that arrived while the owner held win_lock, in
  // arrival order, unless the window is still (or again) held exclusively.
  void ServeDeferred(Window& window);
  void ServeRequest(Arrival& request);
  std::string Problem(const Arrival& request, const Window* window) const;
  void Grant(const Window& window, const Window::Waiter& next);
  void Reply(int dst, const MessageHeader& reply, const void* payload = nullptr,
             size_t bytes = 0) {
    sends_.SendControl(dst, reply, payload, bytes);
  }

  SendQueue& sends_;
  BufferPool& pool_;
  int rank_ = 0;
  WindowRegistry windows_;
  std::map<std::string, std::deque<Arrival>> deferred_;  // window name -> requests
};

}  // namespace bluefog
