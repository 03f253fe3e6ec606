"""Argument and mismatch errors of the neighbour ops: ValueError / TypeError,
never a hang, and the runtime keeps working afterwards.

Every rank issues the same sequence of calls; where a call is collective
(enable_topo_check=True) every rank makes it with the same kind of mistake.
"""

import networkx as nx
import numpy as np
import pytest
import torch

import bluefog.torch as bf

N = bf.size()
ME = bf.rank()
NXT, PRV = (ME + 1) % N, (ME - 1) % N
needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")
needs_three = pytest.mark.skipif(N < 3, reason="needs at least 3 ranks")


def graph_from_matrix(W):
    return nx.from_numpy_array(np.asarray(W, dtype=float), create_using=nx.DiGraph)


def ring_right():
    """i -> i+1 (and self loops): rank j receives from j-1 only."""
    W = np.eye(N) * 0.5
    for i in range(N):
        W[i, (i + 1) % N] += 0.5
    return graph_from_matrix(W)


@pytest.fixture(autouse=True)
def restore_default_topology():
    yield
    bf.set_topology(None)


def issue_and_wait(issue):
    """Runs `issue()` (returns a handle) then synchronize; returns the
    exception raised by either, or the result if there was none."""
    try:
        handle = issue()
    except Exception as exc:  # raised at the call
        return exc
    try:
        return bf.synchronize(handle)
    except Exception as exc:
        return exc


def assert_message(exc, *words):
    msg = str(exc).lower()
    for w in words:
        assert w.lower() in msg, f"{w!r} not in message: {exc}"


def assert_runtime_works(tag):
    """A correct static neighbor_allreduce (default topology, named and
    unnamed) and an allreduce on all ranks right after an error."""
    bf.set_topology(None)
    x = torch.full((3,), float(ME + 1), dtype=torch.float64)
    srcs = bf.in_neighbor_ranks()
    expected = (ME + 1 + sum(j + 1 for j in srcs)) / (len(srcs) + 1)
    out = bf.neighbor_allreduce(x, name=f"nerr.recover.{tag}")
    torch.testing.assert_close(out, torch.full((3,), expected, dtype=torch.float64),
                               rtol=1e-12, atol=1e-12)
    out = bf.neighbor_allreduce(x)
    torch.testing.assert_close(out, torch.full((3,), expected, dtype=torch.float64),
                               rtol=1e-12, atol=1e-12)
    out = bf.allreduce(torch.tensor([float(ME)]), average=False, name=f"nerr.recover.ar.{tag}")
    assert out.item() == N * (N - 1) / 2


# ---------------------------------------------------------------- weights given alone

@pytest.mark.parametrize("nonblocking", [False, True])
@pytest.mark.parametrize("case", ["self_only", "src_only", "dyn_self_only", "dyn_src_only",
                                  "dyn_dst_only"])
def test_weights_must_come_together(request, case, nonblocking):
    x = torch.ones(4)
    kwargs = {
        "self_only": dict(self_weight=0.5),
        "src_only": dict(src_weights={}),
        "dyn_self_only": dict(self_weight=0.5, dst_weights=[]),
        "dyn_src_only": dict(src_weights={}, dst_weights=[]),
        "dyn_dst_only": dict(dst_weights=[]),
    }[case]
    fn = bf.neighbor_allreduce_nonblocking if nonblocking else bf.neighbor_allreduce
    with pytest.raises(ValueError):
        fn(x, name=f"nerr.together.{case}.{nonblocking}", **kwargs)
    assert torch.equal(x, torch.ones(4))
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- bad ranks

