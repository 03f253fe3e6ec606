// MPI's own state, for the one case the engine leaves to its caller: a start
// that failed after the engine thread initialised MPI (for instance when
// BLUEFOG_NODES_PER_MACHINE does not divide the job size). MPI must then be
// finalised, or the launcher reports an abnormal exit. The engine thread has
// ended by then, so the calling thread is the only one left to do it.
#pragma once

namespace bluefog {

// MPI_Init has run and MPI_Finalize has not.
bool MpiActive();
// MPI_Finalize, if MPI is active.
void FinalizeMpi();

}  // namespace bluefog
