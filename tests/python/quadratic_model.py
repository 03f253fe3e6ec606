"""The model of the optimizer tests: f(w) = 0.5 |w - c|^2, so that
grad f(w) = w - c and every rank can compute every rank's iterates."""

import torch


class Quadratic(torch.nn.Module):
    def __init__(self, start, target):
        super().__init__()
        self.w = torch.nn.Parameter(start.clone())
        self.target = target

    def forward(self):
        return 0.5 * (self.w - self.target).pow(2).sum()
