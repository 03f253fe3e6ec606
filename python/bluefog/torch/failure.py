"""A rank whose script dies of an uncaught exception must not leave its peers
waiting for it: the engine tells every peer why (their ops that need this
rank fail at once, naming it and the exception), then this process exits
without MPI_Finalize, which would wait for ranks that may never get there."""

import os
import sys

from bluefog.torch.errors import PeerFailureError

_MAX_REASON = 2000
_installed_in_pid = None


def install_excepthook(abort):
    """Chains onto sys.excepthook once per process (init calls it):
    ``abort(reason, consequence)`` ends this rank's bluefog, telling the peers
    why; `consequence`: the exception came from another rank's failure."""
    global _installed_in_pid
    if _installed_in_pid == os.getpid():
        return
    _installed_in_pid = os.getpid()
    previous = sys.excepthook

    def excepthook(exc_type, exc, traceback):
        previous(exc_type, exc, traceback)  # the user's traceback comes first
        # A forked child (a DataLoader worker) has a copy of the engine's
        # state but not its thread: only the process that started it aborts.
        if os.getpid() == _installed_in_pid:
            abort(f"its script raised {describe_exception(exc_type, exc)}",
                  consequence=issubclass(exc_type, PeerFailureError))

    sys.excepthook = excepthook


def describe_exception(exc_type, exc):
    text = f"{exc_type.__name__}: {exc}".strip()
    if text.endswith(":"):
        text = text[:-1]
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "..."

