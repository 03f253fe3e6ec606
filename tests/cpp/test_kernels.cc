// Tests for dtype helpers and the reduction kernels. Expected values come
// from reference conversions written here independently of kernels.cc: half
// values are decoded with ldexp and encoded by searching the table of all
// half values for the nearest one (ties to even).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bluefog/core/dtype.h"
#include "bluefog/core/kernels.h"
#include "bluefog/core/status.h"

namespace bluefog {
namespace {

constexpr int64_t kCounts[] = {1, 7, 1000003};

uint32_t Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float FromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// ---- Reference conversions ----

double RefHalfMagnitude(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  if (exponent == 0) return std::ldexp(mantissa, -24);
  if (exponent == 31) {
    return mantissa == 0 ? std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
  }
  return std::ldexp(1024 + mantissa, exponent - 25);
}

float RefHalfToFloat(uint16_t bits) {
  const double magnitude = RefHalfMagnitude(bits);
  return static_cast<float>((bits & 0x8000) ? -magnitude : magnitude);
}

bool IsHalfNaN(uint16_t bits) {
  return (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0;
}

bool IsBFloat16NaN(uint16_t bits) {
  return (bits & 0x7F80) == 0x7F80 && (bits & 0x7F) != 0;
}

// Magnitudes of half bit patterns 0x0000..0x7C00 (0x7C00 stands for the
// overflow threshold 2^16), ascending.
const std::vector<double>& HalfTable() {
  static const std::vector<double> table = [] {
    std::vector<double> values;
    for (uint32_t bits = 0; bits < 0x7C00; ++bits) {
      values.push_back(RefHalfMagnitude(static_cast<uint16_t>(bits)));
    }
    values.push_back(65536.0);
    return values;
  }();
  return table;
}

// Picks the nearer of codes lo and lo + 1, ties to the even code.
uint32_t Nearest(double value, uint32_t lo, double lo_value, double hi_value) {
  const double below = value - lo_value;
  const double above = hi_value - value;
  if (below < above) return lo;
  if (above < below) return lo + 1;
  return (lo % 2 == 0) ? lo : lo + 1;
}

// Takes a double so that quotients can be rounded straight to 16 bits.
uint16_t RefFloatToHalf(double value) {
  if (std::isnan(value)) return 0x7E00;
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const double magnitude = std::fabs(value);
  const std::vector<double>& table = HalfTable();
  if (magnitude >= table.back()) return sign | 0x7C00;
  const auto upper = std::upper_bound(table.begin(), table.end(), magnitude);
  const auto lo = static_cast<uint32_t>(upper - table.begin() - 1);
  return sign | static_cast<uint16_t>(
                    Nearest(magnitude, lo, table[lo], table[lo + 1]));
}

float RefBFloat16ToFloat(uint16_t bits) {
  return FromBits(static_cast<uint32_t>(bits) << 16);
}

// Takes a double so that quotients can be rounded straight to 16 bits.
uint16_t RefFloatToBFloat16(double value) {
  if (std::isnan(value)) return 0x7FC0;
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const double magnitude = std::fabs(value);
  // Above the largest bfloat16 the next step is 2^128, i.e. infinity.
  auto code_value = [](uint32_t code) {
    return code >= 0x7F80 ? std::ldexp(1.0, 128) : static_cast<double>(RefBFloat16ToFloat(code));
  };
  // lo: the largest code not above the magnitude, found from a guess.
  uint32_t lo = std::min<uint32_t>(Bits(static_cast<float>(magnitude)) >> 16, 0x7F80);
  while (lo > 0 && code_value(lo) > magnitude) --lo;
  while (lo < 0x7F80 && code_value(lo + 1) <= magnitude) ++lo;
  if (lo == 0x7F80) return sign | 0x7F80;
  return static_cast<uint16_t>(sign | Nearest(magnitude, lo, code_value(lo), code_value(lo + 1)));
}

// ---- Comparison helpers ----

::testing::AssertionResult SameFloat(float expected, float actual) {
  if (std::isnan(expected) && std::isnan(actual)) {
    return ::testing::AssertionSuccess();
  }
  if (Bits(expected) == Bits(actual)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "expected " << expected << " (0x" << std::hex << Bits(expected)
         << "), got " << std::dec << actual << " (0x" << std::hex
         << Bits(actual) << ")";
}

::testing::AssertionResult SameHalfBits(uint16_t expected, uint16_t actual,
                                        bool (*is_nan)(uint16_t)) {
  if (expected == actual || (is_nan(expected) && is_nan(actual))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << std::hex << "expected 0x" << expected
                                       << ", got 0x" << actual;
}

::testing::AssertionResult SameHalf(uint16_t expected, uint16_t actual) {
  return SameHalfBits(expected, actual, IsHalfNaN);
}

::testing::AssertionResult SameBFloat16(uint16_t expected, uint16_t actual) {
  return SameHalfBits(expected, actual, IsBFloat16NaN);
}

// ---- Test data ----

// Floats of mixed magnitude around the half range, with specials.
std::vector<float> RandomFloats(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> values(static_cast<size_t>(count));
  for (auto& value : values) {
    const uint32_t r = rng();
    const uint32_t exponent = 95 + r % 60;  // ~2^-32 .. 2^27
    value = FromBits((r & 0x80000000u) | (exponent << 23) | (rng() & 0x7FFFFF));
  }
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), 65520.0f};
  for (size_t i = 0; i < values.size(); i += 97) {
    values[i] = specials[(i / 97) % 6];
  }
  return values;
}

std::vector<uint16_t> RandomBits16(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint16_t> values(static_cast<size_t>(count));
  for (auto& value : values) value = static_cast<uint16_t>(rng());
  return values;
}

// Small multiples of 1/8: products with the alphas used below are exact, so
// results do not depend on whether the compiler fuses multiply-add.
template <typename T>
std::vector<T> SmallValues(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<T> values(static_cast<size_t>(count));
  for (auto& value : values) {
    value = static_cast<T>(static_cast<int>(rng() % 2001) - 1000) / 8;
  }
  return values;
}

std::vector<uint16_t> HalfsOf(const std::vector<float>& values) {
  std::vector<uint16_t> out;
  for (float v : values) out.push_back(RefFloatToHalf(v));
  return out;
}

std::vector<uint16_t> BFloat16sOf(const std::vector<float>& values) {
  std::vector<uint16_t> out;
  for (float v : values) out.push_back(RefFloatToBFloat16(v));
  return out;
}

std::string ThrowMessage(void (*call)()) {
  try {
    call();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "<no std::invalid_argument>";
}

// ==== dtype ====

TEST(DataTypeTest, SizesAndNames) {
  struct Row {
    DataType dtype;
    size_t size;
    const char* name;
  };
  const Row rows[] = {
      {DataType::kUInt8, 1, "uint8"},       {DataType::kInt8, 1, "int8"},
      {DataType::kInt16, 2, "int16"},       {DataType::kInt32, 4, "int32"},
      {DataType::kInt64, 8, "int64"},       {DataType::kFloat16, 2, "float16"},
      {DataType::kBFloat16, 2, "bfloat16"}, {DataType::kFloat32, 4, "float32"},
      {DataType::kFloat64, 8, "float64"},   {DataType::kBool, 1, "bool"},
  };
  ASSERT_EQ(sizeof(rows) / sizeof(rows[0]), static_cast<size_t>(kNumDataTypes));
  for (const Row& row : rows) {
    EXPECT_EQ(DataTypeSize(row.dtype), row.size) << row.name;
    EXPECT_STREQ(DataTypeName(row.dtype), row.name);
  }
  EXPECT_THROW(DataTypeSize(static_cast<DataType>(kNumDataTypes)),
               InternalError);
}

TEST(DataTypeTest, Predicates) {
  for (int i = 0; i < kNumDataTypes; ++i) {
    const auto dtype = static_cast<DataType>(i);
    const bool low =
        dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
    const bool floating =
        low || dtype == DataType::kFloat32 || dtype == DataType::kFloat64;
    const bool summable =
        floating || dtype == DataType::kInt32 || dtype == DataType::kInt64;
    EXPECT_EQ(IsFloatingPoint(dtype), floating) << DataTypeName(dtype);
    EXPECT_EQ(IsLowPrecisionFloat(dtype), low) << DataTypeName(dtype);
    EXPECT_EQ(IsSummable(dtype), summable) << DataTypeName(dtype);
  }
}

// ==== Scalar half conversions ====

TEST(HalfTest, KnownEncodings) {
  struct Case {
    float value;
    uint16_t bits;
  };
  const Case cases[] = {
      {1.0f, 0x3C00},
      {-2.0f, 0xC000},
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {65504.0f, 0x7BFF},
      {65519.996f, 0x7BFF},  // Just below the rounding threshold.
      {65520.0f, 0x7C00},    // Halfway to 2^16 rounds to infinity.
      {-65520.0f, 0xFC00},
      {1e10f, 0x7C00},
      {std::numeric_limits<float>::max(), 0x7C00},
      {std::numeric_limits<float>::infinity(), 0x7C00},
      {-std::numeric_limits<float>::infinity(), 0xFC00},
      {std::ldexp(1.0f, -14), 0x0400},  // Smallest normal.
      {std::ldexp(1.0f, -24), 0x0001},  // Smallest subnormal.
      {-std::ldexp(1.0f, -24), 0x8001},
      {std::ldexp(1023.0f, -24), 0x03FF},  // Largest subnormal.
      {std::ldexp(1.0f, -25), 0x0000},     // Tie: rounds to even 0.
      {std::ldexp(3.0f, -25), 0x0002},     // Tie between 1 and 2: even 2.
      {std::ldexp(1.0f, -25) * 1.0000001f, 0x0001},
      {std::ldexp(2047.0f, -25), 0x0400},  // Tie above 0x03FF: even 0x0400.
      {1.0f + std::ldexp(1.0f, -11), 0x3C00},         // Tie: even.
      {1.0f + std::ldexp(3.0f, -11), 0x3C02},         // Tie: even.
      {std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f), 0x3C01},
      {std::numeric_limits<float>::denorm_min(), 0x0000},
      {-std::numeric_limits<float>::denorm_min(), 0x8000},
      {0.1f, 0x2E66},
      {1.0f / 3.0f, 0x3555},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FloatToHalf(c.value), c.bits) << "value " << c.value;
    EXPECT_EQ(RefFloatToHalf(c.value), c.bits)
        << "reference, value " << c.value;
  }
}

TEST(HalfTest, KnownDecodings) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7C01)));  // Signaling NaN.
  EXPECT_TRUE(std::isnan(HalfToFloat(0xFFFF)));
  EXPECT_EQ(Bits(HalfToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(Bits(HalfToFloat(0x0000)), 0x00000000u);
}

TEST(HalfTest, NaNStaysNaN) {
  const uint32_t nans[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7F801000u,
                           0x7FFFFFFFu, 0xFF800001u};
  for (uint32_t bits : nans) {
    const uint16_t half = FloatToHalf(FromBits(bits));
    EXPECT_TRUE(IsHalfNaN(half)) << std::hex << bits << " -> " << half;
    EXPECT_EQ(half & 0x8000, (bits >> 16) & 0x8000) << "sign of " << std::hex
                                                    << bits;
  }
}

TEST(HalfTest, ExhaustiveDecodeAndRoundTrip) {
  for (uint32_t i = 0; i < 0x10000; ++i) {
    const auto bits = static_cast<uint16_t>(i);
    const float value = HalfToFloat(bits);
    ASSERT_TRUE(SameFloat(RefHalfToFloat(bits), value)) << "half 0x" << std::hex
                                                        << i;
    const uint16_t back = FloatToHalf(value);
    if (IsHalfNaN(bits)) {
      ASSERT_TRUE(IsHalfNaN(back)) << std::hex << i << " -> " << back;
      ASSERT_EQ(back & 0x8000, bits & 0x8000) << std::hex << i;
      // Quiet NaNs keep their payload; signaling ones gain the quiet bit.
      ASSERT_EQ(back, bits | 0x0200) << std::hex << i;
    } else {
      ASSERT_EQ(back, bits) << "half 0x" << std::hex << i;
    }
  }
}

// Every halfway point between adjacent halves (all ties, including the
// subnormal range and the overflow threshold) and its float neighbours.
TEST(HalfTest, AllTiesAndNeighbours) {
  for (uint32_t i = 0; i < 0x7C00; ++i) {
    const double lo = RefHalfMagnitude(static_cast<uint16_t>(i));
    const double hi =
        i + 1 == 0x7C00 ? 65536.0
                        : RefHalfMagnitude(static_cast<uint16_t>(i + 1));
    const float mid = static_cast<float>((lo + hi) / 2);  // Exact in float.
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    for (float v : {mid, std::nextafter(mid, 0.0f),
                    std::nextafter(mid, 1e30f), static_cast<float>(lo)}) {
      ASSERT_EQ(FloatToHalf(v), RefFloatToHalf(v)) << "value " << v;
      ASSERT_EQ(FloatToHalf(-v), RefFloatToHalf(-v)) << "value " << -v;
    }
  }
}

TEST(HalfTest, SampledFloatsMatchReference) {
  // A stride through all non-negative float bit patterns, both signs.
  for (uint64_t bits = 0; bits <= 0x7FFFFFFFu; bits += 4099) {
    const float v = FromBits(static_cast<uint32_t>(bits));
    ASSERT_TRUE(SameHalf(RefFloatToHalf(v), FloatToHalf(v)))
        << "bits 0x" << std::hex << bits;
    ASSERT_TRUE(SameHalf(RefFloatToHalf(-v), FloatToHalf(-v)))
        << "bits 0x" << std::hex << bits;
  }
}

// ==== Scalar bfloat16 conversions ====

TEST(BFloat16Test, KnownEncodings) {
  struct Case {
    uint32_t float_bits;
    uint16_t bits;
  };
  const Case cases[] = {
      {0x3F800000u, 0x3F80},  // 1.0
      {0x3F808000u, 0x3F80},  // Tie, even below.
      {0x3F818000u, 0x3F82},  // Tie, even above.
      {0x3F808001u, 0x3F81},  // Just above the tie.
      {0x3F807FFFu, 0x3F80},  // Just below the tie.
      {0xBF818000u, 0xBF82},  // Negative tie.
      {0x00000000u, 0x0000},
      {0x80000000u, 0x8000},  // -0.0
      {0x00000001u, 0x0000},  // Float subnormal rounds to zero.
      {0x00008000u, 0x0000},  // Subnormal tie to even.
      {0x00018000u, 0x0002},
      {0x7F7FFFFFu, 0x7F80},  // FLT_MAX overflows to infinity.
      {0x7F7F7FFFu, 0x7F7F},  // Largest value that stays finite.
      {0x7F800000u, 0x7F80},  // +inf
      {0xFF800000u, 0xFF80},  // -inf
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FloatToBFloat16(FromBits(c.float_bits)), c.bits)
        << std::hex << "float bits 0x" << c.float_bits;
    EXPECT_EQ(RefFloatToBFloat16(FromBits(c.float_bits)), c.bits)
        << std::hex << "reference, float bits 0x" << c.float_bits;
  }
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xC000), -2.0f);
  EXPECT_EQ(BFloat16ToFloat(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Bits(BFloat16ToFloat(0x8000)), 0x80000000u);
}

