"""Keras Masking imported as the model's input mask, against Keras itself on padded batches with
masked steps before, inside and after the real ones: f32 within 1e-5 at every step (Keras repeats
each GRU's previous output on a masked step, zeros before the first real one, and runs the Dense
layers after it on that), q8/q15 bit for bit against the golden model and close to Keras; a
return_sequences=False model against readout="last"; and the Masking layers that are refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gru_rt import convert
from gru_rt.errors import ConversionError
from gru_rt.golden import golden_run
from tests.test_mask import masked_batch

keras = pytest.importorskip("keras")
layers = keras.layers


def build(value: float, *stack: Any, seed: int = 0) -> Any:
    model = keras.Sequential([keras.Input((None, 3)), layers.Masking(mask_value=value), *stack])
    rng = np.random.default_rng(seed)  # weights (and biases) away from Keras' zero-bias init
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                       for w in model.get_weights()])
    return model


def keras_out(model: Any, xs: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model(xs, training=False)))


STACKS = {
    "gru-dense": lambda: [layers.GRU(8, return_sequences=True), layers.Dense(4)],
    "dense-gru-gru-dense": lambda: [layers.Dense(5, activation="tanh"),
                                    layers.GRU(8, return_sequences=True),
                                    layers.GRU(6, return_sequences=True, reset_after=False),
                                    layers.Dense(4, activation="softmax")],
    "gru": lambda: [layers.GRU(8, return_sequences=True)],
    "lstm-gru-dense": lambda: [layers.LSTM(7, return_sequences=True),
                               layers.GRU(6, return_sequences=True), layers.Dense(3)],
}


@pytest.mark.parametrize("name", sorted(STACKS))
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_masked_batches_match_keras(name: str, value: float) -> None:
    model = build(value, *STACKS[name]())
    xs = masked_batch(value)
    want = keras_out(model, xs)
    spec = convert(model)
    assert spec.input_mask == value
    assert spec.metadata["source.input_mask"] == f"Masking(mask_value={value!r})"
    got = spec.load().run(xs)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    for precision, tol in (("q8", 0.05), ("q15", 0.05))[:1 if "lstm" in name else 2]:
        q = convert(model, precision=precision, calibration=xs, verify=False)
        qy = q.load().run(xs)
        np.testing.assert_array_equal(qy, golden_run(q, xs).outputs)
        assert np.max(np.abs(qy - want)) < tol


def test_return_sequences_false_is_the_last_real_step() -> None:
    model = build(0.0, layers.GRU(8), layers.Dense(3, activation="softmax"))
    xs = masked_batch(0.0)
    want = keras_out(model, xs)  # (N, 3): the last unmasked step's output
    m = convert(model).load()
    np.testing.assert_allclose(m.run(xs)[:, -1], want, rtol=0, atol=1e-5)
    lengths = [13, 9, 13, 7]  # the post-padding of rows 1 and 3 cut off
    np.testing.assert_allclose(m.run(xs, lengths=lengths, readout="last"), want, rtol=0, atol=1e-5)


def test_masking_elsewhere_is_refused() -> None:
    late = keras.Sequential([keras.Input((None, 3)), layers.Dense(4), layers.Masking(),
                             layers.GRU(5)])
    with pytest.raises(ConversionError, match="only as the model's first layer"):
        convert(late)
    twice = keras.Sequential([keras.Input((None, 3)), layers.Masking(), layers.Masking(),
                              layers.GRU(5)])
    with pytest.raises(ConversionError, match="only as the model's first layer"):
        convert(twice)
    no_gru = keras.Sequential([keras.Input((None, 3)), layers.Masking(), layers.Dense(2)])
    with pytest.raises(ConversionError, match="Masking layer but no GRU or LSTM"):
        convert(no_gru)


def test_masking_survives_a_keras_file(tmp_path: Any) -> None:
    model = build(-1.0, layers.GRU(8, return_sequences=True), layers.Dense(2))
    model.save(tmp_path / "m.keras")
    xs = masked_batch(-1.0)
    got = convert(tmp_path / "m.keras").load().run(xs)
    np.testing.assert_allclose(got, keras_out(model, xs), rtol=0, atol=1e-5)
