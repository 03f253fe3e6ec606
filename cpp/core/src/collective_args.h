// Argument checks and helpers shared by the collective factories.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bluefog/core/op.h"
#include "bluefog/core/tensor.h"

namespace bluefog {

// Index of `rank` in `group`; throws InvalidArgument if it is absent or the
// group is not ascending and duplicate-free.
int GroupIndex(const OpIdentity& id, const std::vector<int>& group, int rank);

// A nonzero digest of a rank group, carried in the headers of ops over a
// group so that ranks reducing over different groups notice.
uint32_t GroupDigest(const std::vector<int>& group);

void CheckSameLayout(const OpIdentity& id, const TensorView& input,
                     const TensorView& output);

std::string OpLabel(const OpIdentity& id);

}  // namespace bluefog