TEST(BFloat16Test, NaNStaysNaN) {
  // 0x7FFFFFFF and 0x7F80FFFF would round into the next exponent/infinity.
  const uint32_t nans[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                           0x7F80FFFFu, 0x7FFFFFFFu, 0xFF800001u};
  for (uint32_t bits : nans) {
    const uint16_t bf16 = FloatToBFloat16(FromBits(bits));
    EXPECT_TRUE(IsBFloat16NaN(bf16)) << std::hex << bits << " -> " << bf16;
    EXPECT_EQ(bf16 & 0x8000, (bits >> 16) & 0x8000);
  }
}

TEST(BFloat16Test, ExhaustiveRoundTrip) {
  for (uint32_t i = 0; i < 0x10000; ++i) {
    const auto bits = static_cast<uint16_t>(i);
    const float value = BFloat16ToFloat(bits);
    ASSERT_EQ(Bits(value), i << 16);
    const uint16_t back = FloatToBFloat16(value);
    if (IsBFloat16NaN(bits)) {
      ASSERT_EQ(back, bits | 0x0040) << std::hex << i;
    } else {
      ASSERT_EQ(back, bits) << std::hex << i;
    }
  }
}

TEST(BFloat16Test, SampledFloatsMatchReference) {
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 4093) {
    const float v = FromBits(static_cast<uint32_t>(bits));
    ASSERT_TRUE(SameBFloat16(RefFloatToBFloat16(v), FloatToBFloat16(v)))
        << "bits 0x" << std::hex << bits;
  }
  // Every tie pattern under a sample of upper halves.
  for (uint32_t upper = 0; upper < 0x10000; upper += 7) {
    for (uint32_t low : {0x7FFFu, 0x8000u, 0x8001u}) {
      const float v = FromBits(upper << 16 | low);
      ASSERT_TRUE(SameBFloat16(RefFloatToBFloat16(v), FloatToBFloat16(v)))
          << "bits 0x" << std::hex << (upper << 16 | low);
    }
  }
}

