"""q8 and q15 in the C core, at every kernel level the CPU has, against the NumPy golden model
(gru_rt/golden.py): bit for bit, on random models at awkward sizes (10,000 steps each), on extreme
weights and inputs; the q15 activation tables and their stated error bounds; the int16 API.
Trained models: tests/test_quant_accuracy.py."""

from __future__ import annotations

import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import gru_rt
from gru_rt import _core
from gru_rt.golden import (
    golden_run,
    golden_run_int16,
    q15_activation,
    q15_exp_neg,
)
from gru_rt.quantize import quantize
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 3, 7, 17, 33, 65)
GOLDEN_STEPS = 10_000  # per random model: N sequences x T steps
LEVELS = gru_rt.cpu_info()["available"]  # the C side runs at each kernel level the CPU has


@pytest.fixture(autouse=True)
def restore_isa() -> Iterator[None]:
    original = gru_rt.cpu_info()["isa"]
    yield
    _core._select_isa(original)


def test_tables_match_their_generator() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_q15_tables.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _visits(full: int, bits: int, amax: int) -> np.ndarray:
    """Every input a of a table lookup, as csrc/tests/test_q15.c visits them: all a whose index
    a >> bits is at most `full` (every entry, every fraction), then for each larger index up to
    amax >> bits its smallest a, then its largest (there the result does not depend on the
    fraction)."""
    mask = (1 << bits) - 1
    starts = np.arange(full + 1, (amax >> bits) + 1, dtype=np.int64) << bits
    return np.concatenate([np.arange((full + 1) << bits, dtype=np.int64), starts, starts + mask])


def test_trimmed_tables_exhaustive() -> None:
    """The stored tables stop where their values saturate (tools/gen_q15_tables.py); over every
    input the lookups see, the golden model's activations equal those over the full tables, and
    their CRC-32s equal the C core's (csrc/tests/test_q15.c, test_tables_trimmed, same values)."""
    import importlib.util
    path = ROOT / "tools" / "gen_q15_tables.py"
    spec = importlib.util.spec_from_file_location("gen_q15_tables", path)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    from gru_rt.golden import _interp
    full = {name: np.array(values, np.int64) for name, values in gen.full_tables().items()}
    assert all(len(gen.tables()[name]) < len(full[name]) for name in full)  # trimmed, all three

    def crc(*arrays: np.ndarray) -> int:  # int32 little-endian, the arrays' elements interleaved
        return zlib.crc32(np.stack(arrays, axis=-1).astype("<i4").tobytes())

    a = _visits(512, 11, 2**31 - 1)
    old = _interp(full["SIGMOID"], a, 11)
    pos, neg = q15_activation("sigmoid", a), q15_activation("sigmoid", -a)
    assert np.array_equal(pos, old) and np.array_equal(neg, 32768 - old)
    assert crc(pos, neg) == 0x00EE1555
    a = _visits(512, 10, 2**31 - 1)
    old = _interp(full["TANH"], a, 10)
    pos, neg = q15_activation("tanh", a), q15_activation("tanh", -a)
    assert np.array_equal(pos, old) and np.array_equal(neg, -old)
    assert crc(pos, neg) == 0x1FC0015F
    a = _visits(1024, 10, 2**32 - 1)
    e = q15_exp_neg(a)
    assert np.array_equal(e, np.where((a >> 10) >= 1024, 0, _interp(full["EXP"], a, 10)))
    assert crc(e) == 0x6F079BE9
    assert q15_activation("sigmoid", np.array([-(2**31)])).tolist() == [0]
    assert q15_activation("tanh", np.array([-(2**31)])).tolist() == [-32768]


