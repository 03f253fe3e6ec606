"""Every test in this directory runs in all ranks of a bfrun job."""

import pytest
import torch

import bluefog.torch as bf


@pytest.fixture(scope="session", autouse=True)
def bluefog_runtime():
    bf.init()
    torch.manual_seed(1234 + bf.rank())
    yield
