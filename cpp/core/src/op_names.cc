#include "op_names.h"

#include "engine_job.h"

namespace bluefog {

OpIdentity OpNames::Next(OpType type, const std::string& name, int rank) const {
  std::lock_guard<std::mutex> lock(mutex_);
  OpIdentity id;
  id.type = type;
  id.key = name.empty() ? std::string(1, kUnnamedKeyPrefix) + OpTypeName(type) : name;
  if (!name.empty() && in_flight_.count(name))
    throw InvalidArgument(std::string(OpTypeName(type)) + ": tensor name '" + name +
                          "' is already in use by an op in flight on rank " +
                          std::to_string(rank) + "; wait for it or choose another name");
  auto posted = posted_.find(id.key);
  id.instance = posted == posted_.end() ? 0 : posted->second;
  id.display_name = DisplayName(type, id.key, id.instance);
  return id;
}

void OpNames::Commit(const OpIdentity& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  posted_[id.key] = id.instance + 1;
  if (!IsUnnamedKey(id.key)) in_flight_.insert(id.key);
}

void OpNames::Release(const OpIdentity& id) {
  if (IsUnnamedKey(id.key)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_.erase(id.key);
}

bool OpNames::Posted(const std::string& key, uint64_t instance) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto posted = posted_.find(key);
  return posted != posted_.end() && posted->second > instance;
}

}  // namespace bluefog