// ==== ScaleCopy ====

TEST(ScaleCopyTest, SameTypeUnitAlphaCopiesBytes) {
  for (int t = 0; t < kNumDataTypes; ++t) {
    const auto dtype = static_cast<DataType>(t);
    for (int64_t count : kCounts) {
      const size_t bytes = static_cast<size_t>(count) * DataTypeSize(dtype);
      std::vector<uint8_t> src(bytes);
      std::mt19937 rng(t);
      for (auto& b : src) b = static_cast<uint8_t>(rng());
      std::vector<uint8_t> dst(bytes, 0xAB);
      ScaleCopy(dtype, dst.data(), dtype, src.data(), count, 1.0);
      ASSERT_EQ(dst, src) << DataTypeName(dtype) << " count " << count;
    }
  }
}

TEST(ScaleCopyTest, Float32) {
  for (int64_t count : kCounts) {
    for (double alpha : {0.5, 0.1, -3.0}) {
      const std::vector<float> src = RandomFloats(count, 1);
      std::vector<float> dst(src.size(), 7.0f);
      ScaleCopy(DataType::kFloat32, dst.data(), DataType::kFloat32, src.data(),
                count, alpha);
      for (size_t i = 0; i < src.size(); ++i) {
        ASSERT_TRUE(SameFloat(static_cast<float>(alpha) * src[i], dst[i]))
            << "i=" << i << " alpha=" << alpha;
      }
    }
  }
}

TEST(ScaleCopyTest, Float64) {
  for (int64_t count : kCounts) {
    const std::vector<double> src = SmallValues<double>(count, 2);
    std::vector<double> dst(src.size());
    ScaleCopy(DataType::kFloat64, dst.data(), DataType::kFloat64, src.data(),
              count, 0.1);
    for (size_t i = 0; i < src.size(); ++i) {
      ASSERT_EQ(dst[i], 0.1 * src[i]) << "i=" << i;
    }
  }
}

