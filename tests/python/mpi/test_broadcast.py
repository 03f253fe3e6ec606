"""broadcast / broadcast_ / broadcast_nonblocking(_) from every root."""

import pytest
import torch

import bluefog.torch as bf

DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool,
          torch.float16, torch.bfloat16, torch.float32, torch.float64]

# (shape, non_contiguous)
SHAPES = {
    "scalar": ((), False),
    "one": ((1,), False),
    "seventeen": ((17,), False),
    "3x5x7": ((3, 5, 7), False),
    "large": ((1_000_000,), False),
    "transposed": ((6, 9), True),
}

MODES = ["sync", "nonblocking", "inplace", "inplace_nonblocking"]


def make_input(shape, non_contiguous, dtype, rank):
    """Values that differ between ranks at (almost) every element."""
    if non_contiguous:
        return _values((shape[1], shape[0]), dtype, rank).t()
    return _values(shape, dtype, rank)


def _values(shape, dtype, rank):
    n = 1
    for d in shape:
        n *= d
    idx = torch.arange(n, dtype=torch.int64)
    if dtype == torch.bool:
        v = (idx + rank) % 2 == 0
    elif dtype == torch.int64:
        v = idx * 3 + rank * (2 ** 60) + 1  # uses the high bits
    elif dtype == torch.float64:
        v = (idx.double() + 0.25) * (rank + 1) / 3.0
    elif dtype == torch.float32:
        v = ((idx.float() + 0.5) * (rank + 1)) / 7.0
    else:
        v = (idx * 7 + rank * 37) % 100 + (-50 if dtype != torch.uint8 else 0)
    return v.to(dtype).reshape(shape)


def run_broadcast(tensor, root, mode, name):
    if mode == "sync":
        return bf.broadcast(tensor, root, name=name)
    if mode == "nonblocking":
        return bf.synchronize(bf.broadcast_nonblocking(tensor, root, name=name))
    if mode == "inplace":
        return bf.broadcast_(tensor, root, name=name)
    if mode == "inplace_nonblocking":
        return bf.wait(bf.broadcast_nonblocking_(tensor, root_rank=root, name=name))
    raise AssertionError(mode)


# Large tensors in two modes only, to keep the file fast at 4 ranks on 2 cores.
CASES = [(shape_key, mode) for shape_key in SHAPES for mode in MODES
         if shape_key != "large" or mode in ("sync", "inplace_nonblocking")]


@pytest.mark.parametrize("shape_key,mode", CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_broadcast(request, dtype, shape_key, mode):
    shape, non_contiguous = SHAPES[shape_key]
    for root in range(bf.size()):
        tensor = make_input(shape, non_contiguous, dtype, bf.rank())
        original = tensor.clone()
        expected = make_input(shape, non_contiguous, dtype, root)
        name = f"{request.node.name}.root{root}"
        out = run_broadcast(tensor, root, mode, name)
        assert isinstance(out, torch.Tensor)
        assert out.dtype == dtype
        assert out.shape == expected.shape
        assert torch.equal(out, expected), f"root {root}"
        if mode.startswith("inplace"):
            assert out is tensor or out.data_ptr() == tensor.data_ptr()
            assert torch.equal(tensor, expected)
            assert tensor.stride() == original.stride()
        else:
            # The input is never modified, on the root or elsewhere.
            assert torch.equal(tensor, original)
            if bf.rank() != root:
                assert out.data_ptr() != tensor.data_ptr()


def test_broadcast_root_rank_keyword_and_positional(request):
    root = bf.size() - 1
    t = torch.full((3,), float(bf.rank()))
    a = bf.broadcast(t, root, name=request.node.name + ".pos")
    b = bf.broadcast(t, root_rank=root, name=request.node.name + ".kw")
    assert torch.equal(a, torch.full((3,), float(root)))
    assert torch.equal(b, a)


def test_broadcast_float_special_values(request):
    """NaN, infinities, signed zero and subnormals travel bit for bit."""
    root = 0
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0,
                            5e-324, -1.5, 1e308], dtype=torch.float64)
    t = special.clone() if bf.rank() == root else torch.zeros(8, dtype=torch.float64)
    out = bf.broadcast(t, root, name=request.node.name)
    assert torch.equal(out.view(torch.int64), special.view(torch.int64))


def test_broadcast_unnamed_sequence():
    results = []
    for i in range(6):
        root = i % bf.size()
        results.append((root, bf.broadcast(torch.tensor([bf.rank() * 10 + i]), root)))
    for i, (root, out) in enumerate(results):
        assert out.tolist() == [root * 10 + i]


def test_broadcast_concurrent_nonblocking_different_roots(request):
    handles = []
    tensors = []
    for i in range(12):
        root = i % bf.size()
        t = torch.full((100 + 1000 * i,), float(bf.rank() * 100 + i))
        tensors.append(t)
        handles.append((root, bf.broadcast_nonblocking_(t, root, name=f"{request.node.name}.{i}")))
    for i, (root, h) in reversed(list(enumerate(handles))):
        out = bf.synchronize(h)
        assert torch.equal(out, torch.full((100 + 1000 * i,), float(root * 100 + i)))
        assert torch.equal(tensors[i], out)


def test_broadcast_empty_tensor(request):
    t = torch.empty((0, 4), dtype=torch.float32)
    out = bf.broadcast(t, 0, name=request.node.name)
    assert out.shape == (0, 4)
