// From at::Tensor to the core's TensorView and back: checks, views, output
// allocation, and the submission every op shares.
#include <ATen/ATen.h>

#include "bluefog/core/buffer_pool.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {
namespace {

// Outputs come from recycled memory: a fresh 64 MiB tensor per call would
// pay for touching new pages every time. Never destroyed, since tensors may
// outlive static destruction.
BufferPool& OutputPool() {
  static BufferPool* pool = new BufferPool(size_t(1) << 30);
  return *pool;
}

DataType ToDataType(at::ScalarType type, const char* op) {
  switch (type) {
    case at::kByte: return DataType::kUInt8;
    case at::kChar: return DataType::kInt8;
    case at::kShort: return DataType::kInt16;
    case at::kInt: return DataType::kInt32;
    case at::kLong: return DataType::kInt64;
    case at::kHalf: return DataType::kFloat16;
    case at::kBFloat16: return DataType::kBFloat16;
    case at::kFloat: return DataType::kFloat32;
    case at::kDouble: return DataType::kFloat64;
    case at::kBool: return DataType::kBool;
    default:
      throw InvalidArgument(std::string(op) + ": unsupported dtype " +
                            std::string(at::toString(type)));
  }
}

}  // namespace

at::Tensor NewOutput(at::IntArrayRef sizes, const at::TensorOptions& options) {
  size_t bytes = options.dtype().itemsize();
  for (int64_t d : sizes) bytes *= static_cast<size_t>(d);
  if (bytes == 0) return at::empty(sizes, options);
  auto* buffer = new PooledBuffer(OutputPool().Acquire(bytes));
  return at::from_blob(
      buffer->data(), sizes, [buffer](void*) { delete buffer; }, options);
}

TensorView View(const at::Tensor& t, const char* op) {
  TensorView v;
  v.data = t.data_ptr();
  v.dtype = ToDataType(t.scalar_type(), op);
  v.shape.assign(t.sizes().begin(), t.sizes().end());
  return v;
}

void CheckTensor(const at::Tensor& t, const char* op) {
  if (!t.defined()) throw InvalidArgument(std::string(op) + ": tensor is undefined");
  if (!t.device().is_cpu())
    throw InvalidArgument(std::string(op) + ": only CPU tensors are supported (got a " +
                          t.device().str() + " tensor; this build has no GPU backend)");
  if (t.is_sparse()) throw InvalidArgument(std::string(op) + ": sparse tensors are not supported");
  ToDataType(t.scalar_type(), op);
}

Work SubmitSameLayout(Engine& engine, OpType type, const std::string& name,
                      const at::Tensor& tensor, const at::Tensor& output, const char* op,
                      const SameLayoutFactory& make) {
  CheckTensor(tensor, op);
  auto state = NewWorkState(engine);
  OpTensors& tensors = state->tensors;
  bool in_place = output.defined() && output.is_same(tensor);
  tensors.input = tensor.contiguous();
  if (in_place) {
    tensors.output = tensors.input;  // a private contiguous copy if `tensor` is not contiguous
    if (!tensor.is_contiguous()) tensors.copy_back_to = tensor;
  } else if (output.defined()) {
    CheckTensor(output, op);
    if (!output.is_contiguous() || output.sizes() != tensor.sizes() ||
        output.scalar_type() != tensor.scalar_type())
      throw InvalidArgument(std::string(op) +
                            ": output must be contiguous with the input's shape and dtype");
    tensors.output = output;
  } else {
    tensors.output = NewOutput(tensors.input.sizes(), tensors.input.options());
  }
  TensorView in = View(tensors.input, op);
  TensorView out = View(tensors.output, op);
  return SubmitWork(engine, type, name, std::move(state),
                    [&](OpIdentity id) { return make(std::move(id), in, out); });
}

Work SubmitWork(Engine& engine, OpType type, const std::string& name,
                std::shared_ptr<WorkState> state, const OpFactory& make) {
  ReleaseFinishedDroppedWorks();
  state->handle = engine.Submit(type, name, make);
  return Work(std::move(state));
}

}  // namespace api
}  // namespace bluefog
