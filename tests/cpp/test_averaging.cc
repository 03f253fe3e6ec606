// Tests for how the ops choose to round a weighted combination (averaging.h):
// uniform weights add with weight 1 and divide (or multiply) once.
#include <gtest/gtest.h>

#include "averaging.h"

namespace bluefog {
namespace {

void ExpectRescale(Rescale actual, Rescale::Kind kind, double factor) {
  EXPECT_EQ(actual.kind, kind);
  if (kind != Rescale::Kind::kNone) EXPECT_EQ(actual.factor, factor);
}

TEST(UniformRescale, ReciprocalsOfIntegersDivide) {
  for (int k : {2, 3, 4, 5, 7, 10, 1000, 16777216}) {
    ExpectRescale(UniformRescale(1.0 / k), Rescale::Kind::kDivide, k);
    ExpectRescale(UniformRescale(-1.0 / k), Rescale::Kind::kDivide, -k);
  }
  ExpectRescale(UniformRescale(1.0), Rescale::Kind::kNone, 1.0);
}

TEST(UniformRescale, OtherWeightsMultiply) {
  // 0.3, a float32-rounded 1/3, 1/k beyond float32's exact integers, 0, and
  // weights above 1 (1/w is no integer, or w is one).
  const double weights[] = {0.3, static_cast<double>(1.0f / 3.0f), 1.0 / 16777217.0, 0.0,
                            2.0, 0.4};
  for (double w : weights) ExpectRescale(UniformRescale(w), Rescale::Kind::kMultiply, w);
}

TEST(Averaging, UniformWeightsAddWithOneAndRescaleOnce) {
  const Averaging a(1.0 / 3, {{4, 1.0 / 3}, {1, 1.0 / 3}});
  EXPECT_EQ(a.self_weight(), 1.0);
  EXPECT_EQ(a.weight(1.0 / 3), 1.0);
  ExpectRescale(a.last(), Rescale::Kind::kDivide, 3.0);
  // Equal weights that are no reciprocal: the sum is multiplied once.
  const Averaging b(0.3, {{1, 0.3}});
  EXPECT_EQ(b.self_weight(), 1.0);
  ExpectRescale(b.last(), Rescale::Kind::kMultiply, 0.3);
  // No sources: the self weight alone is uniform.
  const Averaging c(0.25, {});
  EXPECT_EQ(c.self_weight(), 1.0);
  ExpectRescale(c.last(), Rescale::Kind::kDivide, 4.0);
}

TEST(Averaging, OtherWeightsApplyTermByTerm) {
  // A source weight differs, or an unnamed in-neighbour counts with weight 0.
  for (const RankWeights& srcs : {RankWeights{{1, 0.25}, {2, 0.5}}, RankWeights{{1, 0.0}}}) {
    const Averaging a(0.25, srcs);
    EXPECT_EQ(a.self_weight(), 0.25);
    EXPECT_EQ(a.weight(0.5), 0.5);
    ExpectRescale(a.last(), Rescale::Kind::kNone, 1.0);
  }
}

}  // namespace
}  // namespace bluefog
