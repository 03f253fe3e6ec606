"""Merges a job's per-rank files into one closed Chrome trace.

In the merged trace each rank is a process (pid = rank, named
"rank R (host)"), and each (tensor row, original tid) of that rank is a
thread named "<tensor> · <thread>", numbered so that a tensor's threads sit
together. Times are on rank 0's steady clock, 0 at the job's first event.
"""

import json

from .job import load_job, warn_to_stderr

SEPARATOR = " \u00b7 "


def _metadata(name, pid, tid, args):
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": args}


def trace_of_job(job) -> dict:
    """The merged trace of a loaded ``Job``."""
    metadata, events = [], []
    clocks, drifts = {}, {}
    for rank, t in job.ranks.items():
        host = t.hostname
        metadata.append(_metadata("process_name", rank, 0,
                                  {"name": "rank {} ({})".format(rank, host) if host
                                   else "rank {}".format(rank)}))
        metadata.append(_metadata("process_sort_index", rank, 0, {"sort_index": rank}))
        threads = sorted({(e.get("pid", 0), e.get("tid", 0)) for e in t.file.events})
        new_tid = {}
        for number, (pid, tid) in enumerate(threads, start=1):
            new_tid[(pid, tid)] = number
            name = t.file.row_name(pid) + SEPARATOR + t.file.thread_name(pid, tid)
            metadata.append(_metadata("thread_name", rank, number, {"name": name}))
            metadata.append(_metadata("thread_sort_index", rank, number, {"sort_index": number}))
        for e in t.file.events:
            merged = dict(e)
            merged["pid"] = rank
            merged["tid"] = new_tid[(e.get("pid", 0), e.get("tid", 0))]
            merged["ts"] = t.aligned(e["ts"])
            events.append(merged)
        clocks[str(rank)] = {
            "hostname": host, "file": t.file.path,
            "steady_origin_us": t.file.clock.steady_origin_us,
            "system_origin_us": t.file.clock.system_origin_us,
            "offset_us": t.offset_us, "offset_from": t.offset_source,
            "rtt_us": (t.file.offsets[t.offset_source].rtt_us
                       if t.offset_source in t.file.offsets else None),
        }
        if t.drift_us is not None:
            drifts[str(rank)] = t.drift_us
    events.sort(key=lambda e: e["ts"])  # stable: a thread's B/E keep their order
    return {
        "traceEvents": metadata + events,
        "displayTimeUnit": "ms",
        "otherData": {
            "merged_by": "bluefog.timeline",
            "prefix": job.prefix,
            "size": job.size,
            "ranks": sorted(job.ranks),
            "missing_ranks": job.missing_ranks,
            "origin_us": job.origin_us,
            "clock": clocks,
            "clock_drift_us": drifts,
            "warnings": job.warnings,
        },
    }


def merge(prefix, warn=warn_to_stderr) -> dict:
    """The merged trace of every ``PREFIX<rank>.json``; ``warn`` is told
    each warning (stderr by default; None for quiet)."""
    return trace_of_job(load_job(prefix, warn=warn))


def write_trace(trace, path):
    """Writes ``trace`` as JSON, one event per line."""
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"traceEvents": [\n')
        events = trace["traceEvents"]
        for k, e in enumerate(events):
            f.write(json.dumps(e, ensure_ascii=False))
            f.write(",\n" if k + 1 < len(events) else "\n")
        rest = {key: value for key, value in trace.items() if key != "traceEvents"}
        if rest:
            f.write("],\n")
            f.write(json.dumps(rest, ensure_ascii=False, indent=1)[1:].lstrip("\n"))
        else:
            f.write("]}")
        f.write("\n")
