"""Offline tools for BlueFog timeline files (``prefix<rank>.json``).

Pure Python: nothing here imports torch or the native module, so the tools
run on any machine that has the files. Run ``python -m bluefog.timeline
--help`` for the command line (merge, summary, plot).
"""

from .reader import TimelineError, Clock, RankFile, parse_events, read_events, read_rank_file
from .spans import Span, Instant, build_spans
from .job import Job, RankTimeline, find_rank_files, load_job
from .merge import merge, write_trace
from .summary import Stats, Problem, Summary, summarize, format_summary

__all__ = [
    "TimelineError", "Clock", "RankFile", "parse_events", "read_events", "read_rank_file",
    "Span", "Instant", "build_spans",
    "Job", "RankTimeline", "find_rank_files", "load_job",
    "merge", "write_trace",
    "Stats", "Problem", "Summary", "summarize", "format_summary",
]
# The chart is ``bluefog.timeline.plot.plot(prefix, output)``; that module
# imports matplotlib only when it draws.