@needs_two
def test_static_src_weights_not_an_in_neighbour(request):
    # No edges at all: nobody is an in-neighbour.
    bf.set_topology(graph_from_matrix(np.eye(N)))
    with pytest.raises(ValueError) as info:
        bf.neighbor_allreduce(torch.ones(3), self_weight=0.5, src_weights={NXT: 0.5},
                              name="nerr.stranger.empty")
    assert_message(info.value, "neighbo")
    if N >= 3:
        # i -> i+1: the next rank is an out-neighbour but not an in-neighbour.
        bf.set_topology(ring_right())
        with pytest.raises(ValueError):
            bf.neighbor_allreduce(torch.ones(3), self_weight=0.5, src_weights={NXT: 0.5},
                                  name="nerr.stranger.ring")
        with pytest.raises(ValueError):  # one good, one bad
            bf.neighbor_allreduce(torch.ones(3), self_weight=0.5,
                                  src_weights={PRV: 0.25, NXT: 0.25},
                                  name="nerr.stranger.ring_mixed")
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad", ["size", "minus_one", "self", "huge"])
def test_static_src_weights_bad_rank(request, bad):
    rank = {"size": N, "minus_one": -1, "self": ME, "huge": 10 ** 9}[bad]
    with pytest.raises(ValueError):
        bf.neighbor_allreduce(torch.ones(3), self_weight=0.5, src_weights={rank: 0.5},
                              name=f"nerr.static_bad.{bad}")
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
@pytest.mark.parametrize("where", ["dst_dict", "dst_list", "src"])
@pytest.mark.parametrize("bad", ["size", "minus_one", "self", "huge"])
def test_dynamic_bad_rank(request, bad, where, topo_check):
    """Every rank names the same kind of bad rank: ValueError on every rank."""
    rank = {"size": N, "minus_one": -1, "self": ME, "huge": 10 ** 9}[bad]
    if where == "dst_dict":
        kwargs = dict(self_weight=0.5, src_weights={}, dst_weights={rank: 1.0})
    elif where == "dst_list":
        kwargs = dict(self_weight=0.5, src_weights={}, dst_weights=[rank])
    else:
        kwargs = dict(self_weight=0.5, src_weights={rank: 0.5}, dst_weights=[])
    name = f"nerr.dyn_bad.{bad}.{where}.{topo_check}"
    exc = issue_and_wait(lambda: bf.neighbor_allreduce_nonblocking(
        torch.ones(3), enable_topo_check=topo_check, name=name, **kwargs))
    assert isinstance(exc, ValueError), repr(exc)
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("topo_check", [True, False], ids=["check", "nocheck"])
@pytest.mark.parametrize("where", ["src", "dst"])
@pytest.mark.parametrize("bad", ["size", "minus_one", "self", "huge"])
def test_neighbor_allgather_dynamic_bad_rank(request, bad, where, topo_check):
    rank = {"size": N, "minus_one": -1, "self": ME, "huge": 10 ** 9}[bad]
    srcs, dsts = ([rank], []) if where == "src" else ([], [rank])
    name = f"nerr.gather_bad.{bad}.{where}.{topo_check}"
    exc = issue_and_wait(lambda: bf.neighbor_allgather_nonblocking(
        torch.ones(2), src_ranks=srcs, dst_ranks=dsts, enable_topo_check=topo_check,
        name=name))
    assert isinstance(exc, ValueError), repr(exc)
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("kind", ["list_src", "str_rank", "float_rank", "str_weight",
                                  "dst_not_container"])
def test_wrong_argument_types(request, kind):
    kwargs = {
        "list_src": dict(self_weight=0.5, src_weights=[0]),
        "str_rank": dict(self_weight=0.5, src_weights={"0": 0.5}),
        "float_rank": dict(self_weight=0.5, src_weights={0.0: 0.5}, dst_weights=[]),
        "str_weight": dict(self_weight="half", src_weights={}),
        "dst_not_container": dict(self_weight=0.5, src_weights={}, dst_weights=1),
    }[kind]
    with pytest.raises(TypeError):
        bf.neighbor_allreduce(torch.ones(2), name=f"nerr.types.{kind}", **kwargs)
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- renamed keywords

