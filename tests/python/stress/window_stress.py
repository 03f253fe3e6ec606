"""Stress test of the one-sided window ops; run under bfrun, e.g.

    bfrun -np 4 python tests/python/stress/window_stress.py --ops 10000

Every rank is a neighbour of every other. Each rank issues random window ops
(seeded per rank): accumulates (blocking or not, to random targets with
random integer weights, with or without the mutex), puts, gets, updates and
win_mutex sections, with at most --max-outstanding nonblocking handles.
All values are small integers, so every result is exact and checked:

* accumulate windows: each sender counts what it sent to whom; at the end
  the totals are allgathered and every buffer must hold exactly its sender's
  total, less what this rank took out with win_update(reset=True) on the
  way. Updates on the way must see whole writes only.
  Versions must count the writes (where nothing updates meanwhile).
* put window: the buffer for each sender must hold that sender's last put
  (the value encodes sender and sequence number); its version must equal the
  number of puts received.
* get window: each get must bring the owners' (constant) tensors, scaled.

Prints `STRESS rank R ops K checked OK` per rank; exits non-zero with a
message on the first mismatch, or when --time-limit seconds are exceeded.
"""

import argparse
import faulthandler
import os
import random
import sys
import threading
import time
import traceback

import torch

import bluefog.torch as bf
from bluefog.common import topology_util

# name, dtype, elements, whether this rank updates it (clone/reset) meanwhile.
# Sizes: below the 16 KiB inline limit, just above it, and far above it.
ACCUMULATE = [("acc_small", torch.float64, 5, True),
              ("acc_mid", torch.float32, 5000, True),
              ("acc_big", torch.float32, 200_000, False)]
ACCUMULATE_CHOICE = [5, 4, 1]  # relative frequency; the big one is costly
PUT = ("put", torch.float64, 3000)
GET = ("get", torch.float64, 4100)
EXACT = {torch.float32: 2 ** 24, torch.float64: 2 ** 53}  # integers up to these
OPS = ["accumulate"] * 40 + ["put"] * 15 + ["get"] * 12 + ["update"] * 13 + \
      ["mutex"] * 8 + ["wait_one"] * 7 + ["versions"] * 5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10000, help="operations, all ranks together")
    parser.add_argument("--seed", type=int, default=20240601, help="base seed (+ rank)")
    parser.add_argument("--max-outstanding", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=240.0, help="seconds")
    return parser.parse_args()


def pattern(dtype, n):
    """1..7 repeating: a misplaced or torn element shows."""
    return (torch.arange(n, dtype=torch.int64) % 7 + 1).to(dtype)


def get_value(rank, dtype, n):
    return (torch.arange(n, dtype=torch.int64) % 13 + 100 * rank).to(dtype)


def say(line):
    # One write per line: with unbuffered output, print() writes the newline
    # separately, and mpirun could splice another rank's line in between.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Failure(Exception):
    pass


