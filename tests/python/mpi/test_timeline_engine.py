"""The engine's events in a real run, at 1-4 ranks: every op kind leaves its
ENQUEUE_/MPI_ spans in the row of its name, waits per awaited peer (named by
its tid) and transfers nested in them, reductions inside the op, fused
frames, window requests served for peers, and failures as instants."""

import time

import pytest
import torch

import bluefog.torch as bf
import timeline_reader

N, ME = bf.size(), bf.rank()
WAIT = 10.0
PEER_TID = 100000  # Timeline::kPeerTidBase
ENGINE_TID = 0
needs_two = pytest.mark.skipif(N < 2, reason="needs a peer")


def _wait_for_op(path, row, ops=1):
    """The view once `row` holds `ops` completed ops (their MPI_ span ended)."""
    def done(view):
        return sum(1 for e in _engine(view, row) if e["ph"] == "E") >= 2 * ops
    view = timeline_reader.wait_until(path, done, WAIT)
    assert done(view), (row, view.of(row))
    return view


def _engine(view, row):
    return [e for e in view.of(row) if e["tid"] == ENGINE_TID]


def _spans(view, row):
    """[(name, begin, end, tid, args)] of the row: B/E pairs (checked to
    nest, with monotonic timestamps per tid) and X events."""
    stacks, last_ts, spans = {}, {}, []
    for e in view.of(row):
        tid = e["tid"]
        if e["ph"] in "BE":
            assert e["ts"] >= last_ts.get(tid, 0), ("time went back", e)
            last_ts[tid] = e["ts"]
        if e["ph"] == "B":
            stacks.setdefault(tid, []).append(e)
        elif e["ph"] == "E":
            assert stacks.get(tid), ("E without B", row, e)
            begin = stacks[tid].pop()
            spans.append((begin["name"], begin["ts"], e["ts"], tid, begin.get("args", {})))
        elif e["ph"] == "X":
            assert e["dur"] >= 0, e
            spans.append((e["name"], e["ts"], e["ts"] + e["dur"], tid, e.get("args", {})))
    assert not any(stacks.values()), ("unclosed spans", row, stacks)
    return spans


def _checked_op(view, row, kind):
    """The op's MPI_ span, after checking the row's whole shape: ENQUEUE_
    then MPI_ on the engine's tid, everything else inside MPI_."""
    phases = [p for p in view.phases(row) if not p.startswith("X:")]
    engine = [e["ph"] + (":" + e["name"] if e["ph"] == "B" else "") for e in _engine(view, row)
              if e["ph"] in "BE"]
    assert engine == ["B:ENQUEUE_" + kind, "E", "B:MPI_" + kind, "E"], (row, phases)
    spans = _spans(view, row)
    (enqueue,) = [s for s in spans if s[0] == "ENQUEUE_" + kind]
    (mpi,) = [s for s in spans if s[0] == "MPI_" + kind]
    assert enqueue[2] <= mpi[1]
    for name, begin, end, tid, _ in spans:
        if name not in (enqueue[0], mpi[0]) and not name.startswith("SERVE_"):
            assert mpi[1] <= begin <= end <= mpi[2], (name, begin, end, mpi)
    for e in view.of(row):
        if e["ph"] == "i":
            assert mpi[1] <= e["ts"] <= mpi[2], e
    return mpi


def _waited_for(view, row):
    peers = set()
    for name, _, _, tid, _ in _spans(view, row):
        if name.startswith("WAIT_FOR_RANK_"):
            peer = int(name[len("WAIT_FOR_RANK_"):])
            assert tid == PEER_TID + peer, (name, tid)
            assert view.thread_names[(view.of(row)[0]["pid"], tid)] == "rank {}".format(peer)
            peers.add(peer)
    return peers


def _reductions(view, row):
    return [s for s in _spans(view, row) if s[0] == "COMPUTE_AVERAGE"]


def _others():
    return set(range(N)) - {ME}


