#include "peers.h"

namespace bluefog {

void PeerTable::Reset(std::vector<int> pids, std::vector<std::string> hosts) {
  peers_.assign(pids.size(), Peer());
  for (size_t r = 0; r < pids.size(); ++r) {
    peers_[r].pid = pids[r];
    if (r < hosts.size()) peers_[r].host = hosts[r];
  }
}

bool PeerTable::reachable(int rank) const {
  State s = peers_[rank].state;
  return s == State::kAlive || s == State::kClosing;
}

bool PeerTable::lost(int rank) const {
  State s = peers_[rank].state;
  return s == State::kFailed || s == State::kDead;
}

bool PeerTable::any_lost() const {
  for (int r = 0; r < size(); ++r)
    if (lost(r)) return true;
  return false;
}

// States only move forward: a dead rank's late "gone" changes nothing.
bool PeerTable::Move(int rank, State state) {
  Peer& peer = peers_[rank];
  if (static_cast<int>(peer.state) >= static_cast<int>(state)) return false;
  peer.state = state;
  peer.since = Clock::now();
  return true;
}

bool PeerTable::MarkClosing(int rank) { return Move(rank, State::kClosing); }
bool PeerTable::MarkGone(int rank) { return Move(rank, State::kGone); }
bool PeerTable::MarkDead(int rank) { return Move(rank, State::kDead); }

bool PeerTable::MarkFailed(int rank, const std::string& reason) {
  if (!Move(rank, State::kFailed)) return false;
  peers_[rank].reason = reason;
  return true;
}

std::string PeerTable::Name(int rank) const {
  const Peer& peer = peers_[rank];
  std::string name = "rank " + std::to_string(rank) + " (pid " + std::to_string(peer.pid);
  if (!peer.host.empty()) name += " on " + peer.host;
  return name + ")";
}

std::string PeerTable::Why(int rank) const {
  const Peer& peer = peers_[rank];
  switch (peer.state) {
    case State::kAlive:
      return Name(rank) + " is alive";
    case State::kClosing:
      return Name(rank) + " is shutting down";
    case State::kGone:
      return Name(rank) + " has shut down (bf.shutdown() or the end of its script)";
    case State::kFailed:
      return Name(rank) + " failed: " + peer.reason;
    case State::kDead:
      return Name(rank) + " has died";
  }
  return Name(rank);
}

}  // namespace bluefog
