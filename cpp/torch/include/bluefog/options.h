// The options of the LibTorch API's ops (see bluefog/torch.h): one plain
// aggregate per op, every field defaulted, so that a call names only what it
// changes:
//
//   AllreduceOptions options;
//   options.average = false;
//   api::allreduce(t, options);
//   api::allreduce(t, {/*average=*/false});            // the fields in order
//   api::allreduce(t, {.average = false, .name = "g"}); // C++20, or GCC/Clang
//
// Common fields: `name` matches the op across ranks (empty: an automatic
// name counted per op type, so ranks must then issue those ops in the same
// order). `output`, where an op has it: undefined, a new tensor is returned;
// the input tensor itself, in place; another tensor, written into (it must
// be contiguous with the input's shape and dtype).
// Weights must pass CheckWeight (bluefog/core/weights.h).
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bluefog {
namespace api {

using RankWeights = std::vector<std::pair<int, double>>;  // (rank, weight)

struct AllreduceOptions {
  bool average = true;              // divide the sum by the number of ranks
  bool hierarchical_local = false;  // over this machine's ranks only
  std::string name;
  at::Tensor output;
};

struct BroadcastOptions {
  int root_rank = 0;
  std::string name;
  at::Tensor output;
};

struct AllgatherOptions {
  std::string name;
};

struct BarrierOptions {};

// output = self_weight * tensor + sum over srcs of weight * (their tensor
// scaled by the weight they sent it with); the tensor goes to each of dsts,
// scaled by its weight. The defaults exchange nothing (a copy).
struct NeighborAllreduceOptions {
  double self_weight = 1.0;
  RankWeights srcs;
  RankWeights dsts;
  std::string name;
  at::Tensor output;
};

// Average over this machine's ranks, then neighbour averaging as above
// between machines, with this rank's counterparts (world ranks) on the
// source and destination machines.
struct HierarchicalNeighborAllreduceOptions {
  double self_weight = 1.0;
  RankWeights srcs;
  RankWeights dsts;
  std::string name;
};

// self_weight * tensor + pair_weight * the target rank's tensor.
struct PairGossipOptions {
  double self_weight = 0.5;
  double pair_weight = 0.5;
  std::string name;
};

// Concatenation along dim 0 of the srcs' tensors, in the order given; the
// tensor goes to each of dsts.
struct NeighborAllgatherOptions {
  std::vector<int> srcs;
  std::vector<int> dsts;
  std::string name;
};

enum class WinTransferKind { kPut, kAccumulate, kGet };

// put/accumulate send the tensor scaled by each peer's weight into this
// rank's buffer at that peer, then scale this rank's window by self_weight
// when given; get reads each peer's window into this rank's buffer for it,
// scaled by the weight.
struct WinTransferOptions {
  WinTransferKind kind = WinTransferKind::kPut;
  RankWeights peers;                  // targets (put, accumulate) or sources (get)
  std::optional<double> self_weight;  // put/accumulate only
  bool require_mutex = false;         // hold the peers' window mutexes meanwhile
  bool with_p = false;                // carry the push-sum weight p along
};

// Acquires (lock) or releases the distributed mutex of `ranks`' windows.
struct WinMutexOptions {
  std::vector<int> ranks;
  bool lock = true;
};

// Takes (lock) or releases this rank's own window mutex exclusively: while
// it is held, neighbours' puts, accumulates and gets on the window wait too.
struct WinLockOptions {
  bool lock = true;
};

}  // namespace api
}  // namespace bluefog