@pytest.mark.parametrize("fn", ["neighbor_allreduce", "neighbor_allreduce_nonblocking"])
def test_old_keyword_names(request, fn):
    op = getattr(bf, fn)
    with pytest.raises(TypeError) as info:
        op(torch.ones(2), self_weight=0.5, neighbor_weights={}, name="nerr.old_kw.nw")
    assert_message(info.value, "src_weights")
    with pytest.raises(TypeError) as info:
        op(torch.ones(2), self_weight=0.5, src_weights={}, send_neighbors=[],
           name="nerr.old_kw.sn")
    assert_message(info.value, "dst_weights")
    with pytest.raises(TypeError):
        op(torch.ones(2), no_such_keyword=1, name="nerr.old_kw.unknown")
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- topology check

@needs_two
@pytest.mark.parametrize("case", ["send_without_receive", "receive_without_send",
                                  "send_next_receive_next", "send_next_receive_next_next"])
def test_dynamic_topo_check_mismatch(request, case):
    # rank+1 is rank-1 at 2 ranks, rank+2 is rank-1 at 3 ranks: those are
    # consistent rings, not mismatches.
    if case == "send_next_receive_next" and N < 3:
        pytest.skip("needs 3 ranks")
    if case == "send_next_receive_next_next" and N < 4:
        pytest.skip("needs 4 ranks")
    if case == "send_without_receive":
        kwargs = dict(self_weight=1.0, src_weights={}, dst_weights=[NXT])
    elif case == "receive_without_send":
        kwargs = dict(self_weight=0.5, src_weights={PRV: 0.5}, dst_weights=[])
    elif case == "send_next_receive_next":
        kwargs = dict(self_weight=0.5, src_weights={NXT: 0.5}, dst_weights=[NXT])
    else:  # every rank sends to rank+1 but receives from rank+2
        kwargs = dict(self_weight=0.5, src_weights={(ME + 2) % N: 0.5}, dst_weights=[NXT])
    exc = issue_and_wait(lambda: bf.neighbor_allreduce_nonblocking(
        torch.ones(3), enable_topo_check=True, name=f"nerr.topo.{case}", **kwargs))
    assert isinstance(exc, ValueError), repr(exc)
    assert_runtime_works(request.node.name)


@needs_two
def test_dynamic_topo_check_mismatch_on_one_pair_only(request):
    """Only rank 0 sends an extra copy (to rank 1, which does not expect it);
    the check fails on every rank, not only on 0 and 1."""
    srcs = {PRV: 0.5}
    dsts = [NXT]
    if ME == 0 and N >= 3:
        dsts = [NXT, 2]  # rank 2 receives only from rank 1
    elif ME == 0:
        dsts = {NXT: 1.0}
        srcs = {}  # rank 0 does not receive from rank 1, which sends to it
    exc = issue_and_wait(lambda: bf.neighbor_allreduce_nonblocking(
        torch.ones(3), self_weight=0.5, src_weights=srcs, dst_weights=dsts,
        enable_topo_check=True, name="nerr.topo.one_pair"))
    assert isinstance(exc, ValueError), repr(exc)
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- data mismatches

def _mismatched(kind):
    """(my tensor, whether a tensor I receive differs from mine) when rank 0
    differs from everyone else and each rank receives from rank - 1."""
    odd = ME == 0
    if kind == "shape":
        t = torch.ones(3 if odd else 4)
    elif kind == "same_numel":
        t = torch.ones((2, 3) if odd else (3, 2))
    elif kind == "ndim":
        t = torch.ones((4, 1) if odd else (4,))
    elif kind == "large":
        t = torch.ones(100_000 + (1 if odd else 0))
    else:  # dtype
        t = torch.ones(4, dtype=torch.float32 if odd else torch.float64)
    receives_mismatch = ME in (0, 1)  # rank 1 gets rank 0's; rank 0 gets rank N-1's
    return t, receives_mismatch


