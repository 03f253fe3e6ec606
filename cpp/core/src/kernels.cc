#include "bluefog/core/kernels.h"

#include <cmath>
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

// What a loop does to each result before storing it (Rescale::Kind).
struct Keep {
  template <class C>
  static typename C::Math Apply(typename C::Math v, typename C::Math) { return v; }
};

struct Times {
  template <class C>
  static typename C::Math Apply(typename C::Math v, typename C::Math factor) {
    return v * factor;
  }
};

struct Over {
  template <class C>
  static typename C::Math Apply(typename C::Math v, typename C::Math divisor) {
    return v / divisor;
  }
};

// ---- Hot loops ----

template <class D, class S, class P>
BLUEFOG_VECTOR_CLONES void CopyLoop(typename D::Storage* __restrict dst,
                                    const typename S::Storage* __restrict src,
                                    int64_t count, typename D::Math factor) {
  for (int64_t i = 0; i < count; ++i) {
    dst[i] = D::Store(P::template Apply<D>(S::Load(src[i]), factor));
  }
}

template <class A, class S, class P>
BLUEFOG_VECTOR_CLONES void AxpyLoop(typename A::Storage* __restrict acc,
                                    const typename S::Storage* __restrict src,
                                    int64_t count, typename A::Math alpha,
                                    typename A::Math factor) {
  for (int64_t i = 0; i < count; ++i) {
    acc[i] = A::Store(P::template Apply<A>(A::Load(acc[i]) + alpha * S::Load(src[i]), factor));
  }
}

template <class A, class S, class P>
BLUEFOG_VECTOR_CLONES void AddLoop(typename A::Storage* __restrict acc,
                                   const typename S::Storage* __restrict src,
                                   int64_t count, typename A::Math factor) {
  for (int64_t i = 0; i < count; ++i) {
    acc[i] = A::Store(P::template Apply<A>(A::Load(acc[i]) + S::Load(src[i]), factor));
  }
}

template <class D, class S, class P>
BLUEFOG_VECTOR_CLONES void WeightedSumLoop(
    typename D::Storage* __restrict dst, const typename S::Storage* __restrict x,
    const typename S::Storage* __restrict y, int64_t count, typename D::Math a,
    typename D::Math b, typename D::Math factor) {
  for (int64_t i = 0; i < count; ++i) {
    dst[i] = D::Store(P::template Apply<D>(a * S::Load(x[i]) + b * S::Load(y[i]), factor));
  }
}

template <class T, class P>
BLUEFOG_VECTOR_CLONES void InPlaceLoop(typename T::Storage* data, int64_t count,
                                       typename T::Math factor) {
  for (int64_t i = 0; i < count; ++i) {
    data[i] = T::Store(P::template Apply<T>(T::Load(data[i]), factor));
  }
}

// ---- Type-erased kernels, chosen once per call ----

using CopyFn = void (*)(void* dst, const void* src, int64_t count, double factor);
using AxpyFn = void (*)(void* acc, const void* src, int64_t count, double alpha,
                        double factor);
using WeightedSumFn = void (*)(void* dst, const void* x, const void* y, int64_t count,
                               double a, double b, double factor);
using InPlaceFn = void (*)(void* data, int64_t count, double factor);

template <class D, class S, class P>
void CopyKernel(void* dst, const void* src, int64_t count, double factor) {
  static_assert(std::is_same<typename D::Math, typename S::Math>::value,
                "mixed arithmetic types");
  CopyLoop<D, S, P>(static_cast<typename D::Storage*>(dst),
                    static_cast<const typename S::Storage*>(src), count,
                    static_cast<typename D::Math>(factor));
}

template <size_t kElementSize>
void ByteCopyKernel(void* dst, const void* src, int64_t count, double) {
  std::memcpy(dst, src, static_cast<size_t>(count) * kElementSize);
}

