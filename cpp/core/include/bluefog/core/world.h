// What a rank knows about the job it belongs to.
#pragma once
#include <vector>

namespace bluefog {

struct WorldInfo {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::vector<int> local_ranks;  // world ranks on this (possibly emulated) machine
  bool homogeneous = true;
  bool mpi_threads_supported = false;
  bool unified_window_model = false;
};

}  // namespace bluefog