def _in():
    return set(bf.in_neighbor_ranks())


def _ring_prev():
    return {(ME - 1) % N} if N > 1 else set()


def _ring_next():
    return {(ME + 1) % N} if N > 1 else set()


def _ring_allreduce(x, name):
    """A dynamic one-peer step: from the previous rank, to the next."""
    return bf.neighbor_allreduce(
        x, self_weight=0.5 if N > 1 else 1.0, src_weights={r: 0.5 for r in _ring_prev()},
        dst_weights={r: 1.0 for r in _ring_next()}, name=name)


# variant -> (kind, run(x, name), the peers the op must have waited for or
# None for "some other rank", whether it reduces)
OPS = {
    "allreduce": ("ALLREDUCE", lambda x, n: bf.allreduce(x, name=n), None, True),
    "allreduce_sum_inplace": (
        "ALLREDUCE", lambda x, n: bf.allreduce_(x, average=False, name=n), None, True),
    "allreduce_nonblocking": (
        "ALLREDUCE", lambda x, n: bf.synchronize(bf.allreduce_nonblocking(x, name=n)), None,
        True),
    "allreduce_hierarchical_local": (
        "ALLREDUCE", lambda x, n: bf.allreduce(x, is_hierarchical_local=True, name=n), None,
        True),
    "broadcast": ("BROADCAST", lambda x, n: bf.broadcast(x, root_rank=0, name=n), None, False),
    "broadcast_inplace": (
        "BROADCAST", lambda x, n: bf.broadcast_(x, root_rank=N - 1, name=n), None, False),
    "allgather": ("ALLGATHER", lambda x, n: bf.allgather(x, name=n), None, False),
    "barrier": ("BARRIER", lambda x, n: bf.barrier(), None, False),
    "neighbor_allreduce": (
        "NEIGHBOR_ALLREDUCE", lambda x, n: bf.neighbor_allreduce(x, name=n), _in, True),
    "neighbor_allreduce_dynamic": ("NEIGHBOR_ALLREDUCE", _ring_allreduce, _ring_prev, True),
    "neighbor_allreduce_nonblocking": (
        "NEIGHBOR_ALLREDUCE",
        lambda x, n: bf.synchronize(bf.neighbor_allreduce_nonblocking(x, name=n)), _in, True),
    "neighbor_allgather": (
        "NEIGHBOR_ALLGATHER", lambda x, n: bf.neighbor_allgather(x, name=n), _in, False),
    "neighbor_allgather_dynamic": (
        "NEIGHBOR_ALLGATHER",
        lambda x, n: bf.neighbor_allgather(x, src_ranks=sorted(_ring_prev()),
                                           dst_ranks=sorted(_ring_next()), name=n),
        _ring_prev, False),
    "hierarchical_neighbor_allreduce": (
        "HIERARCHICAL_NEIGHBOR_ALLREDUCE",
        lambda x, n: bf.hierarchical_neighbor_allreduce(x, name=n), None, True),
}


def _row_of_barrier(view):
    rows = [r for r in view.tensor_of_pid.values() if r.startswith("barrier.noname.")]
    return max(rows, key=lambda r: int(r.rsplit(".", 1)[1]))


@pytest.mark.parametrize("variant", sorted(OPS))
def test_every_op_kind_and_variant_leaves_its_spans_and_waits(timeline_path, variant):
    kind, run, expected_peers, reduces = OPS[variant]
    hierarchical = kind == "HIERARCHICAL_NEIGHBOR_ALLREDUCE"
    if hierarchical and bf.local_size() == 1:
        pytest.skip("hierarchical_neighbor_allreduce refuses one rank per machine")
    row = "engine_" + variant
    run(torch.ones(4), row)
    if kind == "BARRIER":
        view = timeline_reader.wait_until(
            timeline_path, lambda v: any(r.startswith("barrier.noname.")
                                         for r in v.tensor_of_pid.values()), WAIT)
        row = _row_of_barrier(view)
    view = _wait_for_op(timeline_path, row)
    _checked_op(view, row, kind)
    waited = _waited_for(view, row)
    if expected_peers is not None:
        assert waited == expected_peers(), (waited, view.of(row))
    else:
        assert waited <= _others()
        if N > 1 and not hierarchical:
            assert waited, view.of(row)
    if reduces and N > 1 and not hierarchical:
        assert _reductions(view, row), view.of(row)
    if not reduces:
        assert not _reductions(view, row)


