// Pairwise agreement of neighbour ops' sources and destinations. A sender
// marks whether it also receives from the destination in the same op; the
// destination compares that with whether it sends back. A disagreement means
// the ranks' topologies differ for this op (possible with
// enable_topo_check=False, or when a rank skipped a call so that the ops'
// instances pair different steps): one side would wait forever or take data
// meant for another step, so the receiver fails the op instead.
#pragma once
#include <string>
#include <vector>

#include "bluefog/core/wire.h"

namespace bluefog {

// Header flags for a message to `dst` from an op receiving from `srcs`.
uint8_t AgreementFlags(const std::vector<int>& srcs, int dst);

// Empty if a message from `src` with `flags` agrees with this op sending to
// `dsts`, else what disagrees (for the op's error).
std::string AgreementProblem(int src, uint8_t flags, const std::vector<int>& dsts);

}  // namespace bluefog
