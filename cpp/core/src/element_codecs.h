// How each stored element type loads into and stores from the type its
// arithmetic uses (float16 and bfloat16 through float32, integers as
// unsigned so that overflow wraps), for the loops in kernels.cc.
#pragma once
#include <cstdint>
#include <cstring>

namespace bluefog {
namespace element_codecs {

inline uint32_t BitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

inline float FloatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// The half conversions compute every case and blend the results with bit
// masks, with no branches, so that loops calling them vectorize. (With `?:`
// GCC keeps the float arithmetic of one case under a branch, because it may
// trap under the default -ftrapping-math, and gives up vectorizing; masks
// from comparisons also cost extra instructions once narrowed to 16 bits.)

// All ones where value < 0, else zero (arithmetic shift).
inline int32_t NegativeMask(int32_t value) { return value >> 31; }

inline int32_t Blend(int32_t mask, int32_t if_set, int32_t if_clear) {
  return (if_set & mask) | (if_clear & ~mask);
}

inline float HalfBitsToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  // Exponent and mantissa moved to their float32 positions.
  const int32_t shifted = static_cast<int32_t>(half & 0x7FFF) << 13;
  const int32_t exponent = shifted & 0x0F800000;
  const int32_t normal = shifted + (112 << 23);   // Rebias 15 -> 127.
  const int32_t inf_nan = shifted + (224 << 23);  // Exponent 31 -> 255.
  // Subnormal m * 2^-24: build 2^-14 * (1 + m/1024), then subtract 2^-14.
  // Exact, and no float32 subnormal is involved (safe under FTZ/DAZ).
  const float magic = FloatOf(113u << 23);
  const auto subnormal = static_cast<int32_t>(
      BitsOf(FloatOf(static_cast<uint32_t>(shifted + (113 << 23))) - magic));
  int32_t bits = Blend(NegativeMask(exponent - 1), subnormal, normal);
  bits = Blend(NegativeMask(0x0F7FFFFF - exponent), inf_nan, bits);
  return FloatOf(static_cast<uint32_t>(bits) | sign);
}

inline uint16_t FloatToHalfBits(float value) {
  const uint32_t bits = BitsOf(value);
  const auto magnitude = static_cast<int32_t>(bits & 0x7FFFFFFFu);
  // Normal half range: rebias the exponent (127 -> 15) and round the 13
  // dropped mantissa bits to nearest even. A carry out of the mantissa bumps
  // the exponent; anything that lands at or past the infinity encoding
  // (values >= 65520, and infinity itself) is clamped to infinity.
  const int32_t odd = (magnitude >> 13) & 1;
  const int32_t rounded = (magnitude - (112 << 23) + 0xFFF + odd) >> 13;
  const int32_t normal = rounded < 0x7C00 ? rounded : 0x7C00;
  // Below 2^-14 the result is subnormal. Adding 0.5f puts the value's half
  // subnormal ulp (2^-24) at the float ulp of 0.5, so the FPU rounds to
  // nearest even for us; the low bits are then the half encoding.
  const uint32_t half_magic = 126u << 23;  // 0.5f
  const auto subnormal = static_cast<int32_t>(
      BitsOf(FloatOf(bits & 0x7FFFFFFFu) + FloatOf(half_magic)) - half_magic);
  // NaN stays NaN: quieted, top payload bits kept.
  const int32_t nan = 0x7E00 | ((magnitude >> 13) & 0x3FF);
  int32_t result =
      Blend(NegativeMask(magnitude - (113 << 23)), subnormal, normal);
  result = Blend(NegativeMask(0x7F800000 - magnitude), nan, result);
  return static_cast<uint16_t>(static_cast<uint32_t>(result) |
                               ((bits >> 16) & 0x8000u));
}

inline float BFloat16BitsToFloat(uint16_t bf16) {
  return FloatOf(static_cast<uint32_t>(bf16) << 16);
}

inline uint16_t FloatToBFloat16Bits(float value) {
  const uint32_t bits = BitsOf(value);
  const uint32_t odd = (bits >> 16) & 1u;
  const uint32_t rounded = (bits + 0x7FFFu + odd) >> 16;
  // Rounding could carry a NaN into infinity; keep it a (quiet) NaN instead.
  const uint32_t nan = (bits >> 16) | 0x40u;
  const bool is_nan = (bits & 0x7FFFFFFFu) > 0x7F800000u;
  return static_cast<uint16_t>(is_nan ? nan : rounded);
}

// Element codecs: how a stored element maps to the type arithmetic uses.
struct F32 {
  using Storage = float;
  using Math = float;
  static Math Load(Storage v) { return v; }
  static Storage Store(Math v) { return v; }
};

struct F64 {
  using Storage = double;
  using Math = double;
  static Math Load(Storage v) { return v; }
  static Storage Store(Math v) { return v; }
};

struct F16 {
  using Storage = uint16_t;
  using Math = float;
  static Math Load(Storage v) { return HalfBitsToFloat(v); }
  static Storage Store(Math v) { return FloatToHalfBits(v); }
};

struct BF16 {
  using Storage = uint16_t;
  using Math = float;
  static Math Load(Storage v) { return BFloat16BitsToFloat(v); }
  static Storage Store(Math v) { return FloatToBFloat16Bits(v); }
};

// Integers add in unsigned arithmetic: overflow wraps instead of being UB.
struct I32 {
  using Storage = int32_t;
  using Math = uint32_t;
  static Math Load(Storage v) { return static_cast<Math>(v); }
  static Storage Store(Math v) { return static_cast<Storage>(v); }
};

struct I64 {
  using Storage = int64_t;
  using Math = uint64_t;
  static Math Load(Storage v) { return static_cast<Math>(v); }
  static Storage Store(Math v) { return static_cast<Storage>(v); }
};

}  // namespace element_codecs
}  // namespace bluefog
