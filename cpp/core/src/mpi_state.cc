#include "bluefog/core/mpi_state.h"

#include <mpi.h>

namespace bluefog {

bool MpiActive() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void FinalizeMpi() {
  if (MpiActive()) MPI_Finalize();
}

}  // namespace bluefog
