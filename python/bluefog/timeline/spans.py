"""Turns one rank's events into spans (B/E pairs and X events) and instants."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .reader import PEER_TID_BASE


@dataclass
class Span:
    """An interval on one rank's own steady clock (microseconds since its
    origin). ``open`` marks a B that the file never closed: it ends at the
    file's last timestamp."""
    start: float
    end: float
    name: str
    row: str
    pid: int
    tid: int
    args: dict = field(default_factory=dict)
    open: bool = False

    @property
    def dur(self):
        return self.end - self.start


@dataclass
class Instant:
    ts: float
    name: str
    row: str
    pid: int
    tid: int
    args: dict = field(default_factory=dict)


def build_spans(rank_file) -> Tuple[List[Span], List[Instant]]:
    """The spans (sorted by start) and instants (sorted by time) of a
    ``RankFile``. B/E pair per (pid, tid) innermost first; an E with nothing
    open is dropped, and an E's args are added to its span's."""
    spans: List[Span] = []
    instants: List[Instant] = []
    stacks: Dict[Tuple[int, int], List[Span]] = {}
    for e in rank_file.events:
        ph, pid, tid, ts = e.get("ph"), e.get("pid", 0), e.get("tid", 0), e["ts"]
        if ph == "B":
            span = Span(start=ts, end=ts, name=str(e.get("name", "")),
                        row=rank_file.row_name(pid), pid=pid, tid=tid,
                        args=dict(e.get("args") or {}))
            stacks.setdefault((pid, tid), []).append(span)
        elif ph == "E":
            stack = stacks.get((pid, tid))
            if stack:
                span = stack.pop()
                span.end = ts
                span.args.update(e.get("args") or {})
                spans.append(span)
        elif ph == "X":
            spans.append(Span(start=ts, end=ts + e.get("dur", 0), name=str(e.get("name", "")),
                              row=rank_file.row_name(pid), pid=pid, tid=tid,
                              args=dict(e.get("args") or {})))
        elif ph in ("i", "I", "n"):
            instants.append(Instant(ts=ts, name=str(e.get("name", "")),
                                    row=rank_file.row_name(pid), pid=pid, tid=tid,
                                    args=dict(e.get("args") or {})))
    last = rank_file.last_ts()
    for stack in stacks.values():
        for span in stack:
            span.end = max(last, span.start)
            span.open = True
            spans.append(span)
    spans.sort(key=lambda s: (s.start, -s.end))
    instants.sort(key=lambda i: i.ts)
    return spans, instants


def op_kind(name) -> Optional[str]:
    """ALLREDUCE for ``MPI_ALLREDUCE`` or ``ENQUEUE_ALLREDUCE``; else None."""
    for prefix in ("MPI_", "ENQUEUE_"):
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return None


def peer_of(span) -> Optional[int]:
    """p for ``WAIT_FOR_RANK_<p>``, ``TRANSFER_FROM_RANK_<p>`` and other
    events on a peer's tid (100000 + p)."""
    tail = span.name.rsplit("_", 1)[-1]
    if "_RANK_" in span.name and tail.isdigit():
        return int(tail)
    if span.tid >= PEER_TID_BASE:
        return span.tid - PEER_TID_BASE
    return None
