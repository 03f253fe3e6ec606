"""When a distributed optimizer communicates: at the k-th pass since its
last communication (k = num_steps_per_communication), counting forward
passes (adapt-with-combine, window optimizers: they send parameters) or
backward passes (adapt-then-combine, gradient allreduce: they need
gradients), as BlueFog 0.3 counted; the next step() completes it.

One pass per step() makes every k-th step communicate and the others local
steps; k passes per step() (gradient accumulation over mini-batches) makes
every step communicate, with the gradient accumulated over the k passes.
"""

import torch


class ForwardPasses:
    """Training forward passes of each model since its last communication."""

    def __init__(self, models):
        self._counts = {model: 0 for model in models}

    def count(self, model):
        """Counts a forward pass of `model`; returns its number in this round."""
        self._counts[model] += 1
        return self._counts[model]

    def due(self, k):
        """The models whose k-th pass has come."""
        return [model for model, count in self._counts.items() if count >= k]

    def reset(self, models):
        for model in models:
            self._counts[model] = 0


class BackwardPasses:
    """Backward passes in which any of the optimizer's parameters got a
    gradient, since the last reset."""

    def __init__(self):
        self.count = 0
        self._in_pass = False
        self._seen = set()

    def note_gradient(self, param):
        """Called when `param`'s gradient is ready; returns the number of the
        current pass. A pass ends when autograd finishes it; a parameter's
        second gradient also means a new pass (if a failed one never ended)."""
        if not self._in_pass or param in self._seen:
            self.count += 1
            self._seen = set()
            if not self._in_pass:
                self._in_pass = True
                torch.autograd.Variable._execution_engine.queue_callback(self._pass_ended)
        self._seen.add(param)
        return self.count

    def _pass_ended(self):
        self._in_pass = False
        self._seen = set()

    def reset(self):
        self.count = 0
