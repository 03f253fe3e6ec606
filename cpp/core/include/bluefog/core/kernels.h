// Reduction kernels over raw buffers. All weights are double; arithmetic on
// float16/bfloat16 data happens in float32.
#pragma once
#include <cstdint>

#include "bluefog/core/dtype.h"

namespace bluefog {

// What the last pass of a combination does to each result: nothing, a
// multiplication, or a division, in the arithmetic type (float32 for
// float16/bfloat16). Rounding a float32 quotient by an integer divisor below
// 2^11 to 16 bits gives the correctly rounded exact quotient, except for
// bfloat16 results below 2^-126 (float32 subnormals), which can be 1 ulp off.
// Multiply(1) and DivideBy(1) are kNone.
struct Rescale {
  enum class Kind { kNone, kMultiply, kDivide };
  Kind kind = Kind::kNone;
  double factor = 1.0;  // the multiplier or the divisor

  static Rescale Multiply(double multiplier);
  static Rescale DivideBy(double divisor);
  double Apply(double value) const;
};

// dst[i] = alpha * src[i], converting from src_type to dst_type.
// Supported pairs: equal types (any type; alpha must be 1 for non-floating
// types), float32 <- float16/bfloat16 and float16/bfloat16 <- float32.
// Throws InvalidArgument for anything else.
void ScaleCopy(DataType dst_type, void* dst, DataType src_type, const void* src,
               int64_t count, double alpha);

// dst[i] = then(src[i]), with ScaleCopy's pairs (ScaleCopy is
// Rescale::Multiply(alpha)); integers only with kNone.
void RescaleCopy(DataType dst_type, void* dst, DataType src_type, const void* src,
                 int64_t count, Rescale then);

// acc[i] = then(acc[i] + alpha * src[i]). Supported pairs: equal summable types
// (alpha must be 1 and then kNone for integers), float32 accumulator with
// float16/bfloat16 source.
void Axpy(DataType acc_type, void* acc, DataType src_type, const void* src,
          int64_t count, double alpha, Rescale then = Rescale());

// dst[i] = then(a * x[i] + b * y[i]) in one pass, for floating types: equal
// types, or a float32 dst with float16/bfloat16 x and y. dst must not overlap
// x or y.
void WeightedSum(DataType dst_type, void* dst, DataType src_type, const void* x, double a,
                 const void* y, double b, int64_t count, Rescale then = Rescale());

// data[i] = then(data[i]), for floating types (float16/bfloat16 via float32).
// ScaleInPlace is Rescale::Multiply(alpha).
void RescaleInPlace(DataType dtype, void* data, int64_t count, Rescale then);
void ScaleInPlace(DataType dtype, void* data, int64_t count, double alpha);

// Scalar conversions, exposed for tests (round to nearest even).
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);
float BFloat16ToFloat(uint16_t bits);

}  // namespace bluefog
