"""Small utilities shared by the bluefog packages (BlueFog 0.3's
``bluefog.common.util``): ``env``, the IPython check, and checks that the
compiled extension is there and loads."""

import contextlib
import os
import subprocess
import sys
import sysconfig

# The framework packages of bluefog whose import loads the compiled extension.
EXTENSIONS = ["torch"]


@contextlib.contextmanager
def env(**kwargs):
    """Set environment variables for the duration of a ``with`` block.

    A value of ``None`` removes the variable inside the block. The previous
    values are restored afterwards, even if the block raises.
    """
    saved = {key: os.environ.get(key) for key in kwargs}
    try:
        for key, value in kwargs.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = str(value)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def is_running_from_ipython():
    """Whether this code runs inside IPython (a Jupyter kernel, an ipyparallel
    engine or the IPython shell). False when IPython is not installed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def get_ext_suffix():
    """The file name ending of compiled extension modules for this Python."""
    return sysconfig.get_config_var("EXT_SUFFIX") or sysconfig.get_config_var("SO") or ".so"


def get_extension_full_path(pkg_path, *args):
    """``dirname(pkg_path)/args[0]/.../args[-1]<ext suffix>``: where a package's
    compiled extension lies, e.g. ``(bluefog.__file__, "_bluefog")``."""
    if not args:
        raise ValueError("get_extension_full_path: give at least the extension's name")
    directory = os.path.join(os.path.dirname(pkg_path), *args[:-1])
    return os.path.join(directory, args[-1] + get_ext_suffix())


def check_extension(ext_name, pkg_path, *args):
    """Raise ImportError naming ``ext_name`` if its compiled extension file is missing."""
    full_path = get_extension_full_path(pkg_path, *args)
    if not os.path.exists(full_path):
        raise ImportError(f"Extension {ext_name} has not been built: {full_path} is missing")


def _imports_in_a_fresh_process(module, verbose):
    """Whether ``import module`` succeeds in a new Python (so that a crash or
    an MPI initialisation there cannot touch this process)."""
    result = subprocess.run([sys.executable, "-c", f"import {module}"],
                            capture_output=not verbose, timeout=300)
    if verbose:
        print(f"Extension {module} {'was' if result.returncode == 0 else 'was NOT'} built.")
    return result.returncode == 0


def extension_available(ext_base_name, verbose=False):
    """Whether ``bluefog.<ext_base_name>`` (e.g. ``"torch"``) is built and imports."""
    if ext_base_name not in EXTENSIONS:
        return False
    return _imports_in_a_fresh_process(f"bluefog.{ext_base_name}", verbose)


def mpi_built(verbose=False):
    """Whether an extension built with MPI is available (every build of this
    project is: its engine runs over MPI)."""
    return any(extension_available(name, verbose) for name in EXTENSIONS)
