"""BlueFog: decentralized training for PyTorch.

Import ``bluefog.torch`` for the API; this top-level package stays light so
that command-line tools such as ``bfrun`` start fast.
"""

import os

__version__ = "0.4.0"

# BLUEFOG_EXTENSION_DIR names a directory holding another build of the
# extension module ``_bluefog`` (e.g. one against MPICH, built with
# -DBLUEFOG_PYTHON_OUTPUT_DIR=DIR); it is found before the package's own.
if os.environ.get("BLUEFOG_EXTENSION_DIR"):
    __path__.insert(0, os.path.abspath(os.environ["BLUEFOG_EXTENSION_DIR"]))