def test_q15_activation_errors_are_within_the_stated_bounds() -> None:
    """docs/QUANTIZATION.md states sigmoid <= 3.9e-5, tanh <= 4.7e-5, exp <= 4.9e-5 (measured on
    every Q16 input in [-20, 20])."""
    v = np.arange(-20 * 65536, 20 * 65536 + 1, dtype=np.int64)
    x = v / 65536.0
    sig = np.max(np.abs(q15_activation("sigmoid", v) / 32768 - 1 / (1 + np.exp(-x))))
    tanh = np.max(np.abs(q15_activation("tanh", v) / 32768 - np.tanh(x)))
    exp = np.max(np.abs(q15_exp_neg(np.abs(v)) / 32768 - np.exp(-np.abs(x))))
    assert sig <= 3.9e-5 and tanh <= 4.7e-5 and exp <= 4.9e-5, (sig, tanh, exp)
    # Saturation at the ends of int32, and the symmetries.
    ends = np.array([-(2**31 - 1), 2**31 - 1])
    assert q15_activation("sigmoid", ends).tolist() == [0, 32768]
    assert q15_activation("tanh", ends).tolist() == [-32768, 32768]
    some = v[::997]
    assert np.array_equal(q15_activation("sigmoid", -some), 32768 - q15_activation("sigmoid", some))
    assert np.array_equal(q15_activation("tanh", -some), -q15_activation("tanh", some))


def random_float_model(i: int, h: int, o: int, rng: np.random.Generator, *, reset_after: bool,
                       gate: str, head: str, two_grus: bool = False) -> ModelSpec:
    def gru(n_in: int) -> GRULayer:
        return GRULayer(rng.normal(0, 1.5 / np.sqrt(n_in), (3 * h, n_in)),
                        rng.normal(0, 1.5 / np.sqrt(h), (3 * h, h)), rng.normal(0, 0.5, 3 * h),
                        rng.normal(0, 0.5, 3 * h), reset_after=reset_after, gate_activation=gate)

    layers: list = [gru(i)] + ([gru(h)] if two_grus else [])
    layers.append(DenseLayer(rng.normal(0, 1, (o, h)), rng.normal(0, 0.3, o), activation=head))
    return ModelSpec(layers)


CASES = [  # (I, H, O, reset_after, gate, head, two GRU layers)
    (1, 1, 1, True, "sigmoid", "linear", False),
    (3, 7, 17, False, "sigmoid", "softmax", False),
    (7, 3, 1, True, "hard_sigmoid", "relu", False),
    (17, 33, 3, False, "hard_sigmoid_k2", "tanh", True),
    (33, 17, 7, True, "sigmoid", "sigmoid", False),
    (65, 65, 65, True, "sigmoid", "softmax", True),
]


def _check_equal(c: np.ndarray, g: np.ndarray, what: str) -> None:
    assert c.dtype == g.dtype and c.shape == g.shape, what
    same = (c == g) | (np.isnan(c) & np.isnan(g)) if c.dtype.kind == "f" else c == g
    bad = np.flatnonzero(~same)
    assert bad.size == 0, f"{what}: {bad.size} values differ, first at flat index {bad[0]}"


