#!/usr/bin/env python3
"""Run Python tests under valgrind memcheck and fail on any error or definite leak in gru_rt's code.

CPython and NumPy report their own benign findings under valgrind (objects kept until exit,
uninitialised reads in the cyclic GC), so the verdict comes from the XML report: an error counts
when any frame of its stack lies in gru_rt's extension (`gru_rt/_core*.so`: the Cython layer and
the C core linked into it).

    python tools/memcheck.py [pytest args]     # default: the core runtime tests
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TESTS = ["tests/test_loader_errors.py", "tests/test_hardening.py",
                 "tests/test_golden.py", "-k",
                 "not two_threads and not huge and not concurrent and not random_models "
                 "and not activation_errors and not tables"]


def ours(frame: ET.Element) -> bool:
    obj = frame.findtext("obj") or ""
    fn = frame.findtext("fn") or ""
    return "gru_rt/_core" in obj or fn.startswith(("grt_", "__pyx_"))


# The extension's module initialisation: it runs once, at `import gru_rt`, and imports NumPy and the
# package's Python modules; what CPython's import machinery allocates under it (e.g. the float of a
# path's mtime in importlib's caches) is CPython's, and is reported whatever the module does.
_MODULE_INIT = ("__pyx_pymod_exec_", "__Pyx_modinit_")


def in_gru_rt(error: ET.Element) -> bool:
    """Does the error's stack run through gru_rt's code other than its one-time module init?"""
    frames = [f for f in error.iter("frame") if ours(f)]
    return any(not (f.findtext("fn") or "").startswith(_MODULE_INIT) for f in frames)


def main(argv: list[str]) -> int:
    tests = argv or DEFAULT_TESTS
    with tempfile.TemporaryDirectory() as tmp:
        xml_path = Path(tmp) / "memcheck.xml"
        cmd = ["valgrind", "--tool=memcheck", "--leak-check=full", "--num-callers=40",
               "--xml=yes", f"--xml-file={xml_path}", sys.executable, "-m", "pytest", "-q",
               "-p", "no:cacheprovider", *tests]
        env = dict(os.environ, PYTHONMALLOC="malloc")
        done = subprocess.run(cmd, cwd=ROOT, env=env)
        if done.returncode != 0:
            print(f"memcheck: the tests themselves failed (exit {done.returncode})")
            return 1
        root = ET.parse(xml_path).getroot()
    errors = root.findall("error")
    # Every memory error counts; of the leaks, the definite and indirect ones (a "possibly lost"
    # block is one CPython still points into, e.g. an object's header).
    counted = [e for e in errors if not (e.findtext("kind") or "").startswith("Leak_")
               or e.findtext("kind") in ("Leak_DefinitelyLost", "Leak_IndirectlyLost")]
    mine = [e for e in counted if in_gru_rt(e)]
    for e in mine:
        kind = e.findtext("kind")
        what = e.findtext("what") or e.findtext("xwhat/text")
        frames = [f.findtext("fn") or f.findtext("obj") or "?" for f in e.iter("frame")][:8]
        print(f"memcheck: {kind}: {what}\n    " + " <- ".join(frames))
    print(f"memcheck: {len(errors)} findings in the process ({len(counted)} errors or definite "
          f"leaks), {len(mine)} in gru_rt's code")
    return 1 if mine else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
