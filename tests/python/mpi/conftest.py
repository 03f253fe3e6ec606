"""Every test in this directory runs in all ranks of a bfrun job.

bluefog is initialised when this file is imported, before test modules are
collected, so that decorators such as ``skipif(bf.size() < 2)`` work.
"""

import os
import sys

import torch

# Shared test helpers (tests/python/reference_graphs.py).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bluefog.torch as bf

bf.init()
torch.manual_seed(1234 + bf.rank())
