"""Before/after in one invocation: runs bench/neighbor_allreduce_bench.py
(static and one-peer dynamic neighbor_allreduce, allreduce, gloo, memcpy)
alternately on another checkout's build ("before") and on this one
("after"), several rounds each, and prints one table per rank count with
both columns of every bluefog op, each cell the median over the rounds.

    python bench/compare_builds.py BEFORE_CHECKOUT [--ranks 2 4] [--rounds 3]

BEFORE_CHECKOUT is a built checkout (its python/bluefog holds its
_bluefog extension), e.g. `git worktree add ../before <commit>` followed by
`cmake -S ../before -B ../before/build -G Ninja && cmake --build
../before/build --target _bluefog`.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COMPARED = ["neighbor_allreduce static exp-2", "neighbor_allreduce one-peer dynamic",
            "bluefog allreduce"]
REFERENCES = ["memcpy", "gloo all_reduce"]
UNITS = {"us": 1e-6, "ms": 1e-3}


def parse_table(text):
    """{column: {size label: seconds}} from the benchmark's markdown table."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    if len(lines) < 3:
        raise RuntimeError("no table in the benchmark's output:\n" + text)
    columns = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    table = {c: {} for c in columns}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for column, value in zip(columns, cells[1:]):
            match = re.match(r"([\d.]+) (us|ms)", value)
            if match:
                table[column][cells[0]] = float(match.group(1)) * UNITS[match.group(2)]
    return table, [line.strip("|").split("|")[0].strip() for line in lines[2:]]


def run_once(ranks, pythonpath, max_bytes, port):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    command = ["bfrun", "-np", str(ranks), sys.executable,
               os.path.join(HERE, "neighbor_allreduce_bench.py"),
               "--max-bytes", str(max_bytes), "--port", str(port)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return parse_table(done.stdout)


def cell(seconds, nbytes):
    if seconds is None:
        return "n/a"
    t = f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"
    return f"{t} ({nbytes / seconds / 1e9:.2f} GB/s)"


def label_bytes(label):
    number, unit = label.split()
    return int(number) << (20 if unit == "MiB" else 10)


def median_of(runs, column, size):
    values = [run[column][size] for run in runs if size in run.get(column, {})]
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="a built checkout to compare against")
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-bytes", type=int, default=16 << 20)
    args = parser.parse_args()
    before_path = os.path.join(os.path.abspath(args.before), "python")
    if not os.path.isdir(os.path.join(before_path, "bluefog")):
        parser.error(f"{args.before} has no python/bluefog: not a bluefog checkout")
    port = 29600
    for ranks in args.ranks:
        runs = {"before": [], "after": []}
        sizes = []
        for _ in range(args.rounds):
            for which, path in (("before", before_path), ("after", None)):
                port += 1
                table, sizes = run_once(ranks, path, args.max_bytes, port)
                runs[which].append(table)
        headers = ["memcpy"]
        for column in COMPARED:
            headers += [f"{column} before", f"{column} after", "after/before"]
        headers.append("gloo all_reduce")
        print(f"\n#### {ranks} ranks, float32 (median of {args.rounds} alternating runs each)\n")
        print("| size | " + " | ".join(headers) + " |")
        print("|---:|" + "---:|" * len(headers))
        both = runs["before"] + runs["after"]
        for size in sizes:
            nbytes = label_bytes(size)
            cells = [cell(median_of(both, "memcpy", size), nbytes)]
            for column in COMPARED:
                before = median_of(runs["before"], column, size)
                after = median_of(runs["after"], column, size)
                ratio = f"{after / before:.2f}" if before and after else "n/a"
                cells += [cell(before, nbytes), cell(after, nbytes), ratio]
            cells.append(cell(median_of(both, "gloo all_reduce", size), nbytes))
            print(f"| {size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
