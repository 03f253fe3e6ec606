// The window transfer factory refuses weights that break the core's rule
// (weights.h) before any request is sent, naming the op and the peer.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/status.h"
#include "bluefog/core/window_ops.h"

namespace bluefog {
namespace {

class WindowOpArgsTest : public ::testing::Test {
 protected:
  WindowOpArgsTest() {
    TensorView view;
    view.data = data_.data();
    view.shape = {static_cast<int64_t>(data_.size())};
    window_ = std::make_shared<Window>("w", view, std::vector<int>{1}, true);
  }

  // The message of the InvalidArgument the factory throws, or "".
  std::string Refusal(OpType type, double peer_weight, std::optional<double> self_weight) {
    WindowOpArgs args;
    args.window = window_;
    args.peers = {{1, 0.5}, {2, peer_weight}};
    args.self_weight = self_weight;
    args.payload = window_->tensor();
    OpIdentity id;
    id.type = type;
    try {
      MakeWindowTransferOp(id, args);
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    return "";
  }

  std::vector<float> data_ = std::vector<float>(4, 1.0f);
  std::shared_ptr<Window> window_;
};

TEST_F(WindowOpArgsTest, SaneWeightsPass) {
  EXPECT_EQ(Refusal(OpType::kWinPut, 0.25, 0.5), "");
  EXPECT_EQ(Refusal(OpType::kWinGet, -3.0, std::nullopt), "");
}

TEST_F(WindowOpArgsTest, BadPeerWeightsNameOpAndPeer) {
  EXPECT_EQ(Refusal(OpType::kWinPut, std::nan(""), std::nullopt).rfind(
                "win_put: dst_weights[2] is nan", 0), 0u);
  EXPECT_EQ(Refusal(OpType::kWinAccumulate, 1e308, std::nullopt).rfind(
                "win_accumulate: dst_weights[2] is 1e+308", 0), 0u);
  EXPECT_EQ(Refusal(OpType::kWinGet, -INFINITY, std::nullopt).rfind(
                "win_get: src_weights[2] is -inf", 0), 0u);
}

TEST_F(WindowOpArgsTest, BadSelfWeightIsNamed) {
  EXPECT_EQ(Refusal(OpType::kWinPut, 1.0, INFINITY).rfind("win_put: self_weight is inf", 0), 0u);
}

}  // namespace
}  // namespace bluefog
