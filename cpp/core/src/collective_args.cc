#include "collective_args.h"

#include <algorithm>

#include "bluefog/core/status.h"

namespace bluefog {

std::string OpLabel(const OpIdentity& id) {
  return std::string(OpTypeName(id.type)) + " '" + id.display_name + "'";
}

int GroupIndex(const OpIdentity& id, const std::vector<int>& group, int rank) {
  for (size_t i = 1; i < group.size(); ++i)
    if (group[i] <= group[i - 1])
      throw InvalidArgument(OpLabel(id) + ": rank group must be ascending without repeats");
  auto it = std::find(group.begin(), group.end(), rank);
  if (it == group.end())
    throw InvalidArgument(OpLabel(id) + ": rank " + std::to_string(rank) +
                          " is not in the op's rank group");
  return static_cast<int>(it - group.begin());
}

uint32_t GroupDigest(const std::vector<int>& group) {
  uint32_t digest = 2166136261u;  // FNV-1a over the ranks' bytes
  for (int r : group)
    for (int shift = 0; shift < 32; shift += 8) {
      digest ^= static_cast<uint32_t>(r >> shift) & 0xFFu;
      digest *= 16777619u;
    }
  return digest == 0 ? 1 : digest;
}

void CheckSameLayout(const OpIdentity& id, const TensorView& input,
                     const TensorView& output) {
  if (input.dtype != output.dtype || input.shape != output.shape)
    throw InvalidArgument(OpLabel(id) + ": output must match the input's dtype and shape");
}

}  // namespace bluefog
