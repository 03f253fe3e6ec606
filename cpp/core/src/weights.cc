#include "bluefog/core/weights.h"

#include <cmath>
#include <sstream>

#include "bluefog/core/status.h"

namespace bluefog {

void CheckWeight(const std::string& op, const std::string& what, double weight) {
  if (std::isfinite(weight) && std::fabs(weight) <= kMaxWeightMagnitude) return;
  std::ostringstream message;
  message << op << ": " << what << " is " << weight
          << "; a weight must be a finite number of magnitude at most "
          << kMaxWeightMagnitude;
  throw InvalidArgument(message.str());
}

void CheckRankWeights(const std::string& op, const std::string& what,
                      const std::vector<std::pair<int, double>>& weights) {
  for (const auto& entry : weights)
    CheckWeight(op, what + "[" + std::to_string(entry.first) + "]", entry.second);
}

}  // namespace bluefog
