"""Small utilities shared by the bluefog packages."""

import contextlib
import os


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
