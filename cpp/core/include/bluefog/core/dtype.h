// Element types the core understands, independent of any framework.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bluefog {

enum class DataType : uint8_t {
  kUInt8 = 0,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFloat16,
  kBFloat16,
  kFloat32,
  kFloat64,
  kBool,
};

constexpr int kNumDataTypes = 10;

size_t DataTypeSize(DataType dtype);
const char* DataTypeName(DataType dtype);
bool IsFloatingPoint(DataType dtype);
// float16 and bfloat16: reduced in a float32 accumulator.
bool IsLowPrecisionFloat(DataType dtype);
// Types allreduce may sum: the floating types, int32 and int64.
bool IsSummable(DataType dtype);

}  // namespace bluefog
