"""Where a job's time went: per op kind, per tensor, who waited for whom,
and the failures and stalls.

Times are summed over all ranks. An op is one ``MPI_<OP>`` span; queued is
its ``ENQUEUE_<OP>`` span; transferring is ``TRANSFER_FROM_RANK_<p>``;
waiting is ``WAIT_FOR_RANK_<p>`` less the transfers nested in it (the time
the rank had nothing from p yet); reducing is ``COMPUTE_AVERAGE``. Means
are per op: a kind's total divided by its count of ops. The rows of
unnamed ops (``<op>.noname.<instance>``, one per call) are counted together
as ``<op>.noname.*`` in the per-tensor table.
"""

import bisect
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .job import load_job, warn_to_stderr
from .spans import op_kind, peer_of

UNKNOWN_KIND = "(no op)"
_NONAME = re.compile(r"(.*\.noname)\.\d+\Z")


def tensor_group(row):
    """``barrier.noname.*`` for ``barrier.noname.17``; other rows as they are."""
    match = _NONAME.match(row)
    return match.group(1) + ".*" if match else row


@dataclass
class Stats:
    """Totals in ms over all ranks; ``open_ops`` counts ops never finished
    (their span ends at their file's last timestamp)."""
    ops: int = 0
    open_ops: int = 0
    queued_ms: float = 0.0
    waiting_ms: float = 0.0
    transferring_ms: float = 0.0
    reducing_ms: float = 0.0

    def _mean(self, total):
        return total / self.ops if self.ops else 0.0

    @property
    def mean_queued_ms(self):
        return self._mean(self.queued_ms)

    @property
    def mean_waiting_ms(self):
        return self._mean(self.waiting_ms)

    @property
    def mean_transferring_ms(self):
        return self._mean(self.transferring_ms)

    @property
    def mean_reducing_ms(self):
        return self._mean(self.reducing_ms)


@dataclass
class Problem:
    """A ``FAILED: ...`` or ``STALL: ...`` instant; ``ts_ms`` on the
    aligned clock."""
    rank: int
    tensor: str
    kind: str  # "FAILED" or "STALL"
    message: str
    ts_ms: float


@dataclass
class Summary:
    size: int
    ranks: List[int]
    by_kind: Dict[str, Stats] = field(default_factory=dict)
    by_tensor: Dict[str, Stats] = field(default_factory=dict)  # see tensor_group
    # wait_ms[w][p]: ms rank w waited for rank p (all ops together).
    wait_ms: List[List[float]] = field(default_factory=list)
    straggler: Optional[int] = None
    straggler_ms: float = 0.0
    straggler_share: float = 0.0  # of all waiting, 0..1
    problems: List[Problem] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def total_waiting_ms(self):
        return sum(map(sum, self.wait_ms))

    def waited_for_ms(self, rank):
        """ms the others waited for ``rank`` (its column total)."""
        return sum(row[rank] for row in self.wait_ms)


class _OpIndex:
    """Finds, for a time on a row, the MPI_ span (op) that was running."""

    def __init__(self, spans):
        self.by_pid = {}
        for s in spans:
            if s.tid == 0 and s.name.startswith("MPI_"):
                self.by_pid.setdefault(s.pid, []).append(s)
        self.starts = {pid: [s.start for s in ops] for pid, ops in self.by_pid.items()}

    def kind_at(self, pid, ts):
        ops = self.by_pid.get(pid)
        if not ops:
            return UNKNOWN_KIND
        k = bisect.bisect_right(self.starts[pid], ts) - 1
        if k < 0:
            return UNKNOWN_KIND
        return op_kind(ops[k].name) or UNKNOWN_KIND


def _waits_and_transfers(spans):
    """[(wait span, us of transfer nested in it)], [transfer spans]."""
    waits, transfers = {}, {}
    for s in spans:
        if s.name.startswith("WAIT_FOR_RANK_"):
            waits.setdefault((s.pid, s.tid), []).append(s)
        elif s.name.startswith("TRANSFER_FROM_RANK_"):
            transfers.setdefault((s.pid, s.tid), []).append(s)
    nested = {id(w): 0.0 for ws in waits.values() for w in ws}
    for key, ts in transfers.items():
        ws = waits.get(key, [])
        starts = [w.start for w in ws]
        for t in ts:
            k = bisect.bisect_right(starts, t.start) - 1
            # the latest wait begun by then encloses it (a row's waits for
            # one peer follow each other), else the one before
            for w in ws[max(k - 1, 0):k + 1][::-1] if k >= 0 else ():
                if w.start <= t.start and t.end <= w.end:
                    nested[id(w)] += t.dur
                    break
    pairs = [(w, nested[id(w)]) for ws in waits.values() for w in ws]
    return pairs, [t for ts in transfers.values() for t in ts]


