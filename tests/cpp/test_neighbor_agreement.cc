// Tests for the pairwise agreement of neighbour ops' sources and
// destinations (neighbor_agreement.h) and the rank-group digest that lets
// ranks running a collective over different groups notice.
#include <gtest/gtest.h>

#include <vector>

#include "collective_args.h"
#include "neighbor_agreement.h"

namespace bluefog {
namespace {

TEST(NeighborAgreement, AgreeingPairsPass) {
  // Rank 0 receives from 1 and sends to it; rank 1 likewise.
  EXPECT_EQ(AgreementProblem(0, AgreementFlags({1}, 1), {0}), "");
  // Rank 0 sends to 1 only; rank 1 receives from 0 and does not send back.
  EXPECT_EQ(AgreementProblem(0, AgreementFlags({}, 1), {2}), "");
  EXPECT_EQ(AgreementProblem(3, AgreementFlags({2, 5}, 4), {}), "");
}

TEST(NeighborAgreement, SenderWaitingForUsWhileWeDoNotSendFails) {
  std::string problem = AgreementProblem(0, AgreementFlags({1}, 1), {2});
  EXPECT_NE(problem.find("rank 0 expects data from this rank"), std::string::npos) << problem;
  EXPECT_NE(problem.find("enable_topo_check=False"), std::string::npos) << problem;
}

TEST(NeighborAgreement, SendingToARankThatDoesNotReceiveFails) {
  std::string problem = AgreementProblem(0, AgreementFlags({}, 1), {0});
  EXPECT_NE(problem.find("this rank sends to rank 0, which does not receive"),
            std::string::npos)
      << problem;
}

TEST(GroupDigest, DiffersBetweenGroupsAndIsNeverZero) {
  std::vector<std::vector<int>> groups = {{}, {0}, {1}, {0, 1}, {0, 1, 2, 3}, {2, 3},
                                          {0, 2}, {256}, {1, 0}};
  for (size_t i = 0; i < groups.size(); ++i) {
    EXPECT_NE(GroupDigest(groups[i]), 0u);
    EXPECT_EQ(GroupDigest(groups[i]), GroupDigest(std::vector<int>(groups[i])));
    for (size_t j = i + 1; j < groups.size(); ++j)
      EXPECT_NE(GroupDigest(groups[i]), GroupDigest(groups[j])) << i << " " << j;
  }
}

}  // namespace
}  // namespace bluefog
