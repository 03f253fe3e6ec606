"""Which window mutexes each thread of this process holds (through win_mutex
or win_lock), so that asking for one of them again on the same thread, which
would wait for itself forever, raises ValueError at once instead. Another
thread of this rank that asks for a held mutex waits for it, as a mutex
should: holdings are per thread.

What each op locks: win_mutex its ``ranks`` (default: the out-neighbours;
``for_self``: this rank); win_lock this rank; win_put and win_accumulate with
``require_mutex`` their destinations, win_get with ``require_mutex`` its
sources; win_update and win_update_then_collect with ``require_mutex`` this
rank (through win_mutex(for_self=True))."""

import contextlib
import threading

from bluefog.torch.errors import InvalidArgumentError

_local = threading.local()


def _holdings():
    """{window name: {rank: what took its mutex}} of the calling thread."""
    if not hasattr(_local, "holdings"):
        _local.holdings = {}
    return _local.holdings


def check_free(name, ranks, op, me):
    """Raises ValueError if this thread holds the mutex of `name` on one of `ranks`."""
    taken = _holdings().get(name, {})
    for r in sorted(ranks):
        if r in taken:
            whose = (f"its own window '{name}' (rank {r})" if r == me
                     else f"the mutex of window '{name}' on rank {r}")
            raise InvalidArgumentError(f"{op}: this thread already holds {whose}, taken by {taken[r]}; "
                                       f"{op} would wait for it forever. Leave that block first (or "
                                       "do not ask for the mutex again inside it)")


@contextlib.contextmanager
def holding(name, ranks, what):
    """Records that this thread holds the mutex of `name` on `ranks` meanwhile."""
    taken = _holdings().setdefault(name, {})
    for r in ranks:
        taken[r] = what
    try:
        yield
    finally:
        for r in ranks:
            taken.pop(r, None)
        if not taken:
            _holdings().pop(name, None)
