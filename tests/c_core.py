"""Where the C core's files are, for the tests that compile it themselves: csrc/sources.txt is the
one source list (setup.py, csrc/Makefile and csrc/CMakeLists.txt read it too)."""

from __future__ import annotations

from pathlib import Path

CSRC = Path(__file__).resolve().parent.parent / "csrc"
PUBLIC_HEADER = CSRC / "include" / "gru_rt.h"
# The public header's directory, then the internal headers' (the core's own build only).
INCLUDE_FLAGS = [f"-I{CSRC / 'include'}", f"-I{CSRC}"]


def lib_sources() -> list[str]:
    """The library's translation units (absolute paths), in sources.txt's order."""
    lines = (CSRC / "sources.txt").read_text(encoding="utf-8").splitlines()
    return [str(CSRC / line) for line in lines if line.strip() and not line.startswith("#")]
