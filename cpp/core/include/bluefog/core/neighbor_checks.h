// The checks of the rank lists that a neighbour op names (whom it receives
// from, whom it sends to), worded here once: the op factories run them, and
// the Python ops call them (bluefog._bluefog.topology.check_neighbor_ranks)
// before anything collective, so that ranks making the same mistake all raise
// and none waits.
#pragma once
#include <string>
#include <vector>

namespace bluefog {

// Throws InvalidArgument "<op>: <what> names <unit> <r>, out of range for
// <count> <unit>s" for the first rank outside [0, count).
void CheckRanksInRange(const std::string& op, const std::string& what,
                       const std::vector<int>& ranks, int count,
                       const std::string& unit = "rank");

// The same, and that no rank is `me` (the caller itself) or repeats.
void CheckNeighborRanks(const std::string& op, const std::string& what,
                        const std::vector<int>& ranks, int me, int count,
                        const std::string& unit = "rank");

}  // namespace bluefog
