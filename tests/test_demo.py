"""The shipped demo model, converted from its torch-free .npz and streamed through the runtime,
gives the accuracy PyTorch measured at training time on the real test data (JapaneseVowels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gru_rt
from examples.ts_datasets import DatasetNotFoundError, load_ts_dataset

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"


@pytest.fixture(scope="module")
def test_split() -> tuple[list[np.ndarray], np.ndarray]:
    try:
        sequences, labels, _ = load_ts_dataset("JapaneseVowels", "test")
    except DatasetNotFoundError as exc:
        pytest.skip(str(exc))  # says what to install
    with np.load(MODELS / "japanese_vowels_norm.npz", allow_pickle=False) as norm:
        mean, std = norm["mean"], norm["std"]
    return [((s - mean) / std).astype(np.float32) for s in sequences], labels


def test_streamed_accuracy_equals_pytorch(test_split) -> None:
    sequences, labels = test_split
    model = gru_rt.convert(MODELS / "japanese_vowels_gru.npz", head_activation="softmax").load()
    stream = model.stream()
    predictions = []
    for seq in sequences:
        stream.reset()
        for frame in seq:
            y = stream.step(frame)
        predictions.append(int(np.argmax(y)))
    accuracy = float(np.mean(np.array(predictions) == labels))
    recorded = json.loads((MODELS / "japanese_vowels.json").read_text())["test_accuracy"]
    assert accuracy == pytest.approx(recorded, abs=1e-12)  # 361/370 in both


def test_npz_and_state_dict_give_the_same_file() -> None:
    pytest.importorskip("torch")
    from_npz = gru_rt.convert(MODELS / "japanese_vowels_gru.npz").validated()
    from_pt = gru_rt.convert(MODELS / "japanese_vowels_gru.pt").validated()
    for a, b in zip(from_npz.layers, from_pt.layers):
        for name, value in vars(a).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, getattr(b, name))
