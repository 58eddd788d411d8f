"""Reverse and bidirectional GRU layers (issue 15, item 3; format 1.4): the spec and file fields,
Model.run over whole sequences (grt_model_run) in f32, q8 and q15 against the float64 reference and
the golden model (bit for bit at every kernel level), ragged sequences whose backward direction
starts at each one's own last step, the refusal of streams, and PyTorch's bidirectional nn.GRU
against its pack_padded_sequence outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gru_rt
from gru_rt import format as fmt
from gru_rt.golden import golden_run, golden_run_int16
from gru_rt.quantize import quantize
from gru_rt.reference import reference_run
from gru_rt.spec import DenseLayer, GRULayer, LayerNormLayer, ModelSpec, SpecError
from tests.grt_bytes import get, layer_field, put, tensor_field

LENGTHS = [7, 1, 13, 0, 4, 13]
MERGES = ["concat", "sum", "ave", "mul"]


def _gru(rng: np.random.Generator, i: int, h: int, **kw: object) -> GRULayer:
    return GRULayer(rng.normal(0, 0.5, (3 * h, i)), rng.normal(0, 0.4, (3 * h, h)),
                    rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h), **kw)  # type: ignore[arg-type]


def _spec(merge: str = "concat", seed: int = 0, reset_after: bool = True) -> ModelSpec:
    """Bidirectional GRU (3 → 2×6) → reverse GRU (→ 5) → Dense (→ 4)."""
    rng = np.random.default_rng(seed)
    bi = _gru(rng, 3, 6, reset_after=reset_after, direction="bidirectional", merge=merge,
              backward=_gru(rng, 3, 6, reset_after=reset_after))
    rev = _gru(rng, bi.output_size, 5, reset_after=reset_after, direction="reverse")
    dense = DenseLayer(rng.normal(0, 0.5, (4, 5)), rng.normal(0, 0.3, 4))
    return ModelSpec([bi, rev, dense])


def _seqs(lengths: list[int], seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, (n, 3)).astype(np.float32) for n in lengths]


def _padded(seqs: list[np.ndarray]) -> np.ndarray:
    out = np.full((len(seqs), max(len(x) for x in seqs), 3), 7.0, np.float32)  # garbage padding
    for k, x in enumerate(seqs):
        out[k, :len(x)] = x
    return out


@pytest.mark.parametrize("merge", MERGES)
def test_f32_matches_reference_on_ragged_sequences(merge: str, each_isa: str) -> None:
    spec = _spec(merge)
    m = spec.load()
    assert m.needs_future and m.layers[0].direction == "bidirectional"
    assert m.layers[0].merge == merge and m.layers[1].direction == "reverse"
    seqs = _seqs(LENGTHS)
    ys = m.run(seqs)
    for x, y in zip(seqs, ys):
        want = reference_run(spec, x)[0] if len(x) else np.zeros((0, 4))
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=2e-5)
    # padded + lengths: the same rows (the backward direction starts at each own last step), zero
    # past each length; readout='last'; one (T, I) sequence alone
    yp = m.run(_padded(seqs), lengths=LENGTHS)
    last = m.run(_padded(seqs)[[0, 2]], lengths=[7, 13], readout="last")
    for k, n in enumerate(LENGTHS):
        assert np.array_equal(yp[k, :n], ys[k]) and not yp[k, n:].any()
    assert np.array_equal(last, np.stack([ys[0][-1], ys[2][-1]]))
    assert np.array_equal(m.run(seqs[2]), ys[2])


@pytest.mark.parametrize("precision,merge", [("q8", m) for m in MERGES] +
                         [("q15", m) for m in MERGES])
def test_quantized_bit_exact_with_golden(precision: str, merge: str, each_isa: str) -> None:
    seqs = _seqs(LENGTHS)
    qspec, report = quantize(_spec(merge, seed=2, reset_after=merge != "mul"), precision,
                             calibration=seqs)
    assert report.steps == sum(LENGTHS)
    m = qspec.load()
    for x, y in zip(seqs, m.run(seqs)):
        if len(x):
            assert np.array_equal(y, golden_run(qspec, x).outputs)
    if precision == "q15":
        xq = gru_rt.golden.q15_quantize_input(seqs[2], qspec.layers[0].in_scale)
        assert np.array_equal(m.run_int16(xq), golden_run_int16(qspec, xq).outputs)
    # and close to the float model
    ref = reference_run(_spec(merge, seed=2, reset_after=merge != "mul"), seqs[2])[0]
    assert np.max(np.abs(m.run(seqs[2]) - ref)) < (0.05 if precision == "q8" else 0.1)


def test_forward_model_run_equals_stream() -> None:
    """run() of a forward model through grt_model_run's layer-major loop would give the same bits:
    checked in C (test_stream.c); here the reverse layer equals a forward one on reversed time."""
    rng = np.random.default_rng(3)
    fwd = _gru(rng, 3, 8)
    x = _seqs([11])[0]
    y_fwd = ModelSpec([fwd]).load().run(x[::-1])
    y_rev = ModelSpec([replace(fwd, direction="reverse")]).load().run(x)
    assert np.array_equal(y_rev, y_fwd[::-1])


def test_stream_refused_with_the_layer_and_the_way_out() -> None:
    m = _spec().load()
    with pytest.raises(gru_rt.ArgumentError,
                       match=r"layer 0 \(gru, bidirectional\) needs the whole sequence.*Model.run"):
        m.stream()
    with pytest.raises(gru_rt.ArgumentError, match="Model.run"):
        m.stream_batch(2)
    with pytest.raises(gru_rt.InputError, match="state="):
        m.run(_seqs([4])[0], return_state=True)
    assert m.stream_nbytes == 0


def test_round_trip_and_file_fields() -> None:
    spec = _spec("ave")
    data = spec.to_bytes()
    assert get(data, "H", 10) == 5  # version 1.5
    assert get(data, "B", layer_field(0, 6)) == 2 and get(data, "B", layer_field(0, 7)) == 3
    assert get(data, "B", layer_field(1, 6)) == 1 and get(data, "B", layer_field(1, 7)) == 0
    assert get(data, "I", layer_field(0, 20)) == 8  # two tensor sets
    m = gru_rt.Model.from_buffer(data)
    back = m.to_spec()
    assert back.to_bytes() == spec.validated().to_bytes()
    assert np.array_equal(m.tensor(0, "w_hh", backward=True),
                          spec.layers[0].backward.w_hh.astype(np.float32))  # type: ignore[union-attr]
    with pytest.raises(KeyError, match="not bidirectional"):
        m.tensor(1, "w_ih", backward=True)
    assert "bidirectional (ave)" in m.summary() and "reverse" in m.summary()
    # forward-only files keep the 1.3 bytes apart from the minor version
    fwd = ModelSpec([spec.layers[2]]).to_bytes()
    assert get(fwd, "B", layer_field(0, 6)) == 0 and get(fwd, "B", layer_field(0, 7)) == 0


def test_hostile_direction_and_merge_fields() -> None:
    data = bytearray(_spec().to_bytes())
    cases = [((0, 6), 3, "GRT_E_LAYER_FIELD.*layer.direction"),
             ((0, 7), 0, "GRT_E_LAYER_FIELD.*layer.merge"),
             ((0, 7), 9, "GRT_E_LAYER_FIELD.*layer.merge"),
             ((1, 7), 1, "GRT_E_LAYER_FIELD.*layer.merge"),
             ((2, 6), 1, "GRT_E_LAYER_FIELD.*layer.direction"),
             ((0, 6), 1, "GRT_E_LAYER_FIELD.*layer.merge")]
    for (layer, offset), value, match in cases:
        bad = put(bytearray(data), "B", layer_field(layer, offset), value)
        with pytest.raises(gru_rt.ModelFormatError, match=match):
            gru_rt.Model.from_buffer(bytes(bad))
    # a q15 file has no sum (the quantizer converts one as ave, below; as the last layer it
    # refuses it), and the loader refuses a file that has one
    last_sum = ModelSpec(_spec("sum").layers[:1])
    with pytest.raises(gru_rt.ConversionError, match="layer 0 .*no bidirectional merge 'sum' on "
                                                     "the last layer"):
        quantize(last_sum, "q15")
    q15 = bytearray(quantize(_spec("ave"), "q15")[0].to_bytes())
    bad = put(bytearray(q15), "B", layer_field(0, 7), fmt.MERGES["sum"])
    with pytest.raises(gru_rt.ModelFormatError, match="GRT_E_LAYER_FIELD.*layer.merge"):
        gru_rt.Model.from_buffer(bytes(bad))
    # both directions of the first layer read the same quantized input: one in_scale
    back_in = get(q15, "I", layer_field(0, 16)) + 8 + 6  # the backward set's in_scale (8 a set)
    offset = get(q15, "I", 52) + get(q15, "I", tensor_field(q15, back_in, 16))
    bad = put(bytearray(q15), "I", offset, get(q15, "I", offset) + 1)
    with pytest.raises(gru_rt.ModelFormatError, match="GRT_E_CHAIN.*tensor.in_scale"):
        gru_rt.Model.from_buffer(bytes(bad))


def test_spec_errors_name_the_field() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(SpecError, match="direction"):
        ModelSpec([_gru(rng, 2, 3, direction="sideways")]).validated()
    with pytest.raises(SpecError, match="merge"):
        ModelSpec([_gru(rng, 2, 3, direction="bidirectional", merge="max",
                        backward=_gru(rng, 2, 3))]).validated()
    with pytest.raises(SpecError, match="backward=GRULayer"):
        ModelSpec([_gru(rng, 2, 3, direction="bidirectional", merge="sum")]).validated()
    with pytest.raises(SpecError, match="backward weights have shapes"):
        ModelSpec([_gru(rng, 2, 3, direction="bidirectional", merge="sum",
                        backward=_gru(rng, 2, 4))]).validated()
    with pytest.raises(SpecError, match="go with direction='bidirectional'"):
        ModelSpec([_gru(rng, 2, 3, merge="sum")]).validated()


# ---- PyTorch: nn.GRU(bidirectional=True, num_layers=2) on packed sequences -------------------


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_torch_bidirectional_against_packed_sequences(precision: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 8, num_layers=2, bidirectional=True, batch_first=True)
    lengths = [9, 3, 14, 1, 14]
    seqs = _seqs(lengths, seed=4)
    padded = torch.from_numpy(_padded(seqs))
    with torch.no_grad():
        packed = pack_padded_sequence(padded, torch.tensor(lengths), batch_first=True,
                                      enforce_sorted=False)
        out, h_n = gru(packed)
        want, _ = pad_packed_sequence(out, batch_first=True)
    want = want.numpy()
    spec = gru_rt.convert(gru, precision=precision,
                          calibration=seqs if precision != "f32" else None)
    m = spec.load()
    assert m.output_size == 16 and m.layers[1].input_size == 16
    assert precision != "q15" or m.output_scale.shape == (16,)
    ys = m.run(_padded(seqs), lengths=lengths)
    tol = {"f32": 2e-5, "q8": 0.05, "q15": 0.06}[precision]
    for k, n in enumerate(lengths):
        assert np.max(np.abs(ys[k, :n] - want[k, :n])) < tol
    # readout='last' is the output at each own last step (PyTorch: out[k, n-1]); h_n[-2] is the
    # last layer's forward final state, which that output's first half is
    last = m.run(seqs, readout="last")
    assert np.max(np.abs(last[:, :8] - h_n[-2].numpy())) < tol


# ---- Keras: Bidirectional(GRU(return_sequences=True)), every merge mode ----------------------


@pytest.mark.parametrize("merge", MERGES)
@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_keras_bidirectional_against_keras(merge: str, precision: str) -> None:
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(1)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((None, 3)),
        layers.Bidirectional(layers.GRU(6, return_sequences=True,
                                        reset_after=merge != "sum"), merge_mode=merge),
        layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode="concat"),
        layers.Dense(2)])
    seqs = _seqs([9, 2, 14], seed=5)
    spec = gru_rt.convert(model, precision=precision,
                          calibration=seqs if precision != "f32" else None)
    m = spec.load()
    q15_sum = precision == "q15" and merge == "sum"  # as ave, the next layer reading twice
    assert m.layers[0].merge == ("ave" if q15_sum else merge)
    assert m.layers[1].direction == "bidirectional"
    tol = {"f32": 2e-5, "q8": 0.05, "q15": 0.06}[precision]
    for x, y in zip(seqs, m.run(seqs)):  # Keras on each sequence alone: its own last step
        want = model.predict(x[None], verbose=0)[0]
        assert np.max(np.abs(y - want)) < tol


# ---- ONNX: torch.onnx.export of a bidirectional nn.GRU, and direction="reverse" -------------


@pytest.mark.parametrize("dynamo,precision", [(False, "f32"), (True, "f32"), (False, "q8"),
                                              (False, "q15")])
def test_onnx_export_of_bidirectional_gru_against_ort(dynamo: bool, precision: str,
                                                      tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from tests.test_import_onnx_exporters import quiet_export

    class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
            self.fc = torch.nn.Linear(10, 2)

        def forward(self, x: Any) -> Any:
            return self.fc(self.gru(x)[0])

    torch.manual_seed(2)
    net = Net().eval()
    path = tmp_path / "bi.onnx"
    kwargs: dict[str, Any] = (
        {"dynamic_shapes": ({0: torch.export.Dim("batch"), 1: torch.export.Dim("time")},)}
        if dynamo else {"dynamic_axes": {"x": {0: "batch", 1: "time"}}})
    quiet_export(net, (torch.zeros(2, 7, 3),), str(path), dynamo=dynamo, input_names=["x"],
                 output_names=["y"], **kwargs)
    seqs = _seqs([9, 2, 14], seed=6)
    spec = gru_rt.convert(path, precision=precision,
                          calibration=seqs if precision != "f32" else None)
    assert spec.layers[0].direction == "bidirectional" and spec.layers[1].input_size == 10
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tol = {"f32": 2e-5, "q8": 0.05, "q15": 0.06}[precision]
    for x, y in zip(seqs, spec.load().run(seqs)):  # ORT on each sequence alone
        want = session.run(None, {"x": x[None]})[0][0]
        assert np.max(np.abs(y - want)) < tol


def test_onnx_reverse_gru_against_ort(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    h, i = 4, 3
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (1, 3 * h, i)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.5, (1, 3 * h, h)).astype(np.float32), "R"),
             numpy_helper.from_array(rng.normal(0, 0.3, (1, 6 * h)).astype(np.float32), "B"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    nodes = [helper.make_node("GRU", ["x", "W", "R", "B"], ["Y"], hidden_size=h,
                              direction="reverse"),
             helper.make_node("Squeeze", ["Y", "axes"], ["y"])]
    graph = helper.make_graph(
        nodes, "rev", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", "B", i])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", "B", h])], inits)
    path = tmp_path / "rev.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)
    spec = gru_rt.convert(path)
    assert spec.layers[0].direction == "reverse"
    x = _seqs([10], seed=8)[0]
    want = ort.InferenceSession(str(path)).run(None, {"x": x[:, None]})[0][:, 0]
    np.testing.assert_allclose(spec.load().run(x), want, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_input_mask_holds_both_directions(precision: str, each_isa: str) -> None:
    """With an input mask (format 1.4), a masked step keeps each direction's state and outputs it,
    in grt_model_run as in the reference and the golden model."""
    base = _spec("concat")
    seqs = _seqs([9, 12], seed=9)
    for x in seqs:
        x[[2, 5, -1]] = 0.0  # masked steps inside and at the end (padding-like)
    spec = ModelSpec(base.layers, {}, 0.0)
    if precision != "f32":
        spec = quantize(spec, precision, calibration=seqs)[0]
    m = spec.load()
    for x, y in zip(seqs, m.run(seqs)):
        if precision == "f32":
            np.testing.assert_allclose(y, reference_run(spec, x)[0], rtol=1e-5, atol=2e-5)
        else:
            assert np.array_equal(y, golden_run(spec, x).outputs)
    # masked steps change nothing at the real ones: the same outputs as the sequence without them
    ref_unmasked = reference_run(base, seqs[0][[0, 1, 3, 4, 6, 7]])[0]
    if precision == "f32":
        np.testing.assert_allclose(m.run(seqs[0])[[0, 1, 3, 4, 6, 7]], ref_unmasked, rtol=1e-5,
                                   atol=2e-5)


# ---- Keras: GRU(go_backwards=True, return_sequences=False), the output at step 0 ---------------


def _keras_backwards_model(keras: Any, mask: bool) -> Any:
    keras.utils.set_random_seed(3)
    layers = keras.layers
    return keras.Sequential([
        keras.Input((None, 3)), *([layers.Masking(0.0)] if mask else []),
        layers.GRU(6, return_sequences=True),
        layers.GRU(5, go_backwards=True),  # Keras' output: the state after step 0
        layers.Dense(2)])


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_keras_go_backwards_is_the_reverse_output_at_step_0(precision: str) -> None:
    keras = pytest.importorskip("keras")
    model = _keras_backwards_model(keras, mask=False)
    seqs = _seqs([9, 2, 14], seed=6)
    spec = gru_rt.convert(model, precision=precision,
                          calibration=seqs if precision != "f32" else None)
    m = spec.load()
    assert m.layers[1].direction == "reverse" and "readout='first'" in \
        m.metadata["source.readout"]
    tol = {"f32": 2e-5, "q8": 0.05, "q15": 0.02}[precision]
    first = m.run(seqs, readout="first")
    assert first.shape == (3, 2)
    for k, x in enumerate(seqs):  # Keras on each sequence alone
        want = model.predict(x[None], verbose=0)[0]
        assert np.max(np.abs(first[k] - want)) < tol
        assert np.array_equal(first[k], m.run(x, readout="first"))
        assert np.array_equal(first[k], m.run(x)[0])
    # the last step's output is another number (the reverse GRU after one step), not Keras'
    assert np.max(np.abs(m.run(seqs[0], readout="last") - first[0])) > 0.1


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_keras_go_backwards_with_masking_on_a_padded_batch(precision: str) -> None:
    keras = pytest.importorskip("keras")
    model = _keras_backwards_model(keras, mask=True)
    seqs = _seqs([9, 2, 14, 5], seed=7)
    padded = np.zeros((4, 14, 3), np.float32)
    for k, x in enumerate(seqs):
        padded[k, :len(x)] = x
    spec = gru_rt.convert(model, precision=precision,
                          calibration=seqs if precision != "f32" else None)
    m = spec.load()
    want = model.predict(padded, verbose=0)  # the zero padding masked, as Keras reads it
    tol = {"f32": 2e-5, "q8": 0.05, "q15": 0.02}[precision]
    lengths = [len(x) for x in seqs]
    assert np.max(np.abs(m.run(padded, lengths=lengths, readout="first") - want)) < tol
    # the padded rows run through (masked steps keep the zero state): the same bits
    assert np.array_equal(m.run(padded, readout="first"),
                          m.run(padded, lengths=lengths, readout="first"))


# ---- q15 sum merge: converted as ave, the factor 2 folded into the next layer -------------------


def _sum_then(rng: np.random.Generator, after: str) -> ModelSpec:
    """Bidirectional sum GRU (3 → 6) → `after` (a LayerNorm, a GRU or a bidirectional GRU) →
    Dense (→ 2)."""
    bi = _gru(rng, 3, 6, direction="bidirectional", merge="sum", backward=_gru(rng, 3, 6))
    nxt: Any = {"norm": LayerNormLayer(rng.normal(1, 0.3, 6), rng.normal(0, 0.3, 6), eps=0.5),
                "gru": _gru(rng, 6, 5),
                "bidir": _gru(rng, 6, 5, direction="bidirectional", merge="sum",
                              backward=_gru(rng, 6, 5))}[after]
    return ModelSpec([bi, nxt, DenseLayer(rng.normal(0, 0.5, (2, nxt.output_size)),
                                          rng.normal(0, 0.3, 2))])


@pytest.mark.parametrize("after", ["norm", "gru", "bidir"])
def test_q15_sum_is_ave_with_the_next_layer_reading_twice(after: str, each_isa: str) -> None:
    spec = _sum_then(np.random.default_rng(4), after)
    seqs = _seqs([11, 3, 16], seed=8)
    qspec = quantize(spec, "q15", calibration=seqs)[0]
    assert qspec.layers[0].merge == "ave"  # the file has no sum (the loader refuses one)
    if after == "norm":  # LN(2a) with eps = LN(a) with eps / 4
        assert qspec.layers[1].eps_q == round(0.5 / 4 / float(qspec.layers[1].in_scale[0]) ** 2)
    m = qspec.load()
    for x, y in zip(seqs, m.run(seqs)):
        assert np.array_equal(y, golden_run(qspec, x).outputs)  # bit for bit
        # and the original float model (sum, eps) within q15 rounding
        assert np.max(np.abs(y - reference_run(spec, x)[0])) < 0.05
    # the factor 2 matters: without it (the LayerNorm: with its eps, large here) the model is off
    wrong = ModelSpec([replace(spec.layers[0], merge="ave"), *spec.layers[1:]])
    assert np.max(np.abs(reference_run(wrong, seqs[2])[0] - reference_run(spec, seqs[2])[0])) > 0.1
