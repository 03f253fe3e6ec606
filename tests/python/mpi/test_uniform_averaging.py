"""Uniform averaging rounds like sum-then-divide.

When every weight of a combination is the same w = 1/k, the result must be the
correctly rounded (exact sum) / k, as dividing once gives, not the sum of
terms each scaled by a rounded 1/k. Inputs are integers small enough that
every sum is exact in the accumulator (float32 for float16/bfloat16), so the
references are exact: the sum is formed in float64 and divided and rounded
with Fractions (exact_rounding.py). Every rank computes every other rank's
input from its rank number.

The hierarchical tests between machines need emulated machines:
    BLUEFOG_NODES_PER_MACHINE=2 bfrun -np 4 python tests/python/mpi_pytest.py \
        --log-dir DIR -- -q tests/python/mpi/test_uniform_averaging.py
"""

from fractions import Fraction

import pytest
import torch

import bluefog.torch as bf
from exact_rounding import round_to, ulp_distance

N, ME = bf.size(), bf.rank()
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
# Sizes: a single element, vector tails, a payload above the 16 KiB inline
# limit, and one above the 64 KiB ring threshold of allreduce.
SIZES = [1, 7, 33, 12167, 100003]
ACCUMULATOR = {torch.float16: torch.float32, torch.bfloat16: torch.float32,
               torch.float32: torch.float32, torch.float64: torch.float64}

needs_two = pytest.mark.skipif(N < 2, reason="needs at least 2 ranks")
several_machines = pytest.mark.skipif(
    bf.machine_size() < 2 or bf.local_size() < 2,
    reason="needs emulated machines (BLUEFOG_NODES_PER_MACHINE=2 at 4 ranks)")
one_machine_several_ranks = pytest.mark.skipif(
    bf.machine_size() != 1 or bf.local_size() < 2, reason="needs one machine with several ranks")


