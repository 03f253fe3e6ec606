// The names and instances of the ops the user threads posted: each post of
// a key (a tensor name, or an automatic key per op type) gets the next
// instance, and a name stays taken until its op completes. Thread-safe.
#pragma once
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "bluefog/core/op.h"

namespace bluefog {

class OpNames {
 public:
  // The identity the next post under `name` gets; throws InvalidArgument if
  // the name is in use by an op in flight. Nothing is recorded until Commit.
  OpIdentity Next(OpType type, const std::string& name, int rank) const;
  void Commit(const OpIdentity& id);
  // Its op completed: the name may be used again.
  void Release(const OpIdentity& id);
  bool Posted(const std::string& key, uint64_t instance) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, uint64_t> posted_;  // key -> instances posted
  std::set<std::string> in_flight_;
};

}  // namespace bluefog
