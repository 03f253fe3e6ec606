"""num_steps_per_communication = k counts passes since the last
communication (forward passes for adapt-with-combine and win_put, backward
passes for adapt-then-combine and gradient allreduce). Both of BlueFog 0.3's
patterns, checked against every rank's trajectory computed here:
  - one backward per step(): every k-th step communicates, the others are local;
  - k backward passes, then step() (local aggregation): every step
    communicates, with the gradient accumulated over the k passes."""

import pytest
import torch

import bluefog.torch as bf
import quadratic_model

N, ME = bf.size(), bf.rank()
CT = bf.CommunicationType
LR = 0.1
STEPS = 4


def start(rank):
    return torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) * (rank + 1)


def target(rank):
    return torch.tensor([rank, 2.0 - rank, -rank], dtype=torch.float64)


def Quadratic(rank):
    """f_r(w) = 0.5 |w - c_r|^2: grad f_r(w) = w - c_r."""
    return quadratic_model.Quadratic(start(rank), target(rank))


def mean(xs):
    return [sum(xs) / N] * N


def window_average(xs):
    """win_update with the default uniform weights of the default graph."""
    graph = bf.load_topology()
    out = []
    for r in range(N):
        sources = [s for s in graph.predecessors(r) if s != r]
        out.append((xs[r] + sum(xs[s] for s in sources)) / (len(sources) + 1))
    return out


# algorithm -> (factory, x_next(xs, gs, communicates))
ALGORITHMS = {
    "awc": (lambda o, m, k: bf.DistributedAdaptWithCombineOptimizer(
                o, m, communication_type=CT.allreduce, num_steps_per_communication=k),
            lambda xs, gs, c: [a - LR * g for a, g in zip(mean(xs) if c else xs, gs)]),
    "atc": (lambda o, m, k: bf.DistributedAdaptThenCombineOptimizer(
                o, m, communication_type=CT.allreduce, num_steps_per_communication=k),
            lambda xs, gs, c: (mean if c else list)([x - LR * g for x, g in zip(xs, gs)])),
    "gradient_allreduce": (
        lambda o, m, k: bf.DistributedGradientAllreduceOptimizer(
            o, m, num_steps_per_communication=k),
        lambda xs, gs, c: [x - LR * g for x, g in zip(xs, mean(gs) if c else gs)]),
    "win_put": (
        lambda o, m, k: bf.DistributedWinPutOptimizer(
            o, m, num_steps_per_communication=k, window_prefix="passes"),
        lambda xs, gs, c: [a - LR * g for a, g in zip(window_average(xs) if c else xs, gs)]),
}


def expected_trajectory(algorithm, k, pattern):
    _, x_next = ALGORITHMS[algorithm]
    xs = [start(r) for r in range(N)]
    trajectory = []
    for step in range(1, STEPS + 1):
        passes = 1 if pattern == "one_pass_per_step" else k
        gs = [passes * (x - target(r)) for r, x in enumerate(xs)]  # accumulated gradient
        communicates = pattern == "k_passes_per_step" or step % k == 0
        xs = x_next(xs, gs, communicates)
        trajectory.append(xs[ME])
    return trajectory


@pytest.mark.parametrize("pattern", ["one_pass_per_step", "k_passes_per_step"])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_both_patterns(algorithm, k, pattern):
    factory, _ = ALGORITHMS[algorithm]
    model = Quadratic(ME)
    optimizer = factory(torch.optim.SGD(model.parameters(), lr=LR), model, k)
    if algorithm == "win_put":
        optimizer.force_barrier = True  # every put is in place before anyone combines
    try:
        for step, want in enumerate(expected_trajectory(algorithm, k, pattern)):
            optimizer.zero_grad()
            for _ in range(1 if pattern == "one_pass_per_step" else k):
                model().backward()
            optimizer.step()
            if algorithm == "win_put":
                bf.barrier()  # nobody's next put lands before everyone combined
            assert torch.allclose(model.w.detach(), want, rtol=0, atol=1e-12), \
                (step, model.w.detach(), want)
    finally:
        if algorithm == "win_put":
            optimizer.unregister_window()


def test_evaluation_passes_do_not_count():
    """A forward in eval mode or under no_grad is not a training pass."""
    model = Quadratic(ME)
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=LR), model, communication_type=CT.allreduce,
        num_steps_per_communication=2)
    with torch.no_grad():
        model()
    model.eval()
    model()
    model.train()
    model().backward()
    optimizer.step()  # the first training pass of two: a local step
    want = start(ME) - LR * (start(ME) - target(ME))
    assert torch.allclose(model.w.detach(), want, rtol=0, atol=1e-12)