def inputs(size, rank, dtype, headroom=3):
    """Integers exact in `dtype`, repeating with period 1009 (so references
    need few exact divisions), a quadratic hash of position and rank (so sums
    over ranks are not all multiples of the rank count). With float32/float64
    they fill the significand but `headroom` bits: 3 keeps x + 2y + z/2 exact,
    2 a sum of four. Large sums are where multiplying by a rounded 1/k is most
    often wrong."""
    bits = {torch.float16: 11, torch.bfloat16: 8, torch.float32: 24, torch.float64: 53}[dtype]
    bound = 1 << (bits - 1 if dtype in (torch.float16, torch.bfloat16) else bits - headroom)
    keys = [7 * i + 1000003 * rank + 17 for i in range(1009)]
    period = [(k * k * 2654435761 + k * 40503) % (2 * bound) - bound for k in keys]
    return torch.tensor(period, dtype=torch.float64).repeat(size // 1009 + 1)[:size]


def rounded(exact, dtype, divisor=1, factor=1):
    """Each element of the exact float64 tensor `exact`, times `factor`, over
    `divisor`, correctly rounded to `dtype`."""
    uniques, index = torch.unique(exact, return_inverse=True)
    table = [round_to(Fraction(v) * Fraction(factor) / divisor, dtype) for v in uniques.tolist()]
    return torch.tensor(table, dtype=torch.float64)[index].to(dtype)


def assert_bitwise(out, expected, dtype):
    assert out.dtype == dtype and out.shape == expected.shape
    assert ulp_distance(out, expected, dtype) == 0, (
        f"{ulp_distance(out, expected, dtype)} ulp off the correctly rounded average")


def exp2_sources(rank, n=N):
    sources, d = [], 1
    while d < n:
        sources.append((rank - d) % n)
        d *= 2
    return sources


def everyone_agrees(out, name):
    """Raises unless every rank holds the same bits as this one."""
    gathered = bf.allgather(out.reshape(1, -1), name=name)
    for r in range(N):
        assert torch.equal(gathered[r], out.reshape(-1)), f"rank {r} differs"


# ---------------------------------------------------------------- neighbor_allreduce

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_many_nonblocking_default_weights_meet_the_sum_check(dtype):
    """Many tensors in flight at once (fused), each filled with i + rank:
    (out - i) * (in_degree + 1) must come back to the sum of the ranks within
    1e-5 (BlueFog 0.3's own check), and out must be the rounded exact average."""
    sources = exp2_sources(ME)
    k = len(sources) + 1
    rank_sum = ME + sum(sources)
    for dim in (1, 2, 3):
        shape = [23] * dim
        tensors = [torch.full(shape, float(i + ME), dtype=dtype) for i in range(50)]
        handles = [bf.neighbor_allreduce_nonblocking(t, name=f"ua.many.{dtype}.{dim}.{i}")
                   for i, t in enumerate(tensors)]
        for i, handle in enumerate(handles):
            out = bf.synchronize(handle)
            assert ((out - i) * k - rank_sum).abs().max() < 1e-5, (i, dim)
            want = round_to(Fraction(i * k + rank_sum, k), dtype)
            assert torch.equal(out, torch.full(shape, want, dtype=dtype)), (i, dim)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_static_default_weights(dtype, size):
    sources = exp2_sources(ME)
    x = inputs(size, ME, dtype).to(dtype)
    out = bf.neighbor_allreduce(x, name=f"ua.static.{dtype}.{size}")
    exact = inputs(size, ME, dtype) + sum(inputs(size, r, dtype) for r in sources)
    assert_bitwise(out, rounded(exact, dtype, divisor=len(sources) + 1), dtype)
    assert torch.equal(x, inputs(size, ME, dtype).to(dtype))


@pytest.mark.parametrize("divisor", ["in_degree", 4, 7])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_explicit_uniform_reciprocal_weights(dtype, divisor):
    """Weights 1/k given by the user, also when k is not in_degree + 1."""
    sources = exp2_sources(ME)
    k = len(sources) + 1 if divisor == "in_degree" else divisor
    size = 12167
    out = bf.neighbor_allreduce(inputs(size, ME, dtype).to(dtype), self_weight=1.0 / k,
                                src_weights={r: 1.0 / k for r in sources},
                                name=f"ua.explicit.{dtype}.{divisor}")
    exact = inputs(size, ME, dtype) + sum(inputs(size, r, dtype) for r in sources)
    assert_bitwise(out, rounded(exact, dtype, divisor=k), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_explicit_uniform_weight_not_a_reciprocal(dtype):
    """w = 0.3 for every term: the exact sum times w, rounded once in the
    accumulator's type (float16/bfloat16 then round again: at most 1 ulp)."""
    sources = exp2_sources(ME)
    size = 1009
    out = bf.neighbor_allreduce(inputs(size, ME, dtype).to(dtype), self_weight=0.3,
                                src_weights={r: 0.3 for r in sources},
                                name=f"ua.explicit03.{dtype}")
    exact = inputs(size, ME, dtype) + sum(inputs(size, r, dtype) for r in sources)
    acc = ACCUMULATOR[dtype]
    w = torch.tensor(0.3, dtype=acc).item()
    if acc == dtype:
        assert_bitwise(out, rounded(exact, dtype, factor=w), dtype)
    else:
        assert ulp_distance(out, rounded(exact, dtype, factor=Fraction(0.3)), dtype) <= 1


def ring_peers():
    """This rank's left and right neighbours (one rank at 2 ranks)."""
    return sorted({(ME - 1) % N, (ME + 1) % N} - {ME})


def sent_weight(sender, receiver, form):
    """The dst weight `sender` applies when sending to `receiver`."""
    if form == "list":
        return 1.0
    return 2.0 if receiver == (sender + 1) % N else 0.5


@needs_two
@pytest.mark.parametrize("form", ["list", "dict"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dynamic_uniform_weights_keep_the_senders_weights(dtype, form):
    """Each rank exchanges with both ring neighbours, receiving with uniform
    weights 1/(peers + 1); the senders' dst weights (2 to the right, 1/2 to
    the left in the dict form) still scale their contributions."""
    peers = ring_peers()
    k = len(peers) + 1
    size = 12167
    dst = peers if form == "list" else {p: sent_weight(ME, p, form) for p in peers}
    out = bf.neighbor_allreduce(inputs(size, ME, dtype).to(dtype), self_weight=1.0 / k,
                                src_weights={p: 1.0 / k for p in peers}, dst_weights=dst,
                                name=f"ua.dynamic.{dtype}.{form}")
    exact = inputs(size, ME, dtype) + sum(sent_weight(p, ME, form) * inputs(size, p, dtype)
                                          for p in peers)
    assert_bitwise(out, rounded(exact, dtype, divisor=k), dtype)


@needs_two
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_pair_gossip_default_is_the_rounded_mean(dtype):
    partner = ME ^ 1
    if partner >= N:
        return
    size = 33
    out = bf.pair_gossip(inputs(size, ME, dtype).to(dtype), partner, name=f"ua.gossip.{dtype}")
    exact = inputs(size, ME, dtype) + inputs(size, partner, dtype)
    assert_bitwise(out, rounded(exact, dtype, divisor=2), dtype)


# ---------------------------------------------------------------- allreduce

@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_allreduce_average(dtype, size, in_place):
    """Both algorithms (recursive doubling and, above 64 KiB, the ring); the
    same bits on every rank."""
    x = inputs(size, ME, dtype, headroom=2).to(dtype)
    name = f"ua.allreduce.{dtype}.{size}.{in_place}"
    out = bf.allreduce_(x, name=name) if in_place else bf.allreduce(x, name=name)
    exact = sum(inputs(size, r, dtype, headroom=2) for r in range(N))
    assert_bitwise(out, rounded(exact, dtype, divisor=N), dtype)
    everyone_agrees(out, name + ".check")


# ---------------------------------------------------------------- hierarchical

def local_ranks():
    first = bf.machine_rank() * bf.local_size()
    return list(range(first, first + bf.local_size()))


def machine_average(size, machine, dtype):
    """What every rank of `machine` sends: its ranks' exact sum over
    local_size, rounded in the accumulator's type."""
    local = bf.local_size()
    exact = sum(inputs(size, machine * local + i, dtype) for i in range(local))
    return rounded(exact, ACCUMULATOR[dtype], divisor=local).to(torch.float64)


@one_machine_several_ranks
@pytest.mark.parametrize("size", [7, 12167])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_hierarchical_single_machine_average(dtype, size):
    name = f"ua.hier1.{dtype}.{size}"
    out = bf.hierarchical_neighbor_allreduce(inputs(size, ME, dtype).to(dtype), name=name)
    exact = sum(inputs(size, r, dtype) for r in local_ranks())
    assert_bitwise(out, rounded(exact, dtype, divisor=N), dtype)
    everyone_agrees(out, name + ".check")


@several_machines
@pytest.mark.parametrize("weights", ["default", "third"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_hierarchical_between_machines(dtype, weights):
    """The in-machine average, then the machines' combination: with default
    weights 1/(machine in-degree + 1), or 1/3 for every term (divide by 3)."""
    size = 12167
    sources = bf.in_neighbor_machine_ranks()
    k = len(sources) + 1 if weights == "default" else 3
    kwargs = {} if weights == "default" else dict(
        self_weight=1.0 / 3, src_machine_weights={m: 1.0 / 3 for m in sources})
    out = bf.hierarchical_neighbor_allreduce(inputs(size, ME, dtype).to(dtype),
                                             name=f"ua.hier.{dtype}.{weights}", **kwargs)
    exact = machine_average(size, bf.machine_rank(), dtype) + sum(
        machine_average(size, m, dtype) for m in sources)
    assert_bitwise(out, rounded(exact, dtype, divisor=k), dtype)


# ---------------------------------------------------------------- windows

@pytest.mark.parametrize("weights", ["default", "explicit"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_win_update_uniform_weights(dtype, weights):
    """Each rank puts its input to its out-neighbours, then averages its own
    tensor with what it received."""
    size = 1009
    sources = exp2_sources(ME)
    k = len(sources) + 1
    tensor = inputs(size, ME, dtype).to(dtype)
    name = f"ua.win.{weights}"
    bf.win_create(tensor, name, zero_init=True)
    try:
        bf.win_put(tensor, name)
        bf.barrier()
        kwargs = {} if weights == "default" else dict(
            self_weight=1.0 / k, neighbor_weights={r: 1.0 / k for r in sources})
        out = bf.win_update(name, **kwargs)
        exact = inputs(size, ME, dtype) + sum(inputs(size, r, dtype) for r in sources)
        assert_bitwise(out, rounded(exact, dtype, divisor=k), dtype)
    finally:
        bf.barrier()
        bf.win_free(name)
