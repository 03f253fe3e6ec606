"""Many small ops in flight at once, with different neighbour sets and
weights, started in one engine iteration (queued while suspended). Prints the
logical and MPI message counts received meanwhile; checks every result."""

import torch

import bluefog.torch as bf

bf.init()
n, me = bf.size(), bf.rank()
per_peer, mpi_before = bf._message_counts()
logical_before = sum(per_peer)
bf.barrier()  # after the snapshot: no peer posts its ops before this rank took it

bf.suspend()
handles, expected = [], []
for k in range(40):
    x = torch.full((16 + k,), float(me + k))
    if k % 2 == 0:
        handles.append(bf.allreduce_nonblocking(x, average=False, name=f"fused_ar_{k}"))
        expected.append(torch.full((16 + k,), float(sum(range(n)) + n * k)))
    else:
        shift = 1 + (k // 2) % max(1, n - 1)  # different neighbour per op
        send, recv = (me + shift) % n, (me - shift) % n
        w_self, w_recv = 1.0 / (k + 2), 1.0 - 1.0 / (k + 2)
        if n == 1:
            handles.append(bf.neighbor_allreduce_nonblocking(
                x, self_weight=1.0, src_weights={}, dst_weights={}, name=f"fused_nar_{k}"))
            expected.append(x.clone())
        else:
            handles.append(bf.neighbor_allreduce_nonblocking(
                x, self_weight=w_self, src_weights={recv: w_recv}, dst_weights={send: 2.0},
                enable_topo_check=False, name=f"fused_nar_{k}"))
            expected.append(w_self * x + w_recv * 2.0 * torch.full((16 + k,), float(recv + k)))
bf.resume()
for handle, want in zip(handles, expected):
    got = bf.synchronize(handle)
    assert torch.allclose(got, want), (got, want)
bf.barrier()
per_peer, mpi_after = bf._message_counts()
logical = sum(per_peer) - logical_before
mpi = mpi_after - mpi_before
print(f"FUSION rank {me} logical {logical} mpi {mpi}", flush=True)