@needs_two
def test_pair_gossip_waits_for_its_partner(timeline_path):
    partner = ME ^ 1
    if partner >= N:
        pytest.skip("the last rank of an odd job has no partner")
    row = "engine_pair_gossip"
    bf.pair_gossip(torch.ones(3), partner, name=row)
    view = _wait_for_op(timeline_path, row)
    _checked_op(view, row, "PAIR_GOSSIP")
    assert _waited_for(view, row) == {partner}


@needs_two
def test_a_late_peer_shows_as_a_long_wait_with_its_transfer_inside(timeline_path):
    """Rank 1 sends 256 KiB (a payload apart from its header) to rank 0 after
    sleeping: rank 0 waits for it that long, then receives the transfer."""
    row, late = "engine_late_peer", 0.2
    x = torch.ones(1 << 16)
    bf.barrier()
    # Without the collective check of the pattern, rank 0's op starts at once.
    kw = dict(name=row, enable_topo_check=False)
    if ME == 0:
        bf.neighbor_allreduce(x, self_weight=0.5, src_weights={1: 0.5}, dst_weights={}, **kw)
    elif ME == 1:
        time.sleep(late)
        bf.neighbor_allreduce(x, self_weight=1.0, src_weights={}, dst_weights={0: 1.0}, **kw)
    else:
        return
    view = _wait_for_op(timeline_path, row)
    _checked_op(view, row, "NEIGHBOR_ALLREDUCE")
    spans = _spans(view, row)
    if ME != 0:
        assert _waited_for(view, row) == set()
        return
    (wait,) = [s for s in spans if s[0] == "WAIT_FOR_RANK_1"]
    (transfer,) = [s for s in spans if s[0] == "TRANSFER_FROM_RANK_1"]
    assert transfer[3] == wait[3] == PEER_TID + 1
    assert wait[1] <= transfer[1] <= transfer[2] <= wait[2], (wait, transfer)
    assert wait[2] - wait[1] >= 0.75 * late * 1e6, wait


@needs_two
def test_ops_started_together_show_their_fused_frames(timeline_path):
    rows = ["engine_fused{}".format(k) for k in range(6)]
    bf.barrier()
    bf.suspend()  # the ops queue up and start together, their messages in one frame
    try:
        handles = [bf.neighbor_allreduce_nonblocking(torch.ones(2), name=r) for r in rows]
    finally:
        bf.resume()
    for handle in handles:
        bf.synchronize(handle)
    view = _wait_for_op(timeline_path, rows[-1])
    frames = []
    for row in rows:
        _checked_op(view, row, "NEIGHBOR_ALLREDUCE")
        frames += [(row, e) for e in view.of(row)
                   if e["ph"] == "i" and e["name"].startswith("FUSED_FRAME_TO_RANK_")]
    assert frames, "no fused frame recorded"
    for row, e in frames:
        peer = int(e["name"].rsplit("_", 1)[1])
        assert peer in bf.out_neighbor_ranks() and e["tid"] == PEER_TID + peer
        assert e["args"]["messages"] >= 2 and e["args"]["bytes"] > 0


