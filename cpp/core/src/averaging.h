// How the ops form a combination  self_weight * x + sum_j w_j * y_j.
// When every weight is the same w (uniform averaging: the default weights
// 1/(in_degree + 1), or the same weight passed explicitly), the terms are
// added with weight 1 and the sum is rescaled once, by the last pass over it:
// divided by k when w == 1/k for an integer k, else multiplied by w. That
// rounds like sum-then-divide; weighting each term by a rounded 1/k does not.
// Other weights apply term by term, and the last pass does nothing more.
#pragma once
#include "bluefog/core/kernels.h"
#include "bluefog/core/neighbor_ops.h"

namespace bluefog {

class Averaging {
 public:
  // `srcs`: the receiver's weights of its sources (a sender's dst weight, if
  // any, still multiplies its term).
  Averaging(double self_weight, const RankWeights& srcs);

  double self_weight() const { return uniform_ ? 1.0 : self_weight_; }
  double weight(double given) const { return uniform_ ? 1.0 : given; }
  // What the last pass over the sum applies.
  Rescale last() const { return last_; }

 private:
  double self_weight_;
  bool uniform_ = true;
  Rescale last_;
};

// Rescale::DivideBy(k) when w == 1/k for an integer 1 <= |k| <= 2^24 (exact
// in float32), else Rescale::Multiply(w).
Rescale UniformRescale(double w);

}  // namespace bluefog