@needs_two
@pytest.mark.parametrize("mode", ["static", "dynamic"])
@pytest.mark.parametrize("kind", ["shape", "same_numel", "ndim", "large", "dtype"])
def test_data_mismatch_between_neighbours(request, kind, mode):
    """Each rank receives from rank - 1 only. Ranks that receive mismatched
    data get a ValueError; the others either succeed with the right values
    or get an error, never wrong numbers."""
    t, receives_mismatch = _mismatched(kind)
    name = f"nerr.data.{kind}.{mode}"
    if mode == "static":
        bf.set_topology(ring_right())
        exc = issue_and_wait(lambda: bf.neighbor_allreduce_nonblocking(t, name=name))
    else:
        exc = issue_and_wait(lambda: bf.neighbor_allreduce_nonblocking(
            t, self_weight=0.5, src_weights={PRV: 0.5}, dst_weights=[NXT], name=name))
    if receives_mismatch:
        assert isinstance(exc, ValueError), repr(exc)
        assert_message(exc, name)
    elif isinstance(exc, torch.Tensor):
        assert torch.equal(exc, torch.ones_like(t)), exc  # (1 + 1) / 2
    else:
        assert isinstance(exc, (ValueError, RuntimeError)), repr(exc)
    assert_runtime_works(request.node.name)


@needs_two
def test_neighbor_allgather_trailing_dims_mismatch(request):
    t = torch.ones((2, 3) if ME == 0 else (2, 4))
    name = "nerr.gather.trailing"
    exc = issue_and_wait(lambda: bf.neighbor_allgather_nonblocking(
        t, src_ranks=[PRV], dst_ranks=[NXT], name=name))
    if ME in (0, 1):
        assert isinstance(exc, ValueError), repr(exc)
    elif isinstance(exc, torch.Tensor):
        assert torch.equal(exc, torch.ones(2, 4))
    assert_runtime_works(request.node.name)


@needs_two
def test_neighbor_allgather_topo_check_mismatch(request):
    exc = issue_and_wait(lambda: bf.neighbor_allgather_nonblocking(
        torch.ones(2), src_ranks=[], dst_ranks=[NXT], enable_topo_check=True,
        name="nerr.gather.topo"))
    assert isinstance(exc, ValueError), repr(exc)
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("given", ["src_only", "dst_only"])
def test_neighbor_allgather_ranks_come_together(request, given):
    kwargs = {"src_only": dict(src_ranks=[]), "dst_only": dict(dst_ranks=[])}[given]
    with pytest.raises(ValueError):
        bf.neighbor_allgather(torch.ones(2), name=f"nerr.gather.together.{given}", **kwargs)
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- pair_gossip

@needs_two
@pytest.mark.parametrize("case", ["self_only", "pair_only"])
def test_pair_gossip_weights_come_together(request, case):
    kwargs = {"self_only": dict(self_weight=0.5), "pair_only": dict(pair_weight=0.5)}[case]
    with pytest.raises(ValueError):
        bf.pair_gossip(torch.ones(2), NXT, name=f"nerr.gossip.{case}", **kwargs)
    with pytest.raises(ValueError):
        bf.pair_gossip_nonblocking(torch.ones(2), NXT, name=f"nerr.gossip.nb.{case}", **kwargs)
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad", ["self", "size", "minus_one"])
def test_pair_gossip_bad_target(request, bad):
    target = {"self": ME, "size": N, "minus_one": -1}[bad]
    with pytest.raises(ValueError):
        bf.pair_gossip(torch.ones(2), target, name=f"nerr.gossip.target.{bad}")
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- hierarchical

