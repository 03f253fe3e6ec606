"""The check that every rank passed the same thing to a collective call
(a graph, a window's name, dtype and shape): each rank contributes an 8-byte
fingerprint, and ranks whose fingerprint differs from this rank's are named
in a MismatchError."""

import hashlib
import struct

import torch

from bluefog.torch import mpi_ops
from bluefog.torch.errors import MismatchError


def fingerprint(data):
    """8 bytes (as an int64) identifying `data` (bytes or str)."""
    if isinstance(data, str):
        data = data.encode()
    return struct.unpack("<q", hashlib.sha1(data).digest()[:8])[0]


def check_same_everywhere(op, data, what):
    """Collective: raise MismatchError on every rank whose `data` differs from
    some other rank's; `what` says what differs ("a different graph")."""
    mine = fingerprint(data)
    everyone = mpi_ops.allgather(torch.tensor([mine], dtype=torch.int64),
                                 name=f"{op}.fingerprint").tolist()
    differing = [r for r, f in enumerate(everyone) if f != mine]
    if differing:
        raise MismatchError(f"{op}: ranks {differing} passed {what} than rank "
                            f"{mpi_ops.rank()}")
