"""Argument checks shared by the ops of ``bluefog.torch``. Each raises
TypeError for a wrong type and ValueError for a bad value, and its message
names the op and the argument, so that nothing reaches the native module
that it would refuse with pybind11's signature dump (or silently accept).

Python converts (types, and integers no C int holds); the rules on values
belong to the core, which words their messages, and are called from here
so that they run before anything collective: the weight rule
(cpp/core/include/bluefog/core/weights.h: finite, of magnitude at most 1e9;
``set_topology`` applies it to the graph's edge weights too) and the checks
of rank lists (bluefog/core/neighbor_checks.h).
"""

import math
import numbers

import torch

from bluefog import _bluefog
from bluefog.torch.errors import InvalidArgumentError

_INT64 = 2 ** 63
_C_INT = 2 ** 31


def check_tensor(tensor, op):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{op}: expected a torch.Tensor, got {type(tensor).__name__}")


def text(value, op, what):
    """A str that the native layer can take (UTF-8 encodable)."""
    if not isinstance(value, str):
        raise TypeError(f"{op}: {what} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidArgumentError(f"{op}: {what} {value!r} cannot be encoded as UTF-8 "
                                   f"({error.reason} at position {error.start})") from None
    return value


def op_name(name, op):
    """An op's optional name: "" (automatic) for None."""
    if name is None:
        return ""
    text(name, op, "name")
    if not name:
        raise InvalidArgumentError(f"{op}: name must not be empty (pass None for an automatic name)")
    return name


def rank(value, op, what, count=None, unit="rank", member=False):
    """An integer rank (or machine) that a C int holds, in [0, count) when
    `count` is given. `member`: `what` is a collection holding it (a list, a
    dict's keys), whose range the core checks (see `ranks`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = f"hold integer {unit}s" if member else f"be an integer {unit}"
        raise TypeError(f"{op}: {what} must {expected}, got {value!r}")
    value = int(value)
    named = f"names {unit} {value}," if member else f"{value} is"
    if not -_C_INT <= value < _C_INT:
        raise InvalidArgumentError(f"{op}: {what} {named} out of range (not a 32-bit integer)")
    if count is not None and not member and not 0 <= value < count:
        raise InvalidArgumentError(f"{op}: {what} {named} out of range for {count} {unit}s")
    return value


def _members(values, op, what, unit):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{op}: {what} must be a list of {unit}s, got "
                        f"{type(values).__name__}")
    return [rank(v, op, what, unit=unit, member=True) for v in values]


def ranks(values, op, what, count=None, unit="rank"):
    """A list of ranks from any iterable of them, each in [0, count) when
    `count` is given."""
    checked = _members(values, op, what, unit)
    if count is not None:
        _bluefog.topology.check_ranks_in_range(op, what, checked, count, unit)
    return checked


def neighbor_ranks(values, op, what, me, count, unit="rank"):
    """The ranks a call names as its neighbours: in [0, count), not `me`
    (this rank or machine), none twice."""
    checked = _members(values, op, what, unit)
    _bluefog.topology.check_neighbor_ranks(op, what, checked, me, count, unit)
    return checked


def weight(value, op, what):
    """A float that passes the core's weight rule."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {what} must be a real number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float's range
        value = math.inf if value > 0 else -math.inf
    _bluefog.check_weight(op, what, value)
    return value


def weights_dict(weights, op, what, count=None, unit="rank"):
    """{rank: weight} from a dict rank -> weight."""
    if not isinstance(weights, dict):
        raise TypeError(f"{op}: {what} must be a dict {unit} -> weight, got "
                        f"{type(weights).__name__}")
    checked = {}
    for r, w in weights.items():
        r = rank(r, op, what, unit=unit, member=True)
        checked[r] = weight(w, op, f"{what}[{r}]")
    if count is not None:
        _bluefog.topology.check_ranks_in_range(op, what, list(checked), count, unit)
    return checked


def dst_weights(weights, op, what="dst_weights", count=None, unit="rank"):
    """{rank: weight} from a dict rank -> weight or a list of ranks (weight 1)."""
    if isinstance(weights, dict):
        return weights_dict(weights, op, what, count, unit)
    if isinstance(weights, (list, tuple)):
        return {r: 1.0 for r in ranks(weights, op, what, count, unit)}
    raise TypeError(f"{op}: {what} must be a dict {unit} -> weight or a list of {unit}s, "
                    f"got {type(weights).__name__}")


def handle(value, op):
    """A handle from a *_nonblocking call (ValueError for one out of any op's range)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: handle must be the int a *_nonblocking call returned, got "
                        f"{type(value).__name__} {value!r}")
    value = int(value)
    if not -_INT64 <= value < _INT64:
        raise InvalidArgumentError(f"{op}: no op has handle {value}")
    return value
