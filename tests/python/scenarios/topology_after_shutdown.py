"""Topology queries after shutdown raise what every call raises then, instead
of answering with the lists of the job that ended."""

import bluefog.torch as bf
from report import report

bf.init()
bf.shutdown()
for name in ("load_topology", "in_neighbor_ranks", "out_neighbor_ranks", "is_topo_weighted",
             "load_machine_topology", "in_neighbor_machine_ranks",
             "out_neighbor_machine_ranks", "is_machine_topo_weighted", "size"):
    try:
        answer = getattr(bf, name)()
    except Exception as error:  # noqa: BLE001 (what it raises is the point)
        kind = "RuntimeError" if isinstance(error, RuntimeError) else "not RuntimeError"
        report(f"AFTER-SHUTDOWN {name} {type(error).__name__} ({kind}): {error}")
    else:
        report(f"AFTER-SHUTDOWN {name} answered {answer!r}")
