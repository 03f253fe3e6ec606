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

std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace bluefog