@needs_two
def test_a_failed_op_records_its_message(timeline_path):
    row = "engine_failing"
    shape = (3,) if ME == 0 else (4,)
    with pytest.raises(ValueError, match="shape"):
        bf.allreduce(torch.ones(shape), name=row)
    view = _wait_for_op(timeline_path, row)
    _checked_op(view, row, "ALLREDUCE")
    failed = [e for e in view.of(row) if e["ph"] == "i"]
    assert len(failed) == 1 and failed[0]["name"].startswith("FAILED: ")
    assert "shape" in failed[0]["name"] and failed[0]["tid"] == ENGINE_TID
    last_end = [e for e in _engine(view, row) if e["ph"] == "E"][-1]
    assert failed[0]["ts"] <= last_end["ts"]


@pytest.fixture
def window(request):
    """A window of its own per test: its ops' row holds only this test's."""
    name = "tl_" + "".join(c if c.isalnum() else "_" for c in request.node.name)
    bf.win_create(torch.zeros(5), name)
    yield name
    bf.win_free(name)


WINDOW_OPS = {
    "WIN_PUT": (lambda w: bf.win_put(torch.ones(5), w), bf.out_neighbor_ranks),
    "WIN_ACCUMULATE": (lambda w: bf.win_accumulate(torch.ones(5), w), bf.out_neighbor_ranks),
    "WIN_GET": (lambda w: bf.win_get(w), bf.in_neighbor_ranks),
}


@pytest.mark.parametrize("kind", sorted(WINDOW_OPS))
def test_window_ops_and_the_requests_they_served(timeline_path, window, kind):
    run, targets = WINDOW_OPS[kind]
    run(window)
    bf.barrier()  # every rank's requests were served before it
    served_from = set(bf.in_neighbor_ranks() if kind != "WIN_GET" else bf.out_neighbor_ranks())
    serve = "SERVE_{}_FOR_RANK_".format(kind)

    def complete(view):
        names = {e.get("name", "") for e in view.of(window)}
        return all(serve + str(p) in names for p in served_from) and \
            sum(1 for e in _engine(view, window) if e["ph"] == "E") >= 2
    view = timeline_reader.wait_until(timeline_path, complete, WAIT)
    assert complete(view), view.of(window)
    spans = _spans(view, window)
    mine = [s for s in spans if s[0] in ("ENQUEUE_" + kind, "MPI_" + kind)]
    assert [s[0] for s in mine] == ["ENQUEUE_" + kind, "MPI_" + kind]
    assert _waited_for(view, window) == set(targets())
    for name, _, _, tid, _ in spans:
        if name.startswith(serve):
            assert tid == PEER_TID + int(name[len(serve):])


@needs_two
def test_win_mutex_records_lock_and_unlock(timeline_path, window):
    with bf.win_mutex(window):
        pass
    names = ("MPI_WIN_LOCK", "MPI_WIN_UNLOCK")

    def complete(view):
        return all(any(e.get("name") == n for e in view.of(window)) for n in names) and \
            sum(1 for e in _engine(view, window) if e["ph"] == "E") >= 4
    view = timeline_reader.wait_until(timeline_path, complete, WAIT)
    assert complete(view), view.of(window)
    engine = [e.get("name", "E") for e in _engine(view, window) if e["ph"] in "BE"]
    assert engine == ["ENQUEUE_WIN_LOCK", "E", "MPI_WIN_LOCK", "E",
                      "ENQUEUE_WIN_UNLOCK", "E", "MPI_WIN_UNLOCK", "E"]
    _spans(view, window)


def test_win_create_and_update_record_0_3s_activities(timeline_path, window):
    bf.win_update(window)
    bf.win_update_then_collect(window)

    def complete(view):
        return sum(1 for e in view.of(window) if e["tid"] < PEER_TID and e["tid"] != 0) >= 6
    view = timeline_reader.wait_until(timeline_path, complete, WAIT)
    users = [e for e in view.of(window) if ENGINE_TID < e["tid"] < PEER_TID]
    assert [e.get("name", "E") for e in users] == [
        "WIN_CREATE", "E", "WIN_SYNC_COMPUTE_AVERAGE", "E", "WIN_SYNC_COMPUTE_AVERAGE", "E"]
    assert len({e["tid"] for e in users}) == 1
    _spans(view, window)
