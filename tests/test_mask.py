"""The input mask (Keras Masking; format 1.4): a step whose input equals the mask value in every
feature keeps every GRU state and outputs it again. The runtime against the float64 reference
(f32) and the golden model (q8, q15: bit for bit) at every ISA level, in every way of running
(Stream.step, Model.run padded, ragged, lengths=, readout="last", StreamBatch, the int16 API);
the semantics themselves on hand-checkable cases; calibration without the masked steps; the
file's fields and the loader's refusals. Keras itself is the oracle in test_mask_keras.py."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest

import gru_rt
from gru_rt import format as fmt
from gru_rt.errors import ModelFormatError
from gru_rt.golden import golden_run, golden_run_int16, q15_quantize_input
from gru_rt.quantize import quantize
from gru_rt.reference import reference_run
from gru_rt.spec import ModelSpec, SpecError
from tests.models import random_spec

SIZES = [3, 16, 5, 4]  # GRU 3→16, GRU 16→5, Dense 5→4


def masked_batch(value: float, seed: int = 0, n: int = 4, t: int = 13, i: int = 3) -> np.ndarray:
    """(n, t, i) float32 with masked steps leading, trailing and in the middle, and near misses
    (one feature off the mask value), which must not be masked."""
    xs = np.random.default_rng(seed).standard_normal((n, t, i)).astype(np.float32)
    xs[0, :3] = value  # pre-padding
    xs[1, 9:] = value  # post-padding
    xs[2, 4:6] = value  # in the middle
    xs[2, 8] = value
    xs[3, 0] = value
    xs[3, 5] = value
    xs[3, 5, 1] = value + 0.5  # not masked: one feature differs
    xs[3, 7:] = value
    return xs


def spec_with(precision: str, value: float, calibration: np.ndarray | None = None) -> ModelSpec:
    float_spec = replace(random_spec(SIZES, seed=3), input_mask=value)
    if precision == "f32":
        return float_spec
    return quantize(float_spec, precision, calibration if calibration is not None
                    else masked_batch(value, seed=9))[0]


def expected(spec: ModelSpec, xs: np.ndarray) -> np.ndarray:
    """The independent oracle: float64 reference (f32) or golden model (q8, q15)."""
    if spec.layers[0].precision == "f32":
        return np.stack([reference_run(spec, x)[0] for x in xs])
    return golden_run(spec, xs).outputs


def check(spec: ModelSpec, got: np.ndarray, want: np.ndarray) -> None:
    if spec.layers[0].precision == "f32":
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_every_way_of_running_matches_the_oracle(each_isa: str, precision: str,
                                                 value: float) -> None:
    spec = spec_with(precision, value)
    model = spec.load()
    assert model.input_mask == value
    xs = masked_batch(value)
    want = expected(spec, xs)
    ys = model.run(xs)
    check(spec, ys, want)
    for k, x in enumerate(xs):  # a stream step by step, and run alone: the same bits as the batch
        s = model.stream()
        np.testing.assert_array_equal(np.stack([s.step(r) for r in x]), ys[k])
        np.testing.assert_array_equal(model.run(x), ys[k])
    batch = model.stream_batch(len(xs))
    np.testing.assert_array_equal(batch.run(xs), ys)
    lengths = [13, 9, 7, 1]
    ragged = model.run([x[:n] for x, n in zip(xs, lengths)])
    for k, n in enumerate(lengths):
        np.testing.assert_array_equal(ragged[k], ys[k, :n])
    padded = model.run(xs, lengths=lengths)
    last = model.run(xs, lengths=lengths, readout="last")
    for k, n in enumerate(lengths):
        np.testing.assert_array_equal(padded[k, :n], ys[k, :n])
        assert not padded[k, n:].any()
        np.testing.assert_array_equal(last[k], ys[k, n - 1])


def test_q15_int16_api_masks_the_quantized_value(each_isa: str) -> None:
    spec = spec_with("q15", -1.0)
    model = spec.load()
    xs = masked_batch(-1.0)
    xq = q15_quantize_input(xs, model.input_scale)
    want = golden_run_int16(spec, xq)
    np.testing.assert_array_equal(model.run_int16(xq), want.outputs)
    s = model.stream()
    np.testing.assert_array_equal(np.stack([s.step_int16(r) for r in xq[2]]), want.outputs[2])
    # the float API is the boundary around the int16 one, masked steps included
    np.testing.assert_array_equal(model.run(xs), golden_run(spec, xs).outputs)
    vq = q15_quantize_input(np.full(3, -1.0, np.float32), model.input_scale)
    s = model.stream()
    s.step_int16(xq[0, 5])
    before = s.state.copy()
    s.step_int16(vq)
    np.testing.assert_array_equal(s.state, before)
    off = vq.copy()
    off[2] += 1  # one unit off in one feature: a real step
    s.step_int16(off)
    assert not np.array_equal(s.state, before)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_a_masked_step_keeps_the_state_and_repeats_the_output(precision: str) -> None:
    spec = spec_with(precision, 0.0)
    model = spec.load()
    s = model.stream()
    zero = np.zeros(3, np.float32)
    first = s.step(zero)  # before any real step: the layers after the GRU on the zero state
    assert not s.state.any()
    dense = spec.layers[-1]
    if precision == "f32":
        np.testing.assert_allclose(first, dense.b, atol=1e-6)  # Dense(0) = its bias (linear)
    y = s.step(np.ones(3, np.float32))
    state = s.state.copy()
    np.testing.assert_array_equal(s.step(zero), y)
    np.testing.assert_array_equal(s.step(-zero), y)  # -0 equals 0, as in Keras
    np.testing.assert_array_equal(s.state, state)
    assert not np.array_equal(s.step(np.array([0, 0, 1e-3], np.float32)), y)


def test_nan_inputs_are_never_masked() -> None:
    model = spec_with("f32", 0.0).load()
    s = model.stream()
    s.step(np.nan * np.ones(3, np.float32))
    assert np.isnan(s.state).all()


def test_without_a_mask_the_mask_value_is_an_ordinary_input() -> None:
    spec = random_spec(SIZES, seed=3)
    xs = masked_batch(0.0)
    assert spec.load().input_mask is None
    assert not np.allclose(spec.load().run(xs), spec_with("f32", 0.0).load().run(xs))


@pytest.mark.parametrize("precision", ["q8", "q15"])
def test_calibration_leaves_masked_steps_out(precision: str) -> None:
    xs = masked_batch(-1.0)
    real = [x[~np.all(x == -1.0, axis=-1)] for x in xs]
    float_spec = replace(random_spec(SIZES, seed=3), input_mask=-1.0)
    padded, report = quantize(float_spec, precision, xs)
    unpadded, report2 = quantize(float_spec, precision, real)
    assert (report.layers, report.output) == (report2.layers, report2.output)
    assert report.steps == report2.steps == sum(len(x) for x in real)
    assert "masked steps left out" in padded.metadata["quant.calibration"]
    if precision == "q15":
        np.testing.assert_array_equal(padded.layers[0].in_scale, unpadded.layers[0].in_scale)  # type: ignore[attr-defined]
    with pytest.raises(gru_rt.errors.ConversionError, match="every step is masked"):
        quantize(float_spec, precision, np.full((2, 5, 3), -1.0, np.float32))


# ---- the file ------------------------------------------------------------------------------------

def header(data: bytes) -> tuple[int, int, int]:
    """(version_minor, flags, the u32 at 60)."""
    return (struct.unpack_from("<H", data, 10)[0], struct.unpack_from("<I", data, 24)[0],
            struct.unpack_from("<I", data, 60)[0])


def patched(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<I", out, offset, value)
    struct.pack_into("<I", out, fmt.OFF_CHECKSUM, 0)
    struct.pack_into("<I", out, fmt.OFF_CHECKSUM, zlib.crc32(out))
    return bytes(out)


def test_the_file_holds_flag_and_value() -> None:
    data = spec_with("f32", -1.5).to_bytes()
    assert header(data) == (fmt.VERSION_MINOR, 1, struct.unpack("<I", struct.pack("<f", -1.5))[0])
    plain = random_spec(SIZES, seed=3).to_bytes()
    assert header(plain)[1:] == (0, 0)
    assert gru_rt.load(plain).input_mask is None
    # the mask round-trips through to_spec, and an older (1.3) file without it loads unchanged
    assert gru_rt.load(data).to_spec().input_mask == -1.5
    assert "input mask: steps equal to -1.5" in gru_rt.load(data).summary()
    old = patched(bytearray(plain[:10]) + struct.pack("<H", 3) + plain[12:], fmt.OFF_FLAGS, 0)
    np.testing.assert_array_equal(gru_rt.load(old).run(masked_batch(0.0)[0]),
                                  gru_rt.load(plain).run(masked_batch(0.0)[0]))


@pytest.mark.parametrize("bits", [0x7FC00000, 0x7F800001, 0xFFFFFFFF])
def test_a_nan_mask_value_is_refused(bits: int) -> None:
    data = patched(spec_with("f32", 0.0).to_bytes(), fmt.OFF_MASK_VALUE, bits)
    with pytest.raises(ModelFormatError, match="header.mask_value") as e:
        gru_rt.load(data)
    assert e.value.field == "header.mask_value" and e.value.actual == bits


def test_header_refusals() -> None:
    plain = random_spec(SIZES, seed=3).to_bytes()
    with pytest.raises(ModelFormatError, match="header.flags"):
        gru_rt.load(patched(plain, fmt.OFF_FLAGS, 0x80000000))  # an unknown flag
    with pytest.raises(ModelFormatError, match="header.reserved"):
        gru_rt.load(patched(plain, fmt.OFF_MASK_VALUE, 1))  # a value without the flag
    dense_only = ModelSpec([random_spec(SIZES, seed=3).layers[-1]]).to_bytes()
    with pytest.raises(ModelFormatError, match="header.flags"):
        gru_rt.load(patched(dense_only, fmt.OFF_FLAGS, fmt.FLAG_INPUT_MASK))  # nothing to keep


@pytest.mark.parametrize("precision", ["f32", "q8"])
def test_lstm_layers_keep_h_and_c(each_isa: str, precision: str) -> None:
    float_spec = replace(random_spec([3, 6, 5, 2], kinds=["lstm", "gru"], seed=4), input_mask=0.0)
    spec = float_spec if precision == "f32" else quantize(float_spec, "q8", masked_batch(0.0, 9))[0]
    model = spec.load()
    xs = masked_batch(0.0)
    ys = model.run(xs)
    check(spec, ys, expected(spec, xs))
    np.testing.assert_array_equal(model.stream_batch(len(xs)).run(xs), ys)
    s = model.stream()
    s.step(xs[1, 0])
    state = s.state.copy()  # LSTM h and c, then the GRU's h
    s.step(np.zeros(3, np.float32))
    np.testing.assert_array_equal(s.state, state)


def test_spec_refusals() -> None:
    base = random_spec(SIZES, seed=3)
    with pytest.raises(SpecError, match="NaN"):
        replace(base, input_mask=float("nan")).validated()
    with pytest.raises(SpecError, match="expected a number"):
        replace(base, input_mask="0").validated()  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="needs a GRU or LSTM layer"):
        ModelSpec([base.layers[-1]], input_mask=0.0).validated()
    assert replace(base, input_mask=0.1).validated().input_mask == float(np.float32(0.1))
    assert "input_mask=0.0" in repr(replace(base, input_mask=0.0))
