"""`python -m gru_rt` is the `gru-rt` command line."""

import sys

from .cli import main

sys.exit(main())
