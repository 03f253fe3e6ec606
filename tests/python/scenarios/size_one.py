"""Run without any launcher: a job of size 1 where every op works."""

import torch

import bluefog.torch as bf

bf.init()
assert (bf.size(), bf.rank(), bf.local_size(), bf.machine_size()) == (1, 0, 1, 1)
x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
assert torch.equal(bf.allreduce(x), x)
assert torch.equal(bf.allreduce(x, average=False), x)
assert torch.equal(bf.broadcast(x, 0), x)
assert torch.equal(bf.allgather(x), x)
y = x.clone()
assert bf.allreduce_(y) is y and torch.equal(y, x)
handle = bf.allreduce_nonblocking(x.half())
assert torch.equal(bf.synchronize(handle), x.half())
bf.barrier()
try:
    bf.broadcast(x, 1)
except ValueError as error:
    assert "root_rank 1" in str(error)
else:
    raise AssertionError("root_rank 1 accepted in a job of size 1")
print("SIZE-ONE-OK", flush=True)
