#include "payload_receiver.h"

namespace bluefog {

void PayloadReceiver::Orphan(int src) {
  for (size_t i = 0; i < receives_.size();) {
    if (receives_[i].incoming->arrival.src != src) {
      ++i;
      continue;
    }
    orphaned_.push_back(std::move(receives_[i]));
    receives_[i] = std::move(receives_.back());
    receives_.pop_back();
  }
}

void PayloadReceiver::AbandonAll() {
  for (auto& receive : receives_) transport_->Abandon(receive.request);
  receives_.clear();
}

bool PayloadReceiver::WindowDataInFlight() const {
  for (const auto& receive : receives_)
    if (receive.incoming->window_request) return true;
  return false;
}

bool PayloadReceiver::OnItsWay(const std::shared_ptr<Job>& job, int src) const {
  for (const auto& receive : receives_)
    if (receive.incoming->arrival.src == src && receive.incoming->target.lock() == job)
      return true;
  return false;
}

}  // namespace bluefog
