#include "bluefog/core/kernels.h"

#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

// The hot loops are plain element-wise loops written so that GCC -O3
// auto-vectorizes them. On x86-64 Linux (ifunc available) each hot loop is
// also built for AVX2 and picked at load time; elsewhere, or when
// BLUEFOG_NO_TARGET_CLONES is defined (e.g. to test the portable build on an
// AVX2 machine), only the portable build exists.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && \
    !defined(__clang__) && !defined(BLUEFOG_NO_TARGET_CLONES)
#define BLUEFOG_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BLUEFOG_VECTOR_CLONES
#endif

namespace bluefog {
namespace {

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

// ---- Hot loops ----

template <class D, class S>
BLUEFOG_VECTOR_CLONES void ScaleCopyLoop(
    typename D::Storage* __restrict dst,
    const typename S::Storage* __restrict src, int64_t count,
    typename D::Math alpha) {
  for (int64_t i = 0; i < count; ++i) {
    dst[i] = D::Store(alpha * S::Load(src[i]));
  }
}

template <class A, class S>
BLUEFOG_VECTOR_CLONES void AxpyLoop(typename A::Storage* __restrict acc,
                                    const typename S::Storage* __restrict src,
                                    int64_t count, typename A::Math alpha) {
  for (int64_t i = 0; i < count; ++i) {
    acc[i] = A::Store(A::Load(acc[i]) + alpha * S::Load(src[i]));
  }
}

template <class A, class S>
BLUEFOG_VECTOR_CLONES void AddLoop(typename A::Storage* __restrict acc,
                                   const typename S::Storage* __restrict src,
                                   int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    acc[i] = A::Store(A::Load(acc[i]) + S::Load(src[i]));
  }
}

template <class D, class S>
BLUEFOG_VECTOR_CLONES void WeightedSumLoop(
    typename D::Storage* __restrict dst, const typename S::Storage* __restrict x,
    const typename S::Storage* __restrict y, int64_t count, typename D::Math a,
    typename D::Math b) {
  for (int64_t i = 0; i < count; ++i) {
    dst[i] = D::Store(a * S::Load(x[i]) + b * S::Load(y[i]));
  }
}

template <class T>
BLUEFOG_VECTOR_CLONES void ScaleInPlaceLoop(typename T::Storage* data,
                                            int64_t count,
                                            typename T::Math alpha) {
  for (int64_t i = 0; i < count; ++i) {
    data[i] = T::Store(alpha * T::Load(data[i]));
  }
}

// ---- Type-erased kernels, chosen once per call ----

using BinaryKernel = void (*)(void* dst, const void* src, int64_t count,
                              double alpha);
using UnaryKernel = void (*)(void* data, int64_t count, double alpha);

template <class D, class S>
void ScaleCopyKernel(void* dst, const void* src, int64_t count, double alpha) {
  static_assert(std::is_same<typename D::Math, typename S::Math>::value,
                "mixed arithmetic types");
  ScaleCopyLoop<D, S>(static_cast<typename D::Storage*>(dst),
                      static_cast<const typename S::Storage*>(src), count,
                      static_cast<typename D::Math>(alpha));
}

template <size_t kElementSize>
void ByteCopyKernel(void* dst, const void* src, int64_t count, double) {
  std::memcpy(dst, src, static_cast<size_t>(count) * kElementSize);
}

template <class A, class S>
void AxpyKernel(void* acc, const void* src, int64_t count, double alpha) {
  static_assert(std::is_same<typename A::Math, typename S::Math>::value,
                "mixed arithmetic types");
  AxpyLoop<A, S>(static_cast<typename A::Storage*>(acc),
                 static_cast<const typename S::Storage*>(src), count,
                 static_cast<typename A::Math>(alpha));
}

template <class A, class S>
void AddKernel(void* acc, const void* src, int64_t count, double) {
  AddLoop<A, S>(static_cast<typename A::Storage*>(acc),
                static_cast<const typename S::Storage*>(src), count);
}

template <class T>
void ScaleInPlaceKernel(void* data, int64_t count, double alpha) {
  ScaleInPlaceLoop<T>(static_cast<typename T::Storage*>(data), count,
                      static_cast<typename T::Math>(alpha));
}

using TernaryKernel = void (*)(void* dst, const void* x, const void* y, int64_t count,
                               double a, double b);

template <class D, class S>
void WeightedSumKernel(void* dst, const void* x, const void* y, int64_t count, double a,
                       double b) {
  WeightedSumLoop<D, S>(static_cast<typename D::Storage*>(dst),
                        static_cast<const typename S::Storage*>(x),
                        static_cast<const typename S::Storage*>(y), count,
                        static_cast<typename D::Math>(a), static_cast<typename D::Math>(b));
}

// ---- Argument checks ----

[[noreturn]] void ThrowUnsupportedPair(const char* op, DataType dst_type,
                                       DataType src_type) {
  throw std::invalid_argument(std::string(op) + ": unsupported type pair " +
                              DataTypeName(dst_type) + " <- " +
                              DataTypeName(src_type));
}

[[noreturn]] void ThrowNonUnitAlpha(const char* op, DataType dtype,
                                    double alpha) {
  std::ostringstream message;
  message << op << ": alpha must be 1 for " << DataTypeName(dtype)
          << ", got " << alpha;
  throw std::invalid_argument(message.str());
}

void RequireUnitAlpha(const char* op, DataType dtype, double alpha) {
  if (alpha != 1.0) ThrowNonUnitAlpha(op, dtype, alpha);
}

void CheckCount(const char* op, int64_t count) {
  if (count >= 0) return;
  throw std::invalid_argument(std::string(op) + ": negative count " +
                              std::to_string(count));
}

void CheckNotNull(const char* op, const void* pointer) {
  if (pointer != nullptr) return;
  throw std::invalid_argument(std::string(op) + ": null buffer");
}

void CheckDisjoint(const char* op, const void* a, size_t a_bytes,
                   const void* b, size_t b_bytes) {
  const auto a_begin = reinterpret_cast<uintptr_t>(a);
  const auto b_begin = reinterpret_cast<uintptr_t>(b);
  if (a_begin < b_begin + b_bytes && b_begin < a_begin + a_bytes) {
    throw std::invalid_argument(std::string(op) + ": buffers overlap");
  }
}

size_t ByteSize(DataType dtype, int64_t count) {
  return static_cast<size_t>(count) * DataTypeSize(dtype);
}

// ---- Kernel selection (throws for unsupported arguments) ----

BinaryKernel SelectByteCopy(DataType dtype) {
  switch (DataTypeSize(dtype)) {
    case 1:
      return &ByteCopyKernel<1>;
    case 2:
      return &ByteCopyKernel<2>;
    case 4:
      return &ByteCopyKernel<4>;
    default:
      return &ByteCopyKernel<8>;
  }
}

BinaryKernel SelectSameTypeScaleCopy(DataType dtype, double alpha) {
  if (alpha == 1.0) return SelectByteCopy(dtype);
  switch (dtype) {
    case DataType::kFloat32:
      return &ScaleCopyKernel<F32, F32>;
    case DataType::kFloat64:
      return &ScaleCopyKernel<F64, F64>;
    case DataType::kFloat16:
      return &ScaleCopyKernel<F16, F16>;
    case DataType::kBFloat16:
      return &ScaleCopyKernel<BF16, BF16>;
    default:
      ThrowNonUnitAlpha("ScaleCopy", dtype, alpha);
  }
}

BinaryKernel SelectScaleCopy(DataType dst_type, DataType src_type,
                             double alpha) {
  if (dst_type == src_type) return SelectSameTypeScaleCopy(dst_type, alpha);
  if (dst_type == DataType::kFloat32) {
    if (src_type == DataType::kFloat16) return &ScaleCopyKernel<F32, F16>;
    if (src_type == DataType::kBFloat16) return &ScaleCopyKernel<F32, BF16>;
  }
  if (src_type == DataType::kFloat32) {
    if (dst_type == DataType::kFloat16) return &ScaleCopyKernel<F16, F32>;
    if (dst_type == DataType::kBFloat16) return &ScaleCopyKernel<BF16, F32>;
  }
  ThrowUnsupportedPair("ScaleCopy", dst_type, src_type);
}

BinaryKernel SelectSameTypeAxpy(DataType dtype, double alpha) {
  const bool unit = alpha == 1.0;
  switch (dtype) {
    case DataType::kFloat32:
      return unit ? &AddKernel<F32, F32> : &AxpyKernel<F32, F32>;
    case DataType::kFloat64:
      return unit ? &AddKernel<F64, F64> : &AxpyKernel<F64, F64>;
    case DataType::kFloat16:
      return unit ? &AddKernel<F16, F16> : &AxpyKernel<F16, F16>;
    case DataType::kBFloat16:
      return unit ? &AddKernel<BF16, BF16> : &AxpyKernel<BF16, BF16>;
    case DataType::kInt32:
      RequireUnitAlpha("Axpy", dtype, alpha);
      return &AddKernel<I32, I32>;
    case DataType::kInt64:
      RequireUnitAlpha("Axpy", dtype, alpha);
      return &AddKernel<I64, I64>;
    default:
      ThrowUnsupportedPair("Axpy", dtype, dtype);
  }
}

BinaryKernel SelectAxpy(DataType acc_type, DataType src_type, double alpha) {
  if (acc_type == src_type) return SelectSameTypeAxpy(acc_type, alpha);
  if (acc_type == DataType::kFloat32) {
    if (src_type == DataType::kFloat16) return &AxpyKernel<F32, F16>;
    if (src_type == DataType::kBFloat16) return &AxpyKernel<F32, BF16>;
  }
  ThrowUnsupportedPair("Axpy", acc_type, src_type);
}

TernaryKernel SelectWeightedSum(DataType dst_type, DataType src_type) {
  if (dst_type == src_type) {
    switch (dst_type) {
      case DataType::kFloat32: return &WeightedSumKernel<F32, F32>;
      case DataType::kFloat64: return &WeightedSumKernel<F64, F64>;
      case DataType::kFloat16: return &WeightedSumKernel<F16, F16>;
      case DataType::kBFloat16: return &WeightedSumKernel<BF16, BF16>;
      default: break;
    }
  } else if (dst_type == DataType::kFloat32) {
    if (src_type == DataType::kFloat16) return &WeightedSumKernel<F32, F16>;
    if (src_type == DataType::kBFloat16) return &WeightedSumKernel<F32, BF16>;
  }
  ThrowUnsupportedPair("WeightedSum", dst_type, src_type);
}

UnaryKernel SelectScaleInPlace(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return &ScaleInPlaceKernel<F32>;
    case DataType::kFloat64:
      return &ScaleInPlaceKernel<F64>;
    case DataType::kFloat16:
      return &ScaleInPlaceKernel<F16>;
    case DataType::kBFloat16:
      return &ScaleInPlaceKernel<BF16>;
    default:
      throw std::invalid_argument(
          std::string("ScaleInPlace: floating type required, got ") +
          DataTypeName(dtype));
  }
}

}  // namespace

