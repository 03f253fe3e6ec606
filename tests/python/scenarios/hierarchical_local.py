"""With BLUEFOG_NODES_PER_MACHINE=2 on 4 ranks, machines are {0,1} and {2,3}:
is_hierarchical_local allreduce stays inside each; the global one does not."""

import torch

import bluefog.torch as bf

bf.init()
me = bf.rank()
machine = [r for r in range(bf.size()) if r // bf.local_size() == bf.machine_rank()]
for length in (5, 100_000):  # recursive doubling and ring
    x = torch.full((length,), float(me))
    local = bf.allreduce(x, average=False, is_hierarchical_local=True)
    assert torch.equal(local, torch.full((length,), float(sum(machine)))), (me, local[:3])
    local_avg = bf.allreduce(x, is_hierarchical_local=True)
    assert torch.allclose(local_avg, torch.full((length,), sum(machine) / len(machine)))
    world = bf.allreduce(x, average=False)
    assert torch.equal(world, torch.full((length,), float(sum(range(bf.size())))))
print(f"HIER-OK rank {me} machine {machine}", flush=True)
