"""What `import gru_rt` says when the package it found has no compiled core."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def no_core(error: ModuleNotFoundError) -> NoReturn:
    """The package found has no compiled _core: almost always the unbuilt source tree, which comes
    first on sys.path in its parent directory and hides the installed gru_rt. Under
    `python -m gru_rt` one line and exit status 2, as the CLI does for every error; else an
    ImportError with the same words."""
    if error.name != "gru_rt._core":
        raise error
    here = os.path.dirname(os.path.abspath(__file__))
    message = (f"{here} has no compiled core (gru_rt._core): it is the unbuilt source tree, which "
               f"hides an installed gru_rt when Python runs from {os.path.dirname(here)}; run "
               f"from another directory, or build it in place (pip install -e .)")
    if sys.argv[:1] == ["-m"]:  # python -m gru_rt[.cli] is still locating its module
        print(f"gru-rt: error: {message}", file=sys.stderr)
        raise SystemExit(2)
    raise ImportError(message) from error
