"""Timeline (profiling): user activities in the Chrome-trace file of this rank.

With ``BLUEFOG_TIMELINE=prefix`` set before ``bf.init()`` (or
``bfrun --timeline-filename prefix``), every rank writes ``prefix<rank>.json``
while it runs; open it in Perfetto or chrome://tracing. Each tensor name is a
row; each thread that records an activity gets its own tid (1, 2, ... in
order of first use).

As in BlueFog 0.3, the functions return ``False`` and record nothing when the
timeline is off (not set, before ``init`` or after ``shutdown``); a warning
says so once per process.
"""

import contextlib
import warnings

from bluefog import _bluefog
from bluefog.torch.arguments import text as _check_str

_warned_off = False


def _not_recorded(function, tensor_name):
    global _warned_off
    if not _bluefog.timeline_enabled():
        if not _warned_off:
            _warned_off = True
            warnings.warn(
                "{}: the timeline is off, so nothing is recorded; set BLUEFOG_TIMELINE=prefix "
                "(or bfrun --timeline-filename prefix) before bf.init() to record one".format(
                    function), RuntimeWarning, stacklevel=3)
    else:
        warnings.warn("{}: no activity is open on tensor {!r}; nothing recorded".format(
            function, tensor_name), RuntimeWarning, stacklevel=3)
    return False


def timeline_start_activity(tensor_name: str, activity_name: str) -> bool:
    """Begin activity ``activity_name`` on ``tensor_name``'s row, under this
    thread's tid. Activities on one tensor nest. Returns whether it was
    recorded (``False`` when the timeline is off)."""
    _check_str(tensor_name, "timeline_start_activity", "tensor_name")
    _check_str(activity_name, "timeline_start_activity", "activity_name")
    if _bluefog.timeline_start_activity(tensor_name, activity_name):
        return True
    return _not_recorded("timeline_start_activity", tensor_name)


def timeline_end_activity(tensor_name: str) -> bool:
    """End the innermost activity this thread began on ``tensor_name`` (or,
    failing that, the innermost one another thread began there). Returns
    whether an activity was ended (``False`` when the timeline is off or
    none is open)."""
    _check_str(tensor_name, "timeline_end_activity", "tensor_name")
    if _bluefog.timeline_end_activity(tensor_name):
        return True
    return _not_recorded("timeline_end_activity", tensor_name)


@contextlib.contextmanager
def timeline_context(tensor_name: str, activity_name: str):
    """``with bf.timeline_context(name, activity):`` records the block as
    one activity; it ends even when the block raises."""
    started = timeline_start_activity(tensor_name, activity_name)
    try:
        yield
    finally:
        if started:
            timeline_end_activity(tensor_name)


def _set_recording(on):
    """Pauses (False) or resumes (True) this rank's recording while its file
    stays open, for benchmarks that compare both in one process; call it
    between ops (a span open across a pause loses its end). Returns whether
    the timeline was started."""
    return _bluefog.timeline_set_recording(bool(on))
