"""Dynamic neighbor_allreduce with enable_topo_check=False and mismatched
sends/receives, on 2 ranks, with BLUEFOG_STALL_WARNING_SECONDS=1:
- 'orphan': rank 0 sends to rank 1, which does not receive from it;
- 'missing': rank 1 receives from rank 0, which does not send to it.
Neither may pass silently: both must show up as warnings."""

import time

import torch

import bluefog.torch as bf

bf.init()
me = bf.rank()
x = torch.ones(3)
if me == 0:
    bf.neighbor_allreduce(x, self_weight=1.0, src_weights={}, dst_weights=[1],
                          enable_topo_check=False, name="orphan")
    bf.neighbor_allreduce(x, self_weight=1.0, src_weights={}, dst_weights=[],
                          enable_topo_check=False, name="missing")
    time.sleep(3)
else:
    bf.neighbor_allreduce(x, self_weight=1.0, src_weights={}, dst_weights=[],
                          enable_topo_check=False, name="orphan")
    handle = bf.neighbor_allreduce_nonblocking(x, self_weight=0.5, src_weights={0: 0.5},
                                               dst_weights=[], enable_topo_check=False,
                                               name="missing")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert not bf.poll(handle), "an op waiting for data that never comes finished"
        time.sleep(0.1)
print(f"TOPO-OFF-DONE rank {me}", flush=True)
