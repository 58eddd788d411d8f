"""The quantizer (gru_rt/quantize.py) and the quantized ModelSpec: scales, ranges, refusals, the
error report. The C runtime against the golden model is tests/test_golden.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import gru_rt
from gru_rt.errors import ConversionError
from gru_rt.golden import bf16_multiplier, bf16_value, golden_run, q15_quantize_input
from gru_rt.quantize import CALIBRATION_HEADROOM, DEFAULT_INPUT_RANGE, _bf16_up, quantize
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec, SpecError


def float_model(i: int = 5, h: int = 7, o: int = 3, *, seed: int = 0, reset_after: bool = True,
                head: str = "softmax") -> ModelSpec:
    rng = np.random.default_rng(seed)
    gru = GRULayer(rng.normal(0, 0.5, (3 * h, i)), rng.normal(0, 0.5, (3 * h, h)),
                   rng.normal(0, 0.2, 3 * h), rng.normal(0, 0.2, 3 * h), reset_after=reset_after)
    dense = DenseLayer(rng.normal(0, 0.5, (o, h)), rng.normal(0, 0.2, o), activation=head)
    return ModelSpec([gru, dense])


def test_bf16_round_up_is_the_smallest_code_not_below() -> None:
    rng = np.random.default_rng(1)
    v = np.concatenate([rng.uniform(0, 1, 1000) * 10.0 ** rng.integers(-30, 5, 1000), [0.0, 1.0]])
    codes = _bf16_up(v)
    value = bf16_value(codes).astype(np.float64)
    assert np.all(value >= v)
    below = bf16_value(np.maximum(codes.astype(np.int64) - 1, 0).astype(np.uint16))
    assert np.all((below.astype(np.float64) < v) | (v == 0))
    assert codes[-2] == 0 and value[-1] == 1.0


def test_q8_rows_use_the_int8_range_and_reconstruct_within_half_a_step() -> None:
    spec = float_model()
    q, _ = quantize(spec, "q8")
    for fl, ql, w, wq, codes in [(spec.layers[0], q.layers[0], "w_ih", "w_ih", "w_ih_scale"),
                                 (spec.layers[0], q.layers[0], "w_hh", "w_hh", "w_hh_scale"),
                                 (spec.layers[1], q.layers[1], "w", "w", "w_scale")]:
        ints = getattr(ql, wq)
        assert ints.dtype == np.int8 and np.abs(ints).max() <= 127
        scale = bf16_value(getattr(ql, codes)).astype(np.float64)
        assert np.all(np.abs(ints).max(axis=1) >= 126)  # bf16 rounding wastes < 1/128 of the range
        err = np.abs(ints * scale[:, None] - getattr(fl, w))
        assert np.all(err <= scale[:, None] / 2 * (1 + 1e-6))


def test_q15_input_scales_come_from_calibration_with_headroom() -> None:
    spec = float_model(i=4)
    rng = np.random.default_rng(2)
    cal = rng.normal(0, 1, (3, 50, 4)) * np.array([1.0, 10.0, 0.1, 3.0])
    q, report = quantize(spec, "q15", cal)
    expected = (np.abs(cal).max(axis=(0, 1)) * CALIBRATION_HEADROOM / 32767).astype(np.float32)
    assert np.array_equal(q.layers[0].in_scale, expected)
    assert q.layers[1].in_scale is not None
    assert np.array_equal(q.layers[1].in_scale.view("<u4"), q.layers[0].out_scale.view("<u4"))
    assert report.calibration == "array: 3 sequences x 50 steps"
    q_default, report = quantize(spec, "q15")
    assert np.allclose(q_default.layers[0].in_scale, DEFAULT_INPUT_RANGE / 32767)
    assert "synthetic" in report.calibration and "+-4" in report.calibration


def test_q15_multipliers_are_exact_for_the_stored_weights() -> None:
    """Each row's int8 weights times the multiplier's real scale give back the folded weights."""
    spec = float_model(i=3, h=5)
    q, _ = quantize(spec, "q15", np.random.default_rng(3).normal(0, 1, (40, 3)))
    layer, fl = q.layers[0], spec.layers[0]
    m, sh = bf16_multiplier(layer.w_ih_scale)
    real = m * 2.0 ** -sh.astype(np.float64) / 2**16  # real value of one int8 step per row
    folded = fl.w_ih * layer.in_scale.astype(np.float64)
    assert np.all(np.abs(layer.w_ih * real[:, None] - folded) <= real[:, None] / 2 * (1 + 1e-9))
    assert np.all(np.abs(layer.b_ih - fl.b_ih * 2**16) <= 0.5)


def test_dense_linear_output_range_comes_from_calibration() -> None:
    spec = float_model(head="linear")
    cal = np.random.default_rng(4).normal(0, 1, (4, 30, 5))
    q, _ = quantize(spec, "q15", cal)
    ys = gru_rt.reference.reference_layer_outputs(spec, cal)[-1]
    expected = (np.abs(ys).max(axis=(0, 1)) * CALIBRATION_HEADROOM / 32767).astype(np.float32)
    assert np.allclose(q.layers[1].out_scale, expected, rtol=1e-6)


def test_inputs_beyond_the_calibrated_range_saturate() -> None:
    spec = float_model(i=2)
    q, _ = quantize(spec, "q15", np.ones((10, 2)))
    in_scale = q.layers[0].in_scale
    xq = q15_quantize_input(np.array([[1e6, -1e6], [np.nan, np.inf], [-np.inf, 0.5]],
                                     dtype=np.float32), in_scale)
    assert xq.tolist()[:2] == [[32767, -32767], [0, 32767]]
    assert xq[2, 0] == -32767


def test_report_is_in_the_metadata() -> None:
    q, report = quantize(float_model(), "q15")
    meta = q.metadata
    assert meta["quant.precision"] == "q15"
    assert {"quant.error.layer0", "quant.error.layer1", "quant.error.output",
            "quant.argmax_agreement", "quant.calibration"} <= set(meta)
    assert meta["quant.error.output"].startswith("max_abs=")
    assert report.argmax_agreement is not None and 0.9 <= report.argmax_agreement <= 1.0
    # A model ending in a GRU is no classifier: no argmax agreement.
    q, report = quantize(ModelSpec([float_model().layers[0]]), "q8")
    assert report.argmax_agreement is None and "quant.argmax_agreement" not in q.metadata


def test_convert_quantizes_and_checks_its_arguments() -> None:
    arrays = {"0.W": np.zeros((6, 3)), "0.U": np.zeros((6, 2)), "0.b_i": np.zeros(6),
              "0.b_h": np.zeros(6)}
    spec = gru_rt.convert(arrays, convention="torch", precision="q8")
    assert [layer.precision for layer in spec.layers] == ["q8"]
    with pytest.raises(ValueError, match="precision 'q4'"):
        gru_rt.convert(arrays, convention="torch", precision="q4")
    with pytest.raises(ValueError, match="calibration applies to precision q8 or q15"):
        gru_rt.convert(arrays, convention="torch", calibration=np.zeros((3, 3)))


@pytest.mark.parametrize(("data", "message"), [
    (np.zeros((4, 3)), r"shape \(4, 3\), expected \(T, 5\)"),
    (np.zeros((0, 5)), "at least one step"),
    (np.full((2, 5), np.nan), "NaN or Inf"),
    (np.array([["a"] * 5]), "expected real numbers"),
])
def test_bad_calibration_data_is_refused(data: np.ndarray, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        quantize(float_model(), "q15", data)


def test_bad_calibration_files_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConversionError, match="no such calibration file"):
        quantize(float_model(), "q15", tmp_path / "missing.npy")
    npz = tmp_path / "x.npz"
    np.savez(npz, a=np.zeros((3, 5)))
    with pytest.raises(ConversionError, match=r"archive \(.npz\)"):
        quantize(float_model(), "q15", npz)
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object))
    with pytest.raises(ConversionError, match="not a readable .npy array"):
        quantize(float_model(), "q15", obj)


def test_quantizing_twice_and_relu_candidates_are_refused() -> None:
    q, _ = quantize(float_model(), "q8")
    with pytest.raises(ConversionError, match="already quantized"):
        quantize(q, "q15")
    spec = float_model()
    relu = ModelSpec([replace(spec.layers[0], activation="relu"), spec.layers[1]])
    with pytest.raises(ConversionError, match="q15 needs the tanh candidate"):
        quantize(relu, "q15")
    quantize(relu, "q8")  # q8 keeps float gates: relu is fine


def test_weights_too_large_for_q15_are_a_clear_error() -> None:
    spec = float_model(i=2)
    big = ModelSpec([replace(spec.layers[0], w_ih=spec.layers[0].w_ih * 1e5), spec.layers[1]])
    with pytest.raises(ConversionError, match=r"layer 0 \(gru\): w_ih: row \d+ needs a multiplier"):
        quantize(big, "q15", np.full((5, 2), 100.0))


def _q15() -> ModelSpec:
    return quantize(float_model(), "q15")[0]


@pytest.mark.parametrize(("change", "message"), [
    (lambda g: replace(g, w_ih=g.w_ih.astype(np.int16)), "w_ih has dtype int16, expected int8"),
    (lambda g: replace(g, w_ih=np.full_like(g.w_ih, -128)), "contains -128"),
    (lambda g: replace(g, b_ih=g.b_ih.astype(np.float32)), "b_ih has dtype float32"),
    (lambda g: replace(g, w_hh_scale=np.full_like(g.w_hh_scale, 0x7F80)), "not a valid q15 row"),
    (lambda g: replace(g, w_hh_scale=np.full_like(g.w_hh_scale, 71 << 7)), "not a valid q15 row"),
    (lambda g: replace(g, in_scale=-g.in_scale), "in_scale must hold positive normal"),
    (lambda g: replace(g, out_scale=g.out_scale * 2), "out_scale must be 2\\^-15"),
    (lambda g: replace(g, in_scale=None), "in_scale is missing"),
    (lambda g: replace(g, activation="relu"), "q15 needs the tanh candidate"),
])
def test_invalid_q15_layers_are_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    q = _q15()
    with pytest.raises(SpecError, match=message):
        ModelSpec([change(q.layers[0]), q.layers[1]]).validated()


def test_q15_models_are_q15_throughout_and_chained() -> None:
    q = _q15()
    f = float_model()
    with pytest.raises(SpecError, match="a q15 model has only q15 layers"):
        ModelSpec([q.layers[0], f.layers[1]]).validated()
    bad = replace(q.layers[1], in_scale=q.layers[1].in_scale * 2)
    with pytest.raises(SpecError, match="in_scale differs from layer 0's out_scale"):
        ModelSpec([q.layers[0], bad]).validated()
    with pytest.raises(SpecError, match="w_ih_scale is set, but f32 layers have none"):
        ModelSpec([replace(f.layers[0], w_ih_scale=np.zeros(21, np.uint16))]).validated()
    # f32 and q8 layers mix.
    q8 = quantize(f, "q8")[0]
    ModelSpec([q8.layers[0], f.layers[1]]).validated()


def test_golden_q15_saturates_and_stays_finite_on_extreme_inputs() -> None:
    q = _q15()
    xs = np.array([[1e6] * 5, [-1e6] * 5, [np.nan] * 5, [np.inf, -np.inf, 0, 1, 2]], np.float32)
    run = golden_run(q, xs)
    assert np.all(np.isfinite(run.outputs))
    nan_as_zero = golden_run(q, np.where(np.isnan(xs), 0, xs))
    assert np.array_equal(run.outputs, nan_as_zero.outputs)


def test_golden_q8_propagates_nan_like_f32() -> None:
    q = quantize(float_model(), "q8")[0]
    xs = np.zeros((3, 5), np.float32)
    xs[1, 2] = np.nan
    run = golden_run(q, xs)
    assert np.all(np.isfinite(run.outputs[0])) and np.all(np.isnan(run.outputs[1:]))
