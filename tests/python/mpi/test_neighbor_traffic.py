"""A rank outside an exchange receives nothing for it.

bf._messages_received_from() counts, per peer, the messages received since
init. To read the count of the watched (outsider) rank O at moments when no
message to O can be in flight, the other ranks are held by O:

  done(O)     every other rank sends O one small message and O waits for all
              of them: every message sent to O before has arrived;
  release(O)  O sends every other rank a small message that they wait for,
              so nobody sends to O again before O has read its counts.

O reads its counts between done and release, before and after the exchange,
and compares with a control run with no exchange. The sync ops are dynamic
neighbor_allgathers without the (collective) topology check.
"""

import itertools

import networkx as nx
import numpy as np
import pytest
import torch

import bluefog.torch as bf

N = bf.size()
ME = bf.rank()
needs_three = pytest.mark.skipif(N < 3, reason="needs at least 3 ranks")
_serial = itertools.count()  # advanced identically on every rank


def graph_from_matrix(W):
    return nx.from_numpy_array(np.asarray(W, dtype=float), create_using=nx.DiGraph)


def counts():
    c = list(bf._messages_received_from())
    assert len(c) == N
    return c


def _sync(watched, to_watched):
    others = [r for r in range(N) if r != watched]
    name = f"traffic.sync.{next(_serial)}"
    t = torch.zeros(1)
    if (ME == watched) == to_watched:  # receiving side
        src = others if ME == watched else [watched]
        bf.neighbor_allgather(t, src_ranks=src, dst_ranks=[], enable_topo_check=False,
                              name=name)
    else:
        dst = others if ME == watched else [watched]
        bf.neighbor_allgather(t, src_ranks=[], dst_ranks=dst, enable_topo_check=False,
                              name=name)


def measure(watched, action):
    """On rank `watched`: per-peer messages received during `action(tag)`
    plus one done/release round (None on the other ranks). `tag` is unique
    per call, for op names."""
    tag = next(_serial)
    _sync(watched, to_watched=True)   # done
    before = counts() if ME == watched else None
    _sync(watched, to_watched=False)  # release
    action(tag)
    _sync(watched, to_watched=True)   # done
    after = counts() if ME == watched else None
    _sync(watched, to_watched=False)  # release
    if ME != watched:
        return None
    return [a - b for a, b in zip(after, before)]


def check_outsider_receives_nothing(watched, action):
    control = measure(watched, lambda tag: None)
    measured = measure(watched, action)
    control_again = measure(watched, lambda tag: None)
    if ME == watched:
        assert control == control_again, "sync traffic is not reproducible"
        assert measured == control, (measured, control)


@pytest.fixture(autouse=True)
def restore_default_topology():
    yield
    bf.set_topology(None)


def test_counts_are_per_peer():
    c = counts()
    assert all(isinstance(v, int) and v >= 0 for v in c)
    assert c[ME] == 0  # nothing is received from oneself


@needs_three
def test_counts_see_messages():
    """The measurement does see traffic: rank 0 sends the watched rank 2 one
    tensor, which shows up as messages from rank 0 only."""
    def send_one(tag):
        if ME == 0:
            bf.neighbor_allgather(torch.ones(3), src_ranks=[], dst_ranks=[2],
                                  enable_topo_check=False, name="traffic.see")
        elif ME == 2:
            bf.neighbor_allgather(torch.ones(3), src_ranks=[0], dst_ranks=[],
                                  enable_topo_check=False, name="traffic.see")
    control = measure(2, lambda tag: None)
    measured = measure(2, send_one)
    if ME == 2:
        assert measured[0] > control[0]
        assert measured[1:] == control[1:]


def _outsiders(pair):
    return sorted({r for r in (0, 2, N - 1) if r not in pair})


@needs_three
@pytest.mark.parametrize("size", [4, 100_000], ids=["small", "large"])
def test_pair_gossip_outsiders_receive_nothing(size):
    def gossip(tag):
        if ME in (0, 1):
            x = torch.full((size,), float(ME))
            out = bf.pair_gossip(x, 1 - ME, name=f"traffic.gossip.{size}.{tag}")
            assert torch.equal(out, torch.full((size,), 0.5))
    for watched in _outsiders((0, 1)):
        check_outsider_receives_nothing(watched, gossip)


@needs_three
def test_dynamic_neighbor_allreduce_outsiders_receive_nothing():
    """Ranks 1 and 2 exchange; rank 0 (and the last rank) see nothing of it:
    in particular no coordination goes through rank 0."""
    def exchange(tag):
        if ME in (1, 2):
            other = 3 - ME
            out = bf.neighbor_allreduce(torch.full((8,), float(ME)), self_weight=0.5,
                                        src_weights={other: 0.5}, dst_weights=[other],
                                        enable_topo_check=False,
                                        name=f"traffic.dynamic.{tag}")
            assert torch.equal(out, torch.full((8,), 1.5))
    for watched in _outsiders((1, 2)):
        check_outsider_receives_nothing(watched, exchange)


@needs_three
def test_static_isolated_rank_receives_nothing():
    """All ranks call a static neighbor_allreduce over a graph where only 1
    and 2 are connected: the others take part in no exchange."""
    W = np.eye(N)
    W[1, 2] = W[2, 1] = 1.0
    bf.set_topology(graph_from_matrix(W))

    def exchange(tag):
        out = bf.neighbor_allreduce(torch.full((8,), float(ME)),
                                    name=f"traffic.static.{tag}")
        expected = 1.5 if ME in (1, 2) else float(ME)
        assert torch.equal(out, torch.full((8,), expected))
    for watched in _outsiders((1, 2)):
        check_outsider_receives_nothing(watched, exchange)


@needs_three
def test_neighbor_allgather_isolated_rank_receives_nothing():
    def exchange(tag):
        if ME in (0, 1):
            other = 1 - ME
            out = bf.neighbor_allgather(torch.full((2,), float(ME)), src_ranks=[other],
                                        dst_ranks=[other], enable_topo_check=False,
                                        name=f"traffic.gather.{tag}")
            assert torch.equal(out, torch.full((2,), float(other)))
    for watched in _outsiders((0, 1)):
        check_outsider_receives_nothing(watched, exchange)
