"""One-sided window ops: each rank exposes a named tensor (its window) and
keeps a buffer per in-neighbour that the neighbour writes into at any time
(put, accumulate) or that this rank fills from the neighbour (get); this rank
folds the buffers in with win_update whenever it likes. The engines serve
the requests, so the owner's Python thread takes no part.

A nonblocking op's handle completes once its effect is in place at every
peer. Put and accumulate are applied atomically with respect to win_update.
As with every nonblocking op, leave the tensor passed to a nonblocking put or
accumulate (and the window itself) alone until win_wait: the data is read
when the transfer starts, after any mutexes it requires are granted.
"""

import contextlib

import torch

from bluefog import _bluefog
from bluefog.torch import agreement, arguments, mutex_holdings, topology
from bluefog.torch.errors import InvalidArgumentError
from bluefog.torch.mpi_ops import barrier, synchronize

_with_associated_p = False
_neighbors = {}  # window name -> (in-neighbours, out-neighbours) at creation
_locked = set()  # windows this process holds with win_lock


def _window_name(name, op):
    if not isinstance(name, str) or not name:
        raise TypeError(f"{op}: name must be a non-empty string, got {name!r}")
    return arguments.text(name, op, "name")


def _check_name(name, op):
    _window_name(name, op)
    if name not in _neighbors:
        raise InvalidArgumentError(f"{op}: no window named '{name}' (existing: "
                                   f"{sorted(_neighbors) or 'none'}); create it with win_create")
    return _neighbors[name]


def _peers(weights, allowed, op, what, side):
    """[(rank, weight)] from a dict rank -> weight or a list of ranks, each of
    which must be a neighbour on `side`."""
    if weights is None:
        return [(r, 1.0) for r in allowed]
    size = _bluefog.size()
    peers = sorted(arguments.dst_weights(weights, op, what, size).items()) \
        if what == "dst_weights" else sorted(arguments.weights_dict(weights, op, what, size).items())
    strangers = [r for r, _ in peers if r not in allowed]
    if strangers:
        raise InvalidArgumentError(f"{op}: {what} names ranks {strangers} that are not {side} of rank "
                                   f"{_bluefog.rank()} ({side}: {list(allowed)})")
    return peers


