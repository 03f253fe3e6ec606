"""BlueFog for PyTorch: ``import bluefog.torch as bf``."""

from bluefog.torch.lifecycle import init, shutdown, is_initialized  # noqa: F401
from bluefog.torch.mpi_ops import message_counts as _message_counts  # noqa: F401  (diagnostics)
from bluefog.torch.mpi_ops import (  # noqa: F401
    size, rank, local_size, local_rank, machine_size, machine_rank,
    is_homogeneous, mpi_threads_supported, nccl_built,
    unified_mpi_window_model_supported,
    suspend, resume, set_skip_negotiate_stage, get_skip_negotiate_stage,
    allreduce, allreduce_nonblocking, allreduce_, allreduce_nonblocking_,
    broadcast, broadcast_nonblocking, broadcast_, broadcast_nonblocking_,
    allgather, allgather_nonblocking,
    barrier, poll, synchronize, wait,
)
from bluefog.torch.errors import (  # noqa: F401
    InternalError, InvalidArgumentError, MismatchError, OpTimeoutError, PeerFailureError,
    ShutdownError)
from bluefog.torch.topology import (  # noqa: F401
    set_topology, load_topology, in_neighbor_ranks, out_neighbor_ranks, is_topo_weighted,
    is_machine_topo_weighted, set_machine_topology, load_machine_topology, in_neighbor_machine_ranks,
    out_neighbor_machine_ranks,
)
from bluefog.torch.neighbor_ops import (  # noqa: F401
    neighbor_allreduce, neighbor_allreduce_nonblocking,
    neighbor_allgather, neighbor_allgather_nonblocking,
    pair_gossip, pair_gossip_nonblocking,
    hierarchical_neighbor_allreduce, hierarchical_neighbor_allreduce_nonblocking,
)
from bluefog.torch.utility import (  # noqa: F401
    broadcast_parameters, broadcast_optimizer_state, allreduce_parameters,
)
from bluefog.torch.topology_util import (  # noqa: F401
    InferSourceFromDestinationRanks, InferDestinationFromSourceRanks,
)
from bluefog.torch.win_ops import (  # noqa: F401
    win_create, win_free, win_put, win_put_nonblocking, win_accumulate,
    win_accumulate_nonblocking, win_get, win_get_nonblocking, win_update,
    win_update_then_collect, win_poll, win_wait, win_mutex, win_lock, get_win_version,
    get_current_created_window_names, win_associated_p,
    turn_on_win_ops_with_associated_p, turn_off_win_ops_with_associated_p,
    neighbor_win_put, neighbor_win_put_nonblocking, neighbor_win_accumulate,
    neighbor_win_accumulate_nonblocking, neighbor_win_get, neighbor_win_get_nonblocking,
)
from bluefog.torch.timeline import (  # noqa: F401
    timeline_start_activity, timeline_end_activity, timeline_context,
)
from bluefog.common.topology_util import (  # noqa: F401  (re-exported as in BlueFog 0.3)
    ExponentialTwoGraph, ExponentialGraph, SymmetricExponentialGraph, MeshGrid2DGraph,
    StarGraph, RingGraph, FullyConnectedGraph, IsTopologyEquivalent, IsRegularGraph,
    GetRecvWeights, GetSendWeights, GetDynamicOnePeerSendRecvRanks,
    GetExp2DynamicSendRecvMachineRanks, GetInnerOuterRingDynamicSendRecvRanks,
    GetInnerOuterExpo2DynamicSendRecvRanks, isPowerOf,
)
from bluefog.torch.optimizers import (  # noqa: F401
    CommunicationType,
    DistributedAdaptWithCombineOptimizer, DistributedAdaptThenCombineOptimizer,
    DistributedGradientAllreduceOptimizer, DistributedNeighborAllreduceOptimizer,
    DistributedHierarchicalNeighborAllreduceOptimizer, DistributedAllreduceOptimizer,
    DistributedWinPutOptimizer, DistributedPullGetOptimizer, DistributedPushSumOptimizer,
)


def _messages_received_from():
    """Per peer rank: messages received from it since init (diagnostics)."""
    return _message_counts()[0]