// Arguments are validated even when count == 0, so a bad call fails the same
// way whatever the buffer size.

void ScaleCopy(DataType dst_type, void* dst, DataType src_type, const void* src,
               int64_t count, double alpha) {
  const BinaryKernel kernel = SelectScaleCopy(dst_type, src_type, alpha);
  CheckCount("ScaleCopy", count);
  if (count == 0) return;
  CheckNotNull("ScaleCopy", dst);
  CheckNotNull("ScaleCopy", src);
  if (dst == src && dst_type == src_type) {
    // Integers only get here with alpha == 1, a no-op.
    if (alpha != 1.0) SelectScaleInPlace(dst_type)(dst, count, alpha);
    return;
  }
  CheckDisjoint("ScaleCopy", dst, ByteSize(dst_type, count), src,
                ByteSize(src_type, count));
  kernel(dst, src, count, alpha);
}

void Axpy(DataType acc_type, void* acc, DataType src_type, const void* src,
          int64_t count, double alpha) {
  const BinaryKernel kernel = SelectAxpy(acc_type, src_type, alpha);
  CheckCount("Axpy", count);
  if (count == 0) return;
  CheckNotNull("Axpy", acc);
  CheckNotNull("Axpy", src);
  CheckDisjoint("Axpy", acc, ByteSize(acc_type, count), src,
                ByteSize(src_type, count));
  kernel(acc, src, count, alpha);
}

