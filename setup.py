"""Builds the native module with CMake during `pip install .`.

Use `pip install --no-build-isolation .` from a Python that has torch: the
module is compiled against that torch.
"""

import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        output_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        build_dir = os.path.join(ROOT, "build", f"pip-py{sys.version_info[0]}{sys.version_info[1]}")
        os.makedirs(build_dir, exist_ok=True)
        generator = ["-G", "Ninja"] if self._has_ninja() else []
        subprocess.check_call(
            ["cmake", "-S", ROOT, "-B", build_dir, *generator,
             f"-DPython3_EXECUTABLE={sys.executable}",
             f"-DBLUEFOG_PYTHON_OUTPUT_DIR={output_dir}",
             "-DBLUEFOG_BUILD_TESTS=OFF"])
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_bluefog"])

    @staticmethod
    def _has_ninja():
        from shutil import which
        return which("ninja") is not None


setup(
    package_dir={"": "python"},
    ext_modules=[CMakeExtension("bluefog._bluefog")],
    cmdclass={"build_ext": CMakeBuild},
)
