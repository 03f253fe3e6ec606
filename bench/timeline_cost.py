"""What the timeline costs: neighbor_allreduce (static exponential-2 graph)
at 1 KiB, 64 KiB, 1 MiB and 16 MiB, and one step of the digits training
(examples/pytorch_digits.py's model and data under
DistributedNeighborAllreduceOptimizer), with BLUEFOG_TIMELINE unset ("off")
and set to a fresh temporary prefix ("on"), in one invocation.

    python bench/timeline_cost.py [--ranks 2 4] [--rounds 5] [--quick]
                                  [--sizes BYTES ...] [--no-digits]

For each rank count it launches one bfrun job per setting, alternating
off, on, off, on, ... for --rounds rounds, so that a noisy machine's load
falls on both settings alike. Every cell is the median over the rounds of
the per-job medians. The "off A/off B" column compares the off jobs of
odd rounds with those of even rounds: the noise floor that on/off is to be
read against. Events per op are counted in the on jobs' files with
bluefog.timeline.reader.read_events (all ranks, divided by ops on all
ranks). --quick (used by the tests) runs 2 ranks, 1 round, 1 KiB only and
few iterations.

The job itself is this file with --worker, launched by bfrun.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIZES = [1 << 10, 64 << 10, 1 << 20, 16 << 20]
BOUNDS = {"1 KiB": 1.10, "16 MiB": 1.02}
DIGITS = "digits step"
CASE_PREFIX = "tlc.nar."
DIGITS_PREFIX = "awc"  # the rows of DistributedNeighborAllreduceOptimizer's tensors
TIMELINE_ENV = "BLUEFOG_TIMELINE"
IN_PROCESS_BLOCKS = 10  # of each setting, alternating, in every on job


def size_label(nbytes):
    return f"{nbytes >> 20} MiB" if nbytes >= (1 << 20) else f"{nbytes >> 10} KiB"


# ---------------------------------------------------------------- the job

def nar_reps(nbytes, quick):
    if quick:
        return 20
    return 400 if nbytes <= (64 << 10) else (100 if nbytes <= (1 << 20) else 40)


def worker(args):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import torch
    import torch.nn.functional as F

    import bluefog.torch as bf
    from bluefog.torch import timeline as bf_timeline
    from pytorch_digits import DigitsNet, load_data
    from timing import median_time

    torch.set_num_threads(1)
    warnings.simplefilter("ignore", RuntimeWarning)  # paused recording warns once
    bf.init()
    # On jobs also compare, in the same process, blocks with recording paused
    # and resumed: the same scheduling luck falls on both.
    in_process = bool(os.environ.get(TIMELINE_ENV))
    lines = []

    def measure(label, fn, nbytes, reps, warmup):
        lines.append(f"TLC case {label} = {median_time(fn, nbytes, bf.barrier, reps=reps, warmup=warmup)!r}")
        if not in_process:
            return
        timed = {False: [], True: []}
        for block in range(2 * IN_PROCESS_BLOCKS):
            on = block % 2 == 1
            bf.barrier()
            bf_timeline._set_recording(on)
            timed[on].append(median_time(fn, nbytes, bf.barrier, reps=max(5, reps // 4),
                                         warmup=1))
        bf_timeline._set_recording(True)
        for on in (False, True):
            lines.append(f"TLC inproc {label} {'on' if on else 'off'} = "
                         f"{statistics.median(timed[on])!r}")

    n, me = bf.size(), bf.rank()
    sizes = args.sizes or (SIZES[:1] if args.quick else SIZES)
    for nbytes in sizes:
        label = size_label(nbytes)
        x = torch.ones(nbytes // 4)
        y = torch.empty_like(x)
        copy = median_time(lambda: y.copy_(x), nbytes, lambda: None)
        name = CASE_PREFIX + label.replace(" ", "")
        reps = nar_reps(nbytes, args.quick)
        warmup = 3 if args.quick else 10
        lines.append(f"TLC memcpy {label} = {copy!r}")
        measure(label, lambda: bf.neighbor_allreduce(x, name=name), nbytes, reps, warmup)

    # The digits step: the example's model and data, each rank on its shard.
    train_x, train_y, _, _ = load_data(42)
    shard_x, shard_y = train_x[me::n], train_y[me::n]
    torch.manual_seed(42)
    model = DigitsNet()
    bf.broadcast_parameters(model.state_dict(), root_rank=0)
    sgd = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    optimizer = bf.DistributedNeighborAllreduceOptimizer(sgd, model)
    batch = 32
    batches = max(1, len(shard_y) // batch)
    step_no = [0]

    def step():
        b = step_no[0] % batches
        step_no[0] += 1
        optimizer.zero_grad()
        loss = F.cross_entropy(model(shard_x[b * batch:(b + 1) * batch]),
                               shard_y[b * batch:(b + 1) * batch])
        loss.backward()
        optimizer.step()

    steps = 10 if args.quick else 200
    if not args.no_digits:
        measure(DIGITS, step, 0, steps, 3 if args.quick else 20)
    lines.append(f"TLC steps = {step_no[0]}")
    if me == 0:
        print("\n".join(lines), flush=True)
    bf.barrier()


# ------------------------------------------------------------- the driver

def parse_job(text):
    """({case: seconds}, {size: memcpy seconds}, digits steps) from a job's output."""
    cases, memcpy, steps = {}, {}, None
    for kind, key, value in re.findall(r"^TLC (case|memcpy|inproc) (.+?) = (\S+)$", text, re.M):
        (memcpy if kind == "memcpy" else cases)[key if kind != "inproc" else "inproc " + key] = \
            float(value)
    match = re.search(r"^TLC steps = (\d+)$", text, re.M)
    if match:
        steps = int(match.group(1))
    if not cases or steps is None:
        raise RuntimeError("no results in the job's output:\n" + text)
    return cases, memcpy, steps