void WeightedSum(DataType dst_type, void* dst, DataType src_type, const void* x, double a,
                 const void* y, double b, int64_t count) {
  const TernaryKernel kernel = SelectWeightedSum(dst_type, src_type);
  CheckCount("WeightedSum", count);
  if (count == 0) return;
  CheckNotNull("WeightedSum", dst);
  CheckNotNull("WeightedSum", x);
  CheckNotNull("WeightedSum", y);
  CheckDisjoint("WeightedSum", dst, ByteSize(dst_type, count), x, ByteSize(src_type, count));
  CheckDisjoint("WeightedSum", dst, ByteSize(dst_type, count), y, ByteSize(src_type, count));
  kernel(dst, x, y, count, a, b);
}

void ScaleInPlace(DataType dtype, void* data, int64_t count, double alpha) {
  const UnaryKernel kernel = SelectScaleInPlace(dtype);
  CheckCount("ScaleInPlace", count);
  if (count == 0 || alpha == 1.0) return;
  CheckNotNull("ScaleInPlace", data);
  kernel(data, count, alpha);
}

uint16_t FloatToHalf(float value) { return FloatToHalfBits(value); }
float HalfToFloat(uint16_t bits) { return HalfBitsToFloat(bits); }
uint16_t FloatToBFloat16(float value) { return FloatToBFloat16Bits(value); }
float BFloat16ToFloat(uint16_t bits) { return BFloat16BitsToFloat(bits); }

}  // namespace bluefog
