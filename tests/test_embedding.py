"""The Embedding kind (format 1.5): token ids through every Python entry point (Stream.step, run,
StreamBatch, Model.run in its one-sequence, padded and ragged forms), f32 against the float64
reference, q8/q15 bit for bit against the golden model at every kernel level, step == run == batch,
ids checked with precise errors, the spec's and the loader's rules, and a 1.4 reader's refusal."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import gru_rt
from gru_rt import format as fmt
from gru_rt.errors import InputError, InputTypeError, ModelFormatError
from gru_rt.golden import golden_run
from gru_rt.quantize import quantize
from gru_rt.reference import reference_run
from gru_rt.spec import DenseLayer, EmbeddingLayer, GRULayer, LayerNormLayer, ModelSpec, SpecError

STEPS = 500
VOCAB = 40


def token_model(vocab: int = VOCAB, d: int = 8, h: int = 12, o: int = 4, seed: int = 0,
                norm: bool = False, mask: float | None = None) -> ModelSpec:
    """Embedding → [LayerNorm →] GRU → Dense softmax."""
    rng = np.random.default_rng(seed)
    s = min(1.0, 2.0 / np.sqrt(h)) * 0.5
    layers: list = [EmbeddingLayer(rng.normal(0, 1.0, (vocab, d)))]
    if norm:
        layers.append(LayerNormLayer(rng.normal(1.0, 0.3, d), rng.normal(0.0, 0.3, d)))
    layers += [GRULayer(rng.normal(0, 0.5, (3 * h, d)), rng.normal(0, s, (3 * h, h)),
                        rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h)),
               DenseLayer(rng.normal(0, 0.5, (o, h)), rng.normal(0, 0.3, o), activation="softmax")]
    return ModelSpec(layers, input_mask=mask)


def _ids(n: int = STEPS, seed: int = 1, vocab: int = VOCAB) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, n)


@pytest.mark.parametrize("norm", [False, True])
def test_f32_matches_the_reference(norm: bool, each_isa: str) -> None:
    spec = token_model(norm=norm)
    ids = _ids()
    want, _ = reference_run(spec, ids[:, None].astype(np.float64))
    got = spec.load().run(ids)
    assert got.shape == (STEPS, 4)
    assert np.max(np.abs(got - want)) <= 1e-5


def test_embedding_alone_is_the_table_row() -> None:
    table = np.random.default_rng(3).normal(0, 1, (9, 5)).astype(np.float32)
    model = ModelSpec([EmbeddingLayer(table)]).load()
    ids = np.array([3, 0, 8, 8, 1])
    assert np.array_equal(model.run(ids), table[ids])
    assert np.array_equal(model.stream().step(7), table[7])
    assert model.input_size == 1 and model.vocab_size == 9 and model.state_size == 0


@pytest.mark.parametrize("precision", ["q8", "q15"])
@pytest.mark.parametrize("norm", [False, True])
def test_quantized_is_bit_exact_with_golden(precision: str, norm: bool, each_isa: str) -> None:
    spec = token_model(norm=norm)
    qspec, _ = quantize(spec, precision, _ids(300, seed=2)[None])
    ids = _ids()
    model = qspec.load()
    gold = golden_run(qspec, ids[:, None].astype(np.float32))
    assert np.array_equal(model.run(ids), gold.outputs)
    stream = model.stream()
    steps = np.stack([stream.step(int(i)) for i in ids])
    assert np.array_equal(steps, gold.outputs)  # streaming == run, bit for bit
    assert np.array_equal(stream.state, gold.state)
    if precision == "q15":
        raw = model.run_int16(ids[:, None].astype(np.int16))  # the int16 rows: (T, 1)
        assert np.array_equal(raw, model.stream().run_int16(ids[:, None]))
        assert np.array_equal(model.run(ids), (raw * model.output_scale).astype(np.float32))


@pytest.mark.parametrize("precision", ["q8", "q15"])
def test_quantized_error_against_float(precision: str) -> None:
    """The quantized token model stays close to the float one (docs/QUANTIZATION.md)."""
    spec = token_model()
    qspec, report = quantize(spec, precision)  # synthetic calibration: uniform random ids
    ids = _ids()
    err = np.max(np.abs(qspec.load().run(ids) - spec.load().run(ids)))
    assert err <= (0.03 if precision == "q8" else 0.01)
    assert "uniform token ids" in report.calibration


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_every_form_gives_the_same_bits(precision: str) -> None:
    spec = token_model()
    if precision != "f32":
        spec, _ = quantize(spec, precision)
    model = spec.load()
    seqs = [_ids(n, seed=n) for n in (30, 7, 0, 19)]
    singles = [model.run(s) for s in seqs]
    ragged = model.run(seqs)
    padded = np.zeros((4, 30), np.int64)
    for k, s in enumerate(seqs):
        padded[k, :len(s)] = s
    lens = np.array([len(s) for s in seqs])
    by_lengths = model.run(padded, lengths=lens)
    for k, s in enumerate(seqs):
        assert np.array_equal(ragged[k], singles[k])
        assert np.array_equal(by_lengths[k, :len(s)], singles[k])
    last = model.run(padded[:2, :7], readout="last")
    assert np.array_equal(last[1], singles[1][-1])
    batch = model.stream_batch(2)
    steps = np.stack([batch.step(padded[:2, t]) for t in range(7)], axis=1)
    assert np.array_equal(steps[1], singles[1])
    float_ids = model.run(seqs[0][:, None].astype(np.float32))  # the general (T, 1) form
    assert np.array_equal(float_ids, singles[0])


def test_ids_are_checked_precisely() -> None:
    model = token_model().load()
    stream = model.stream()
    with pytest.raises(InputError, match=r"x is 40, expected a token id in 0 … 39"):
        stream.step(40)
    with pytest.raises(InputError, match=r"xs\[3\] is -1"):
        model.run(np.array([1, 2, 3, -1]))
    with pytest.raises(InputError, match=r"xs\[1, 2\] is 99"):
        model.run(np.array([[1, 2, 3], [4, 5, 99]]))
    with pytest.raises(InputError, match=r"xs\[1\]\[0\] is 50"):
        model.run([np.array([1, 2]), np.array([50])])
    with pytest.raises(InputError, match=r"is 1.5"):
        model.run(np.array([[1.0], [1.5]], np.float32))
    with pytest.raises(InputTypeError, match="integer token ids"):
        stream.step(True)
    assert np.array_equal(stream.state, np.zeros(model.state_size, np.float32))  # nothing ran


def test_input_mask_on_token_zero() -> None:
    """mask value 0 (Keras mask_zero): token 0 keeps the GRU state and repeats the output."""
    spec = token_model(mask=0.0)
    ids = np.array([5, 0, 0, 7, 0, 3])
    for precision in ("f32", "q8", "q15"):
        qspec = spec if precision == "f32" else quantize(spec, precision)[0]
        ys = qspec.load().run(ids)
        assert np.array_equal(ys[1], ys[0]) and np.array_equal(ys[2], ys[0])
        assert np.array_equal(ys[4], ys[3])
        unmasked = qspec.load().run(ids[ids != 0])
        assert np.array_equal(ys[[0, 3, 5]], unmasked)


def test_to_spec_round_trip() -> None:
    for precision in ("f32", "q8", "q15"):
        spec = token_model()
        if precision != "f32":
            spec, _ = quantize(spec, precision)
        model = spec.load()
        again = model.to_spec().load()
        assert again.to_bytes() == model.to_bytes()
        assert "Embedding 40 tokens" in model.summary()


def test_spec_rules() -> None:
    rng = np.random.default_rng(0)
    emb = EmbeddingLayer(rng.normal(0, 1, (5, 3)))
    gru = GRULayer(rng.normal(0, 1, (6, 3)), rng.normal(0, 1, (6, 2)), np.zeros(6), np.zeros(6))
    with pytest.raises(SpecError, match="only be the first layer"):
        ModelSpec([DenseLayer(np.ones((1, 1)), np.zeros(1)), emb, gru]).validated()
    with pytest.raises(SpecError, match="table must be 2-D"):
        ModelSpec([EmbeddingLayer(np.ones(4))]).validated()
    with pytest.raises(SpecError, match="1 … 32768"):
        ModelSpec([EmbeddingLayer(np.zeros((40000, 2), np.int16), precision="q15",
                                  in_scale=np.ones(1, np.float32),
                                  out_scale=np.ones(2, np.float32))]).validated()
    with pytest.raises(SpecError, match=r"in_scale must be \[1.0\]"):
        ModelSpec([EmbeddingLayer(np.zeros((4, 2), np.int16), precision="q15",
                                  in_scale=np.full(1, 0.5, np.float32),
                                  out_scale=np.ones(2, np.float32))]).validated()


def _patch(blob: bytes, offset: int, fmt_: str, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into(fmt_, b, offset, value)
    struct.pack_into("<I", b, fmt.OFF_CHECKSUM, 0)
    struct.pack_into("<I", b, fmt.OFF_CHECKSUM, zlib.crc32(bytes(b)) & 0xFFFFFFFF)
    return bytes(b)


def test_loader_checks_the_entry() -> None:
    blob = token_model().load().to_bytes()
    entry = fmt.HEADER_SIZE  # layer 0
    assert struct.unpack_from("<B", blob, entry)[0] == fmt.KIND_EMBEDDING
    assert struct.unpack_from("<I", blob, entry + 24)[0] == VOCAB
    assert struct.unpack_from("<H", blob, 10)[0] == 5  # version 1.5
    cases = [(entry + 24, "<I", 0, "GRT_E_LAYER_FIELD.*layer.vocab_size"),
             (entry + 24, "<I", VOCAB - 1, "GRT_E_TENSOR_SHAPE"),
             (entry + 8, "<I", 2, "GRT_E_DIMS.*input_size"),
             (entry + 2, "<B", fmt.ACTIVATIONS["tanh"], "GRT_E_ACTIVATION")]
    for offset, f, value, message in cases:
        with pytest.raises(ModelFormatError, match=message):
            gru_rt.load(_patch(blob, offset, f, value))


def test_a_1_4_reader_fails_on_the_kind() -> None:
    """What a 1.4 reader sees: kind 5 is unknown to it. Here: the kind moved to layer 1, which no
    reader accepts, and an unknown kind in its place."""
    blob = token_model().load().to_bytes()
    with pytest.raises(ModelFormatError, match="GRT_E_LAYER_KIND"):
        gru_rt.load(_patch(blob, fmt.HEADER_SIZE, "<B", 7))


def test_cli_runs_token_ids(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gru_rt.cli import main

    spec = token_model()
    model_path = spec.save(tmp_path / "t.grt")
    ids = _ids(20)
    np.save(tmp_path / "ids.npy", ids)
    out = str(tmp_path / "y.npy")
    assert main(["run", str(model_path), str(tmp_path / "ids.npy"), "-o", out]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), spec.load().run(ids))
    padded = np.stack([ids, np.roll(ids, 3)])
    np.save(tmp_path / "pad.npy", padded)
    np.save(tmp_path / "lens.npy", np.array([20, 6]))
    assert main(["run", str(model_path), str(tmp_path / "pad.npy"), "--lengths",
                 str(tmp_path / "lens.npy"), "-o", str(tmp_path / "y2.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y2.npy")[1, :6], spec.load().run(padded[1, :6]))
    np.save(tmp_path / "bad.npy", np.array([1, 40]))
    out = str(tmp_path / "y3.npy")
    assert main(["run", str(model_path), str(tmp_path / "bad.npy"), "-o", out]) != 0
    assert "xs[1] is 40, expected a token id in 0 … 39" in capsys.readouterr().err
    assert not (tmp_path / "y3.npy").exists()
