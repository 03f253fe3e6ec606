"""A job: every rank's file of one prefix, on one clock.

A rank's ``ts`` counts microseconds on its host's steady clock from its
``steady_origin_us``. Its ``bluefog_clock_offset`` lines give O, its steady
clock minus rank 0's at one instant, so its time t is t - O on rank 0's
steady clock. The aligned time is therefore ``steady_origin_us + ts - O``
(O from the ``init`` line, else the ``shutdown`` one, else 0: ranks on one
host share the steady clock), less the earliest aligned event of the job.
"""

import glob
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from .reader import RankFile, TimelineError, read_rank_file
from .spans import Instant, Span, build_spans

DRIFT_WARNING_US = 1000


def warn_to_stderr(message):
    print("bluefog.timeline: warning: {}".format(message), file=sys.stderr)


def rank_file_glob(prefix):
    return glob.escape(prefix) + "[0-9]*.json"


def find_rank_files(prefix) -> Dict[int, str]:
    """{rank: path} of the files ``PREFIX<digits>.json``."""
    pattern = re.compile(re.escape(os.path.basename(prefix)) + r"(\d+)\.json\Z")
    found = {}
    for path in glob.glob(rank_file_glob(prefix)):
        match = pattern.match(os.path.basename(path))
        if match and os.path.isfile(path):
            found[int(match.group(1))] = path
    if not found:
        raise TimelineError("no timeline file matches {}".format(rank_file_glob(prefix)))
    return dict(sorted(found.items()))


@dataclass
class RankTimeline:
    """One rank's file with its spans; ``shift_us`` turns its ``ts`` into
    the job's aligned time (``aligned = ts + shift_us``)."""
    rank: int
    file: RankFile
    spans: List[Span]
    instants: List[Instant]
    offset_us: float
    offset_source: str  # "init", "shutdown" or "none"
    shift_us: float = 0.0
    drift_us: Optional[float] = None

    def aligned(self, ts):
        return ts + self.shift_us

    @property
    def hostname(self):
        return self.file.clock.hostname


@dataclass
class Job:
    """Every rank found, by rank; ``origin_us`` is the rank-0 steady-clock
    time of aligned 0."""
    prefix: str
    size: int
    ranks: Dict[int, RankTimeline]
    origin_us: float
    missing_ranks: List[int] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


def load_job(prefix, warn: Optional[Callable[[str], None]] = warn_to_stderr) -> Job:
    """Reads every ``PREFIX<rank>.json`` and aligns them; ``warn`` (if not
    None) is told each warning, which ``Job.warnings`` keeps as well."""
    warnings: List[str] = []

    def note(message):
        warnings.append(message)
        if warn is not None:
            warn(message)

    ranks: Dict[int, RankTimeline] = {}
    for file_rank, path in find_rank_files(prefix).items():
        rank_file = read_rank_file(path)
        rank = rank_file.clock.rank
        if rank != file_rank:
            note("{} says it is rank {}; using {}".format(path, rank, rank))
        if rank in ranks:
            raise TimelineError("{}: rank {} again (also in {})"
                                .format(path, rank, ranks[rank].file.path))
        offsets = rank_file.offsets
        source = "init" if "init" in offsets else "shutdown" if "shutdown" in offsets else "none"
        offset = offsets[source].offset_us if source != "none" else 0
        spans, instants = build_spans(rank_file)
        timeline = RankTimeline(rank=rank, file=rank_file, spans=spans, instants=instants,
                                offset_us=offset, offset_source=source)
        if "init" in offsets and "shutdown" in offsets:
            timeline.drift_us = offsets["shutdown"].offset_us - offsets["init"].offset_us
            if abs(timeline.drift_us) > DRIFT_WARNING_US:
                note("rank {}'s clock drifted {:g} us against rank 0's during the run "
                     "(more than {} us): its events late in the run are off by up to that"
                     .format(rank, timeline.drift_us, DRIFT_WARNING_US))
        ranks[rank] = timeline
    ranks = dict(sorted(ranks.items()))

    sizes = sorted({t.file.clock.size for t in ranks.values()})
    if len(sizes) > 1:
        note("the files disagree on the job's size ({}); using {}"
             .format(", ".join(map(str, sizes)), sizes[-1]))
    size = max(sizes[-1], max(ranks) + 1)
    missing = [r for r in range(size) if r not in ranks]
    if missing:
        note("no file for rank{} {} of {} (looked for {}); going on without"
             .format("s" if len(missing) > 1 else "", ", ".join(map(str, missing)), size,
                     rank_file_glob(prefix)))

    bases = {r: t.file.clock.steady_origin_us - t.offset_us for r, t in ranks.items()}
    firsts = [bases[r] + min(e["ts"] for e in t.file.events)
              for r, t in ranks.items() if t.file.events]
    origin = min(firsts) if firsts else min(bases.values())
    for t in ranks.values():
        t.shift_us = t.file.clock.steady_origin_us - t.offset_us - origin
    return Job(prefix=prefix, size=size, ranks=ranks, origin_us=origin,
               missing_ranks=missing, warnings=warnings)
