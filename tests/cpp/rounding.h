// Correct rounding to the 16-bit float types, computed independently of the
// kernels, for the tests' expected values.
#pragma once
#include <cmath>
#include <cstdint>

#include "bluefog/core/dtype.h"
#include "bluefog/core/kernels.h"

namespace bluefog {

inline uint16_t EncodeLowPrecision(DataType dtype, float v) {
  return dtype == DataType::kFloat16 ? FloatToHalf(v) : FloatToBFloat16(v);
}

inline float DecodeLowPrecision(DataType dtype, uint16_t bits) {
  return dtype == DataType::kFloat16 ? HalfToFloat(bits) : BFloat16ToFloat(bits);
}

// The float16 or bfloat16 pattern nearest to `value` (ties to even),
// searched among the neighbours of the float32-rounded guess. `value` is a
// double quotient of a float32 sum by a small integer: it is never a
// midpoint of 16-bit values unless the exact quotient is, so this is the
// correct rounding.
inline uint16_t NearestLowPrecision(DataType dtype, double value) {
  const uint16_t guess = EncodeLowPrecision(dtype, static_cast<float>(value));
  uint16_t best = guess;
  for (int step : {-1, 1}) {
    const auto other = static_cast<uint16_t>(guess + step);
    const double d_best = std::fabs(DecodeLowPrecision(dtype, best) - value);
    const double d_other = std::fabs(DecodeLowPrecision(dtype, other) - value);
    if (d_other < d_best || (d_other == d_best && other % 2 == 0)) best = other;
  }
  return best;
}

}  // namespace bluefog
