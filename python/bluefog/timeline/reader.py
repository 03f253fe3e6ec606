"""Parses one rank's timeline file (``prefix<rank>.json``).

The engine writes an open JSON array: ``[`` and then one event per line,
each line ending in ``},``, with runs of spaces where it padded the file to
a 4096-byte boundary. A live file therefore parses once its trailing
whitespace and comma are stripped and ``]`` is added; a closed array (as a
viewer or a user may save it) parses as it is. A file cut inside a line (a
process killed while writing, a copy taken mid-write) loses that last
partial line unless ``strict`` is asked for.
"""

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

CLOCK = "bluefog_clock"
CLOCK_OFFSET = "bluefog_clock_offset"


class TimelineError(Exception):
    """Input that is not a usable timeline (the message names the file)."""


def _loads_open_array(text):
    body = text.rstrip()
    if body.endswith("]"):
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            pass
        try:  # closed by hand after the last comma: `},\n]`
            return json.loads(body[:-1].rstrip().rstrip(",") + "]")
        except json.JSONDecodeError:
            pass  # not closed after all (a cut inside a list value)
    return json.loads(body.rstrip(",") + "]")


def parse_events(text, strict=False):
    """The list of events in a timeline file's ``text``.

    Raises ``json.JSONDecodeError`` when the text does not parse; with
    ``strict`` False a partial last line is dropped before giving up.
    """
    try:
        events = _loads_open_array(text)
    except json.JSONDecodeError:
        body = text.rstrip()
        cut = body.rfind("\n")
        if strict or cut < 0:
            raise
        events = _loads_open_array(body[:cut])
    if not isinstance(events, list):
        raise json.JSONDecodeError("not a JSON array of events", text, 0)
    return events


def read_events(path, strict=False):
    """The events of the file at ``path``; ``TimelineError`` if unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise TimelineError("{}: cannot read: {}".format(path, e.strerror or e)) from None
    try:
        return parse_events(text, strict=strict)
    except json.JSONDecodeError as e:
        raise TimelineError("{}: not a timeline (not a JSON array of events: {})"
                            .format(path, e.msg)) from None


def is_clock_line(event):
    return (isinstance(event, dict) and event.get("name") == CLOCK
            and event.get("ph") == "M" and isinstance(event.get("args"), dict))


@dataclass
class Clock:
    """The first line: who wrote the file, and the origin of its ``ts``."""
    rank: int
    size: int
    hostname: str
    steady_origin_us: int
    system_origin_us: int


@dataclass
class Offset:
    """A ``bluefog_clock_offset`` line: this rank's steady clock minus rank
    ``reference_rank``'s at the same instant, measured with round trip
    ``rtt_us``."""
    when: str
    offset_us: float
    rtt_us: Optional[float] = None
    reference_rank: int = 0


@dataclass
class RankFile:
    """One rank's file, sorted out: the clock, the offsets by ``when``, the
    tensor rows by pid, the thread names by (pid, tid), and every event
    that is not metadata, in file order."""
    path: str
    clock: Clock
    offsets: Dict[str, Offset] = field(default_factory=dict)
    rows: Dict[int, str] = field(default_factory=dict)
    thread_names: Dict[Tuple[int, int], str] = field(default_factory=dict)
    events: List[dict] = field(default_factory=list)

    def row_name(self, pid):
        return self.rows.get(pid, "pid {}".format(pid))

    def thread_name(self, pid, tid):
        name = self.thread_names.get((pid, tid))
        if name is not None:
            return name
        return default_thread_name(tid)

    def last_ts(self):
        """The latest time the file mentions (ends of X events included)."""
        last = 0
        for e in self.events:
            ts = e.get("ts", 0)
            last = max(last, ts + e.get("dur", 0) if e.get("ph") == "X" else ts)
        return last


PEER_TID_BASE = 100000


def default_thread_name(tid):
    """The engine's name for a tid: engine, thread N or rank p."""
    if tid == 0:
        return "engine"
    if tid >= PEER_TID_BASE:
        return "rank {}".format(tid - PEER_TID_BASE)
    return "thread {}".format(tid)


def _clock_of(event, path):
    args = event["args"]
    try:
        return Clock(rank=int(args["rank"]), size=int(args["size"]),
                     hostname=str(args.get("hostname", "")),
                     steady_origin_us=int(args.get("steady_origin_us", 0)),
                     system_origin_us=int(args.get("system_origin_us", 0)))
    except (KeyError, TypeError, ValueError):
        raise TimelineError("{}: not a timeline (its bluefog_clock line lacks rank or size)"
                            .format(path)) from None


def rank_file_from_events(events, path="<events>"):
    """Sorts a parsed event list into a ``RankFile``."""
    if not events or not is_clock_line(events[0]):
        raise TimelineError("{}: not a timeline (its first line is not a bluefog_clock event)"
                            .format(path))
    result = RankFile(path=path, clock=_clock_of(events[0], path))
    for e in events[1:]:
        if not isinstance(e, dict) or "ph" not in e:
            continue
        if e["ph"] != "M":
            if "ts" in e:
                result.events.append(e)
            continue
        name, args = e.get("name"), e.get("args") or {}
        pid, tid = e.get("pid", 0), e.get("tid", 0)
        if name == "process_name":
            result.rows[pid] = str(args.get("name", ""))
        elif name == "thread_name":
            result.thread_names[(pid, tid)] = str(args.get("name", ""))
        elif name == CLOCK_OFFSET and "offset_us" in args:
            when = str(args.get("when", "init"))
            result.offsets[when] = Offset(when=when, offset_us=args["offset_us"],
                                          rtt_us=args.get("rtt_us"),
                                          reference_rank=args.get("reference_rank", 0))
    return result


def read_rank_file(path, strict=False):
    """Reads and sorts out the file at ``path``."""
    return rank_file_from_events(read_events(path, strict=strict), path)
