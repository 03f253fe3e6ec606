"""A synthetic least-squares problem split across ranks, and a training loop
that runs a distributed optimizer on it.

Rank r holds 8 rows (A_r, b_r) with b_r = A_r x_true + noise + 0.3 r: the
local optima differ from each other and from the centralized solution x*
(the least-squares solution of all rows stacked), which every rank computes
locally, so that a rank that does not communicate ends far from x*.
"""

import torch

import bluefog.torch as bf

DIM, ROWS = 5, 8


def shard(rank):
    g = torch.Generator().manual_seed(50 + rank)
    a = torch.randn(ROWS, DIM, generator=g, dtype=torch.float64)
    b = a @ torch.arange(1.0, DIM + 1, dtype=torch.float64)
    b += 0.1 * torch.randn(ROWS, generator=g, dtype=torch.float64) + 0.3 * rank
    return a, b


def centralized_solution():
    shards = [shard(r) for r in range(bf.size())]
    a = torch.cat([s[0] for s in shards])
    b = torch.cat([s[1] for s in shards])
    return torch.linalg.lstsq(a, b.unsqueeze(1)).solution.squeeze(1)


def train(make_optimizer, optimizer_class, lr, steps=400, before_step=None):
    """Full-batch training of a linear model from zero with the lr divided by
    5 every quarter; returns (this rank's weights, the wrapped optimizer)."""
    a, b = shard(bf.rank())
    model = torch.nn.Linear(DIM, 1, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    optimizer = make_optimizer(optimizer_class(model.parameters(), lr=lr), model)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, steps // 4, gamma=0.2)
    for _ in range(steps):
        if before_step is not None:
            before_step(optimizer)
        optimizer.zero_grad()
        loss = 0.5 * (model(a).squeeze(1) - b).pow(2).mean()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.weight.detach().squeeze(0), optimizer


def worst_relative_error(x, reference, name):
    """max over ranks of |x_r - reference| / |reference| (collective)."""
    error = ((x - reference).norm() / reference.norm()).reshape(1)
    return bf.allgather(error, name=name).max().item()