def win_create(tensor, name, zero_init=False):
    """Collective: expose `tensor` (kept by reference; win_update writes into
    it) as window `name`, with one buffer per in-neighbour, initialised to a
    copy of `tensor` or to zeros. Every rank must pass the same name, dtype
    and shape."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"win_create: expected a tensor, got {type(tensor).__name__}")
    _window_name(name, "win_create")
    if name in _neighbors:
        raise InvalidArgumentError(f"win_create: a window named '{name}' already exists")
    agreement.check_same_everywhere(
        "win_create", f"{name}|{tensor.dtype}|{tuple(tensor.shape)}",
        f"another name, dtype or shape for window '{name}' ({tensor.dtype}, "
        f"{tuple(tensor.shape)} here)")
    in_ranks, out_ranks = topology.in_neighbor_ranks(), topology.out_neighbor_ranks()
    _bluefog.win_create(tensor, name, in_ranks, bool(zero_init))
    _neighbors[name] = (in_ranks, out_ranks)
    topology.window_created(name)
    barrier()  # nobody writes into a window a peer has not created yet
    return True


def win_free(name=None):
    """Collective: free window `name`, or every window when None. Wait for
    your nonblocking window ops first."""
    names = sorted(_neighbors) if name is None else [name]
    for n in names:
        _check_name(n, "win_free")
        if n in _locked:
            raise InvalidArgumentError(f"win_free: window '{n}' is held by this rank's win_lock; "
                                       "leave the win_lock block first")
    barrier()  # every rank is done with the windows
    for n in names:
        _bluefog.win_free(n)
        del _neighbors[n]
        topology.window_freed(n)
    return True


def _transfer(op, tensor, name, peers, self_weight, require_mutex, with_p=None):
    """with_p: carry p along (None: as turn_on/off_win_ops_with_associated_p say)."""
    if self_weight is not None:
        self_weight = arguments.weight(self_weight, f"win_{op}", "self_weight")
    if require_mutex:  # it locks the peers' windows
        mutex_holdings.check_free(name, [r for r, _ in peers], f"win_{op}", _bluefog.rank())
    with_p = _with_associated_p if with_p is None else with_p
    return _bluefog.win_transfer_nonblocking(op, tensor, name, peers, self_weight,
                                             bool(require_mutex), with_p)


def win_put_nonblocking(tensor, name, self_weight=None, dst_weights=None, require_mutex=False):
    """Start writing ``tensor * dst_weights[j]`` into this rank's buffer at
    each out-neighbour j (default: all, weight 1); then the window tensor is
    scaled by self_weight if given. Returns a handle for win_wait/win_poll."""
    _, out_ranks = _check_name(name, "win_put")
    peers = _peers(dst_weights, out_ranks, "win_put", "dst_weights", "out-neighbours")
    return _transfer("put", tensor, name, peers, self_weight, require_mutex)


def win_accumulate_nonblocking(tensor, name, self_weight=None, dst_weights=None,
                               require_mutex=False, _with_p=None):
    """Like win_put_nonblocking, but adds into the buffers at the targets."""
    _, out_ranks = _check_name(name, "win_accumulate")
    peers = _peers(dst_weights, out_ranks, "win_accumulate", "dst_weights", "out-neighbours")
    return _transfer("accumulate", tensor, name, peers, self_weight, require_mutex, _with_p)


def win_get_nonblocking(name, src_weights=None, require_mutex=False):
    """Start reading each in-neighbour's window tensor into this rank's buffer
    for it, scaled by src_weights[j] (default: all in-neighbours, weight 1)."""
    in_ranks, _ = _check_name(name, "win_get")
    peers = _peers(src_weights, in_ranks, "win_get", "src_weights", "in-neighbours")
    return _transfer("get", None, name, peers, None, require_mutex)


def win_put(tensor, name, self_weight=None, dst_weights=None, require_mutex=False):
    return win_wait(win_put_nonblocking(tensor, name, self_weight, dst_weights, require_mutex))


def win_accumulate(tensor, name, self_weight=None, dst_weights=None, require_mutex=False):
    return win_wait(win_accumulate_nonblocking(tensor, name, self_weight, dst_weights,
                                               require_mutex))


def win_get(name, src_weights=None, require_mutex=False):
    return win_wait(win_get_nonblocking(name, src_weights, require_mutex))


def win_poll(handle):
    """True when the window op is complete."""
    return _bluefog.poll(arguments.handle(handle, "win_poll"))


def win_wait(handle):
    """Block until the window op is complete (its effect in place at every
    peer); raises if it failed. Returns True."""
    synchronize(handle, "win_wait")
    return True


@contextlib.contextmanager
def win_mutex(name, for_self=False, ranks=None, _op="win_mutex"):
    """Hold the distributed mutex of window `name` on `ranks` (default: the
    out-neighbours; for_self: this rank's own), so that no put, accumulate,
    get or update that requires the mutex touches those windows meanwhile.
    Asking again on the same thread for a mutex it holds raises ValueError
    (it would wait forever); another thread waits for it."""
    _, out_ranks = _check_name(name, _op)
    me = _bluefog.rank()
    if ranks is None:
        ranks = [me] if for_self else out_ranks
    ranks = sorted(set(arguments.ranks(ranks, _op, "ranks", _bluefog.size())))
    mutex_holdings.check_free(name, ranks, _op, me)
    synchronize(_bluefog.win_mutex_nonblocking(name, ranks, True))
    try:
        with mutex_holdings.holding(name, ranks, _op):
            yield
    finally:
        synchronize(_bluefog.win_mutex_nonblocking(name, ranks, False))


@contextlib.contextmanager
def win_lock(name):
    """BlueFog 0.3's win_lock: inside the block, this rank holds its own window
    `name` exclusively, so that it may read or change the window tensor and
    its buffers while no neighbour touches them.

    0.3 opened an exclusive MPI passive-target epoch on the window's local
    memory. Windows here are served by the engine rather than MPI's RMA, so
    the equivalent is to hold this window's own mutex against the neighbours'
    access: their puts, accumulates and gets on this window, with or without
    require_mutex, wait until the block ends (their nonblocking handles
    complete only then), and so do their mutex requests. This rank's own
    window ops and win_update keep working inside (updates that require the
    mutex take it as held). Not collective."""
    _check_name(name, "win_lock")
    if name in _locked:
        raise InvalidArgumentError(f"win_lock: this rank already holds window '{name}'")
    me = _bluefog.rank()
    mutex_holdings.check_free(name, [me], "win_lock", me)
    synchronize(_bluefog.win_lock_nonblocking(name, True))
    _locked.add(name)
    try:
        with mutex_holdings.holding(name, [me], "win_lock"):
            yield
    finally:
        _locked.discard(name)
        synchronize(_bluefog.win_lock_nonblocking(name, False))


def _held(name, require_mutex, op):
    if not require_mutex or name in _locked:
        return contextlib.nullcontext()
    return win_mutex(name, for_self=True, _op=op)


def win_update(name, self_weight=None, neighbor_weights=None, reset=False, clone=False,
               require_mutex=False):
    """Local: ``self_weight * x + sum_j neighbor_weights[j] * buffer_j`` into
    the window tensor (or a new tensor with clone=True), which is returned.
    Defaults as for neighbor_allreduce. ``reset`` zeroes the buffers used.
    The versions of the buffers used go back to 0."""
    in_ranks, _ = _check_name(name, "win_update")
    if (self_weight is None) != (neighbor_weights is None):
        raise InvalidArgumentError("win_update: self_weight and neighbor_weights must be given together")
    if self_weight is None:
        self_weight, neighbor_weights = topology.default_weights()
    self_weight = arguments.weight(self_weight, "win_update", "self_weight")
    peers = _peers(neighbor_weights, in_ranks, "win_update", "neighbor_weights",
                   "in-neighbours")
    with _held(name, require_mutex, "win_update"):
        return _bluefog.win_update(name, self_weight, peers, bool(reset), bool(clone),
                                   _with_associated_p)


def win_update_then_collect(name, require_mutex=True, _with_p=None):
    """Push-sum's collect step: ``x + sum_j buffer_j`` into the window tensor,
    then zero the buffers. Returns the window tensor."""
    _check_name(name, "win_update_then_collect")
    with_p = _with_associated_p if _with_p is None else _with_p
    with _held(name, require_mutex, "win_update_then_collect"):
        return _bluefog.win_update_then_collect(name, with_p)


def get_win_version(name):
    """{in-neighbour: writes that arrived since this rank's last win_update}."""
    _check_name(name, "get_win_version")
    return dict(_bluefog.win_versions(name))


def get_current_created_window_names():
    return sorted(_neighbors)


def win_associated_p(name):
    """The push-sum weight p carried with window `name` (starts at 1.0)."""
    _check_name(name, "win_associated_p")
    return _bluefog.win_p(name)


def turn_on_win_ops_with_associated_p():
    """Put, accumulate, get and update apply their weights to p as well."""
    global _with_associated_p
    _with_associated_p = True


def turn_off_win_ops_with_associated_p():
    global _with_associated_p
    _with_associated_p = False


neighbor_win_put = win_put
neighbor_win_put_nonblocking = win_put_nonblocking
neighbor_win_accumulate = win_accumulate
neighbor_win_accumulate_nonblocking = win_accumulate_nonblocking
neighbor_win_get = win_get
neighbor_win_get_nonblocking = win_get_nonblocking
