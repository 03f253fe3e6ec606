// The one weight rule (weights.h): finite, magnitude at most 1e9; errors name
// the op, the argument and the value.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "bluefog/core/status.h"
#include "bluefog/core/weights.h"

namespace bluefog {
namespace {

std::string Refusal(double weight) {
  try {
    CheckWeight("neighbor_allreduce", "self_weight", weight);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "";
}

TEST(Weights, OrdinaryWeightsPass) {
  for (double w : {0.0, -0.0, 0.5, 1.0, -2.5, 1e-300, 60000.0, 1e9, -1e9})
    EXPECT_NO_THROW(CheckWeight("op", "w", w)) << w;
  EXPECT_NO_THROW(CheckRankWeights("op", "src_weights", {{1, 0.25}, {3, 0.75}}));
}

TEST(Weights, NonFiniteAndAbsurdWeightsAreRefused) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double w : {std::nan(""), inf, -inf, 1e308, -1e308, 1.0000001e9}) {
    std::string message = Refusal(w);
    ASSERT_FALSE(message.empty()) << w;
    EXPECT_EQ(message.rfind("neighbor_allreduce: self_weight is ", 0), 0u) << message;
    EXPECT_NE(message.find("finite number of magnitude at most 1e+09"), std::string::npos)
        << message;
  }
  EXPECT_NE(Refusal(std::nan("")).find("is nan"), std::string::npos);
  EXPECT_NE(Refusal(1e308).find("is 1e+308"), std::string::npos);
}

TEST(Weights, RankWeightsNameTheRank) {
  try {
    CheckRankWeights("win_put", "dst_weights", {{1, 0.5}, {2, std::nan("")}});
    FAIL() << "accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("win_put: dst_weights[2] is nan", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace bluefog