def count_events(prefix, ranks, steps):
    """{case: events per op} over every rank's file of an on job: the
    events (file lines: a B and its E count as two) in the case's rows,
    divided by its ops (neighbor_allreduce calls; digits: steps) on all ranks."""
    from bluefog.timeline.reader import rank_file_from_events, read_events
    events, ops = {}, {}
    for rank in range(ranks):
        path = f"{prefix}{rank}.json"
        rank_file = rank_file_from_events(read_events(path), path)
        for e in rank_file.events:
            row = rank_file.row_name(e.get("pid", 0))
            if row.startswith(CASE_PREFIX):
                case = row[len(CASE_PREFIX):].replace("KiB", " KiB").replace("MiB", " MiB")
            elif row.startswith(DIGITS_PREFIX):
                case = DIGITS  # the optimizer's parameters and its step activities
            else:
                continue  # init's clock offsets and fingerprints, barriers, broadcast
            events[case] = events.get(case, 0) + 1
            if case != DIGITS and e.get("name") == "MPI_NEIGHBOR_ALLREDUCE" \
                    and e.get("ph") in ("X", "B"):
                ops[case] = ops.get(case, 0) + 1
    ops[DIGITS] = steps * ranks
    return {case: count / ops[case] for case, count in events.items() if ops.get(case)}


def run_job(ranks, on, quick, extra=()):
    env = dict(os.environ)
    env.pop(TIMELINE_ENV, None)
    tmp = None
    if on:
        tmp = tempfile.mkdtemp(prefix="bf-tlcost-")
        env[TIMELINE_ENV] = os.path.join(tmp, "tl")
    command = [os.environ.get("BFRUN", "bfrun"), "-np", str(ranks), sys.executable,
               os.path.abspath(__file__), "--worker"] + (["--quick"] if quick else []) \
        + list(extra)
    try:
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} ({'on' if on else 'off'}) failed:\n"
                               f"{done.stdout}\n{done.stderr}")
        cases, memcpy, steps = parse_job(done.stdout)
        per_op = count_events(env[TIMELINE_ENV], ranks, steps) if on else {}
        return cases, memcpy, per_op
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def median_or_none(values):
    return statistics.median(values) if values else None


def print_tables(ranks, rounds, runs, order):
    off, on = runs["off"], runs["on"]
    print(f"\n#### Timeline cost, {ranks} ranks, float32 "
          f"(median of {rounds} alternating off/on jobs each)\n")
    copies = {size: median_or_none([m[size] for _, m, _ in off + on if size in m])
              for size in order if size != DIGITS}
    print("memcpy reference (single process, median over all jobs): " + ", ".join(
        f"{size} {fmt_time(t)} ({label_bytes(size) / t / 1e9:.2f} GB/s)"
        for size, t in copies.items() if t))
    print()
    headers = ["case", "off", "on", "on/off", "bound", "verdict", "off A/off B",
               "off jobs min-max", "on/off per round min-max", "events per op (on)"]
    print("| " + " | ".join(headers) + " |")
    print("|---|" + "---:|" * (len(headers) - 1))
    for case in order:
        offs = [c[case] for c, _, _ in off if case in c]
        ons = [c[case] for c, _, _ in on if case in c]
        t_off, t_on = median_or_none(offs), median_or_none(ons)
        ratio = t_on / t_off if t_off and t_on else None
        bound = BOUNDS.get(case)
        verdict = "n/a" if bound is None or ratio is None else (
            "within" if ratio <= bound else "over")
        half_a, half_b = offs[0::2], offs[1::2]
        noise = (f"{median_or_none(half_a) / median_or_none(half_b):.2f}"
                 if half_a and half_b else "n/a")
        spread = f"{fmt_time(min(offs))} - {fmt_time(max(offs))}" if offs else "n/a"
        pairs = [b / a for a, b in zip(offs, ons)]
        per_round = f"{min(pairs):.2f} - {max(pairs):.2f}" if pairs else "n/a"
        counts = [p[case] for _, _, p in on if case in p]
        events = f"{statistics.median(counts):.1f}" if counts else "n/a"
        cells = [case, fmt_time(t_off), fmt_time(t_on),
                 f"{ratio:.3f}" if ratio else "n/a",
                 f"<= {bound:.2f}" if bound else "n/a", verdict, noise, spread, per_round, events]
        print("| " + " | ".join(cells) + " |", flush=True)
    print_in_process_table(on, order)


