#include "averaging.h"

#include <cmath>

namespace bluefog {

Rescale UniformRescale(double w) {
  const double k = std::nearbyint(1.0 / w);
  if (std::isfinite(k) && k != 0.0 && std::fabs(k) <= 16777216.0 && 1.0 / k == w)
    return Rescale::DivideBy(k);
  return Rescale::Multiply(w);
}

Averaging::Averaging(double self_weight, const RankWeights& srcs) : self_weight_(self_weight) {
  for (const auto& src : srcs) uniform_ = uniform_ && src.second == self_weight;
  if (uniform_) last_ = UniformRescale(self_weight);
}

}  // namespace bluefog
