#include "bluefog/core/kernels.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "bluefog/core/status.h"
#include "element_codecs.h"

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

using namespace element_codecs;

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
  throw InvalidArgument(std::string(op) + ": unsupported type pair " +
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
  throw InvalidArgument(message.str());
}

void CheckCount(const char* op, int64_t count) {
  if (count >= 0) return;
  throw InternalError(std::string(op) + ": negative count " +
                              std::to_string(count));
}

void CheckNotNull(const char* op, const void* pointer) {
  if (pointer != nullptr) return;
  throw InternalError(std::string(op) + ": null buffer");
}

void CheckDisjoint(const char* op, const void* a, size_t a_bytes,
                   const void* b, size_t b_bytes) {
  const auto a_begin = reinterpret_cast<uintptr_t>(a);
  const auto b_begin = reinterpret_cast<uintptr_t>(b);
  if (a_begin < b_begin + b_bytes && b_begin < a_begin + a_bytes) {
    throw InternalError(std::string(op) + ": buffers overlap");
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
    throw InvalidArgument(std::string("ScaleInPlace: floating type required, got ") +
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
