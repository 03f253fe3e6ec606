"""bluefog's exceptions, one per kind of failure, raised from C++ and Python
alike. Each subclasses ValueError or RuntimeError, as the plain exceptions
bluefog raised before, so existing ``except`` clauses keep working:

- InvalidArgumentError (ValueError): a wrong argument, setting or state on
  this rank; the message names the op, the tensor and what was expected.
- MismatchError (InvalidArgumentError): ranks disagree about an op (shape,
  dtype, root, topology, a setting); the message names the ranks.
- OpTimeoutError (RuntimeError): an op made no progress for
  BLUEFOG_OP_TIMEOUT_SECONDS; the message names the ranks it waited for and
  what they were doing.
- PeerFailureError (RuntimeError): a rank the op needs failed (its script
  raised), died, shut down or became unreachable.
- ShutdownError (RuntimeError): this rank is shutting down or shut down.
- InternalError (RuntimeError): neither the caller's mistake nor a peer's:
  a bug in bluefog, or MPI or the system failing.
"""

from bluefog import _bluefog

InvalidArgumentError = _bluefog.InvalidArgumentError
MismatchError = _bluefog.MismatchError
OpTimeoutError = _bluefog.OpTimeoutError
PeerFailureError = _bluefog.PeerFailureError
ShutdownError = _bluefog.ShutdownError
InternalError = _bluefog.InternalError
