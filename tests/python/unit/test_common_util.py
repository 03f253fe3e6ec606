"""bluefog.common.util: env, is_running_from_ipython and the extension checks."""

import os
import sys
import types

import pytest

import bluefog
from bluefog.common import util


def test_env_sets_removes_and_restores(monkeypatch):
    monkeypatch.setenv("BF_UTIL_KEEP", "old")
    monkeypatch.delenv("BF_UTIL_NEW", raising=False)
    with pytest.raises(RuntimeError):
        with util.env(BF_UTIL_KEEP=None, BF_UTIL_NEW=3):
            assert "BF_UTIL_KEEP" not in os.environ
            assert os.environ["BF_UTIL_NEW"] == "3"
            raise RuntimeError("the block fails")
    assert os.environ["BF_UTIL_KEEP"] == "old"
    assert "BF_UTIL_NEW" not in os.environ


def fake_ipython(monkeypatch, shell):
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", module)


def test_is_running_from_ipython(monkeypatch):
    fake_ipython(monkeypatch, object())
    assert util.is_running_from_ipython() is True
    fake_ipython(monkeypatch, None)  # IPython installed, but this is plain Python
    assert util.is_running_from_ipython() is False
    monkeypatch.setitem(sys.modules, "IPython", None)  # not installed: import fails
    assert util.is_running_from_ipython() is False


def test_extension_paths_and_check():
    suffix = util.get_ext_suffix()
    assert suffix.endswith(".so")
    path = util.get_extension_full_path(bluefog.__file__, "_bluefog")
    assert path == os.path.join(os.path.dirname(bluefog.__file__), "_bluefog" + suffix)
    assert os.path.exists(path)
    util.check_extension("bluefog", bluefog.__file__, "_bluefog")
    with pytest.raises(ImportError, match="Extension bluefog.nothing has not been built"):
        util.check_extension("bluefog.nothing", bluefog.__file__, "sub", "nothing")
    with pytest.raises(ValueError, match="at least the extension's name"):
        util.get_extension_full_path(bluefog.__file__)


def test_extension_available_and_mpi_built():
    assert util.extension_available("torch") is True
    assert util.extension_available("tensorflow") is False
    assert util.mpi_built() is True
