"""Exceptions that say more than ValueError/RuntimeError. Both subclass
RuntimeError, so existing ``except RuntimeError`` clauses keep working."""

from bluefog import _bluefog

# An op made no progress for BLUEFOG_OP_TIMEOUT_SECONDS; the message names
# the op, the ranks it waited for and what they were doing.
OpTimeoutError = _bluefog.OpTimeoutError

# A rank the op needs failed (its script raised), died, or shut down.
PeerFailureError = _bluefog.PeerFailureError
