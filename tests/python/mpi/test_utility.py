"""broadcast_parameters, allreduce_parameters and broadcast_optimizer_state,
checked against values every rank can compute."""

import pytest
import torch

import bluefog.torch as bf

N, ME = bf.size(), bf.rank()


def model_for(rank):
    torch.manual_seed(100 + rank)
    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


@pytest.mark.parametrize("root", sorted({0, N - 1}))
def test_broadcast_parameters_state_dict(root):
    model = model_for(ME)
    bf.broadcast_parameters(model.state_dict(), root_rank=root)
    expected = model_for(root).state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name


@pytest.mark.parametrize("form", ["dict", "tensors", "pairs", "parameters"])
def test_broadcast_parameters_other_forms(form):
    tensors = [torch.full((3,), float(ME)), torch.arange(4, dtype=torch.float64) * (ME + 1)]
    if form == "dict":
        params = {"a": tensors[0], "b": tensors[1]}
    elif form == "tensors":
        params = tensors
    elif form == "pairs":
        params = [("a", tensors[0]), ("b", tensors[1])]
    else:
        params = list(model_for(ME).named_parameters())
    bf.broadcast_parameters(params, root_rank=0)
    if form == "parameters":
        expected = [p for _, p in model_for(0).named_parameters()]
        for (_, got), want in zip(params, expected):
            assert torch.equal(got.data, want.data)
    else:
        assert torch.equal(tensors[0], torch.zeros(3))
        assert torch.equal(tensors[1], torch.arange(4, dtype=torch.float64))


def test_broadcast_parameters_bad_input():
    with pytest.raises(TypeError):
        bf.broadcast_parameters(torch.ones(2), root_rank=0)
    with pytest.raises(TypeError):
        bf.broadcast_parameters({"a": 3.0}, root_rank=0)


def test_allreduce_parameters_averages_in_place():
    model = model_for(ME)
    bf.allreduce_parameters(model.state_dict())
    models = [model_for(r).state_dict() for r in range(N)]
    for name, tensor in model.state_dict().items():
        mean = sum(m[name] for m in models) / N
        assert torch.allclose(tensor, mean, atol=1e-6), name


OPTIMIZERS = {
    "sgd": lambda p, r: torch.optim.SGD(p, lr=0.1 * (r + 1), momentum=0.9, nesterov=True,
                                        weight_decay=1e-4 * r),
    "adam": lambda p, r: torch.optim.Adam(p, lr=0.01 * (r + 1), betas=(0.9, 0.99 - 0.01 * r),
                                          amsgrad=True),
    "adamw": lambda p, r: torch.optim.AdamW(p, lr=0.02 * (r + 1), weight_decay=0.1 * r),
    "rmsprop": lambda p, r: torch.optim.RMSprop(p, lr=0.003 * (r + 1), momentum=0.5,
                                                centered=True),
    "adagrad": lambda p, r: torch.optim.Adagrad(p, lr=0.05 * (r + 1),
                                                initial_accumulator_value=0.1 * r),
}


def stepped(kind, rank, steps):
    model = model_for(rank)
    optimizer = OPTIMIZERS[kind](model.parameters(), rank)
    # An option whose value is None (BlueFog 0.3 failed on these).
    for group in optimizer.param_groups:
        group["foreach"] = None
    torch.manual_seed(rank)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(8, 5)).pow(2).sum().backward()
        optimizer.step()
    return optimizer


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
@pytest.mark.parametrize("steps", [0, 2])
def test_broadcast_optimizer_state(kind, steps):
    root = N - 1
    optimizer = stepped(kind, ME, steps if ME == root else 1)
    bf.broadcast_optimizer_state(optimizer, root_rank=root)
    got, want = optimizer.state_dict(), stepped(kind, root, steps).state_dict()
    assert got["param_groups"] == want["param_groups"]
    assert got["state"].keys() == want["state"].keys()
    for key, state in want["state"].items():
        for field, value in state.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(got["state"][key][field], value), (key, field)
            else:
                assert got["state"][key][field] == value, (key, field)


def test_broadcast_optimizer_state_rejects_non_optimizers():
    with pytest.raises(TypeError):
        bf.broadcast_optimizer_state({"lr": 1}, root_rank=0)
