// Argument checks and integer helpers shared by the topology files
// (topology_graphs.cc, topology_schedules.cc, topology_mixing.cc).
#pragma once
#include <cstdint>
#include <limits>
#include <numeric>
#include <sstream>

#include "bluefog/core/status.h"

namespace bluefog {
namespace topology {
namespace detail {

// Dense matrices are n*n doubles: 32768 ranks is already 8 GiB.
constexpr int kMaxSize = 32768;

template <typename... Parts>
[[noreturn]] void Fail(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw InvalidArgument(message.str());
}

inline void CheckSize(const char* function, int size) {
  if (size < 1) Fail(function, ": size must be at least 1, got ", size);
  if (size > kMaxSize) {
    Fail(function, ": size must be at most ", kMaxSize, " (dense weight matrix), got ", size);
  }
}

inline int64_t Mod(int64_t a, int64_t m) {
  int64_t r = a % m;
  return r < 0 ? r + m : r;
}

// floor(log2(x)) for x >= 1.
inline int FloorLog2(int64_t x) {
  int result = 0;
  while (x > 1) {
    x >>= 1;
    ++result;
  }
  return result;
}

inline int64_t SaturatingLcm(int64_t a, int64_t b) {
  const int64_t g = std::gcd(a, b);
  const int64_t a_over_g = a / g;
  if (a_over_g > std::numeric_limits<int64_t>::max() / b) {
    return std::numeric_limits<int64_t>::max();
  }
  return a_over_g * b;
}

}  // namespace detail
}  // namespace topology
}  // namespace bluefog