template <class A, class S, class P>
void AxpyKernel(void* acc, const void* src, int64_t count, double alpha, double factor) {
  static_assert(std::is_same<typename A::Math, typename S::Math>::value,
                "mixed arithmetic types");
  AxpyLoop<A, S, P>(static_cast<typename A::Storage*>(acc),
                    static_cast<const typename S::Storage*>(src), count,
                    static_cast<typename A::Math>(alpha),
                    static_cast<typename A::Math>(factor));
}

template <class A, class S, class P>
void AddKernel(void* acc, const void* src, int64_t count, double, double factor) {
  AddLoop<A, S, P>(static_cast<typename A::Storage*>(acc),
                   static_cast<const typename S::Storage*>(src), count,
                   static_cast<typename A::Math>(factor));
}

template <class D, class S, class P>
void WeightedSumKernel(void* dst, const void* x, const void* y, int64_t count, double a,
                       double b, double factor) {
  WeightedSumLoop<D, S, P>(static_cast<typename D::Storage*>(dst),
                           static_cast<const typename S::Storage*>(x),
                           static_cast<const typename S::Storage*>(y), count,
                           static_cast<typename D::Math>(a),
                           static_cast<typename D::Math>(b),
                           static_cast<typename D::Math>(factor));
}

template <class T, class P>
void InPlaceKernel(void* data, int64_t count, double factor) {
  InPlaceLoop<T, P>(static_cast<typename T::Storage*>(data), count,
                    static_cast<typename T::Math>(factor));
}

// ---- Argument checks ----

[[noreturn]] void ThrowUnsupportedPair(const char* op, DataType dst_type,
                                       DataType src_type) {
  throw std::invalid_argument(std::string(op) + ": unsupported type pair " +
                              DataTypeName(dst_type) + " <- " +
                              DataTypeName(src_type));
}

