/* Reference: raw MPI_Allreduce (float32 sum, in place) from C.
 * Prints "bytes median_seconds" per size. Usage: mpi_allreduce_ref SIZE... */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (int i = 1; i < argc; ++i) {
    long bytes = atol(argv[i]);
    long count = bytes / 4;
    float* data = malloc(bytes);
    memset(data, 0, bytes);
    int reps = bytes <= (1 << 20) ? 200 : 10;
    double* times = malloc(sizeof(double) * reps);
    for (int w = 0; w < 3; ++w)
      MPI_Allreduce(MPI_IN_PLACE, data, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int r = 0; r < reps; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, data, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      times[r] = MPI_Wtime() - t;
    }
    qsort(times, reps, sizeof(double), compare);
    if (rank == 0) printf("%ld %.9f\n", bytes, times[reps / 2]);
    free(times);
    free(data);
  }
  MPI_Finalize();
  return 0;
}
