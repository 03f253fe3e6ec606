"""BlueFog: decentralized training for PyTorch.

Import ``bluefog.torch`` for the API; this top-level package stays light so
that command-line tools such as ``bfrun`` start fast.
"""

__version__ = "0.4.0"
