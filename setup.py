"""Build: the C core as its own static library (its own flags), then the Cython extension over it."""

from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Portable flags only: never -march=native in a distributed build (SIMD variants come from run-time
# dispatch). -ffp-contract=off keeps float results identical whether or not the target has FMA.
CORE_CFLAGS = ["-std=c99", "-O3", "-Wall", "-Wextra", "-ffp-contract=off", "-fPIC"]


def core_sources() -> list[str]:
    """The C core's sources: csrc/sources.txt, the one list the Makefile and CMake read too."""
    lines = Path("csrc/sources.txt").read_text(encoding="utf-8").splitlines()
    return [f"csrc/{line}" for line in lines if line.strip() and not line.startswith("#")]


# csrc/include holds the public header alone; the internal ones are in csrc (the core's build only).
core = (
    "gru_rt_core",
    {"sources": core_sources(), "include_dirs": ["csrc/include", "csrc"], "cflags": CORE_CFLAGS},
)


class BuildExtWithCore(build_ext):
    """Build the static C core first, also for `pip install -e .` (which skips build_clib)."""

    def run(self) -> None:
        # Always recompile the (small) core: build_clib does not track header dependencies, and a
        # stale library silently mismatches the wrapper.
        self.distribution.get_command_obj("build_clib").force = True
        self.run_command("build_clib")
        super().run()


extension = Extension(
    "gru_rt._core",
    sources=["gru_rt/_core.pyx"],  # links gru_rt_core: build_ext adds build_clib's libraries
    include_dirs=["csrc/include", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    libraries=[core],
    ext_modules=cythonize([extension], compiler_directives={"language_level": "3"}),
    cmdclass={"build_ext": BuildExtWithCore},
)