@pytest.mark.parametrize("precision", ["q8", "q15"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}x{c[1]}x{c[2]}")
def test_c_equals_golden_on_random_models(precision: str, case: tuple) -> None:
    i, h, o, reset_after, gate, head, two = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    spec = random_float_model(i, h, o, rng, reset_after=reset_after, gate=gate, head=head,
                              two_grus=two)
    calibration = rng.normal(0, 1, (4, 50, i))
    q, _ = quantize(spec, precision, calibration)
    model = gru_rt.load(q.to_bytes())
    n, t = 20, GOLDEN_STEPS // 20
    xs = (rng.normal(0, 1.5, (n, t, i))).astype(np.float32)
    golden = golden_run(q, xs)
    for isa in LEVELS:
        _core._select_isa(isa)
        ys, states = model.run(xs, return_state=True)
        _check_equal(ys, golden.outputs, f"{isa}: outputs")
        _check_equal(states, golden.state, f"{isa}: final states")
        # Streaming one sequence step by step is the same computation.
        stream = model.stream()
        steps = np.stack([stream.step(x) for x in xs[0, :200]])
        _check_equal(steps, golden.outputs[0, :200], f"{isa}: Stream.step")


def test_q15_int16_api_equals_golden() -> None:
    rng = np.random.default_rng(7)
    q, _ = quantize(random_float_model(17, 33, 5, rng, reset_after=False, gate="sigmoid",
                                       head="linear"), "q15")
    model = gru_rt.load(q.to_bytes())
    xq = rng.integers(-32768, 32768, (3, 400, 17)).astype(np.int16)
    golden = golden_run_int16(q, xq)
    ys, states = model.run_int16(xq, return_state=True)
    _check_equal(ys, golden.outputs, "run_int16")
    _check_equal(states, golden.state, "states")
    stream = model.stream()
    out = np.empty(5, np.int16)
    for t in range(400):
        stream.step_int16(xq[1, t], out=out)
    _check_equal(out, golden.outputs[1, -1], "step_int16")
    _check_equal(stream.state, golden.state[1], "stream state")
    # The float API is the boundary around the integer one.
    xs = rng.normal(0, 2, (50, 17)).astype(np.float32)
    from gru_rt.golden import q15_dequantize_output, q15_quantize_input
    raw = model.run_int16(q15_quantize_input(xs, model.input_scale))
    _check_equal(model.run(xs), q15_dequantize_output(raw, model.output_scale), "boundary")


def test_int16_api_refusals() -> None:
    rng = np.random.default_rng(8)
    spec = random_float_model(3, 4, 2, rng, reset_after=True, gate="sigmoid", head="linear")
    f32 = gru_rt.load(spec.to_bytes())
    with pytest.raises(ValueError, match="needs a q15 model; this one is f32"):
        f32.stream().step_int16(np.zeros(3, np.int16))
    with pytest.raises(ValueError, match="needs a q15 model"):
        f32.run_int16(np.zeros((2, 3), np.int16))
    q15 = gru_rt.load(quantize(spec, "q15")[0].to_bytes())
    s = q15.stream()
    with pytest.raises(TypeError, match="expected int16"):
        s.step_int16(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="outside the int16 range"):
        s.step_int16(np.array([40000, 0, 0]))
    with pytest.raises(ValueError, match=r"x has shape \(4,\), expected \(3,\)"):
        s.step_int16(np.zeros(4, np.int16))
    with pytest.raises(ValueError, match="writable C-contiguous int16"):
        s.step_int16(np.zeros(3, np.int16), out=np.zeros(2, np.float32))
    before = s.state
    with pytest.raises(TypeError):
        s.state = np.zeros(4, np.float32)
    assert s.state.dtype == np.int16 and np.array_equal(s.state, before)
    s.state = np.arange(4)
    assert s.state.tolist() == [0, 1, 2, 3]
    assert q15.input_scale is not None and f32.input_scale is None


def _extreme_q15(i: int, h: int, o: int, head: str, reset_after: bool) -> ModelSpec:
    """Every weight ±127, biases at the int32 ends, multipliers 255 with shift 0: saturation
    everywhere."""
    rng = np.random.default_rng(9)
    code = np.uint16((134 << 7) | 127)  # M = 255, sh = 0

    def w(rows: int, cols: int) -> np.ndarray:
        return np.where(rng.random((rows, cols)) < 0.5, -127, 127).astype(np.int8)

    def b(n: int) -> np.ndarray:
        return np.where(rng.random(n) < 0.5, -(2**31), 2**31 - 1).astype(np.int32)

    unit = np.full(h, 2.0**-15, np.float32)
    gru = GRULayer(w(3 * h, i), w(3 * h, h), b(3 * h), b(3 * h), reset_after=reset_after,
                   precision="q15", w_ih_scale=np.full(3 * h, code),
                   w_hh_scale=np.full(3 * h, code),
                   in_scale=np.full(i, 1e-3, np.float32), out_scale=unit)
    out_scale = np.full(o, 2.0**-15 if head == "softmax" else 0.01, np.float32)
    dense = DenseLayer(w(o, h), b(o), activation=head, precision="q15",
                       w_scale=np.full(o, code), in_scale=unit, out_scale=out_scale)
    return ModelSpec([gru, dense])


@pytest.mark.parametrize(("head", "reset_after"), [("softmax", True), ("linear", False),
                                                   ("relu", True)])
def test_q15_saturation_on_extreme_weights_and_inputs(head: str, reset_after: bool) -> None:
    q = _extreme_q15(600, 9, 4, head, reset_after)  # 600 columns: more than one 512-column block
    model = gru_rt.load(q.to_bytes())
    rng = np.random.default_rng(10)
    xq = np.where(rng.random((2, 60, 600)) < 0.5, -32768, 32767).astype(np.int16)
    xs = np.array([[1e6] * 600, [-1e6] * 600, [np.nan] * 600, [np.inf] * 600], np.float32)
    golden_q, golden_f = golden_run_int16(q, xq).outputs, golden_run(q, xs).outputs
    for isa in LEVELS:
        _core._select_isa(isa)
        _check_equal(model.run_int16(xq), golden_q, f"{isa}: extreme int16")
        _check_equal(model.run(xs), golden_f, f"{isa}: extreme floats")


def test_q8_nan_and_extreme_inputs_match_golden() -> None:
    rng = np.random.default_rng(11)
    q, _ = quantize(random_float_model(5, 6, 3, rng, reset_after=False, gate="sigmoid",
                                       head="softmax"), "q8")
    model = gru_rt.load(q.to_bytes())
    xs = rng.normal(0, 1, (12, 5)).astype(np.float32)
    xs[3] = 1e30
    xs[5, 1] = -np.inf
    xs[8, 0] = np.nan
    for isa in LEVELS:
        _core._select_isa(isa)
        _check_equal(model.run(xs[:5]), golden_run(q, xs[:5]).outputs, f"{isa}: huge")
        _check_equal(model.run(xs), golden_run(q, xs).outputs, f"{isa}: inf and nan")
        assert np.all(np.isnan(model.run(xs)[5:]))


@pytest.mark.parametrize("precision", ["q8", "q15"])
def test_quantized_files_round_trip(precision: str) -> None:
    rng = np.random.default_rng(12)
    q, _ = quantize(random_float_model(4, 5, 3, rng, reset_after=True, gate="sigmoid",
                                       head="softmax", two_grus=True), precision)
    data = q.to_bytes()
    model = gru_rt.load(data)
    assert model.precision == precision
    assert model.to_spec().to_bytes() == data
    assert [info.precision for info in model.layers] == [precision] * 3
    assert model.tensor(0, "w_ih").dtype == np.int8
    assert model.tensor(0, "w_ih_scale").dtype == np.uint16
    if precision == "q8":
        with pytest.raises(KeyError, match="has no tensor 'in_scale'"):
            model.tensor(0, "in_scale")
    else:
        assert model.tensor(0, "in_scale").dtype == np.float32


def test_mixed_f32_and_q8_layers_run() -> None:
    rng = np.random.default_rng(13)
    spec = random_float_model(4, 5, 3, rng, reset_after=True, gate="sigmoid", head="softmax")
    q8 = quantize(spec, "q8")[0]
    mixed = ModelSpec([q8.layers[0], spec.layers[1]])
    model = gru_rt.load(mixed.to_bytes())
    assert model.precision == "f32+q8"
    xs = rng.normal(0, 1, (30, 4)).astype(np.float32)
    # The q8 GRU's outputs are the golden model's; the f32 head is the f32 kernel.
    hidden = golden_run(ModelSpec([q8.layers[0]]), xs).outputs
    head = gru_rt.load(ModelSpec([spec.layers[1]]).to_bytes())
    np.testing.assert_array_equal(model.run(xs), head.run(hidden))


def test_quantized_precision_shows_in_the_summary() -> None:
    rng = np.random.default_rng(14)
    q, _ = quantize(random_float_model(4, 5, 3, rng, reset_after=True, gate="sigmoid",
                                       head="softmax"), "q15")
    text = gru_rt.load(q.to_bytes()).summary()
    assert "precision: q15 (integer-only step" in text
    assert "state 5 int16 (Q15) values" in text
    assert "quantization error report" in text and "error.output: max_abs=" in text


def test_bad_q15_state_is_refused_and_reset_zeroes() -> None:
    rng = np.random.default_rng(15)
    q, _ = quantize(random_float_model(2, 3, 2, rng, reset_after=True, gate="sigmoid",
                                       head="linear"), "q15")
    s = gru_rt.load(q.to_bytes()).stream()
    s.step(np.ones(2, np.float32))
    before = s.state
    with pytest.raises(ValueError, match=r"state has shape \(2,\), expected \(3,\)"):
        s.state = np.zeros(2, np.int16)
    assert np.array_equal(s.state, before)
    s.reset()
    assert s.state.tolist() == [0, 0, 0]
