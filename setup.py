"""Build step: the Cython kernels, optional.

``pip install .`` compiles ``kernels/*.pyx`` into ``spikeengine._kernels``. If that
is impossible (no compiler, no Cython), the install still succeeds and spikeengine
falls back to its Numba backend, with a one-line warning here and at import.

Environment:
  SPIKEENGINE_NO_EXTENSIONS=1       skip the compiled kernels
  SPIKEENGINE_REQUIRE_EXTENSIONS=1  make a failed compilation fatal
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

SKIP = os.environ.get("SPIKEENGINE_NO_EXTENSIONS", "") not in ("", "0")
REQUIRE = os.environ.get("SPIKEENGINE_REQUIRE_EXTENSIONS", "") not in ("", "0")

# no -ffast-math and no FMA contraction: the compiled kernels must round exactly as the Python reference
CFLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]


class OptionalBuildExt(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any failure falls back to Numba
            self._fail(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _fail(self, exc):
        if REQUIRE:
            raise exc
        print(f"WARNING: spikeengine: compiled kernels not built ({exc}); the Numba backend will be used",
              file=sys.stderr)


def extensions():
    if SKIP:
        return []
    try:
        import numpy
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError as exc:
        if REQUIRE:
            raise
        print(f"WARNING: spikeengine: Cython unavailable ({exc}); the Numba backend will be used", file=sys.stderr)
        return []
    # link libm explicitly: left unlinked, exp/log bind to glibc's old SVID compat wrappers (slower), not to
    # the versions the math module and Numba's twin call
    libs = [] if sys.platform == "win32" else ["m"]
    exts = [Extension("spikeengine._kernels.engine", ["kernels/engine.pyx"],
                      include_dirs=[numpy.get_include(), "kernels"], extra_compile_args=CFLAGS, libraries=libs,
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])]
    return cythonize(exts, compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False,
                                                "cdivision": True, "initializedcheck": False},
                     include_path=["kernels"], quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
