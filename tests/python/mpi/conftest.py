"""Every test in this directory runs in all ranks of a bfrun job.

bluefog is initialised when this file is imported, before test modules are
collected, so that decorators such as ``skipif(bf.size() < 2)`` work.

The timeline is on for the whole suite (test_timeline.py reads it): unless
BLUEFOG_TIMELINE is already set (bfrun --timeline-filename), each rank
records into a private temporary directory, removed at exit.
"""

import atexit
import os
import shutil
import sys
import tempfile

import pytest
import torch

# Shared test helpers (tests/python/reference_graphs.py).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if "BLUEFOG_TIMELINE" not in os.environ:
    _timeline_dir = tempfile.mkdtemp(prefix="bf-test-timeline-")
    atexit.register(shutil.rmtree, _timeline_dir, True)  # runs after bf's shutdown
    os.environ["BLUEFOG_TIMELINE"] = os.path.join(_timeline_dir, "timeline")

import bluefog.torch as bf  # noqa: E402

bf.init()
torch.manual_seed(1234 + bf.rank())


@pytest.fixture
def timeline_path():
    """This rank's timeline file."""
    return "{}{}.json".format(os.environ["BLUEFOG_TIMELINE"], bf.rank())