// For integer data, which only adds and copies.
[[noreturn]] void ThrowRescale(const char* op, DataType dtype, double alpha, Rescale then) {
  std::ostringstream message;
  message << op << ": ";
  if (then.kind == Rescale::Kind::kDivide) {
    message << DataTypeName(dtype) << " data cannot be divided (by " << then.factor << ")";
  } else {
    message << "alpha must be 1 for " << DataTypeName(dtype) << ", got "
            << (alpha != 1.0 ? alpha : then.factor);
  }
  throw std::invalid_argument(message.str());
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

// ---- Kernel selection (null, or a throw, for unsupported arguments) ----

template <class T>
struct Tag {
  using type = T;
};

// Calls visit(Tag<D>(), Tag<S>()) for the codecs of a floating pair: equal
// types, float32 <- float16/bfloat16 and, when kNarrowing,
// float16/bfloat16 <- float32. Null for any other pair.
template <bool kNarrowing, class Visit>
auto VisitFloatPair(DataType dst_type, DataType src_type, Visit visit)
    -> decltype(visit(Tag<F32>(), Tag<F32>())) {
  if (dst_type == src_type) {
    switch (dst_type) {
      case DataType::kFloat32: return visit(Tag<F32>(), Tag<F32>());
      case DataType::kFloat64: return visit(Tag<F64>(), Tag<F64>());
      case DataType::kFloat16: return visit(Tag<F16>(), Tag<F16>());
      case DataType::kBFloat16: return visit(Tag<BF16>(), Tag<BF16>());
      default: return nullptr;
    }
  }
  if (dst_type == DataType::kFloat32) {
    if (src_type == DataType::kFloat16) return visit(Tag<F32>(), Tag<F16>());
    if (src_type == DataType::kBFloat16) return visit(Tag<F32>(), Tag<BF16>());
  }
  if constexpr (kNarrowing) {
    if (src_type == DataType::kFloat32) {
      if (dst_type == DataType::kFloat16) return visit(Tag<F16>(), Tag<F32>());
      if (dst_type == DataType::kBFloat16) return visit(Tag<BF16>(), Tag<F32>());
    }
  }
  return nullptr;
}

// Calls visit(Tag<P>()) for the loop policy of `then`.
template <class Visit>
auto VisitRescale(Rescale then, Visit visit) -> decltype(visit(Tag<Keep>())) {
  switch (then.kind) {
    case Rescale::Kind::kMultiply: return visit(Tag<Times>());
    case Rescale::Kind::kDivide: return visit(Tag<Over>());
    default: return visit(Tag<Keep>());
  }
}

// Dividing by a power of two is exact scaling, so multiplying by its inverse
// gives the same bits, faster.
Rescale ForDestination(Rescale then) {
  if (then.kind != Rescale::Kind::kDivide) return then;
  int exponent = 0;
  if (std::fabs(std::frexp(then.factor, &exponent)) != 0.5) return then;
  return Rescale::Multiply(1.0 / then.factor);
}

bool IsInteger(DataType dtype) {
  return dtype == DataType::kInt32 || dtype == DataType::kInt64;
}

CopyFn SelectByteCopy(DataType dtype) {
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

CopyFn SelectCopy(DataType dst_type, DataType src_type, Rescale then) {
  if (dst_type == src_type && then.kind == Rescale::Kind::kNone)
    return SelectByteCopy(dst_type);
  const CopyFn kernel = VisitRescale(then, [&](auto policy) {
    using P = typename decltype(policy)::type;
    return VisitFloatPair<true>(dst_type, src_type, [](auto d, auto s) -> CopyFn {
      return &CopyKernel<typename decltype(d)::type, typename decltype(s)::type, P>;
    });
  });
  if (kernel != nullptr) return kernel;
  if (dst_type == src_type) ThrowRescale("ScaleCopy", dst_type, 1.0, then);
  ThrowUnsupportedPair("ScaleCopy", dst_type, src_type);
}

AxpyFn SelectAxpy(DataType acc_type, DataType src_type, double alpha, Rescale then) {
  const bool unit = alpha == 1.0;
  if (acc_type == src_type && IsInteger(acc_type)) {
    if (!unit || then.kind != Rescale::Kind::kNone) ThrowRescale("Axpy", acc_type, alpha, then);
    return acc_type == DataType::kInt32 ? &AddKernel<I32, I32, Keep> : &AddKernel<I64, I64, Keep>;
  }
  const AxpyFn kernel = VisitRescale(then, [&](auto policy) {
    using P = typename decltype(policy)::type;
    return VisitFloatPair<false>(acc_type, src_type, [unit](auto a, auto s) -> AxpyFn {
      using A = typename decltype(a)::type;
      using S = typename decltype(s)::type;
      return unit ? &AddKernel<A, S, P> : &AxpyKernel<A, S, P>;
    });
  });
  if (kernel == nullptr) ThrowUnsupportedPair("Axpy", acc_type, src_type);
  return kernel;
}

WeightedSumFn SelectWeightedSum(DataType dst_type, DataType src_type, Rescale then) {
  const WeightedSumFn kernel = VisitRescale(then, [&](auto policy) {
    using P = typename decltype(policy)::type;
    return VisitFloatPair<false>(dst_type, src_type, [](auto d, auto s) -> WeightedSumFn {
      return &WeightedSumKernel<typename decltype(d)::type, typename decltype(s)::type, P>;
    });
  });
  if (kernel == nullptr) ThrowUnsupportedPair("WeightedSum", dst_type, src_type);
  return kernel;
}

InPlaceFn SelectInPlace(DataType dtype, Rescale then) {
  const InPlaceFn kernel = VisitRescale(then, [&](auto policy) {
    using P = typename decltype(policy)::type;
    return VisitFloatPair<false>(dtype, dtype, [](auto d, auto) -> InPlaceFn {
      return &InPlaceKernel<typename decltype(d)::type, P>;
    });
  });
  if (kernel == nullptr)
    throw std::invalid_argument(std::string("ScaleInPlace: floating type required, got ") +
                                DataTypeName(dtype));
  return kernel;
}

// Multiply(1) and DivideBy(1) do nothing.
Rescale MakeRescale(Rescale::Kind kind, double factor) {
  Rescale r;
  if (factor != 1.0) {
    r.kind = kind;
    r.factor = factor;
  }
  return r;
}

}  // namespace

Rescale Rescale::Multiply(double multiplier) { return MakeRescale(Kind::kMultiply, multiplier); }

Rescale Rescale::DivideBy(double divisor) { return MakeRescale(Kind::kDivide, divisor); }

double Rescale::Apply(double value) const {
  switch (kind) {
    case Kind::kMultiply: return value * factor;
    case Kind::kDivide: return value / factor;
    default: return value;
  }
}

// Arguments are validated even when count == 0, so a bad call fails the same
// way whatever the buffer size.

void RescaleCopy(DataType dst_type, void* dst, DataType src_type, const void* src,
                 int64_t count, Rescale then) {
  then = ForDestination(then);
  const CopyFn kernel = SelectCopy(dst_type, src_type, then);
  CheckCount("ScaleCopy", count);
  if (count == 0) return;
  CheckNotNull("ScaleCopy", dst);
  CheckNotNull("ScaleCopy", src);
  if (dst == src && dst_type == src_type) {
    // Integers only get here with kNone, a no-op.
    if (then.kind != Rescale::Kind::kNone) SelectInPlace(dst_type, then)(dst, count, then.factor);
    return;
  }
  CheckDisjoint("ScaleCopy", dst, ByteSize(dst_type, count), src,
                ByteSize(src_type, count));
  kernel(dst, src, count, then.factor);
}

void ScaleCopy(DataType dst_type, void* dst, DataType src_type, const void* src,
               int64_t count, double alpha) {
  RescaleCopy(dst_type, dst, src_type, src, count, Rescale::Multiply(alpha));
}

void Axpy(DataType acc_type, void* acc, DataType src_type, const void* src,
          int64_t count, double alpha, Rescale then) {
  then = ForDestination(then);
  const AxpyFn kernel = SelectAxpy(acc_type, src_type, alpha, then);
  CheckCount("Axpy", count);
  if (count == 0) return;
  CheckNotNull("Axpy", acc);
  CheckNotNull("Axpy", src);
  CheckDisjoint("Axpy", acc, ByteSize(acc_type, count), src,
                ByteSize(src_type, count));
  kernel(acc, src, count, alpha, then.factor);
}

void WeightedSum(DataType dst_type, void* dst, DataType src_type, const void* x, double a,
                 const void* y, double b, int64_t count, Rescale then) {
  then = ForDestination(then);
  const WeightedSumFn kernel = SelectWeightedSum(dst_type, src_type, then);
  CheckCount("WeightedSum", count);
  if (count == 0) return;
  CheckNotNull("WeightedSum", dst);
  CheckNotNull("WeightedSum", x);
  CheckNotNull("WeightedSum", y);
  CheckDisjoint("WeightedSum", dst, ByteSize(dst_type, count), x, ByteSize(src_type, count));
  CheckDisjoint("WeightedSum", dst, ByteSize(dst_type, count), y, ByteSize(src_type, count));
  kernel(dst, x, y, count, a, b, then.factor);
}

void RescaleInPlace(DataType dtype, void* data, int64_t count, Rescale then) {
  then = ForDestination(then);
  const InPlaceFn kernel = SelectInPlace(dtype, then);
  CheckCount("ScaleInPlace", count);
  if (count == 0 || then.kind == Rescale::Kind::kNone) return;
  CheckNotNull("ScaleInPlace", data);
  kernel(data, count, then.factor);
}

void ScaleInPlace(DataType dtype, void* data, int64_t count, double alpha) {
  RescaleInPlace(dtype, data, count, Rescale::Multiply(alpha));
}

uint16_t FloatToHalf(float value) { return FloatToHalfBits(value); }
float HalfToFloat(uint16_t bits) { return HalfBitsToFloat(bits); }
uint16_t FloatToBFloat16(float value) { return FloatToBFloat16Bits(value); }
float BFloat16ToFloat(uint16_t bits) { return BFloat16BitsToFloat(bits); }

}  // namespace bluefog