TEST(ScaleCopyTest, HalfToFloat32) {
  for (int64_t count : kCounts) {
    const std::vector<uint16_t> src = RandomBits16(count, 3);
    for (double alpha : {1.0, 0.25, 3.0}) {
      std::vector<float> dst(src.size());
      ScaleCopy(DataType::kFloat32, dst.data(), DataType::kFloat16, src.data(),
                count, alpha);
      for (size_t i = 0; i < src.size(); ++i) {
        const float expected =
            static_cast<float>(alpha) * RefHalfToFloat(src[i]);
        ASSERT_TRUE(SameFloat(expected, dst[i]))
            << "i=" << i << " half 0x" << std::hex << src[i];
      }
    }
  }
}

TEST(ScaleCopyTest, BFloat16ToFloat32) {
  for (int64_t count : kCounts) {
    const std::vector<uint16_t> src = RandomBits16(count, 4);
    for (double alpha : {1.0, 0.25, 3.0}) {
      std::vector<float> dst(src.size());
      ScaleCopy(DataType::kFloat32, dst.data(), DataType::kBFloat16, src.data(),
                count, alpha);
      for (size_t i = 0; i < src.size(); ++i) {
        const float expected =
            static_cast<float>(alpha) * RefBFloat16ToFloat(src[i]);
        ASSERT_TRUE(SameFloat(expected, dst[i])) << "i=" << i;
      }
    }
  }
}

TEST(ScaleCopyTest, Float32ToHalf) {
  for (int64_t count : kCounts) {
    const std::vector<float> src = RandomFloats(count, 5);
    for (double alpha : {1.0, 0.5, 3.0}) {
      std::vector<uint16_t> dst(src.size());
      ScaleCopy(DataType::kFloat16, dst.data(), DataType::kFloat32, src.data(),
                count, alpha);
      for (size_t i = 0; i < src.size(); ++i) {
        const uint16_t expected =
            RefFloatToHalf(static_cast<float>(alpha) * src[i]);
        ASSERT_TRUE(SameHalf(expected, dst[i])) << "i=" << i << " " << src[i];
      }
    }
  }
}

TEST(ScaleCopyTest, Float32ToBFloat16) {
  for (int64_t count : kCounts) {
    const std::vector<float> src = RandomFloats(count, 6);
    for (double alpha : {1.0, 0.5, 3.0}) {
      std::vector<uint16_t> dst(src.size());
      ScaleCopy(DataType::kBFloat16, dst.data(), DataType::kFloat32, src.data(),
                count, alpha);
      for (size_t i = 0; i < src.size(); ++i) {
        const uint16_t expected =
            RefFloatToBFloat16(static_cast<float>(alpha) * src[i]);
        ASSERT_TRUE(SameBFloat16(expected, dst[i])) << "i=" << i;
      }
    }
  }
}

TEST(ScaleCopyTest, LowPrecisionSameTypeScaled) {
  for (int64_t count : kCounts) {
    const std::vector<uint16_t> src = RandomBits16(count, 7);
    std::vector<uint16_t> half(src.size());
    std::vector<uint16_t> bf16(src.size());
    ScaleCopy(DataType::kFloat16, half.data(), DataType::kFloat16, src.data(),
              count, 0.3);
    ScaleCopy(DataType::kBFloat16, bf16.data(), DataType::kBFloat16, src.data(),
              count, 0.3);
    for (size_t i = 0; i < src.size(); ++i) {
      ASSERT_TRUE(
          SameHalf(RefFloatToHalf(0.3f * RefHalfToFloat(src[i])), half[i]))
          << "i=" << i;
      ASSERT_TRUE(SameBFloat16(
          RefFloatToBFloat16(0.3f * RefBFloat16ToFloat(src[i])), bf16[i]))
          << "i=" << i;
    }
  }
}

TEST(ScaleCopyTest, InPlaceWhenDstIsSrc) {
  for (int64_t count : kCounts) {
    const std::vector<float> original = RandomFloats(count, 8);
    std::vector<float> data = original;
    ScaleCopy(DataType::kFloat32, data.data(), DataType::kFloat32, data.data(),
              count, 0.5);
    for (size_t i = 0; i < data.size(); ++i) {
      ASSERT_TRUE(SameFloat(0.5f * original[i], data[i])) << "i=" << i;
    }
    const std::vector<uint16_t> half_original = HalfsOf(original);
    std::vector<uint16_t> half = half_original;
    ScaleCopy(DataType::kFloat16, half.data(), DataType::kFloat16, half.data(),
              count, 2.0);
    for (size_t i = 0; i < half.size(); ++i) {
      ASSERT_TRUE(SameHalf(
          RefFloatToHalf(2.0f * RefHalfToFloat(half_original[i])), half[i]));
    }
    std::vector<int32_t> ints(static_cast<size_t>(count), 5);
    ScaleCopy(DataType::kInt32, ints.data(), DataType::kInt32, ints.data(),
              count, 1.0);
    ASSERT_EQ(ints, std::vector<int32_t>(static_cast<size_t>(count), 5));
  }
}

TEST(ScaleCopyTest, Errors) {
  float f[4] = {};
  uint16_t h[4] = {};
  int32_t i32[4] = {};
  EXPECT_THROW(ScaleCopy(DataType::kInt32, i32, DataType::kInt32, i32 + 2, 2,
                         0.5),
               std::invalid_argument);
  EXPECT_THROW(ScaleCopy(DataType::kBool, h, DataType::kBool, h + 2, 2, 2.0),
               std::invalid_argument);
  EXPECT_THROW(ScaleCopy(DataType::kFloat16, h, DataType::kBFloat16, h + 2, 2,
                         1.0),
               std::invalid_argument);
  EXPECT_THROW(ScaleCopy(DataType::kInt32, i32, DataType::kFloat32, f, 4, 1.0),
               std::invalid_argument);
  EXPECT_THROW(ScaleCopy(DataType::kFloat64, f, DataType::kFloat32, f, 2, 1.0),
               std::invalid_argument);
  EXPECT_THROW(ScaleCopy(DataType::kFloat32, f, DataType::kFloat32, f + 2, -1,
                         1.0),
               InternalError);
  // Partially overlapping buffers.
  EXPECT_THROW(ScaleCopy(DataType::kFloat32, f, DataType::kFloat32, f + 1, 3,
                         1.0),
               InternalError);
  EXPECT_THROW(ScaleCopy(DataType::kFloat32, f, DataType::kFloat32, nullptr, 1,
                         1.0),
               InternalError);
  // count == 0 touches nothing, even through null pointers.
  EXPECT_NO_THROW(ScaleCopy(DataType::kFloat32, nullptr, DataType::kFloat16,
                            nullptr, 0, 0.5));
  // Messages name the types and the alpha.
  const std::string pair = ThrowMessage([] {
    uint16_t a[1] = {}, b[1] = {};
    ScaleCopy(DataType::kFloat16, a, DataType::kBFloat16, b, 1, 1.0);
  });
  EXPECT_NE(pair.find("float16"), std::string::npos) << pair;
  EXPECT_NE(pair.find("bfloat16"), std::string::npos) << pair;
  const std::string alpha = ThrowMessage([] {
    int64_t a[1] = {}, b[1] = {};
    ScaleCopy(DataType::kInt64, a, DataType::kInt64, b, 1, 0.5);
  });
  EXPECT_NE(alpha.find("int64"), std::string::npos) << alpha;
  EXPECT_NE(alpha.find("0.5"), std::string::npos) << alpha;
}

