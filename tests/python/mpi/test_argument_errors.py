"""Bad ranks, handles and names in every op that takes them: a TypeError (wrong
type) or ValueError (bad value) whose message starts with the op and names
the argument; never pybind11's signature dump, an OverflowError or a
UnicodeEncodeError. pair_gossip's errors name pair_gossip."""

import pytest
import torch

import bluefog.torch as bf

N, ME = bf.size(), bf.rank()
NXT = (ME + 1) % N
needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")
needs_local = pytest.mark.skipif(bf.local_size() < 2, reason="needs local_size() > 1")

HUGE = [2 ** 40, 2 ** 70, -1, N]
HUGE_IDS = ["2**40", "2**70", "-1", "size"]
NOT_INTEGERS = ["a", 1.5, None, True]
NOT_INTEGER_IDS = ["str", "float", "None", "bool"]


def assert_error(kind, call, op, argument):
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{op}:") and argument in message, message
    assert "incompatible function arguments" not in message, message
    return message


@pytest.fixture
def window():
    bf.win_create(torch.ones(3, dtype=torch.float64), "args")
    yield
    bf.win_free("args")


def rank_calls(r):
    """(op, argument, call) for every op argument that names a rank."""
    x = torch.ones(3)
    w = torch.ones(3, dtype=torch.float64)
    calls = [
        ("broadcast", "root_rank", lambda: bf.broadcast(x, r)),
        ("broadcast", "root_rank", lambda: bf.broadcast_nonblocking(x, r)),
        ("broadcast_", "root_rank", lambda: bf.broadcast_(x, r)),
        ("broadcast_", "root_rank", lambda: bf.broadcast_nonblocking_(x, r)),
        ("neighbor_allreduce", "src_weights",
         lambda: bf.neighbor_allreduce(x, self_weight=0.5, src_weights={r: 0.5})),
        ("neighbor_allreduce", "src_weights",
         lambda: bf.neighbor_allreduce_nonblocking(x, self_weight=0.5, src_weights={r: 0.5},
                                                   dst_weights=[])),
        ("neighbor_allreduce", "dst_weights",
         lambda: bf.neighbor_allreduce(x, self_weight=0.5, src_weights={}, dst_weights=[r])),
        ("neighbor_allreduce", "dst_weights",
         lambda: bf.neighbor_allreduce(x, self_weight=0.5, src_weights={},
                                       dst_weights={r: 1.0})),
        ("neighbor_allgather", "src_ranks",
         lambda: bf.neighbor_allgather(x, src_ranks=[r], dst_ranks=[])),
        ("neighbor_allgather", "dst_ranks",
         lambda: bf.neighbor_allgather_nonblocking(x, src_ranks=[], dst_ranks=[r])),
        ("pair_gossip", "target_rank", lambda: bf.pair_gossip(x, r)),
        ("pair_gossip", "target_rank", lambda: bf.pair_gossip_nonblocking(x, r)),
        ("win_put", "dst_weights", lambda: bf.win_put(w, "args", dst_weights={r: 1})),
        ("win_put", "dst_weights", lambda: bf.win_put_nonblocking(w, "args", dst_weights=[r])),
        ("win_accumulate", "dst_weights",
         lambda: bf.win_accumulate(w, "args", dst_weights={r: 1})),
        ("win_get", "src_weights", lambda: bf.win_get("args", src_weights={r: 1})),
        ("win_update", "neighbor_weights",
         lambda: bf.win_update("args", self_weight=0.5, neighbor_weights={r: 0.5})),
        ("win_mutex", "ranks", lambda: bf.win_mutex("args", ranks=[r]).__enter__()),
    ]
    if bf.local_size() > 1:
        op = "hierarchical_neighbor_allreduce"
        calls += [
            (op, "src_machine_weights", lambda: bf.hierarchical_neighbor_allreduce(
                x, self_weight=0.5, src_machine_weights={r: 0.5})),
            (op, "dst_machine_weights", lambda: bf.hierarchical_neighbor_allreduce(
                x, self_weight=0.5, src_machine_weights={}, dst_machine_weights=[r])),
        ]
    return calls


@pytest.mark.parametrize("r", HUGE, ids=HUGE_IDS)
def test_out_of_range_ranks_are_value_errors(window, r):
    for op, argument, call in rank_calls(r):
        assert "out of range" in assert_error(ValueError, call, op, argument)
    bf.barrier()


@pytest.mark.parametrize("r", NOT_INTEGERS, ids=NOT_INTEGER_IDS)
def test_non_integer_ranks_are_type_errors(window, r):
    for op, argument, call in rank_calls(r):
        assert_error(TypeError, call, op, argument)
    bf.barrier()


def test_win_mutex_ranks_must_be_a_list_of_integer_ranks(window):
    for ranks in (["a"], [0.0], "01", 3):
        assert_error(TypeError, lambda: bf.win_mutex("args", ranks=ranks).__enter__(),
                     "win_mutex", "ranks")
    bf.barrier()


