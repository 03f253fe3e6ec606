// What this rank knows of every other rank's life, learnt from their
// lifecycle notices (closing, gone, abort) and from pid liveness checks.
// Engine thread only.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace bluefog {

class PeerTable {
 public:
  enum class State {
    kAlive,
    kClosing,  // in shutdown: finishes what it posted, posts nothing new
    kGone,     // shut down normally; all its ops are done
    kFailed,   // exiting on an error (its reason is kept)
    kDead,     // its process vanished
  };
  using Clock = std::chrono::steady_clock;

  void Reset(std::vector<int> pids, std::vector<std::string> hosts);
  int size() const { return static_cast<int>(peers_.size()); }
  State state(int rank) const { return peers_[rank].state; }
  Clock::time_point since(int rank) const { return peers_[rank].since; }
  // Messages to it may still be read: alive or closing.
  bool reachable(int rank) const;
  // Failed or dead: MPI_Finalize would wait for it forever.
  bool lost(int rank) const;
  bool any_lost() const;

  // Each returns false when the rank was already in that state or a later one.
  bool MarkClosing(int rank);
  bool MarkGone(int rank);
  bool MarkFailed(int rank, const std::string& reason);
  bool MarkDead(int rank);

  // "rank 1 (pid 42 on host a)"
  std::string Name(int rank) const;
  // Why an op that needs `rank` cannot complete, e.g. "rank 1 (pid 42 on
  // host a) failed: its script raised ValueError: boom".
  std::string Why(int rank) const;

 private:
  struct Peer {
    int pid = 0;
    std::string host;
    State state = State::kAlive;
    std::string reason;
    Clock::time_point since;
  };
  bool Move(int rank, State state);
  std::vector<Peer> peers_;
};

}  // namespace bluefog