// ==== Axpy ====

TEST(AxpyTest, Float32) {
  for (int64_t count : kCounts) {
    const std::vector<float> src = SmallValues<float>(count, 10);
    const std::vector<float> start = SmallValues<float>(count, 11);
    for (double alpha : {1.0, 0.5, -3.0}) {
      std::vector<float> acc = start;
      Axpy(DataType::kFloat32, acc.data(), DataType::kFloat32, src.data(),
           count, alpha);
      for (size_t i = 0; i < acc.size(); ++i) {
        ASSERT_EQ(acc[i], start[i] + static_cast<float>(alpha) * src[i])
            << "i=" << i << " alpha=" << alpha;
      }
    }
  }
  // Rounding of a non-exact sum happens in float32, not in double.
  float acc = 1.0f;
  const float src = std::ldexp(1.0f, -24) * 1.5f;
  Axpy(DataType::kFloat32, &acc, DataType::kFloat32, &src, 1, 1.0);
  EXPECT_EQ(acc, 1.0f + src);
}

TEST(AxpyTest, Float64) {
  for (int64_t count : kCounts) {
    const std::vector<double> src = SmallValues<double>(count, 12);
    const std::vector<double> start = SmallValues<double>(count, 13);
    for (double alpha : {1.0, 0.25, -3.0}) {
      std::vector<double> acc = start;
      Axpy(DataType::kFloat64, acc.data(), DataType::kFloat64, src.data(),
           count, alpha);
      for (size_t i = 0; i < acc.size(); ++i) {
        ASSERT_EQ(acc[i], start[i] + alpha * src[i]) << "i=" << i;
      }
    }
  }
}

template <typename T>
void CheckIntegerAxpy(DataType dtype) {
  for (int64_t count : kCounts) {
    std::vector<T> acc(static_cast<size_t>(count));
    std::vector<T> src(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      acc[i] = static_cast<T>(i * 3 - 7);
      src[i] = static_cast<T>(100 - i);
    }
    acc[0] = std::numeric_limits<T>::max();  // Wraps around.
    src[0] = 1;
    Axpy(dtype, acc.data(), dtype, src.data(), count, 1.0);
    EXPECT_EQ(acc[0], std::numeric_limits<T>::min());
    for (int64_t i = 1; i < count; ++i) {
      ASSERT_EQ(acc[i], static_cast<T>(i * 3 - 7 + 100 - i)) << "i=" << i;
    }
  }
}

TEST(AxpyTest, Int32) { CheckIntegerAxpy<int32_t>(DataType::kInt32); }
TEST(AxpyTest, Int64) { CheckIntegerAxpy<int64_t>(DataType::kInt64); }

TEST(AxpyTest, Float32AccumulatesHalf) {
  for (int64_t count : kCounts) {
    const std::vector<uint16_t> src = HalfsOf(SmallValues<float>(count, 14));
    const std::vector<float> start = SmallValues<float>(count, 15);
    for (double alpha : {1.0, 0.5, -3.0}) {
      std::vector<float> acc = start;
      Axpy(DataType::kFloat32, acc.data(), DataType::kFloat16, src.data(),
           count, alpha);
      for (size_t i = 0; i < acc.size(); ++i) {
        ASSERT_EQ(acc[i], start[i] + static_cast<float>(alpha) *
                                         RefHalfToFloat(src[i]))
            << "i=" << i;
      }
    }
  }
}

TEST(AxpyTest, Float32AccumulatesBFloat16) {
  for (int64_t count : kCounts) {
    const std::vector<uint16_t> src =
        BFloat16sOf(SmallValues<float>(count, 16));
    const std::vector<float> start = SmallValues<float>(count, 17);
    for (double alpha : {1.0, 0.5, -3.0}) {
      std::vector<float> acc = start;
      Axpy(DataType::kFloat32, acc.data(), DataType::kBFloat16, src.data(),
           count, alpha);
      for (size_t i = 0; i < acc.size(); ++i) {
        ASSERT_EQ(acc[i], start[i] + static_cast<float>(alpha) *
                                         RefBFloat16ToFloat(src[i]))
            << "i=" << i;
      }
    }
  }
}

