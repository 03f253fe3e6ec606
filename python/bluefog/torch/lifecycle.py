"""Starting and stopping bluefog in this process: ``init`` starts the engine
and installs the topology, ``shutdown`` stops it. Kept apart from the ops so
that the ops need not import the topology that init installs."""

import atexit
import os
import sys

from bluefog import _bluefog
from bluefog.common import environment
from bluefog.torch import failure, mpi_ops, topology

_atexit_registered = False


def init(topology_fn=None, is_weighted=False):
    """Start bluefog in this process and install the topology
    ``topology_fn(size())`` (default: ExponentialGraph). Calling it again only
    resets the topology. Collective. Warns once about BLUEFOG_* variables
    that do nothing here (BlueFog 0.3's, and unknown names).

    If the first call fails after the engine started (e.g. the topology is
    refused; the engine itself refuses ranks that disagree on
    BLUEFOG_NODES_PER_MACHINE), bluefog is
    stopped again on this rank and stays uninitialised: later calls raise the
    not-initialized ValueError, which says why."""
    global _atexit_registered
    if topology_fn is not None and not callable(topology_fn):
        raise TypeError("init: topology_fn must be a callable size -> networkx.DiGraph")
    starting = not _bluefog.is_initialized()
    _bluefog.init()
    try:
        failure.install_excepthook(abort)
        if mpi_ops.local_rank() == 0:  # one warning per machine, not per rank
            environment.warn_once(os.environ)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        graph = topology_fn(mpi_ops.size()) if topology_fn is not None else None
        topology.set_topology(graph, is_weighted)
        if topology.load_machine_topology() is None:
            topology.set_machine_topology(None)
    except BaseException as error:
        if starting:
            _bluefog.abandon_init(f"{type(error).__name__}: {error}")
        raise


def shutdown():
    """Stop bluefog: pending ops finish (or fail) first. Idempotent."""
    _bluefog.shutdown()


def is_initialized():
    return _bluefog.is_initialized()


def abort(reason, consequence=False):
    """Ends this rank's bluefog on an error, telling every peer `reason`;
    `consequence`: the error came from another rank's failure."""
    if _bluefog.is_initialized():
        sys.stderr.flush()
        _bluefog.abort(reason, consequence)
