"""tools/train_crnn.py in miniature, so the script cannot rot: a tiny CRNN (causal Conv1d → ReLU →
LayerNorm → GRU → Linear) trained for a few epochs by tools/_training.py's shared loop on part of
JapaneseVowels, converted through gru_rt.convert to f32/q8/q15 and measured by the script's own
`measure`: f32 equals PyTorch at every frame, q8/q15 equal the golden model and Stream.step equals
Model.run bit for bit; the shared loop is deterministic."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from examples.ts_datasets import DatasetNotFoundError, load_ts_dataset

pytest.importorskip("torch")

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _tool(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny() -> tuple[ModuleType, object, list[np.ndarray], np.ndarray, list[np.ndarray],
                    np.ndarray]:
    """The script, a 2-epoch config (Conv1d 12→6 k=3 d=2, GRU(5)) and 60 train / 30 test
    sequences of JapaneseVowels, normalized as the script does."""
    try:
        train_x, train_y, _ = load_ts_dataset("JapaneseVowels", "train")
        test_x, test_y, _ = load_ts_dataset("JapaneseVowels", "test")
    except DatasetNotFoundError as exc:
        pytest.skip(str(exc))
    crnn = _tool("train_crnn")
    full = crnn.CONFIGS["japanese_vowels"]
    c = replace(full, cfg=replace(full.cfg, hidden_size=5, epochs=2), channels=6)
    training = _tool("_training")
    mean, std = training.normalization(train_x[:60])
    return (crnn, c, training.normalize(train_x[:60], mean, std), train_y[:60],
            training.normalize(test_x[:30], mean, std), test_y[:30])


def test_tiny_crnn_converts_and_measures(tiny) -> None:  # type: ignore[no-untyped-def]
    crnn, c, train_x, train_y, test_x, test_y = tiny
    net = crnn.train(c, train_x, train_y, 9)
    result = crnn.measure(net, train_x, test_x, test_y)
    f32 = result["f32"]
    assert f32["max_abs_diff_all_frames"] <= 1e-5
    assert f32["correct"] == result["torch"]["correct"]
    assert f32["source_verified"].startswith("yes")
    scale = result["max_abs_torch_logit"]
    for precision in crnn.PRECISIONS:
        row = result[precision]
        assert row["stream_equals_run"], precision
        assert row["max_abs_diff_all_frames"] <= 0.1 * scale, (precision, row, scale)
        if precision != "f32":
            assert row["golden_equals_run"], precision
            assert row["quant_report"], precision  # the quantizer's per-layer report


def test_shared_loop_is_deterministic(tiny) -> None:  # type: ignore[no-untyped-def]
    crnn, c, train_x, train_y, _, _ = tiny
    c1 = replace(c, cfg=replace(c.cfg, epochs=1))
    a = crnn.train(c1, train_x, train_y, 9).state_dict()
    b = crnn.train(c1, train_x, train_y, 9).state_dict()
    untrained = crnn.build(c1, train_x[0].shape[1], 9)  # a fresh model from the global RNG
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    assert not np.array_equal(a["conv.weight"].numpy(), untrained.state_dict()["conv.weight"])
