"""Non-finite and absurd weights (NaN, +-inf, 1e308) are refused at the call
with ValueError naming the op and the argument, by every op that takes
weights, before anything is sent; the runtime keeps working. The rule is the
core's (finite, magnitude at most 1e9), the one set_topology applies too.

Every rank makes the same mistake, so nothing collective is left waiting."""

import networkx as nx
import numpy as np
import pytest
import torch

import bluefog.torch as bf

N, ME = bf.size(), bf.rank()
NXT, PRV = (ME + 1) % N, (ME - 1) % N
BAD = [float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 2e9, 10 ** 400]
BAD_IDS = ["nan", "inf", "-inf", "1e308", "-1e308", "2e9", "int_10e400"]
needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")
needs_local = pytest.mark.skipif(bf.local_size() < 2, reason="needs local_size() > 1")


def refused(call, op, argument):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{op}: {argument}"), message
    assert "finite number of magnitude at most 1e+09" in message, message


def assert_runtime_works(tag):
    x = torch.full((3,), float(ME + 1), dtype=torch.float64)
    srcs = bf.in_neighbor_ranks()
    out = bf.neighbor_allreduce(x, name=f"wcheck.recover.{tag}")
    expected = (ME + 1 + sum(j + 1 for j in srcs)) / (len(srcs) + 1)
    torch.testing.assert_close(out, torch.full((3,), expected, dtype=torch.float64))
    out = bf.allreduce(torch.tensor([float(ME)]), average=False, name=f"wcheck.ar.{tag}")
    assert out.item() == N * (N - 1) / 2


@pytest.fixture
def window():
    bf.win_create(torch.ones(4, dtype=torch.float64), "wcheck")
    yield
    bf.win_free("wcheck")


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("nonblocking", [False, True])
def test_neighbor_allreduce_static(request, bad, nonblocking):
    fn = bf.neighbor_allreduce_nonblocking if nonblocking else bf.neighbor_allreduce
    srcs = bf.in_neighbor_ranks()
    x = torch.ones(3)
    refused(lambda: fn(x, self_weight=bad, src_weights={r: 0.5 for r in srcs},
                       name="wcheck.nar.self"), "neighbor_allreduce", "self_weight")
    if srcs:
        refused(lambda: fn(x, self_weight=0.5, src_weights={srcs[0]: bad},
                           name="wcheck.nar.src"),
                "neighbor_allreduce", f"src_weights[{srcs[0]}]")
    assert_runtime_works(request.node.name)


@needs_two
@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("nonblocking", [False, True])
@pytest.mark.parametrize("topo_check", [False, True])
def test_neighbor_allreduce_dynamic(request, bad, nonblocking, topo_check):
    fn = bf.neighbor_allreduce_nonblocking if nonblocking else bf.neighbor_allreduce
    x = torch.ones(3)

    def call(self_weight=0.5, src=0.5, dst=1.0):
        return fn(x, self_weight=self_weight, src_weights={PRV: src}, dst_weights={NXT: dst},
                  enable_topo_check=topo_check, name="wcheck.dyn")

    refused(lambda: call(self_weight=bad), "neighbor_allreduce", "self_weight")
    refused(lambda: call(src=bad), "neighbor_allreduce", f"src_weights[{PRV}]")
    refused(lambda: call(dst=bad), "neighbor_allreduce", f"dst_weights[{NXT}]")
    assert_runtime_works(request.node.name)


@needs_two
@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("nonblocking", [False, True])
def test_pair_gossip(request, bad, nonblocking):
    fn = bf.pair_gossip_nonblocking if nonblocking else bf.pair_gossip
    x = torch.ones(3)
    refused(lambda: fn(x, NXT, self_weight=bad, pair_weight=0.5), "pair_gossip", "self_weight")
    refused(lambda: fn(x, NXT, self_weight=0.5, pair_weight=bad), "pair_gossip", "pair_weight")
    assert_runtime_works(request.node.name)


@needs_local
@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("nonblocking", [False, True])
def test_hierarchical_neighbor_allreduce(request, bad, nonblocking):
    fn = (bf.hierarchical_neighbor_allreduce_nonblocking if nonblocking
          else bf.hierarchical_neighbor_allreduce)
    x = torch.ones(3)
    op = "hierarchical_neighbor_allreduce"
    refused(lambda: fn(x, self_weight=bad, src_machine_weights={}), op, "self_weight")
    me = bf.machine_rank()
    refused(lambda: fn(x, self_weight=0.5, src_machine_weights={me: bad}),
            op, f"src_machine_weights[{me}]")
    refused(lambda: fn(x, self_weight=0.5, src_machine_weights={}, dst_machine_weights={me: bad}),
            op, f"dst_machine_weights[{me}]")
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("op", ["win_put", "win_accumulate"])
@pytest.mark.parametrize("nonblocking", [False, True])
def test_win_put_and_accumulate(request, window, bad, op, nonblocking):
    fn = getattr(bf, op + "_nonblocking" if nonblocking else op)
    x = torch.ones(4, dtype=torch.float64)
    refused(lambda: fn(x, "wcheck", self_weight=bad), op, "self_weight")
    outs = bf.out_neighbor_ranks()
    if outs:
        refused(lambda: fn(x, "wcheck", dst_weights={outs[0]: bad}), op,
                f"dst_weights[{outs[0]}]")
    bf.barrier()
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
@pytest.mark.parametrize("nonblocking", [False, True])
def test_win_get(request, window, bad, nonblocking):
    fn = bf.win_get_nonblocking if nonblocking else bf.win_get
    ins = bf.in_neighbor_ranks()
    if ins:
        refused(lambda: fn("wcheck", src_weights={ins[0]: bad}), "win_get",
                f"src_weights[{ins[0]}]")
    bf.barrier()
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad", BAD, ids=BAD_IDS)
def test_win_update(request, window, bad):
    ins = bf.in_neighbor_ranks()
    refused(lambda: bf.win_update("wcheck", self_weight=bad,
                                  neighbor_weights={r: 0.5 for r in ins}),
            "win_update", "self_weight")
    if ins:
        refused(lambda: bf.win_update("wcheck", self_weight=0.5,
                                      neighbor_weights={ins[0]: bad}),
                "win_update", f"neighbor_weights[{ins[0]}]")
    bf.barrier()
    assert_runtime_works(request.node.name)


@pytest.mark.parametrize("bad", BAD[:5], ids=BAD_IDS[:5])
def test_set_topology_uses_the_same_rule(request, bad):
    W = np.full((N, N), 1.0 / N)
    graph = nx.from_numpy_array(W, create_using=nx.DiGraph)
    graph.edges[0, N - 1]["weight"] = bad
    with pytest.raises(ValueError) as info:
        bf.set_topology(graph, is_weighted=True)
    assert str(info.value).startswith(f"set_topology: the weight of edge 0->{N - 1} is")
    assert "finite number of magnitude at most 1e+09" in str(info.value)
    assert_runtime_works(request.node.name)


def test_ordinary_weights_still_pass(request):
    """Negative, zero and large-but-sane weights are the caller's business."""
    x = torch.full((2,), float(ME + 1), dtype=torch.float64)
    srcs = bf.in_neighbor_ranks()
    out = bf.neighbor_allreduce(x, self_weight=-2.0, src_weights={r: 1e9 for r in srcs},
                                name="wcheck.sane")
    expected = -2.0 * (ME + 1) + sum(1e9 * (r + 1) for r in srcs)
    torch.testing.assert_close(out, torch.full((2,), expected, dtype=torch.float64))
    assert_runtime_works(request.node.name)
