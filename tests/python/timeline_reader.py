"""Reads timeline files as a user's tool would, for the timeline tests: the
parsing is ``bluefog.timeline.reader``'s (strict here, so that a torn read
fails the test instead of losing its last line); this adds the checks of
the file's order and the per-tensor views the tests compare."""

import time

from bluefog.timeline import reader


def load(path):
    """The events of a (possibly still growing) timeline file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return reader.parse_events(text, strict=True)


def _check_order(events):
    """Each tensor row is named once, before its first event."""
    named = set()
    for e in events[1:]:
        if e["ph"] == "M":
            if e["name"] == "process_name":
                assert e["pid"] not in named, e
                named.add(e["pid"])
            continue
        assert e["pid"] in named, "event before its row: {}".format(e)


class View:
    """A parsed timeline: the clock line, tensor rows and the B/E/i/X events
    (dicts with the tensor's name added as ``tensor``), in file order."""

    def __init__(self, events):
        _check_order(events)
        parsed = reader.rank_file_from_events(events)
        self.clock = events[0]
        self.tensor_of_pid = parsed.rows
        self.thread_names = parsed.thread_names
        self.events = [dict(e, tensor=parsed.rows[e["pid"]]) for e in parsed.events]

    def of(self, tensor):
        return [e for e in self.events if e["tensor"] == tensor]

    def phases(self, tensor):
        """``["B:NAME", "E", ...]`` for one tensor's row."""
        return [e["ph"] + (":" + e["name"] if e["ph"] != "E" else "") for e in self.of(tensor)]


def read(path):
    return View(load(path))


def wait_until(path, condition, timeout=10.0):
    """Parses ``path`` until ``condition(view)`` holds or ``timeout`` seconds
    pass; returns the last view either way (every read must parse)."""
    deadline = time.monotonic() + timeout
    while True:
        view = read(path)
        if condition(view) or time.monotonic() > deadline:
            return view
        time.sleep(0.02)