def summary_of_job(job) -> Summary:
    size = max([job.size] + [r + 1 for r in job.ranks])
    result = Summary(size=size, ranks=sorted(job.ranks), warnings=list(job.warnings))
    matrix = [[0.0] * size for _ in range(size)]

    def stats(kind, tensor):
        return (result.by_kind.setdefault(kind, Stats()),
                result.by_tensor.setdefault(tensor_group(tensor), Stats()))

    for rank, t in job.ranks.items():
        index = _OpIndex(t.spans)
        for s in t.spans:
            if s.tid == 0 and s.name.startswith("MPI_"):
                for st in stats(op_kind(s.name) or UNKNOWN_KIND, s.row):
                    st.ops += 1
                    st.open_ops += s.open
            elif s.tid == 0 and s.name.startswith("ENQUEUE_"):
                for st in stats(op_kind(s.name) or UNKNOWN_KIND, s.row):
                    st.queued_ms += s.dur / 1000
            elif s.name == "COMPUTE_AVERAGE":
                for st in stats(index.kind_at(s.pid, s.start), s.row):
                    st.reducing_ms += s.dur / 1000
        waits, transfers = _waits_and_transfers(t.spans)
        for w, nested_us in waits:
            ms = max(w.dur - nested_us, 0) / 1000
            for st in stats(index.kind_at(w.pid, w.start), w.row):
                st.waiting_ms += ms
            peer = peer_of(w)
            if peer is not None:
                if peer >= len(matrix):
                    grow = peer + 1 - len(matrix)
                    for row in matrix:
                        row.extend([0.0] * grow)
                    matrix.extend([0.0] * (peer + 1) for _ in range(grow))
                    result.size = peer + 1
                matrix[rank][peer] += ms
        for x in transfers:
            for st in stats(index.kind_at(x.pid, x.start), x.row):
                st.transferring_ms += x.dur / 1000
        for i in t.instants:
            for kind in ("FAILED", "STALL"):
                if i.name.startswith(kind):
                    message = i.name[len(kind):].lstrip(":").strip()
                    result.problems.append(Problem(rank=rank, tensor=i.row, kind=kind,
                                                   message=message,
                                                   ts_ms=t.aligned(i.ts) / 1000))
    result.wait_ms = matrix
    result.problems.sort(key=lambda p: (p.ts_ms, p.rank))
    totals = [result.waited_for_ms(r) for r in range(len(matrix))]
    if totals and max(totals) > 0:
        s = max(range(len(totals)), key=lambda r: totals[r])
        result.straggler = s
        result.straggler_ms = totals[s]
        result.straggler_share = totals[s] / result.total_waiting_ms
    return result


def summarize(prefix, warn=warn_to_stderr) -> Summary:
    """The ``Summary`` of every ``PREFIX<rank>.json``."""
    return summary_of_job(load_job(prefix, warn=warn))


def _table(header, rows):
    widths = [max(len(str(r[k])) for r in [header] + rows) for k in range(len(header))]
    lines = []
    for n, r in enumerate([header] + rows):
        cells = [str(c).ljust(w) if k == 0 else str(c).rjust(w)
                 for k, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _stats_rows(by):
    rows = []
    for name, st in sorted(by.items()):
        ops = "{} ({} open)".format(st.ops, st.open_ops) if st.open_ops else st.ops
        rows.append([name, ops,
                     "{:.3f}".format(st.queued_ms), "{:.3f}".format(st.mean_queued_ms),
                     "{:.3f}".format(st.waiting_ms), "{:.3f}".format(st.mean_waiting_ms),
                     "{:.3f}".format(st.transferring_ms), "{:.3f}".format(st.mean_transferring_ms),
                     "{:.3f}".format(st.reducing_ms), "{:.3f}".format(st.mean_reducing_ms)])
    return rows


_STATS_HEADER = ["ops", "queued ms", "mean", "waiting ms", "mean",
                 "transfer ms", "mean", "reducing ms", "mean"]


def format_summary(summary: Summary) -> str:
    out = ["{} rank{} of {} (times in ms, summed over ranks; means per op)".format(
        len(summary.ranks), "" if len(summary.ranks) == 1 else "s", summary.size), ""]
    out.append("Per op kind")
    out += _table(["kind"] + _STATS_HEADER, _stats_rows(summary.by_kind))
    out += ["", "Per tensor"]
    out += _table(["tensor"] + _STATS_HEADER, _stats_rows(summary.by_tensor))
    n = len(summary.wait_ms)
    out += ["", "Who waited for whom (ms; row: the waiting rank, column: the rank waited for)"]
    rows = [["rank {}".format(w)] + ["{:.3f}".format(v) for v in summary.wait_ms[w]]
            for w in range(n)]
    rows.append(["waited for"] + ["{:.3f}".format(summary.waited_for_ms(p)) for p in range(n)])
    out += _table([""] + [str(p) for p in range(n)], rows)
    if summary.straggler is None:
        out.append("straggler: none (no waiting recorded)")
    else:
        out.append("straggler: rank {} (the others waited {:.3f} ms for it in total, "
                   "{:.1f}% of all waiting)".format(summary.straggler, summary.straggler_ms,
                                                    100 * summary.straggler_share))
    out += ["", "Failures and stalls"]
    if not summary.problems:
        out.append("none")
    for p in summary.problems:
        out.append("{:>12.3f} ms  rank {}  {}  {}: {}".format(p.ts_ms, p.rank, p.tensor,
                                                              p.kind, p.message))
    return "\n".join(out) + "\n"
