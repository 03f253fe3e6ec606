#include "bluefog/core/window.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "averaging.h"
#include "bluefog/core/kernels.h"
#include "bluefog/core/status.h"

namespace bluefog {
namespace {

// Sums of float16/bfloat16 data are formed in float32.
DataType AccumulatorType(DataType dtype) {
  return IsLowPrecisionFloat(dtype) ? DataType::kFloat32 : dtype;
}

}  // namespace

Window::Window(std::string name, TensorView tensor, std::vector<int> in_neighbors,
               bool zero_init)
    : name_(std::move(name)), tensor_(std::move(tensor)), in_neighbors_(std::move(in_neighbors)) {
  for (int r : in_neighbors_) {
    Buffer& buffer = buffers_[r];
    buffer.data.assign(tensor_.bytes(), 0);
    if (!zero_init && tensor_.bytes() > 0)
      std::memcpy(buffer.data.data(), tensor_.data, tensor_.bytes());
    // As in BlueFog 0.3, no neighbour has sent any push-sum weight yet,
    // whatever the buffer's data starts as.
    buffer.p = 0.0;
  }
}

void Window::Write(int src, const void* data, bool accumulate, bool with_p, double p) {
  std::lock_guard<std::mutex> lock(mutex_);
  Buffer& buffer = buffers_.at(src);
  if (accumulate) {
    Axpy(tensor_.dtype, buffer.data.data(), tensor_.dtype, data, tensor_.numel(), 1.0);
    if (with_p) buffer.p += p;
  } else {
    std::memcpy(buffer.data.data(), data, tensor_.bytes());
    if (with_p) buffer.p = p;
  }
  buffer.version++;
}

void Window::StoreGet(int src, const void* data, double weight, bool with_p, double p) {
  std::lock_guard<std::mutex> lock(mutex_);
  Buffer& buffer = buffers_.at(src);
  ScaleCopy(tensor_.dtype, buffer.data.data(), tensor_.dtype, data, tensor_.numel(), weight);
  if (with_p) buffer.p = weight * p;
  buffer.version++;
}

double Window::ReadSelf(void* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (tensor_.bytes() > 0) std::memcpy(out, tensor_.data, tensor_.bytes());
  return p_;
}

void Window::ScaleSelf(double weight, bool with_p) {
  std::lock_guard<std::mutex> lock(mutex_);
  ScaleInPlace(tensor_.dtype, tensor_.data, tensor_.numel(), weight);
  if (with_p) p_ *= weight;
}

void Window::Update(double self_weight, const std::vector<std::pair<int, double>>& weights,
                    bool reset, bool with_p, void* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& w : weights)
    if (!buffers_.count(w.first))
      throw InvalidArgument("win_update: rank " + std::to_string(w.first) +
                                  " is not an in-neighbour of window '" + name_ + "'");
  const int64_t n = tensor_.numel();
  const DataType acc_type = AccumulatorType(tensor_.dtype);
  const Averaging averaging(self_weight, weights);
  std::vector<char> acc(static_cast<size_t>(n) * DataTypeSize(acc_type));
  ScaleCopy(acc_type, acc.data(), tensor_.dtype, tensor_.data, n, averaging.self_weight());
  double p = averaging.self_weight() * p_;
  for (const auto& w : weights) {
    Buffer& buffer = buffers_.at(w.first);
    Axpy(acc_type, acc.data(), tensor_.dtype, buffer.data.data(), n, averaging.weight(w.second));
    p += averaging.weight(w.second) * buffer.p;
    if (reset) {
      std::fill(buffer.data.begin(), buffer.data.end(), 0);
      buffer.p = 0.0;
    }
    buffer.version = 0;
  }
  RescaleCopy(tensor_.dtype, out, acc_type, acc.data(), n, averaging.last());
  if (with_p && out == tensor_.data) p_ = averaging.last().Apply(p);
}

void Window::UpdateThenCollect(bool with_p) {
  std::vector<std::pair<int, double>> all;
  for (int r : in_neighbors_) all.emplace_back(r, 1.0);
  Update(1.0, all, /*reset=*/true, with_p, tensor_.data);
}

std::map<int, int64_t> Window::Versions() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<int, int64_t> versions;
  for (const auto& entry : buffers_) versions[entry.first] = entry.second.version;
  return versions;
}

double Window::p() {
  std::lock_guard<std::mutex> lock(mutex_);
  return p_;
}

void Window::set_p(double p) {
  std::lock_guard<std::mutex> lock(mutex_);
  p_ = p;
}

bool Window::Lock(const Waiter& waiter) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!held_) {
    held_ = true;
    holder_ = waiter;
    return true;
  }
  waiters_.push_back(waiter);
  return false;
}

bool Window::Exclusive() {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_ && holder_.exclusive;
}

bool Window::Unlock(const Waiter& waiter, bool exact, Waiter* next) {
  auto same_op = [&](const Waiter& w) {
    return w.rank == waiter.rank && w.key == waiter.key && w.instance == waiter.instance;
  };
  std::lock_guard<std::mutex> lock(mutex_);
  if (exact) {
    waiters_.erase(std::remove_if(waiters_.begin(), waiters_.end(), same_op), waiters_.end());
  }
  if (!held_ || holder_.rank != waiter.rank || (exact && !same_op(holder_))) return false;
  held_ = false;
  if (waiters_.empty()) return false;
  *next = waiters_.front();
  waiters_.pop_front();
  held_ = true;
  holder_ = *next;
  return true;
}

std::vector<Window::Waiter> Window::ReleaseRank(int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  waiters_.erase(std::remove_if(waiters_.begin(), waiters_.end(),
                                [&](const Waiter& w) { return w.rank == rank; }),
                 waiters_.end());
  std::vector<Waiter> granted;
  if (held_ && holder_.rank == rank) {
    held_ = false;
    if (!waiters_.empty()) {
      holder_ = waiters_.front();
      waiters_.pop_front();
      held_ = true;
      granted.push_back(holder_);
    }
  }
  return granted;
}

std::vector<int> Window::MutexRanks() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int> ranks;
  if (held_) ranks.push_back(holder_.rank);
  for (const Waiter& w : waiters_) ranks.push_back(w.rank);
  return ranks;
}

std::shared_ptr<Window> WindowRegistry::Create(const std::string& name, TensorView tensor,
                                               std::vector<int> in_neighbors, bool zero_init) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (windows_.count(name))
    throw InvalidArgument("win_create: a window named '" + name + "' already exists");
  auto window = std::make_shared<Window>(name, std::move(tensor), std::move(in_neighbors),
                                         zero_init);
  windows_[name] = window;
  return window;
}

bool WindowRegistry::Free(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  return windows_.erase(name) > 0;
}

std::shared_ptr<Window> WindowRegistry::Find(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = windows_.find(name);
  return it == windows_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Window>> WindowRegistry::All() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::shared_ptr<Window>> all;
  for (const auto& entry : windows_) all.push_back(entry.second);
  return all;
}

std::vector<std::string> WindowRegistry::Names() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& entry : windows_) names.push_back(entry.first);
  return names;
}

}  // namespace bluefog
