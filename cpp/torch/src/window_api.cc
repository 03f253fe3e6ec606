// The LibTorch side of one-sided windows: window tensors are kept alive here
// for as long as their window exists.
#include <ATen/ATen.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "bluefog/core/engine.h"
#include "bluefog/core/timeline.h"
#include "bluefog/core/weights.h"
#include "bluefog/core/window_ops.h"
#include "bluefog/core/wire.h"
#include "bluefog/torch.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {
namespace {

std::mutex g_window_mutex;
std::unordered_map<std::string, at::Tensor> g_window_tensors;

// Bounds how long a window read waits for this rank's engine to apply what
// has arrived (a busy engine may be slow to get there; the read then sees
// the writes applied so far, as it would without waiting).
constexpr double kDeliveryWaitSeconds = 0.005;

std::shared_ptr<Window> FindWindow(const std::string& name, const char* op) {
  auto window = RunningEngine().Windows().Find(name);
  if (!window)
    throw InvalidArgument(std::string(op) + ": no window named '" + name +
                          "' (create it with win_create first)");
  return window;
}

at::Tensor WindowTensor(const std::string& name) {
  std::lock_guard<std::mutex> lock(g_window_mutex);
  return g_window_tensors.at(name);
}

OpType TransferType(WinTransferKind kind) {
  switch (kind) {
    case WinTransferKind::kPut: return OpType::kWinPut;
    case WinTransferKind::kAccumulate: return OpType::kWinAccumulate;
    case WinTransferKind::kGet: return OpType::kWinGet;
  }
  throw InvalidArgument("win_transfer: unknown transfer kind " +
                        std::to_string(static_cast<int>(kind)));
}

const char* TransferName(OpType type) {
  return type == OpType::kWinPut ? "win_put"
         : type == OpType::kWinAccumulate ? "win_accumulate" : "win_get";
}

}  // namespace

void win_create(const at::Tensor& tensor, const std::string& name,
                const std::vector<int>& in_neighbors, bool zero_init) {
  CheckTensor(tensor, "win_create");
  if (!tensor.is_contiguous())
    throw InvalidArgument("win_create: the window tensor must be contiguous (win_update "
                          "writes into it in place)");
  if (!at::isFloatingType(tensor.scalar_type()))
    throw InvalidArgument("win_create: windows hold float16, bfloat16, float32 or float64 "
                          "tensors, not " + std::string(at::toString(tensor.scalar_type())));
  Engine& engine = RunningEngine();
  TimelineActivity activity(name, "WIN_CREATE");  // 0.3's names
  std::lock_guard<std::mutex> lock(g_window_mutex);
  engine.Windows().Create(name, View(tensor, "win_create"), in_neighbors, zero_init);
  g_window_tensors[name] = tensor;
}

bool win_free(const std::string& name) {
  bool freed = RunningEngine().Windows().Free(name);
  std::lock_guard<std::mutex> lock(g_window_mutex);
  g_window_tensors.erase(name);
  return freed;
}

Work win_transfer(const std::string& name, const at::Tensor& tensor,
                  const WinTransferOptions& options) {
  OpType type = TransferType(options.kind);
  const char* what = TransferName(type);
  WindowOpArgs args;
  args.window = FindWindow(name, what);
  args.peers = options.peers;
  args.require_mutex = options.require_mutex;
  args.with_p = options.with_p;
  args.self_weight = options.self_weight;
  Engine& engine = RunningEngine();
  auto state = NewWorkState(engine);
  if (type != OpType::kWinGet) {
    CheckTensor(tensor, what);
    const TensorView& window = args.window->tensor();
    state->tensors.input = tensor.contiguous();
    args.payload = View(state->tensors.input, what);
    if (args.payload.dtype != window.dtype || args.payload.shape != window.shape)
      throw InvalidArgument(std::string(what) + ": tensor is " +
                            DataTypeName(args.payload.dtype) + " " +
                            ShapeString(args.payload.shape) + " but window '" + name +
                            "' holds " + DataTypeName(window.dtype) + " " +
                            ShapeString(window.shape));
  }
  // Matched by its replies only: a private key, called by the window's name.
  return SubmitWork(engine, type, NewPrivateKey(name), std::move(state),
                    [&](OpIdentity id) {
                      return MakeWindowTransferOp(std::move(id), std::move(args));
                    });
}

namespace {

// Acquires or releases the mutex of `ranks`' windows; `exclusive`: win_lock's.
Work SubmitMutexOp(const std::string& name, const char* what, std::vector<int> ranks,
                   bool exclusive, bool lock) {
  WindowOpArgs args;
  args.window = FindWindow(name, what);
  for (int r : ranks) args.peers.emplace_back(r, 1.0);
  args.exclusive = exclusive;
  Engine& engine = RunningEngine();
  OpType type = lock ? OpType::kWinLock : OpType::kWinUnlock;
  return SubmitWork(engine, type, NewPrivateKey(name), NewWorkState(engine),
                    [&](OpIdentity id) {
                      return MakeWindowMutexOp(std::move(id), std::move(args));
                    });
}

}  // namespace

Work win_mutex(const std::string& name, const WinMutexOptions& options) {
  return SubmitMutexOp(name, "win_mutex", options.ranks, false, options.lock);
}

Work win_lock(const std::string& name, const WinLockOptions& options) {
  return SubmitMutexOp(name, "win_lock", {RunningEngine().world().rank}, true, options.lock);
}

at::Tensor win_update(const std::string& name, double self_weight,
                      const std::vector<std::pair<int, double>>& weights, bool reset,
                      bool clone, bool with_p) {
  auto window = FindWindow(name, "win_update");
  CheckWeight("win_update", "self_weight", self_weight);
  CheckRankWeights("win_update", "neighbor_weights", weights);
  RunningEngine().DeliverArrived(kDeliveryWaitSeconds);
  at::Tensor tensor = WindowTensor(name);
  at::Tensor out = clone ? at::empty_like(tensor) : tensor;
  TimelineActivity activity(name, "WIN_SYNC_COMPUTE_AVERAGE");
  window->Update(self_weight, weights, reset, with_p, out.data_ptr());
  return out;
}

at::Tensor win_update_then_collect(const std::string& name, bool with_p) {
  auto window = FindWindow(name, "win_update_then_collect");
  RunningEngine().DeliverArrived(kDeliveryWaitSeconds);
  TimelineActivity activity(name, "WIN_SYNC_COMPUTE_AVERAGE");
  window->UpdateThenCollect(with_p);
  return WindowTensor(name);
}

std::map<int, int64_t> win_versions(const std::string& name) {
  auto window = FindWindow(name, "get_win_version");
  RunningEngine().DeliverArrived(kDeliveryWaitSeconds);
  return window->Versions();
}

std::vector<std::string> win_names() { return RunningEngine().Windows().Names(); }

double win_p(const std::string& name) { return FindWindow(name, "win_associated_p")->p(); }

void win_set_p(const std::string& name, double p) {
  FindWindow(name, "win_associated_p")->set_p(p);
}

}  // namespace api
}  // namespace bluefog
