"""The trained multimodal example (tools/train_fusion.py): BasicMotions' accelerometer and gyroscope
as two named inputs of one PyTorch model, converted from its saved state dict with inputs= in f32,
q8 and q15 (calibrated on the train split) and run on the test split fed as {"acc", "gyro"}: the
accuracies docs/QUANTIZATION.md reports (40/40 in each precision; asserted within one sequence),
q8/q15 bit-exact with the golden model, and each input's own q15 range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gru_rt
from examples.ts_datasets import DatasetNotFoundError, load_ts_dataset
from gru_rt.golden import golden_run

pytest.importorskip("torch")  # the example is a PyTorch state dict (.pt)

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"
INPUTS = {"acc": 3, "gyro": 3}


def _split(split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        seqs, labels, _ = load_ts_dataset("BasicMotions", split)
    except DatasetNotFoundError as exc:
        pytest.skip(str(exc))
    with np.load(MODELS / "basic_motions_fusion_norm.npz", allow_pickle=False) as norm:
        mean, std = norm["mean"], norm["std"]
    return np.stack([((s - mean) / std).astype(np.float32) for s in seqs]), np.asarray(labels)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_fusion_example_accuracy_and_exactness(precision: str) -> None:
    train, _ = _split("train")
    test, labels = _split("test")
    spec = gru_rt.convert(MODELS / "basic_motions_fusion.pt", inputs=INPUTS,
                          head_activation="softmax", precision=precision,
                          calibration=None if precision == "f32" else train)
    model = spec.load()
    assert [(i.name, i.width) for i in model.inputs] == [("acc", 3), ("gyro", 3)]
    feeds = {"acc": test[..., :3], "gyro": test[..., 3:]}
    last = model.run(feeds, readout="last")
    correct = int(np.sum(np.argmax(last, axis=1) == labels))
    assert correct >= len(labels) - 1, f"{correct}/{len(labels)} (documented: 40/40)"
    if precision != "f32":
        np.testing.assert_array_equal(model.run(feeds), golden_run(spec, test).outputs)
    if precision == "q15":
        scale = model.input_scale
        assert scale is not None
        ranges = scale * 32767
        calibrated = np.abs(train).max(axis=(0, 1)) * 1.25
        np.testing.assert_allclose(ranges, calibrated, rtol=1e-6)  # per feature, so per input