class Stress:
    def __init__(self, args):
        self.me, self.size = bf.rank(), bf.size()
        self.others = [r for r in range(self.size) if r != self.me]
        self.rng = random.Random(args.seed + self.me)
        self.max_outstanding = args.max_outstanding
        self.pending = []  # (handle, what) of nonblocking accumulates
        self.windows = {}  # name -> the tensor passed to win_create
        self.patterns = {}
        for name, dtype, n, _ in ACCUMULATE:
            self.windows[name] = torch.zeros(n, dtype=dtype)
            self.patterns[name] = pattern(dtype, n)
        self.updatable = {name for name, _, _, upd in ACCUMULATE if upd}
        # Per accumulate window: total weight * value sent to each rank, the
        # number of writes, and what this rank took out of each source buffer.
        self.sent = {name: [0] * self.size for name, *_ in ACCUMULATE}
        self.writes = {name: [0] * self.size for name, *_ in ACCUMULATE}
        self.taken = {name: [0] * self.size for name, *_ in ACCUMULATE}
        name, dtype, n = PUT
        self.windows[name] = torch.zeros(n, dtype=dtype)
        self.put_seq = 0
        self.last_put = [(0, 0)] * self.size  # per target: (value, weight)
        self.puts_to = [0] * self.size
        self.put_handle = None
        name, dtype, n = GET
        self.windows[name] = get_value(self.me, dtype, n)
        self.get_pending = None  # (handle, {src: weight})
        self.done = 0
        self.checking = False

    def create(self):
        for name, tensor in self.windows.items():
            bf.win_create(tensor, name, zero_init=True)

    def fail(self, message):
        raise Failure(f"STRESS rank {self.me} FAILED {self.where()}: {message}")

    def where(self):
        return "in the final check" if self.checking else f"at op {self.done}"

    def targets(self):
        k = self.rng.randint(1, len(self.others))
        return sorted(self.rng.sample(self.others, k))

    # ---- the ops ----
    def accumulate(self, name=None, blocking=None, require_mutex=None):
        if name is None:
            name = self.rng.choices([a[0] for a in ACCUMULATE], ACCUMULATE_CHOICE)[0]
        weights = {t: self.rng.randint(1, 3) for t in self.targets()}
        v = self.rng.randint(1, 5)
        if blocking is None:
            blocking = self.rng.random() < 0.3
        if require_mutex is None:
            require_mutex = self.rng.random() < 0.5
        # The window tensor is zero, so self_weight must leave it zero.
        self_weight = self.rng.choice([None, 2.0])
        payload = v * self.patterns[name]
        for t, w in weights.items():
            self.sent[name][t] += w * v
            self.writes[name][t] += 1
        what = f"win_accumulate('{name}', {weights}, mutex={require_mutex})"
        if blocking:
            bf.win_accumulate(payload, name, self_weight=self_weight,
                              dst_weights={t: float(w) for t, w in weights.items()},
                              require_mutex=require_mutex)
            return
        handle = bf.win_accumulate_nonblocking(
            payload, name, self_weight=self_weight,
            dst_weights={t: float(w) for t, w in weights.items()}, require_mutex=require_mutex)
        self.pending.append((handle, what))

    def put(self):
        # One put in flight at a time, so the last one issued is the one that
        # must stay in each target's buffer.
        self.wait_put()
        name, dtype, n = PUT
        self.put_seq += 1
        value = self.put_seq * self.size + self.me
        weights = {t: self.rng.randint(1, 2) for t in self.targets()}
        for t, w in weights.items():
            self.last_put[t] = (value, w)
            self.puts_to[t] += 1
        handle = bf.win_put_nonblocking(torch.full((n,), float(value), dtype=dtype), name,
                                        dst_weights={t: float(w) for t, w in weights.items()},
                                        require_mutex=self.rng.random() < 0.5)
        if self.rng.random() < 0.3:
            bf.win_wait(handle)
        else:
            self.put_handle = handle

    def wait_put(self):
        if self.put_handle is not None:
            bf.win_wait(self.put_handle)
            self.put_handle = None

    def get(self):
        self.finish_get()
        sources = {s: self.rng.randint(1, 3) for s in self.targets()}
        handle = bf.win_get_nonblocking(GET[0], src_weights={s: float(w) for s, w in
                                                            sources.items()},
                                        require_mutex=self.rng.random() < 0.5)
        self.get_pending = (handle, sources)
        if self.rng.random() < 0.5:
            self.finish_get()

    def finish_get(self):
        """Wait for the get in flight and check what it brought. Nobody writes
        into the get window, so its buffers change only by this rank's gets,
        and every get is checked (which resets the versions) before the next."""
        if self.get_pending is None:
            return
        handle, sources = self.get_pending
        self.get_pending = None
        bf.win_wait(handle)
        name, dtype, n = GET
        versions = bf.get_win_version(name)
        want = {r: int(r in sources) for r in self.others}
        if versions != want:
            self.fail(f"get window versions {versions} after a get from {sorted(sources)}, "
                      f"want {want}")
        for s, w in sources.items():
            got = bf.win_update(name, self_weight=0.0, neighbor_weights={s: 1.0}, clone=True)
            want = w * get_value(s, dtype, n)
            if not torch.equal(got, want):
                self.fail(f"win_get from rank {s} with weight {w} brought "
                          f"{got[:6].tolist()}..., want {want[:6].tolist()}...")

    def update(self, require_mutex=None):
        """A clone update of an accumulate window while others write into it:
        it must see whole writes only. With reset=True (one source) what it
        takes out is counted, so the final check still balances."""
        name = self.rng.choice(sorted(self.updatable))
        sources = self.targets()
        reset = len(sources) == 1 and self.rng.random() < 0.5
        if require_mutex is None:
            require_mutex = self.rng.random() < 0.5
        got = bf.win_update(name, self_weight=0.0, neighbor_weights={s: 1.0 for s in sources},
                            reset=reset, clone=True, require_mutex=require_mutex)
        k = self.whole_multiple(name, got)
        if k is None:
            self.fail(f"win_update('{name}', {sources}, reset={reset}) saw a torn write: "
                      f"{got[:8].tolist()}... is not a multiple of the pattern")
        if reset:
            self.taken[name][sources[0]] += k

    def whole_multiple(self, name, tensor):
        """k if tensor == k * pattern (k a whole number), else None."""
        k = float(tensor[0])
        if k != int(k) or not torch.equal(tensor, k * self.patterns[name]):
            return None
        return int(k)

    def mutex(self):
        """A win_mutex section around a blocking accumulate without the mutex
        (and maybe an update). Nothing inside waits for an op that might need
        one of the held mutexes."""
        name = self.rng.choices([a[0] for a in ACCUMULATE], ACCUMULATE_CHOICE)[0]
        ranks = sorted(self.rng.sample(range(self.size), self.rng.randint(1, self.size)))
        with bf.win_mutex(name, ranks=ranks):
            self.accumulate(name, blocking=True, require_mutex=False)
            if self.rng.random() < 0.3:
                self.update(require_mutex=False)

    def wait_one(self):
        if self.pending:
            handle, what = self.pending.pop(self.rng.randrange(len(self.pending)))
            self.wait(handle, what)
        else:
            self.wait_put()

    def versions(self):
        # Only the shape can be checked meanwhile: who is listed.
        name = self.rng.choice(list(self.windows))
        versions = bf.get_win_version(name)
        if sorted(versions) != self.others or min(versions.values()) < 0:
            self.fail(f"get_win_version('{name}') = {versions}")

    def wait(self, handle, what):
        try:
            bf.win_wait(handle)
        except Exception as error:  # pylint: disable=broad-except
            self.fail(f"{what} failed: {error}")

    def run(self, ops):
        for self.done in range(ops):
            op = self.rng.choice(OPS)
            getattr(self, op)()
            while len(self.pending) > self.max_outstanding:
                self.wait(*self.pending.pop(0))
            if self.pending and self.rng.random() < 0.05:
                bf.win_poll(self.pending[0][0])
        for handle, what in self.pending:
            self.wait(handle, what)
        self.pending = []
        self.wait_put()
        self.finish_get()

    # ---- the final accounting ----
    def check(self):
        def table(row):  # -> [sender, target]
            return bf.allgather(torch.tensor([row], dtype=torch.int64))

        self.checking = True
        bf.barrier()  # every rank's ops are complete everywhere
        for name, dtype, n, updated in ACCUMULATE:
            sent, writes = table(self.sent[name]), table(self.writes[name])
            if not updated:
                versions = bf.get_win_version(name)
                want = {s: int(writes[s, self.me]) for s in self.others}
                if versions != want:
                    self.fail(f"'{name}' versions {versions}, want {want} (writes received)")
            for s in self.others:
                got = bf.win_update(name, self_weight=0.0, neighbor_weights={s: 1.0},
                                    clone=True)
                total = int(sent[s, self.me]) - self.taken[name][s]
                if total * 7 >= EXACT[dtype]:
                    self.fail(f"'{name}': totals too large to be exact in {dtype}; "
                              "use fewer --ops")
                if not torch.equal(got, total * self.patterns[name]):
                    k = self.whole_multiple(name, got)
                    self.fail(f"'{name}' buffer for rank {s} holds "
                              f"{'k=' + str(k) if k is not None else got[:8].tolist()} x pattern,"
                              f" want {total} (sent {int(sent[s, self.me])}, taken "
                              f"{self.taken[name][s]})")
            if not torch.equal(self.windows[name], torch.zeros(n, dtype=dtype)):
                self.fail(f"own tensor of '{name}' changed: {self.windows[name][:8].tolist()}")
        name, dtype, n = PUT
        last = table([v for v, _ in self.last_put])
        weight = table([w for _, w in self.last_put])
        count = table(self.puts_to)
        versions = bf.get_win_version(name)
        want = {s: int(count[s, self.me]) for s in self.others}
        if versions != want:
            self.fail(f"put window versions {versions}, want {want} (puts received)")
        for s in self.others:
            got = bf.win_update(name, self_weight=0.0, neighbor_weights={s: 1.0}, clone=True)
            value = int(last[s, self.me]) * int(weight[s, self.me])
            if not torch.equal(got, torch.full((n,), float(value), dtype=dtype)):
                self.fail(f"put buffer for rank {s} holds {got[:4].tolist()}..., want the last "
                          f"put {int(last[s, self.me])} x weight {int(weight[s, self.me])}")
        bf.barrier()


