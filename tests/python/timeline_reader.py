"""Reads timeline files as a user's tool would, for the timeline tests."""

import json
import time


def load(path):
    """The events of a (possibly still growing) timeline file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return json.loads(text.rstrip().rstrip(",") + "]")


class View:
    """A parsed timeline: the clock line, tensor rows and the B/E/i events
    (dicts with the tensor's name added as ``tensor``), in file order."""

    def __init__(self, events):
        self.clock = events[0]
        self.tensor_of_pid = {}
        self.thread_names = {}
        self.events = []
        for e in events[1:]:
            if e["ph"] == "M":
                if e["name"] == "process_name":
                    assert e["pid"] not in self.tensor_of_pid, e
                    self.tensor_of_pid[e["pid"]] = e["args"]["name"]
                elif e["name"] == "thread_name":
                    self.thread_names[(e["pid"], e["tid"])] = e["args"]["name"]
                continue
            assert e["pid"] in self.tensor_of_pid, "event before its row: {}".format(e)
            self.events.append(dict(e, tensor=self.tensor_of_pid[e["pid"]]))

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
