#!/usr/bin/env python3
"""Write the calibration data for quantizing the demo model: the JapaneseVowels training frames,
normalized as at training time, back to back as one (T, 12) float32 array in a .npy file.

    python examples/make_calibration.py out/japanese_vowels_calibration.npy
    gru-rt convert examples/models/japanese_vowels_gru.npz -o out/jv_q15.grt \\
        --head-activation softmax --precision q15 --calibration out/japanese_vowels_calibration.npy

Calibration data are the user's own inputs: the quantizer takes the input ranges from them (q15) and
measures its error report on them. The test split is kept for measuring accuracy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from ts_datasets import load_ts_dataset

MODELS = Path(__file__).resolve().parent / "models"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="the .npy file to write")
    args = parser.parse_args()
    with np.load(MODELS / "japanese_vowels_norm.npz", allow_pickle=False) as norm:
        mean, std = norm["mean"], norm["std"]
    sequences, _, _ = load_ts_dataset("JapaneseVowels", "train")
    frames = np.concatenate([(s - mean) / std for s in sequences]).astype(np.float32)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output, frames)
    print(f"wrote {args.output}: {frames.shape[0]} training frames x {frames.shape[1]} features "
          f"from {len(sequences)} utterances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
