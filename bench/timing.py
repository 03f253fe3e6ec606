"""Timing helpers shared by the benchmarks."""

import statistics
import time

SIZES = [1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20,
         16 << 20, 64 << 20]


def repetitions(nbytes):
    return 200 if nbytes <= (256 << 10) else (30 if nbytes <= (4 << 20) else 8)


def median_time(fn, nbytes, barrier, reps=None, warmup=3):
    """Median seconds of fn() over repetitions (``reps``, else by size),
    each after barrier(), following ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps or repetitions(nbytes)):
        barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def size_label(nbytes):
    return f"{nbytes >> 20} MiB" if nbytes >= (1 << 20) else f"{nbytes >> 10} KiB"


def cell(seconds, nbytes):
    if seconds is None:
        return "n/a"
    t = f"{seconds * 1e6:9.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:9.2f} ms"
    return f"{t} ({nbytes / seconds / 1e9:6.2f} GB/s)"


def print_table(title, columns, rows):
    """rows: [(nbytes, [seconds or None per column])]."""
    print(f"\n### {title}\n")
    print("| size | " + " | ".join(columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    for nbytes, times in rows:
        print(f"| {size_label(nbytes)} | " + " | ".join(cell(t, nbytes) for t in times) + " |")