@pytest.mark.parametrize("op", ["synchronize", "wait", "poll", "win_wait", "win_poll"])
@pytest.mark.parametrize("handle", ["x", None, 1.5, True, [1]], ids=repr)
def test_handles_of_the_wrong_type_are_type_errors(op, handle):
    assert_error(TypeError, lambda: getattr(bf, op)(handle), op, "handle")


@pytest.mark.parametrize("op", ["synchronize", "wait", "poll", "win_wait", "win_poll"])
@pytest.mark.parametrize("handle", [2 ** 63, -2 ** 63 - 1, 2 ** 70], ids=repr)
def test_handles_beyond_any_op_are_value_errors(op, handle):
    assert_error(ValueError, lambda: getattr(bf, op)(handle), op, "handle")


def name_calls(name):
    """(op, call) for every op that takes a name (or a timeline text)."""
    x = torch.ones(3)
    w = torch.ones(3, dtype=torch.float64)
    calls = [
        ("allreduce", lambda: bf.allreduce(x, name=name)),
        ("allreduce", lambda: bf.allreduce_nonblocking(x, name=name)),
        ("allreduce_", lambda: bf.allreduce_(x, name=name)),
        ("allreduce_", lambda: bf.allreduce_nonblocking_(x, name=name)),
        ("broadcast", lambda: bf.broadcast(x, 0, name=name)),
        ("broadcast_", lambda: bf.broadcast_nonblocking_(x, 0, name=name)),
        ("allgather", lambda: bf.allgather(x, name=name)),
        ("neighbor_allreduce", lambda: bf.neighbor_allreduce(x, name=name)),
        ("neighbor_allreduce", lambda: bf.neighbor_allreduce_nonblocking(x, name=name)),
        ("neighbor_allgather", lambda: bf.neighbor_allgather(x, name=name)),
        ("win_create", lambda: bf.win_create(w, name)),
        ("win_free", lambda: bf.win_free(name)),
        ("win_put", lambda: bf.win_put(w, name)),
        ("win_put", lambda: bf.win_put_nonblocking(w, name)),
        ("win_accumulate", lambda: bf.win_accumulate(w, name)),
        ("win_get", lambda: bf.win_get(name)),
        ("win_update", lambda: bf.win_update(name)),
        ("win_update_then_collect", lambda: bf.win_update_then_collect(name)),
        ("win_mutex", lambda: bf.win_mutex(name).__enter__()),
        ("win_lock", lambda: bf.win_lock(name).__enter__()),
        ("get_win_version", lambda: bf.get_win_version(name)),
        ("win_associated_p", lambda: bf.win_associated_p(name)),
        ("timeline_start_activity", lambda: bf.timeline_start_activity(name, "A")),
        ("timeline_start_activity", lambda: bf.timeline_start_activity("t", name)),
        ("timeline_end_activity", lambda: bf.timeline_end_activity(name)),
    ]
    if N >= 2:
        calls.append(("pair_gossip", lambda: bf.pair_gossip(x, NXT, name=name)))
    if bf.local_size() > 1:
        calls.append(("hierarchical_neighbor_allreduce",
                      lambda: bf.hierarchical_neighbor_allreduce(x, name=name)))
    return calls


@pytest.mark.parametrize("name", ["\ud800", "ok\udfffthen"], ids=["lone", "inside"])
def test_names_that_cannot_be_encoded_are_value_errors(name):
    for op, call in name_calls(name):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert message.startswith(f"{op}:") and "cannot be encoded as UTF-8" in message, message
        message.encode("utf-8")  # the message itself can be printed
    bf.barrier()


@pytest.mark.parametrize("name", [3, b"bytes", ("a",)], ids=repr)
def test_names_that_are_not_str_are_type_errors(name):
    for op, call in name_calls(name):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value).startswith(f"{op}:"), info.value
    bf.barrier()


@needs_two
def test_pair_gossip_mismatch_names_pair_gossip():
    """Ranks 0 and 1 gossip with different dtypes; the error is pair_gossip's."""
    if ME < 2:
        dtype = torch.float32 if ME == 0 else torch.float64
        with pytest.raises(ValueError) as info:
            bf.synchronize(bf.pair_gossip_nonblocking(torch.ones(3, dtype=dtype), 1 - ME,
                                                      name="args.gossip.dtype"))
        message = str(info.value)
        assert "pair_gossip 'args.gossip.dtype'" in message and "dtype" in message, message
        assert "neighbor_allreduce" not in message, message
        # Unnamed gossips are called pair_gossip.noname.<k>.
        x = torch.full((2,), float(ME))
        assert torch.equal(bf.pair_gossip(x, 1 - ME), torch.full((2,), 0.5))
    bf.barrier()


def test_pair_gossip_with_itself_names_pair_gossip():
    with pytest.raises(ValueError) as info:
        bf.pair_gossip(torch.ones(2), ME)
    assert str(info.value).startswith("pair_gossip: target_rank is this rank"), info.value
