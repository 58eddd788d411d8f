#!/usr/bin/env python3
"""Weight converter script: the same code as `gru-rt convert` (see `--help`).

    python tools/convert.py model_state.pt -o model.grt --head-activation softmax
"""

import sys

from gru_rt.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
