#include "neighbor_agreement.h"

#include <algorithm>

namespace bluefog {
namespace {
constexpr uint8_t kSenderReceivesFromYou = 1;

bool Contains(const std::vector<int>& ranks, int r) {
  return std::find(ranks.begin(), ranks.end(), r) != ranks.end();
}
}  // namespace

uint8_t AgreementFlags(const std::vector<int>& srcs, int dst) {
  return Contains(srcs, dst) ? kSenderReceivesFromYou : 0;
}

std::string AgreementProblem(int src, uint8_t flags, const std::vector<int>& dsts) {
  bool src_receives = (flags & kSenderReceivesFromYou) != 0;
  bool we_send = Contains(dsts, src);
  if (src_receives == we_send) return "";
  std::string peer = "rank " + std::to_string(src);
  std::string why =
      " (the ranks' sources and destinations disagree for this op: with "
      "enable_topo_check=False every rank must pass matching lists, and every rank "
      "must call the op the same number of times)";
  if (src_receives)
    return peer + " expects data from this rank in this op, but this rank does not "
                  "send to it" + why;
  return "this rank sends to " + peer + ", which does not receive from this rank in this op" +
         why;
}

}  // namespace bluefog
