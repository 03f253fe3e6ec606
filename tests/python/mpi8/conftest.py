"""Every test in this directory runs in all ranks of an 8-rank bfrun job,
normally with BLUEFOG_NODES_PER_MACHINE=2 (4 emulated machines of 2 ranks):

    BLUEFOG_NODES_PER_MACHINE=2 bfrun -np 8 python tests/python/mpi_pytest.py \
        --log-dir DIR -- -q tests/python/mpi8

bluefog is initialised when this file is imported, before test modules are
collected, so that decorators such as ``skipif(bf.size() != 8)`` work.
"""

import os
import sys

import torch

# Shared test helpers (tests/python/reference_graphs.py).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bluefog.torch as bf

bf.init()
torch.manual_seed(1234 + bf.rank())