TEST(AxpyTest, Float32AccumulatesSpecialHalfs) {
  const std::vector<uint16_t> src = {0x7C00, 0xFC00, 0x7E00, 0x0001, 0x8000};
  std::vector<float> acc = {1.0f, 1.0f, 1.0f, 0.0f, 0.0f};
  Axpy(DataType::kFloat32, acc.data(), DataType::kFloat16, src.data(), 5, 1.0);
  EXPECT_EQ(acc[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(acc[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(acc[2]));
  EXPECT_EQ(acc[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(Bits(acc[4]), 0u);  // 0 + (-0) = +0.
}

TEST(AxpyTest, LowPrecisionSameType) {
  for (int64_t count : kCounts) {
    const std::vector<uint16_t> src = RandomBits16(count, 18);
    const std::vector<uint16_t> start = RandomBits16(count, 19);
    for (double alpha : {1.0, 0.3}) {
      const float a = static_cast<float>(alpha);
      std::vector<uint16_t> half = start;
      std::vector<uint16_t> bf16 = start;
      Axpy(DataType::kFloat16, half.data(), DataType::kFloat16, src.data(),
           count, alpha);
      Axpy(DataType::kBFloat16, bf16.data(), DataType::kBFloat16, src.data(),
           count, alpha);
      for (size_t i = 0; i < src.size(); ++i) {
        ASSERT_TRUE(SameHalf(RefFloatToHalf(RefHalfToFloat(start[i]) +
                                            a * RefHalfToFloat(src[i])),
                             half[i]))
            << "i=" << i;
        ASSERT_TRUE(SameBFloat16(
            RefFloatToBFloat16(RefBFloat16ToFloat(start[i]) +
                               a * RefBFloat16ToFloat(src[i])),
            bf16[i]))
            << "i=" << i;
      }
    }
  }
}

TEST(AxpyTest, Errors) {
  float f[4] = {};
  uint16_t h[4] = {};
  int32_t i32[4] = {};
  uint8_t u8[4] = {};
  EXPECT_THROW(Axpy(DataType::kInt32, i32, DataType::kInt32, i32 + 2, 2, 2.0),
               std::invalid_argument);
  EXPECT_THROW(Axpy(DataType::kUInt8, u8, DataType::kUInt8, u8 + 2, 2, 1.0),
               std::invalid_argument);
  EXPECT_THROW(Axpy(DataType::kFloat16, h, DataType::kFloat32, f, 2, 1.0),
               std::invalid_argument);
  EXPECT_THROW(Axpy(DataType::kFloat64, f, DataType::kFloat32, f + 2, 1, 1.0),
               std::invalid_argument);
  EXPECT_THROW(Axpy(DataType::kFloat32, f, DataType::kInt32, i32, 2, 1.0),
               std::invalid_argument);
  EXPECT_THROW(Axpy(DataType::kFloat32, f, DataType::kFloat32, f + 2, -1, 1.0),
               InternalError);
  EXPECT_THROW(Axpy(DataType::kFloat32, f, DataType::kFloat32, f, 2, 1.0),
               InternalError);  // Aliasing buffers.
  EXPECT_NO_THROW(
      Axpy(DataType::kFloat32, nullptr, DataType::kFloat16, nullptr, 0, 0.5));
  // Bad arguments are reported even when there is nothing to do.
  EXPECT_THROW(Axpy(DataType::kInt64, nullptr, DataType::kInt64, nullptr, 0,
                    0.5),
               std::invalid_argument);
  const std::string pair = ThrowMessage([] {
    float a[1] = {};
    int32_t b[1] = {};
    Axpy(DataType::kFloat32, a, DataType::kInt32, b, 1, 1.0);
  });
  EXPECT_NE(pair.find("float32"), std::string::npos) << pair;
  EXPECT_NE(pair.find("int32"), std::string::npos) << pair;
  const std::string alpha = ThrowMessage([] {
    int32_t a[1] = {}, b[1] = {};
    Axpy(DataType::kInt32, a, DataType::kInt32, b, 1, 0.25);
  });
  EXPECT_NE(alpha.find("int32"), std::string::npos) << alpha;
  EXPECT_NE(alpha.find("0.25"), std::string::npos) << alpha;
}

// ==== ScaleInPlace ====

TEST(ScaleInPlaceTest, FloatingTypes) {
  for (int64_t count : kCounts) {
    const std::vector<float> f32 = RandomFloats(count, 20);
    const std::vector<double> f64 = SmallValues<double>(count, 21);
    const std::vector<uint16_t> bits = RandomBits16(count, 22);
    for (double alpha : {0.5, 0.1, -3.0}) {
      const float a = static_cast<float>(alpha);
      std::vector<float> f32_data = f32;
      std::vector<double> f64_data = f64;
      std::vector<uint16_t> half = bits;
      std::vector<uint16_t> bf16 = bits;
      ScaleInPlace(DataType::kFloat32, f32_data.data(), count, alpha);
      ScaleInPlace(DataType::kFloat64, f64_data.data(), count, alpha);
      ScaleInPlace(DataType::kFloat16, half.data(), count, alpha);
      ScaleInPlace(DataType::kBFloat16, bf16.data(), count, alpha);
      for (size_t i = 0; i < bits.size(); ++i) {
        ASSERT_TRUE(SameFloat(a * f32[i], f32_data[i])) << "i=" << i;
        ASSERT_EQ(alpha * f64[i], f64_data[i]) << "i=" << i;
        ASSERT_TRUE(SameHalf(RefFloatToHalf(a * RefHalfToFloat(bits[i])),
                             half[i]))
            << "i=" << i;
        ASSERT_TRUE(SameBFloat16(
            RefFloatToBFloat16(a * RefBFloat16ToFloat(bits[i])), bf16[i]))
            << "i=" << i;
      }
    }
  }
}

TEST(ScaleInPlaceTest, UnitAlphaLeavesBitsUntouched) {
  const std::vector<uint16_t> bits = RandomBits16(1000, 23);
  std::vector<uint16_t> data = bits;
  ScaleInPlace(DataType::kFloat16, data.data(), 1000, 1.0);
  EXPECT_EQ(data, bits);
}

TEST(ScaleInPlaceTest, Errors) {
  int32_t i32[4] = {};
  float f[4] = {};
  EXPECT_THROW(ScaleInPlace(DataType::kInt32, i32, 4, 2.0),
               std::invalid_argument);
  EXPECT_THROW(ScaleInPlace(DataType::kBool, i32, 4, 1.0),
               std::invalid_argument);
  EXPECT_THROW(ScaleInPlace(DataType::kFloat32, f, -1, 2.0),
               InternalError);
  EXPECT_NO_THROW(ScaleInPlace(DataType::kFloat32, nullptr, 0, 2.0));
  const std::string message =
      ThrowMessage([] { ScaleInPlace(DataType::kInt16, nullptr, 0, 2.0); });
  EXPECT_NE(message.find("int16"), std::string::npos) << message;
}

// ==== Rescale: the last pass of a uniform average ====

// Counts around the vector widths (8 floats, 4 doubles per AVX2 register),
// so that the vector loops' remainders run too.
constexpr int64_t kTailCounts[] = {1, 3, 7, 8, 9, 15, 17, 33, 1000003};

TEST(RescaleTest, FactoriesAndApply) {
  EXPECT_EQ(Rescale::Multiply(1.0).kind, Rescale::Kind::kNone);
  EXPECT_EQ(Rescale::DivideBy(1.0).kind, Rescale::Kind::kNone);
  EXPECT_EQ(Rescale().kind, Rescale::Kind::kNone);
  const Rescale third = Rescale::DivideBy(3.0);
  EXPECT_EQ(third.kind, Rescale::Kind::kDivide);
  EXPECT_EQ(third.factor, 3.0);
  EXPECT_EQ(third.Apply(1.0), 1.0 / 3.0);
  EXPECT_EQ(Rescale::Multiply(0.3).Apply(2.0), 0.6);
  EXPECT_EQ(Rescale().Apply(5.0), 5.0);
}

TEST(RescaleTest, DivisionIsNotMultiplicationByTheReciprocal) {
  for (int64_t count : kTailCounts) {
    const std::vector<float> f32 = RandomFloats(count, 30);
    std::vector<double> f64(f32.begin(), f32.end());
    for (size_t i = 0; i < f64.size(); ++i) f64[i] *= 1.0 + std::ldexp(static_cast<double>(i), -40);
    for (double k : {3.0, 7.0, -3.0, 10.0, 6.0, 1e6 + 1}) {
      std::vector<float> f32_out(f32.size());
      std::vector<double> f64_out(f64.size());
      RescaleCopy(DataType::kFloat32, f32_out.data(), DataType::kFloat32, f32.data(), count,
                  Rescale::DivideBy(k));
      RescaleCopy(DataType::kFloat64, f64_out.data(), DataType::kFloat64, f64.data(), count,
                  Rescale::DivideBy(k));
      int64_t differs = 0;
      for (size_t i = 0; i < f32.size(); ++i) {
        const float kf = static_cast<float>(k);
        ASSERT_TRUE(SameFloat(f32[i] / kf, f32_out[i])) << "i=" << i << " k=" << k;
        ASSERT_TRUE(std::memcmp(&f64_out[i], &(const double&)(f64[i] / k), 8) == 0 ||
                    (std::isnan(f64[i]) && std::isnan(f64_out[i])))
            << "i=" << i << " k=" << k;
        differs += f32_out[i] != f32[i] * (1.0f / kf);
      }
      if (count == 1000003) {
        EXPECT_GT(differs, 0) << "k=" << k;
      }
    }
  }
}

TEST(RescaleTest, DivisionIntoHalfAndBFloat16RoundsTheExactQuotient) {
  // Rounding the float32 quotient again to 16 bits is exact here: for an
  // integer divisor below 2^11 the exact quotient of a float32 is never within
  // half a float32 ulp of a 16-bit midpoint unless it is one.
  const std::vector<float> sums = RandomFloats(1000003, 31);
  for (double k : {3.0, 5.0, 6.0, 7.0, 2.0, 10.0}) {
    for (bool half : {true, false}) {
      const DataType dtype = half ? DataType::kFloat16 : DataType::kBFloat16;
      std::vector<uint16_t> out(sums.size());
      RescaleCopy(dtype, out.data(), DataType::kFloat32, sums.data(),
                  static_cast<int64_t>(sums.size()), Rescale::DivideBy(k));
      for (size_t i = 0; i < sums.size(); ++i) {
        // The double quotient is never a 16-bit midpoint unless the exact one is.
        const double quotient = static_cast<double>(sums[i]) / k;
        const uint16_t expected = half ? RefFloatToHalf(quotient) : RefFloatToBFloat16(quotient);
        ASSERT_TRUE(half ? SameHalf(expected, out[i]) : SameBFloat16(expected, out[i]))
            << "i=" << i << " k=" << k << " sum " << sums[i];
      }
    }
  }
}

TEST(RescaleTest, DivisionIntoBFloat16SubnormalsIsWithinOneUlp) {
  // Among float32 subnormals (bfloat16 results below 2^-126) the float32
  // quotient can be a bfloat16 midpoint that the exact one is not: rounding it
  // again can then be 1 ulp off, the documented limit of kernels.h.
  std::vector<float> sums;
  for (uint32_t bits = 1; bits < 0x00800000u; bits += 7) sums.push_back(FromBits(bits));
  for (double k : {2.0, 3.0, 7.0}) {
    std::vector<uint16_t> out(sums.size());
    RescaleCopy(DataType::kBFloat16, out.data(), DataType::kFloat32, sums.data(),
                static_cast<int64_t>(sums.size()), Rescale::DivideBy(k));
    for (size_t i = 0; i < sums.size(); ++i) {
      const uint16_t exact = RefFloatToBFloat16(static_cast<double>(sums[i]) / k);
      ASSERT_LE(std::abs(static_cast<int>(out[i]) - static_cast<int>(exact)), 1)
          << "k=" << k << " sum bits 0x" << std::hex << Bits(sums[i]);
      ASSERT_TRUE(SameBFloat16(RefFloatToBFloat16(sums[i] / static_cast<float>(k)), out[i]));
    }
  }
}

// Exact references: small multiples of 1/8 keep sums and products exact, so
// only the final division or multiplication rounds.
template <typename T>
T Finished(T value, Rescale then) {
  switch (then.kind) {
    case Rescale::Kind::kDivide: return value / static_cast<T>(then.factor);
    case Rescale::Kind::kMultiply: return value * static_cast<T>(then.factor);
    default: return value;
  }
}

const Rescale kFinishes[] = {Rescale(), Rescale::DivideBy(3.0), Rescale::DivideBy(7.0),
                             Rescale::DivideBy(4.0), Rescale::Multiply(0.3)};

TEST(RescaleTest, FusedIntoAxpyAndWeightedSumFloat32AndFloat64) {
  for (int64_t count : kTailCounts) {
    const std::vector<float> x = SmallValues<float>(count, 40), y = SmallValues<float>(count, 41);
    const std::vector<double> xd = SmallValues<double>(count, 42),
                              yd = SmallValues<double>(count, 43);
    for (const Rescale& then : kFinishes) {
      for (double alpha : {1.0, 0.5}) {
        std::vector<float> acc = x;
        std::vector<double> accd = xd;
        Axpy(DataType::kFloat32, acc.data(), DataType::kFloat32, y.data(), count, alpha, then);
        Axpy(DataType::kFloat64, accd.data(), DataType::kFloat64, yd.data(), count, alpha, then);
        std::vector<float> ws(static_cast<size_t>(count));
        std::vector<double> wsd(static_cast<size_t>(count));
        WeightedSum(DataType::kFloat32, ws.data(), DataType::kFloat32, x.data(), 1.0, y.data(),
                    alpha, count, then);
        WeightedSum(DataType::kFloat64, wsd.data(), DataType::kFloat64, xd.data(), 1.0,
                    yd.data(), alpha, count, then);
        std::vector<float> in_place = x;
        RescaleInPlace(DataType::kFloat32, in_place.data(), count, then);
        for (int64_t i = 0; i < count; ++i) {
          const float sum = x[i] + static_cast<float>(alpha) * y[i];
          const double sumd = xd[i] + alpha * yd[i];
          ASSERT_TRUE(SameFloat(Finished(sum, then), acc[i])) << "i=" << i;
          ASSERT_TRUE(SameFloat(Finished(sum, then), ws[i])) << "i=" << i;
          ASSERT_EQ(Finished(sumd, then), accd[i]) << "i=" << i;
          ASSERT_EQ(Finished(sumd, then), wsd[i]) << "i=" << i;
          ASSERT_TRUE(SameFloat(Finished(x[i], then), in_place[i])) << "i=" << i;
        }
      }
    }
  }
}

TEST(RescaleTest, FusedIntoLowPrecisionPasses) {
  // float16/bfloat16 sources accumulate in float32; float16/bfloat16
  // accumulators add in float32 and round the rescaled sum once.
  for (int64_t count : kTailCounts) {
    const std::vector<float> xs = SmallValues<float>(count, 50), ys = SmallValues<float>(count, 51);
    for (bool half : {true, false}) {
      const DataType dtype = half ? DataType::kFloat16 : DataType::kBFloat16;
      auto to16 = [half](double v) { return half ? RefFloatToHalf(v) : RefFloatToBFloat16(v); };
      auto from16 = [half](uint16_t b) { return half ? RefHalfToFloat(b) : RefBFloat16ToFloat(b); };
      auto same16 = [half](uint16_t e, uint16_t a) { return half ? SameHalf(e, a) : SameBFloat16(e, a); };
      const std::vector<uint16_t> x = half ? HalfsOf(xs) : BFloat16sOf(xs);
      const std::vector<uint16_t> y = half ? HalfsOf(ys) : BFloat16sOf(ys);
      for (const Rescale& then : kFinishes) {
        std::vector<float> acc32(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) acc32[i] = from16(x[i]);
        Axpy(DataType::kFloat32, acc32.data(), dtype, y.data(), count, 1.0, then);
        std::vector<float> ws32(static_cast<size_t>(count));
        WeightedSum(DataType::kFloat32, ws32.data(), dtype, x.data(), 1.0, y.data(), 2.0, count,
                    then);
        std::vector<uint16_t> acc16 = x;
        Axpy(dtype, acc16.data(), dtype, y.data(), count, 1.0, then);
        std::vector<uint16_t> copy16(static_cast<size_t>(count));
        std::vector<float> sums(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) sums[i] = from16(x[i]) + from16(y[i]);
        RescaleCopy(dtype, copy16.data(), DataType::kFloat32, sums.data(), count, then);
        for (int64_t i = 0; i < count; ++i) {
          const float sum = from16(x[i]) + from16(y[i]);
          ASSERT_TRUE(SameFloat(Finished(sum, then), acc32[i])) << "i=" << i;
          ASSERT_TRUE(SameFloat(Finished(from16(x[i]) + 2.0f * from16(y[i]), then), ws32[i]))
              << "i=" << i;
          // Divisions round the exact quotient; multiplications round in float32 first.
          const uint16_t expected = then.kind == Rescale::Kind::kDivide
                                        ? to16(static_cast<double>(sum) / then.factor)
                                        : to16(Finished(sum, then));
          ASSERT_TRUE(same16(expected, acc16[i])) << DataTypeName(dtype) << " i=" << i;
          ASSERT_TRUE(same16(expected, copy16[i])) << DataTypeName(dtype) << " i=" << i;
        }
      }
    }
  }
}

TEST(RescaleTest, IntegersOnlyAddAndCopy) {
  int32_t a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
  RescaleCopy(DataType::kInt32, a, DataType::kInt32, b, 4, Rescale());
  EXPECT_EQ(a[3], 8);
  EXPECT_THROW(RescaleCopy(DataType::kInt32, a, DataType::kInt32, b, 4, Rescale::DivideBy(2)),
               std::invalid_argument);
  EXPECT_THROW(Axpy(DataType::kInt32, a, DataType::kInt32, b, 4, 1.0, Rescale::DivideBy(3)),
               std::invalid_argument);
  EXPECT_THROW(RescaleInPlace(DataType::kInt64, nullptr, 0, Rescale::DivideBy(3)),
               std::invalid_argument);
  const std::string message = ThrowMessage([] {
    int64_t x[1] = {}, y[1] = {};
    RescaleCopy(DataType::kInt64, x, DataType::kInt64, y, 1, Rescale::DivideBy(3));
  });
  EXPECT_NE(message.find("int64"), std::string::npos) << message;
  EXPECT_NE(message.find("divided"), std::string::npos) << message;
}

}  // namespace
}  // namespace bluefog

// ---------------------------------------------------------------------------
// WeightedSum: dst = a*x + b*y in one pass.

TEST(WeightedSum, MatchesSeparateScaleAndAxpyForEveryFloatPair) {
  const int64_t n = 1000003;
  std::vector<double> x(n), y(n), dst(n), reference(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = 0.25 * static_cast<double>(i % 97) - 3.0;
    y[i] = 1.5 - 0.125 * static_cast<double>(i % 31);
  }
  bluefog::WeightedSum(bluefog::DataType::kFloat64, dst.data(), bluefog::DataType::kFloat64,
                       x.data(), 0.3, y.data(), 0.7, n);
  bluefog::ScaleCopy(bluefog::DataType::kFloat64, reference.data(),
                     bluefog::DataType::kFloat64, x.data(), n, 0.3);
  bluefog::Axpy(bluefog::DataType::kFloat64, reference.data(), bluefog::DataType::kFloat64,
                y.data(), n, 0.7);
  EXPECT_EQ(dst, reference);

  std::vector<uint16_t> hx(7), hy(7);
  for (int i = 0; i < 7; ++i) {
    hx[i] = bluefog::FloatToHalf(static_cast<float>(i));
    hy[i] = bluefog::FloatToHalf(static_cast<float>(2 * i));
  }
  std::vector<float> out(7);
  bluefog::WeightedSum(bluefog::DataType::kFloat32, out.data(), bluefog::DataType::kFloat16,
                       hx.data(), 0.5, hy.data(), 0.25, 7);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(out[i], 0.5f * i + 0.25f * (2 * i)) << i;
}

TEST(WeightedSum, RejectsIntegersAndOverlap) {
  std::vector<int32_t> a(4), b(4), c(4);
  EXPECT_THROW(bluefog::WeightedSum(bluefog::DataType::kInt32, a.data(),
                                    bluefog::DataType::kInt32, b.data(), 1, c.data(), 1, 4),
               std::invalid_argument);
  std::vector<float> f(8);
  EXPECT_THROW(bluefog::WeightedSum(bluefog::DataType::kFloat32, f.data(),
                                    bluefog::DataType::kFloat32, f.data(), 1, f.data() + 4, 1, 4),
               bluefog::InternalError);
}
