// The ops a rank runs on its neighbours' windows: each sends requests that
// the target's engine serves (see Window) and waits for the replies, so an
// op is complete once its effect is in place at every target.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bluefog/core/op.h"
#include "bluefog/core/tensor.h"
#include "bluefog/core/window.h"

namespace bluefog {

struct WindowOpArgs {
  std::shared_ptr<Window> window;              // this rank's window of that name
  std::vector<std::pair<int, double>> peers;   // targets (put/accumulate/lock) or sources (get)
  bool require_mutex = false;                  // hold the peers' window mutexes meanwhile
  bool exclusive = false;                      // lock: win_lock's, on this rank's own window
  bool with_p = false;                         // carry the push-sum weight p along
  TensorView payload;                          // put/accumulate: what to send
  std::optional<double> self_weight;           // put/accumulate: scale own tensor after
};

// op: kWinPut, kWinAccumulate or kWinGet.
std::unique_ptr<Op> MakeWindowTransferOp(OpIdentity id, WindowOpArgs args);
// Acquires (kWinLock) or releases (kWinUnlock) the mutex of the peers' windows.
std::unique_ptr<Op> MakeWindowMutexOp(OpIdentity id, WindowOpArgs args);

}  // namespace bluefog
