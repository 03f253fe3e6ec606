"""Asynchronous optimizers over one-sided windows: one window per parameter.
Each rank exchanges in the forward pass and combines at step() with
whatever its neighbours' latest writes are, without waiting for them."""

import torch

from bluefog import _bluefog
from bluefog.torch import mpi_ops, topology, win_ops
from bluefog.torch.optimizers.wrapping import DistributedOptimizerBase


class WindowOptimizerBase(DistributedOptimizerBase):
    """Windows named after the parameters, the forward hook, and freeing."""

    def _setup_windows(self, model, kind, num_steps_per_communication, window_prefix):
        self._setup_base(model, kind, num_steps_per_communication)
        prefix = "" if window_prefix is None else str(window_prefix)
        self._window_names = {p: prefix + name for p, name in self._names.items()}
        self._handles = {}
        self.dst_weights = None
        self.src_weights = None
        self.force_barrier = False
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        for param, name in self._window_names.items():
            win_ops.win_create(self._window_tensor(param), name, zero_init=self._zero_init)
        self._hook_forward([module for m in models for module in m.modules()
                            if any(p in self._names for p in module.parameters(recurse=False))],
                           "_forward_started")

    _zero_init = False

    def _window_tensor(self, param):
        return param.detach()

    def _forward_started(self, module, _inputs):
        if not torch.is_grad_enabled() or not self._communicates_now():
            return
        for param in module.parameters(recurse=False):
            if param in self._window_names and param not in self._handles:
                self._handles[param] = self._start(param)

    def _exchange(self):
        """Starts what the forward pass did not, waits for all (each handle
        completes once its write or read is in place)."""
        for param in self._window_names:
            if param not in self._handles:
                self._handles[param] = self._start(param)
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            win_ops.win_wait(handle)
        if self.force_barrier:
            mpi_ops.barrier()

    def step(self, closure=None):
        loss = self._begin_step(closure)
        if not self._window_names:
            raise RuntimeError("this optimizer's windows were freed by unregister_window()")
        if self._communicates_now():
            self._exchange()
            self._combine()
        self._wrapped_class.step(self)
        self._after_local_step()
        self._steps_done += 1
        return loss

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
    and combines with the latest values it holds at step()."""

    def _setup(self, model, num_steps_per_communication, window_prefix):
        self._setup_windows(model, "win_put", num_steps_per_communication, window_prefix)

    def _start(self, param):
        return win_ops.win_put_nonblocking(param.detach(), self._window_names[param],
                                           dst_weights=self.dst_weights)

    def _combine(self):
        for name in self._window_names.values():
            win_ops.win_update(name)


class PullGet(WindowOptimizerBase):
    """Like WinPut, but each rank pulls its in-neighbours' parameters with
    win_get during forward."""

    def _setup(self, model, num_steps_per_communication, window_prefix):
        self._setup_windows(model, "pull_get", num_steps_per_communication, window_prefix)

    def _start(self, param):
        return win_ops.win_get_nonblocking(self._window_names[param],
                                           src_weights=self.src_weights)

    def _combine(self):
        for name in self._window_names.values():
            win_ops.win_update(name)


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

    def _combine(self):
        with torch.no_grad():
            for param, name in self._window_names.items():
                win_ops.win_update_then_collect(name, _with_p=True)
                param.copy_(self._scaled[param] / _bluefog.win_p(name))

    def _after_local_step(self):
        with torch.no_grad():
            for param, name in self._window_names.items():
                self._scaled[param].copy_(param * _bluefog.win_p(name))
