"""The LayerNorm kind (format 1.4): f32 against the float64 reference, q8/q15 bit for bit against
the golden model at every kernel level, streaming == run, the q15 integer normalisation's error
against float, and the loader's checks on LayerNorm fields."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import gru_rt
from gru_rt import format as fmt
from gru_rt.errors import ModelFormatError
from gru_rt.golden import golden_run
from gru_rt.quantize import quantize
from gru_rt.reference import reference_run
from gru_rt.spec import DenseLayer, GRULayer, LayerNormLayer, ModelSpec, SpecError

STEPS = 500


def _norm(d: int, rng: np.random.Generator, eps: float = 1e-5) -> LayerNormLayer:
    return LayerNormLayer(rng.normal(1.0, 0.3, d), rng.normal(0.0, 0.3, d), eps=eps)


def _gru(i: int, h: int, rng: np.random.Generator) -> GRULayer:
    s = min(1.0, 2.0 / np.sqrt(h)) * 0.5
    return GRULayer(rng.normal(0, 0.5, (3 * h, i)), rng.normal(0, s, (3 * h, h)),
                    rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h))


def stack(where: str, i: int = 5, h: int = 12, o: int = 3, seed: int = 0) -> ModelSpec:
    """LayerNorm first ("first"), between GRU and head ("after"), between two GRUs ("between"),
    or around a Dense linear layer ("dense")."""
    rng = np.random.default_rng(seed)
    head = DenseLayer(rng.normal(0, 0.5, (o, h)), rng.normal(0, 0.3, o))
    if where == "first":
        layers = [_norm(i, rng), _gru(i, h, rng), head]
    elif where == "after":
        layers = [_gru(i, h, rng), _norm(h, rng), head]
    elif where == "between":
        layers = [_gru(i, h, rng), _norm(h, rng), _gru(h, h, rng), head]
    else:
        layers = [DenseLayer(rng.normal(0, 0.5, (h, i)), rng.normal(0, 0.3, h)),
                  _norm(h, rng, eps=1e-3), _norm(h, rng), _gru(h, h, rng), head]
    return ModelSpec(layers)


WHERE = ("first", "after", "between", "dense")


def _xs(i: int, seed: int = 1, n: int = STEPS) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1.5, (n, i)).astype(np.float32)


@pytest.mark.parametrize("where", WHERE)
def test_f32_matches_the_reference(where: str, each_isa: str) -> None:
    spec = stack(where)
    xs = _xs(spec.input_size)
    want, _ = reference_run(spec, xs)
    got = spec.load().run(xs)
    assert np.max(np.abs(got - want)) <= 1e-5


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("precision", ["q8", "q15"])
def test_quantized_is_bit_exact_with_golden(where: str, precision: str, each_isa: str) -> None:
    spec = stack(where)
    cal = np.random.default_rng(2).normal(0, 1.5, (4, 60, spec.input_size))
    qspec, _ = quantize(spec, precision, cal)
    xs = _xs(spec.input_size)
    model = qspec.load()
    gold = golden_run(qspec, xs)
    assert np.array_equal(model.run(xs), gold.outputs)
    stream = model.stream()
    steps = np.stack([stream.step(x) for x in xs])
    assert np.array_equal(steps, gold.outputs)  # streaming == run, bit for bit
    assert np.array_equal(stream.state, gold.state)


@pytest.mark.parametrize("d", [1, 2, 3, 7, 16, 33, 257])
def test_q15_normalisation_alone_is_bit_exact_and_close_to_float(d: int) -> None:
    """A model that is one LayerNorm, on awkward widths, constant rows and extreme inputs."""
    rng = np.random.default_rng(d)
    spec = ModelSpec([LayerNormLayer(rng.normal(1, 0.5, d), rng.normal(0, 0.5, d), eps=1e-5)])
    xs = rng.normal(0, 1, (400, d)) * rng.choice([1e-3, 1.0, 3.0], (400, 1))
    xs[:5] = 2.0  # constant rows: x̂ = 0, y = beta
    xs[5:10] = np.sign(rng.normal(size=(5, d))) * 3.9  # the ends of the input range
    qspec, _ = quantize(spec, "q15", xs)
    model = qspec.load()
    got = model.run(xs.astype(np.float32))
    assert np.array_equal(got, golden_run(qspec, xs).outputs)
    want, _ = reference_run(spec, xs)
    layer = qspec.layers[0]
    assert layer.out_scale is not None and layer.in_scale is not None
    # docs/QUANTIZATION.md: within 2 output units plus the input's rounding, 2 input units
    # relative to the row's sqrt(var + eps)
    sigma = np.sqrt(np.var(xs, axis=1, keepdims=True) + 1e-5)
    tol = 2 * layer.out_scale.astype(np.float64) \
        + 2 * float(layer.in_scale[0]) / sigma * np.abs(spec.layers[0].gamma)
    err = np.abs(got - want)
    assert np.all(err <= tol), np.max(err - tol)


def test_q15_extreme_integers_stay_in_range() -> None:
    """The int16 API with the extreme inputs and int32 gamma/beta a hostile file may hold: the
    integer pipeline never overflows (bit-exact with golden, which computes in Python ints)."""
    from gru_rt.golden import golden_run_int16

    d = 64
    rng = np.random.default_rng(3)
    base = quantize(ModelSpec([LayerNormLayer(np.ones(d), np.zeros(d))]), "q15")[0]
    layer = base.layers[0]
    layer.gamma = np.where(rng.random(d) < 0.5, 2**31 - 1, -(2**31 - 1)).astype(np.int32)
    layer.beta = rng.integers(-(2**31 - 1), 2**31 - 1, d).astype(np.int32)
    for eps_q in (0, 1, 2**32 - 1):
        layer.eps_q = eps_q
        xq = rng.choice([-32768, 32767, 0, 1], (50, d)).astype(np.int16)
        xq[0] = 0  # W = 0 when eps_q = 0
        xq[1] = -32768
        model = base.load()
        assert np.array_equal(model.run_int16(xq), golden_run_int16(base, xq).outputs)


def test_eps_without_affine_and_round_trip() -> None:
    spec = ModelSpec([LayerNormLayer(np.ones(4), np.zeros(4), eps=1e-3)])
    model = spec.load()
    info = model.layers[0]
    assert (info.kind, info.eps, info.input_size) == ("layernorm", np.float32(1e-3), 4)
    back = model.to_spec()
    assert isinstance(back.layers[0], LayerNormLayer)
    assert back.to_bytes() == spec.to_bytes()
    y = model.run(np.array([[1.0, 2.0, 3.0, 4.0]], np.float32))[0]
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert np.allclose(y, (x - 2.5) / np.sqrt(1.25 + 1e-3), atol=1e-6)
    q = quantize(spec, "q15")[0]
    assert q.load().layers[0].eps_q == q.layers[0].eps_q > 0
    assert "LayerNorm" in q.load().summary()


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("inf"), 1e-45])
def test_spec_refuses_eps_that_is_not_a_positive_normal(eps: float) -> None:
    with pytest.raises(SpecError, match="eps"):
        ModelSpec([LayerNormLayer(np.ones(3), np.zeros(3), eps=eps)]).validated()


# ---- the loader on hostile LayerNorm entries ------------------------------------------------

def _entry_offset(layer: int) -> int:
    return fmt.HEADER_SIZE + fmt.LAYER_ENTRY_SIZE * layer


def _patched(blob: bytes, offset: int, fmt_code: str, value: float) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt_code, out, offset, value)
    struct.pack_into("<I", out, fmt.OFF_CHECKSUM, 0)
    struct.pack_into("<I", out, fmt.OFF_CHECKSUM, zlib.crc32(bytes(out)))
    return bytes(out)


def _load_error(blob: bytes) -> ModelFormatError:
    with pytest.raises(ModelFormatError) as e:
        gru_rt.load(blob)
    return e.value


@pytest.mark.parametrize(("offset", "code", "value", "status", "field"), [
    (2, "<B", 1, "GRT_E_ACTIVATION", "layer.activation"),
    (3, "<B", 3, "GRT_E_LAYER_FIELD", "layer.gate_activation"),
    (4, "<B", 1, "GRT_E_LAYER_FIELD", "layer.reset_after"),
    (5, "<B", 1, "GRT_E_LAYER_FIELD", "layer.weight_layout"),
    (12, "<I", 5, "GRT_E_DIMS", "layer.output_size"),
    (24, "<I", 0, "GRT_E_LAYER_FIELD", "layer.param"),  # eps = 0
    (24, "<I", 0x80000000 | 0x3727C5AC, "GRT_E_LAYER_FIELD", "layer.param"),  # eps < 0
    (24, "<I", 0x7F800000, "GRT_E_LAYER_FIELD", "layer.param"),  # eps = inf
    (24, "<I", 1, "GRT_E_LAYER_FIELD", "layer.param"),  # eps subnormal
])
def test_loader_refuses_bad_layernorm_fields(offset: int, code: str, value: int, status: str,
                                             field: str) -> None:
    blob = ModelSpec([LayerNormLayer(np.ones(4), np.zeros(4))]).to_bytes()
    err = _load_error(_patched(blob, _entry_offset(0) + offset, code, value))
    assert (err.status, err.field, err.index) == (status, field, 0)


def test_loader_refuses_a_q15_layernorm_with_mixed_input_units() -> None:
    spec = quantize(stack("first"), "q15")[0]
    blob = spec.to_bytes()
    entry = struct.unpack_from("<I", blob, fmt.OFF_TENSOR_TABLE_OFFSET)[0]  # tensor 0: in_scale
    role, offset = blob[entry], struct.unpack_from("<I", blob, entry + 16)[0]
    assert role == fmt.ROLES["in_scale"]
    data = struct.unpack_from("<I", blob, fmt.OFF_DATA_OFFSET)[0]
    err = _load_error(_patched(blob, data + offset + 4, "<f", 2.0 ** -14))  # feature 1 differs
    assert (err.status, err.field, err.index) == ("GRT_E_TENSOR_VALUE", "tensor.value", 0)


def test_old_reader_view_kind_6_is_new() -> None:
    """Files with a LayerNorm say 1.4 or later; an unknown kind next to it is GRT_E_LAYER_KIND."""
    blob = ModelSpec([LayerNormLayer(np.ones(4), np.zeros(4))]).to_bytes()
    assert struct.unpack_from("<HH", blob, 8) == (1, 5)
    err = _load_error(_patched(blob, _entry_offset(0), "<B", 0xEE))
    assert (err.status, err.field) == ("GRT_E_LAYER_KIND", "layer.kind")
