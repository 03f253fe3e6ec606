"""A tiny model trained ITERATIONS steps (default 3) by a distributed
optimizer with the timeline on; OPTIMIZER is "neighbor"
(DistributedNeighborAllreduceOptimizer) or "gradient"
(DistributedGradientAllreduceOptimizer). Reports, per parameter, its name
and the timeline row (op name) the optimizer gave it:
ROW <rank> <parameter> <row>."""

import sys

import torch

import bluefog.torch as bf
from report import report

OPTIMIZER = sys.argv[1]
ITERATIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
bf.init()
torch.manual_seed(bf.rank())
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
base = torch.optim.SGD(model.parameters(), lr=0.01)
wrap = {"neighbor": bf.DistributedNeighborAllreduceOptimizer,
        "gradient": bf.DistributedGradientAllreduceOptimizer}[OPTIMIZER]
opt = wrap(base, model=model)
for _ in range(ITERATIONS):
    opt.zero_grad()
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    opt.step()
for name, param in model.named_parameters():
    report(f"ROW {bf.rank()} {name} {opt._names[param]}")
bf.shutdown()
