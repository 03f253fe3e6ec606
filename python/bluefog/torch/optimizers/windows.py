"""Asynchronous optimizers over one-sided windows: one window per parameter.
Each rank exchanges in the forward pass and combines at step() with
whatever its neighbours' latest writes are, without waiting for them."""

import torch

from bluefog.torch import mpi_ops, topology, win_ops
from bluefog.torch.errors import InvalidArgumentError
from bluefog.torch.optimizers.wrapping import DistributedOptimizerBase


class WindowOptimizerBase(DistributedOptimizerBase):
    """Windows named as in BlueFog 0.3 (the parameter's name, after
    ``window_prefix + "."`` when a prefix is given), the exchange started by
    the k-th training forward pass of a model since its last communication
    (see passes.py), the combination at step(), and freeing."""

    def _setup_windows(self, model, kind, num_steps_per_communication, window_prefix):
        prefix = "" if window_prefix is None else f"{window_prefix}."
        self._setup_base(model, kind, num_steps_per_communication,
                         op_names=lambda name: prefix + name)
        self._window_names = dict(self._names)
        taken = sorted(set(self._window_names.values()) &
                       set(win_ops.get_current_created_window_names()))
        if taken:
            raise InvalidArgumentError(f"windows {taken} already exist (another window optimizer on "
                                       "this model?); give this one its own window_prefix")
        self._handles = {}
        self.dst_weights = None
        self.src_weights = None
        self.force_barrier = False
        for param, name in self._window_names.items():
            win_ops.win_create(self._window_tensor(param), name, zero_init=self._zero_init)
        self._count_forward_passes("_exchange_parameters")

    _zero_init = False

    def _window_tensor(self, param):
        return param.detach()

    def _exchange_parameters(self, model):
        for param in self._model_params[model]:
            if param not in self._handles:
                self._handles[param] = self._start(param)

    def _begin_step(self, closure):
        if not self._window_names:
            raise RuntimeError("this optimizer's windows were freed by unregister_window()")
        return super()._begin_step(closure)

    def _synchronize(self):
        """Starts what the due models' forward passes did not, waits for all
        (each handle completes once its write or read is in place), then
        combines those parameters with their windows."""
        due = self._due_models()
        if not due:
            return
        for model in due:
            self._exchange_parameters(model)
        self._forwards.reset(due)
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            win_ops.win_wait(handle)
        if self.force_barrier:
            mpi_ops.barrier()
        self._combine(list(handles))

    def _communication_pending(self):
        return bool(self._due_models())

    def _finish_step(self):
        self._wrapped_class.step(self)
        self._after_local_step()

    def _after_local_step(self):
        pass

    def unregister_window(self):
        """Collective: free this optimizer's windows and detach it from the model."""
        for handle in self._handles.values():
            win_ops.win_wait(handle)
        self._handles = {}
        for name in self._window_names.values():
            win_ops.win_free(name)
        self._window_names = {}
        self.remove_hooks()


class WinPut(WindowOptimizerBase):
    """x_i <- w_ii x_i + sum_j w_ij (x_j as last put by j) - lr * update: each
    rank puts its parameters into its out-neighbours' windows during forward
    and combines at step() with the buffers written since its last step.

    A buffer nobody wrote since then holds a value this rank has mixed in
    already; mixing it again at every step pulls the parameters back toward
    that neighbour's old iterate for as long as the neighbour is slow or
    sends elsewhere (one-peer dynamic dst_weights). Its weight goes to this
    rank instead, so with every buffer fresh this is 0.3's combination, and
    with one-peer puts it is the doubly stochastic one-peer average."""

    def _setup(self, model, num_steps_per_communication, window_prefix):
        self._setup_windows(model, "win_put", num_steps_per_communication, window_prefix)

    def _start(self, param):
        return win_ops.win_put_nonblocking(param.detach(), self._window_names[param],
                                           dst_weights=self.dst_weights)

    def _combine(self, params):
        for param in params:
            name = self._window_names[param]
            self_weight, weights = topology.default_weights()
            written = win_ops.get_win_version(name)
            fresh = {r: w for r, w in weights.items() if written.get(r, 0) > 0}
            if len(fresh) == len(weights):
                win_ops.win_update(name)
            else:
                stale = sum(w for r, w in weights.items() if r not in fresh)
                win_ops.win_update(name, self_weight=self_weight + stale,
                                   neighbor_weights=fresh)


class PullGet(WindowOptimizerBase):
    """Like WinPut, but each rank pulls its in-neighbours' parameters with
    win_get during forward."""

    def _setup(self, model, num_steps_per_communication, window_prefix):
        self._setup_windows(model, "pull_get", num_steps_per_communication, window_prefix)

    def _start(self, param):
        return win_ops.win_get_nonblocking(self._window_names[param],
                                           src_weights=self.src_weights)

    def _combine(self, params):
        for param in params:
            win_ops.win_update(self._window_names[param])


class PushSum(WindowOptimizerBase):
    """Subgradient-push: each rank keeps y_i = p_i * x_i in its window and
    pushes equal shares of (y_i, p_i) to itself and its out-neighbours with
    win_accumulate; at step() it collects what arrived, takes x_i = y_i / p_i,
    steps x_i locally and stores y_i = p_i * x_i again. The weights are
    column-stochastic, so directed graphs work and no rank waits for another."""

    _zero_init = True

    def _setup(self, model, num_steps_per_communication, window_prefix):
        self._scaled = {}
        self._setup_windows(model, "push_sum", num_steps_per_communication, window_prefix)

    def _window_tensor(self, param):
        self._scaled[param] = param.detach().clone()
        return self._scaled[param]

    def _start(self, param):
        targets = self.dst_weights
        if targets is None:
            targets = topology.out_neighbor_ranks()
        targets = list(targets)
        share = 1.0 / (len(targets) + 1)
        return win_ops.win_accumulate_nonblocking(
            self._scaled[param], self._window_names[param], self_weight=share,
            dst_weights={r: share for r in targets}, require_mutex=True, _with_p=True)

    def _combine(self, params):
        with torch.no_grad():
            for param in params:
                name = self._window_names[param]
                win_ops.win_update_then_collect(name, _with_p=True)
                param.copy_(self._scaled[param] / win_ops.win_associated_p(name))

    def _after_local_step(self):
        with torch.no_grad():
            for param, name in self._window_names.items():
                self._scaled[param].copy_(param * win_ops.win_associated_p(name))
