"""The combination step of the combine optimizers: which op averages a
parameter with the other ranks, and with which weights."""

import warnings
from enum import Enum

from bluefog.torch import mpi_ops, neighbor_ops
from bluefog.torch.errors import InvalidArgumentError


class CommunicationType(Enum):
    neighbor_allreduce = "neighbor.allreduce"
    hierarchical_neighbor_allreduce = "hierarchical.neighbor.allreduce"
    allreduce = "allreduce"
    empty = "empty"


_warned_aliases = set()


def _renamed(old, new):
    """A property `old` that reads and sets attribute `new`, with a one-time
    DeprecationWarning: BlueFog 0.3's loops (the seed README's) set
    send_neighbors and neighbor_weights. Without it, setting the old name
    would only make an attribute that nothing reads."""

    def warn():
        if old not in _warned_aliases:
            _warned_aliases.add(old)
            warnings.warn(f"optimizer.{old} is deprecated; use optimizer.{new}",
                          DeprecationWarning, stacklevel=3)

    def get(self):
        warn()
        return getattr(self, new)

    def set(self, value):
        warn()
        setattr(self, new, value)

    return property(get, set, doc=f"Deprecated name of ``{new}``.")


class CombineSettings:
    """Attributes users set between iterations (the seed's dynamic-topology
    loop sets dst_weights, src_weights and self_weight every step). None
    means: follow the installed (machine) topology. BlueFog 0.3's names
    send_neighbors, neighbor_weights, send_neighbor_machines and
    neighbor_machine_weights are deprecated aliases."""

    def _setup_combine(self, communication_type):
        self.communication_type = communication_type
        self.self_weight = None
        self.src_weights = None
        self.dst_weights = None
        self.src_machine_weights = None
        self.dst_machine_weights = None
        self.enable_topo_check = False

    send_neighbors = _renamed("send_neighbors", "dst_weights")
    neighbor_weights = _renamed("neighbor_weights", "src_weights")
    send_neighbor_machines = _renamed("send_neighbor_machines", "dst_machine_weights")
    neighbor_machine_weights = _renamed("neighbor_machine_weights", "src_machine_weights")

    @property
    def communication_type(self):
        return self._communication_type

    @communication_type.setter
    def communication_type(self, value):
        if not isinstance(value, CommunicationType):
            raise InvalidArgumentError(f"communication_type must be a bluefog.torch.CommunicationType "
                                       f"member ({', '.join(t.name for t in CommunicationType)}), "
                                       f"got {value!r}")
        self._communication_type = value

    def _start_combine(self, tensor, name):
        """Starts averaging `tensor` (not modified) with the other ranks; returns a handle."""
        kind = self._communication_type
        if kind is CommunicationType.neighbor_allreduce:
            return neighbor_ops.neighbor_allreduce_nonblocking(
                tensor, self_weight=self.self_weight, src_weights=self.src_weights,
                dst_weights=self.dst_weights, enable_topo_check=self.enable_topo_check,
                name=name)
        if kind is CommunicationType.hierarchical_neighbor_allreduce:
            return neighbor_ops.hierarchical_neighbor_allreduce_nonblocking(
                tensor, self_weight=self.self_weight,
                src_machine_weights=self.src_machine_weights,
                dst_machine_weights=self.dst_machine_weights,
                enable_topo_check=self.enable_topo_check, name=name)
        if kind is CommunicationType.allreduce:
            return mpi_ops.allreduce_nonblocking(tensor, average=True, name=name)
        raise AssertionError(f"no combination for {kind}")