def watchdog(limit):
    """Ends this process after `limit` seconds, with its stacks, so that a
    hang cannot outlive the limit (mpirun then ends the other ranks)."""
    def expire():
        rank = bf.rank() if bf.is_initialized() else "?"
        sys.stderr.write(f"STRESS rank {rank} TIMEOUT: still running after {limit:.0f} s "
                         "(hang?); stacks follow\n")
        faulthandler.dump_traceback(all_threads=True)
        sys.stderr.flush()
        os._exit(3)
    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    # In case the Python thread cannot run at all.
    faulthandler.dump_traceback_later(limit + 30, exit=True)


def main():
    args = parse_args()
    start = time.monotonic()
    watchdog(args.time_limit)
    bf.init()
    me, size = bf.rank(), bf.size()
    if size < 2:
        sys.exit("window_stress needs at least 2 ranks")
    bf.set_topology(topology_util.FullyConnectedGraph(size))
    stress = Stress(args)
    stress.create()
    ops = args.ops // size + (1 if me < args.ops % size else 0)
    try:
        stress.run(ops)
        stress.check()
    except Exception as error:  # pylint: disable=broad-except
        message = str(error) if isinstance(error, Failure) else \
            f"STRESS rank {me} FAILED {stress.where()}: {type(error).__name__}: {error}"
        say(message)
        if not isinstance(error, Failure):
            traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)  # the other ranks may be waiting on this one; mpirun ends them
    bf.win_free()
    say(f"STRESS rank {me} ops {ops} checked OK in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
