#!/usr/bin/env python3
"""Stream real speech data through a converted gru_rt model, one frame at a time.

The model (tools/train_demo.py) classifies Japanese vowel utterances (UEA JapaneseVowels: 12 LPC
cepstrum coefficients per frame, 9 speakers). Each test utterance is streamed frame by frame from a
zero state, as a live recogniser would see it; the speaker is the argmax of the output at the last
frame. Prints the accuracy, the accuracy PyTorch measured at training time, and the time per step.

    python examples/stream_demo.py out/japanese_vowels.grt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from ts_datasets import load_ts_dataset

import gru_rt

MODELS = Path(__file__).resolve().parent / "models"


def stream_dataset(model: gru_rt.Model, sequences: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Predicted class per sequence, and the mean wall time of one Stream.step in seconds."""
    stream = model.stream()
    out = np.empty(model.output_size, dtype=np.float32)
    predictions = np.empty(len(sequences), dtype=np.int64)
    steps = 0
    start = time.perf_counter()
    for k, seq in enumerate(sequences):
        stream.reset()
        for frame in seq:
            stream.step(frame, out=out)
        predictions[k] = int(np.argmax(out))
        steps += len(seq)
    elapsed = time.perf_counter() - start
    return predictions, elapsed / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the converted .grt file")
    parser.add_argument("--norm", default=str(MODELS / "japanese_vowels_norm.npz"),
                        help="per-channel mean/std saved at training time")
    args = parser.parse_args()

    model = gru_rt.load(args.model)
    print(repr(model))
    norm = np.load(args.norm, allow_pickle=False)
    mean, std = norm["mean"], norm["std"]
    sequences, labels, _ = load_ts_dataset("JapaneseVowels", "test")
    inputs = [np.ascontiguousarray((s - mean) / std, dtype=np.float32) for s in sequences]

    predictions, step_seconds = stream_dataset(model, inputs)
    accuracy = float(np.mean(predictions == labels))
    n_steps = sum(len(s) for s in inputs)
    print(f"streamed {len(inputs)} test utterances, {n_steps} frames, one Stream.step per frame")
    print(f"accuracy (gru_rt {model.precision}): {accuracy:.2%}")
    record = MODELS / "japanese_vowels.json"
    if record.exists():
        trained = json.loads(record.read_text())
        torch_acc = trained.get("test_accuracy")
        if torch_acc is not None:
            print(f"accuracy (PyTorch at training time): {float(torch_acc):.2%}")
    print(f"time per step: {step_seconds * 1e6:.2f} µs (Python loop included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