def print_in_process_table(on, order):
    """The on jobs' own comparison: blocks with recording paused against
    blocks with it on, alternating in one process."""
    print(f"\nIn one process (each on job alternates {IN_PROCESS_BLOCKS} blocks with recording "
          "paused and as many with it on; medians over the jobs):\n")
    headers = ["case", "paused", "on", "on/paused", "bound", "verdict",
               "on/paused per job min-max"]
    print("| " + " | ".join(headers) + " |")
    print("|---|" + "---:|" * (len(headers) - 1))
    for case in order:
        pairs = [(c[f"inproc {case} off"], c[f"inproc {case} on"]) for c, _, _ in on
                 if f"inproc {case} off" in c]
        if not pairs:
            continue
        t_off = statistics.median(a for a, _ in pairs)
        t_on = statistics.median(b for _, b in pairs)
        ratios = [b / a for a, b in pairs]
        ratio = statistics.median(ratios)
        bound = BOUNDS.get(case)
        verdict = "n/a" if bound is None else ("within" if ratio <= bound else "over")
        cells = [case, fmt_time(t_off), fmt_time(t_on), f"{ratio:.3f}",
                 f"<= {bound:.2f}" if bound else "n/a", verdict,
                 f"{min(ratios):.2f} - {max(ratios):.2f}"]
        print("| " + " | ".join(cells) + " |", flush=True)


def label_bytes(label):
    number, unit = label.split()
    return int(number) << (20 if unit == "MiB" else 10)


def extension_stamp():
    """(path, mtime) of the bluefog extension the jobs load, to tell a
    rebuild in the middle of a run."""
    import glob
    import importlib.util
    spec = importlib.util.find_spec("bluefog")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "_bluefog*.so"))
    return (found[0], os.stat(found[0]).st_mtime) if found else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="2 ranks, 1 round, 1 KiB only, few iterations (for the tests)")
    parser.add_argument("--sizes", type=int, nargs="+",
                        help="neighbor_allreduce sizes in bytes (default 1 KiB, 64 KiB, 1 MiB, 16 MiB)")
    parser.add_argument("--no-digits", action="store_true", help="skip the digits step")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.ranks, args.rounds = [2], 1
    sizes = args.sizes or (SIZES[:1] if args.quick else SIZES)
    order = [size_label(s) for s in sizes] + ([] if args.no_digits else [DIGITS])
    extra = (["--sizes"] + [str(s) for s in args.sizes] if args.sizes else []) \
        + (["--no-digits"] if args.no_digits else [])
    print(f"timeline cost: ranks {args.ranks}, {args.rounds} round(s); "
          f"load {os.getloadavg()[0]:.2f} at the start", flush=True)
    stamp = extension_stamp()
    if stamp:
        print(f"extension {stamp[0]} (modified {time.ctime(stamp[1])})", flush=True)
    started = time.time()
    for ranks in args.ranks:
        runs = {"off": [], "on": []}
        for r in range(args.rounds):
            for setting in ("off", "on"):
                runs[setting].append(run_job(ranks, setting == "on", args.quick, extra))
                print(f"  {ranks} ranks, round {r + 1}/{args.rounds}, {setting}: done "
                      f"({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
        print_tables(ranks, args.rounds, runs, order)
    if extension_stamp() != stamp:
        print("\nWARNING: the extension was rebuilt during the run; the jobs did not all "
              "run the same build", flush=True)
    print(f"\nload {os.getloadavg()[0]:.2f} at the end, {time.time() - started:.0f} s in all",
          flush=True)


if __name__ == "__main__":
    main()
