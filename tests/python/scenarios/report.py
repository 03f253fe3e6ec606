"""What a scenario's rank tells the test that launched it: each line is
printed and, when BLUEFOG_TEST_REPORT_DIR is set, also appended to
rank<N>.txt there, because mpirun may interleave the ranks' output mid-line."""

import os


def report(line):
    print(line, flush=True)
    directory = os.environ.get("BLUEFOG_TEST_REPORT_DIR")
    if directory:
        rank = os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0"))
        with open(os.path.join(directory, f"rank{rank}.txt"), "a") as out:
            out.write(line + "\n")