@pytest.mark.skipif(bf.local_size() != 1, reason="needs local_size() == 1")
@pytest.mark.parametrize("nonblocking", [False, True])
def test_hierarchical_needs_several_local_ranks(request, nonblocking):
    fn = (bf.hierarchical_neighbor_allreduce_nonblocking if nonblocking
          else bf.hierarchical_neighbor_allreduce)
    with pytest.raises(ValueError) as info:
        fn(torch.ones(3), name=f"nerr.hier.local1.{nonblocking}")
    assert_message(info.value, "local_size")
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("case", ["self_only", "src_only", "dyn_dst_only"])
def test_hierarchical_weights_come_together(request, case):
    kwargs = {
        "self_only": dict(self_weight=0.5),
        "src_only": dict(src_machine_weights={}),
        "dyn_dst_only": dict(dst_machine_weights=[]),
    }[case]
    with pytest.raises(ValueError):
        bf.hierarchical_neighbor_allreduce(torch.ones(2), name=f"nerr.hier.{case}", **kwargs)
    assert_runtime_works(request.node.name)


# ---------------------------------------------------------------- dtypes and types

BAD_DTYPES = [torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64]


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=str)
def test_neighbor_allreduce_non_float_dtype(request, dtype):
    t = torch.ones(4, dtype=dtype)
    exc = issue_and_wait(lambda: bf.neighbor_allreduce_nonblocking(t, name=f"nerr.int.{dtype}"))
    assert isinstance(exc, ValueError), repr(exc)
    with pytest.raises(ValueError):
        bf.neighbor_allreduce(t, name=f"nerr.int.sync.{dtype}")
    if N >= 2:
        exc = issue_and_wait(lambda: bf.neighbor_allreduce_nonblocking(
            t, self_weight=0.5, src_weights={PRV: 0.5}, dst_weights=[NXT],
            name=f"nerr.int.dyn.{dtype}"))
        assert isinstance(exc, ValueError), repr(exc)
        exc = issue_and_wait(lambda: bf.pair_gossip_nonblocking(
            t, ME ^ 1 if (ME ^ 1) < N else PRV, name=f"nerr.int.gossip.{dtype}"))
        assert isinstance(exc, ValueError), repr(exc)
    exc = issue_and_wait(lambda: bf.hierarchical_neighbor_allreduce_nonblocking(
        t, name=f"nerr.int.hier.{dtype}"))
    assert isinstance(exc, ValueError), repr(exc)
    assert torch.equal(t, torch.ones(4, dtype=dtype))
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("value", [[1.0, 2.0], 3.0, None, np.ones(2)],
                         ids=["list", "float", "None", "numpy"])
def test_non_tensor_argument(request, value):
    calls = [
        lambda: bf.neighbor_allreduce(value),
        lambda: bf.neighbor_allreduce_nonblocking(value),
        lambda: bf.neighbor_allgather(value),
        lambda: bf.neighbor_allgather_nonblocking(value),
        lambda: bf.pair_gossip(value, 0),
        lambda: bf.hierarchical_neighbor_allreduce(value),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad_name", [1, b"bytes"], ids=repr)
def test_name_not_a_string(request, bad_name):
    t = torch.ones(2)
    calls = [
        lambda: bf.neighbor_allreduce(t, name=bad_name),
        lambda: bf.neighbor_allreduce_nonblocking(t, name=bad_name),
        lambda: bf.neighbor_allgather(t, name=bad_name),
        lambda: bf.neighbor_allgather_nonblocking(t, name=bad_name),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    assert_runtime_works(request.node.name)


def test_name_reused_while_in_flight(request):
    name = "nerr.in_flight"
    bf.suspend()  # keep the first op in flight
    try:
        first = bf.neighbor_allreduce_nonblocking(torch.full((3,), float(ME)), name=name)
        with pytest.raises(ValueError):
            bf.neighbor_allreduce_nonblocking(torch.ones(3), name=name)
    finally:
        bf.resume()
    out = bf.synchronize(first)
    srcs = bf.in_neighbor_ranks()
    expected = (ME + sum(srcs)) / (len(srcs) + 1)
    torch.testing.assert_close(out, torch.full((3,), float(expected)))
    assert_runtime_works(request.node.name)


def test_neighbor_ops_still_work_at_the_end(request):
    assert_runtime_works(request.node.name)
    bf.barrier()
