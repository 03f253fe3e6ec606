// How the core sees a tensor: contiguous memory plus its element type and shape.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bluefog/core/dtype.h"

namespace bluefog {

struct TensorView {
  void* data = nullptr;
  DataType dtype = DataType::kFloat32;
  std::vector<int64_t> shape;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t bytes() const { return static_cast<size_t>(numel()) * DataTypeSize(dtype); }
};

// "[a, b, c]": for shapes and rank lists in messages.
template <typename T>
std::string ListString(const std::vector<T>& values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(values[i]);
  }
  return s + "]";
}

inline std::string ShapeString(const std::vector<int64_t>& shape) {
  return ListString(shape);
}

}  // namespace bluefog
