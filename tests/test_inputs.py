"""Named inputs (format 1.4): the record in the file, Model.inputs, and step/run taking a dict or
one array per input — the same bits as the concatenated vector; precise errors for a missing,
unknown or mis-shaped input; older files unchanged; q15 calibrated per input feature."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import gru_rt
from gru_rt import format as fmt
from gru_rt.errors import InputError, InputTypeError, ModelFormatError
from gru_rt.inputs import InputInfo
from gru_rt.spec import SpecError
from tests.models import random_spec

INPUTS = {"acc": 3, "gyro": 2, "mag": 1}


def _named(precision: str = "f32", seed: int = 0) -> gru_rt.Model:
    return random_spec([6, 8, 4], precision, seed=seed).with_inputs(INPUTS).load()


def _fix_crc(blob: bytearray) -> None:
    fmt.U32.pack_into(blob, fmt.OFF_CHECKSUM, 0)
    fmt.U32.pack_into(blob, fmt.OFF_CHECKSUM, zlib.crc32(blob))


def _split(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"acc": x[..., 0:3], "gyro": x[..., 3:5], "mag": x[..., 5:6]}


def test_record_written_and_read_back() -> None:
    spec = random_spec([6, 8, 4]).with_inputs(INPUTS)
    blob = spec.to_bytes()
    flags = fmt.U32.unpack_from(blob, fmt.OFF_FLAGS)[0]
    assert flags == fmt.FLAG_NAMED_INPUTS
    m = gru_rt.load(blob)
    assert m.version == (1, fmt.VERSION_MINOR)
    assert m.inputs == (InputInfo("acc", 3, 0), InputInfo("gyro", 2, 3), InputInfo("mag", 1, 5))
    assert m.metadata[fmt.INPUTS_KEY] == "acc=3\ngyro=2\nmag=1"
    assert m.to_spec().inputs == (("acc", 3), ("gyro", 2), ("mag", 1))
    assert m.to_spec().to_bytes() == blob  # round trip, deterministic
    assert "named inputs: acc [0:3], gyro [3:5], mag [5:6]" in m.summary()
    # without inputs: flags 0, no record, Model.inputs empty
    plain = random_spec([6, 8, 4]).to_bytes()
    assert fmt.U32.unpack_from(plain, fmt.OFF_FLAGS)[0] == 0
    assert gru_rt.load(plain).inputs == ()
    assert spec.with_inputs(None).to_bytes() == plain


def test_older_file_with_the_key_but_no_flag_loads_unchanged() -> None:
    """A 1.3 file whose user metadata happens to hold "model.inputs": the flag is clear, so the
    entry is plain metadata (and any text is fine)."""
    spec = random_spec([6, 8, 4])
    spec.metadata[fmt.INPUTS_KEY] = "acc=3"  # not even the right sum
    with pytest.raises(SpecError, match="sum to 3, expected 6"):
        spec.to_bytes()  # the writer would set the flag: refused
    blob = bytearray(random_spec([6, 8, 4]).with_inputs(INPUTS).to_bytes())
    fmt.U32.pack_into(blob, fmt.OFF_FLAGS, 0)
    blob[10:12] = (3).to_bytes(2, "little")  # version_minor
    _fix_crc(blob)
    m = gru_rt.load(bytes(blob))
    assert m.version == (1, 3) and m.inputs == ()
    assert m.metadata[fmt.INPUTS_KEY] == "acc=3\ngyro=2\nmag=1"
    x = np.ones(6, np.float32)
    np.testing.assert_array_equal(m.stream().step(x), _named().stream().step(x))


def test_flag_without_record_and_unknown_flag_are_refused() -> None:
    blob = bytearray(random_spec([6, 8, 4]).to_bytes())
    fmt.U32.pack_into(blob, fmt.OFF_FLAGS, fmt.FLAG_NAMED_INPUTS)
    _fix_crc(blob)
    with pytest.raises(ModelFormatError, match=r"GRT_E_METADATA.*inputs\.record"):
        gru_rt.load(bytes(blob))
    blob = bytearray(random_spec([6, 8, 4]).with_inputs(INPUTS).to_bytes())
    fmt.U32.pack_into(blob, fmt.OFF_FLAGS, fmt.FLAG_NAMED_INPUTS | 8)
    _fix_crc(blob)
    with pytest.raises(ModelFormatError, match=r"GRT_E_HEADER.*header\.flags.*10, expected 2"):
        gru_rt.load(bytes(blob))


@pytest.mark.parametrize(("inputs", "message"), [
    ({"acc": 3, "gyro": 2}, "sum to 5, expected 6"),
    ({"acc": 3, "gy=ro": 3}, "contains '='"),
    ({"acc": 3, "gy\nro": 3}, "contains '\\\\n'"),
    ({"": 6}, "0 bytes in UTF-8"),
    ({"é" * 33: 6}, "66 bytes in UTF-8, expected 1 … 64"),
    ({"acc": 0, "gyro": 6}, "width 0"),
    ({"acc": 3.0, "gyro": 3}, "not an integer"),
    ([("acc", 3), ("acc", 3)], "repeats"),
    ({f"i{k}": 1 for k in range(65)}, "65 inputs, expected 1 … 64"),
    ({}, "0 inputs"),
])
def test_with_inputs_refuses_what_the_loader_would(inputs: object, message: str) -> None:
    spec = random_spec([6, 8, 4]) if message != "65 inputs, expected 1 … 64" \
        else random_spec([65, 4, 2])
    with pytest.raises(SpecError, match=message):
        spec.with_inputs(inputs)  # type: ignore[arg-type]


def test_malformed_record_in_metadata_is_refused_by_the_spec() -> None:
    spec = random_spec([6, 8, 4])
    for record, message in [("acc=3\ngyro=3\n", "not 'name=width'"), ("acc=03\ngyro=3", "width"),
                            ("acc=+3\ngyro=3", "width"), ("acc=3\nacc=3", "repeats")]:
        spec.metadata[fmt.INPUTS_KEY] = record
        with pytest.raises(SpecError, match=message):
            spec.validated()


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_step_and_run_take_a_dict_or_one_array_per_input(precision: str) -> None:
    m = _named(precision)
    rng = np.random.default_rng(1)
    xs = rng.normal(0, 1, (20, 6)).astype(np.float32)
    want = m.run(xs)
    # Model.run: dict, list, tuple
    np.testing.assert_array_equal(m.run(_split(xs)), want)
    np.testing.assert_array_equal(m.run(list(_split(xs).values())), want)
    np.testing.assert_array_equal(m.run(tuple(_split(xs).values())), want)
    # a dict in another key order: the model's order counts
    d = _split(xs)
    np.testing.assert_array_equal(m.run({k: d[k] for k in ("mag", "acc", "gyro")}), want)
    # Stream.step, Stream.run
    s = m.stream()
    steps = np.stack([s.step(_split(x)) for x in xs])
    np.testing.assert_array_equal(steps, want)
    s.reset()
    np.testing.assert_array_equal(np.stack([s.step([x[:3], x[3:5], x[5:]]) for x in xs]), want)
    s.reset()
    np.testing.assert_array_equal(s.run(_split(xs)), want)
    # many sequences: (N, T, w) per input, padded with lengths, StreamBatch step and run
    x3 = rng.normal(0, 1, (3, 20, 6)).astype(np.float32)
    np.testing.assert_array_equal(m.run(_split(x3)), m.run(x3))
    lengths = [20, 7, 0]
    np.testing.assert_array_equal(m.run(_split(x3), lengths=lengths), m.run(x3, lengths=lengths))
    b = m.stream_batch(3)
    got = np.stack([b.step(_split(x3[:, t])) for t in range(20)], axis=1)
    np.testing.assert_array_equal(got, m.run(x3))
    for st in b.streams:
        st.reset()
    np.testing.assert_array_equal(b.run(_split(x3)), m.run(x3))
    if precision == "q15":
        xi = rng.integers(-3000, 3000, (20, 6)).astype(np.int16)
        np.testing.assert_array_equal(m.run_int16(_split(xi)), m.run_int16(xi))
        s.reset()
        np.testing.assert_array_equal(np.stack([s.step_int16(_split(x)) for x in xi]),
                                      m.run_int16(xi))


def test_whole_vectors_and_ragged_lists_keep_their_meaning() -> None:
    m = _named()
    x = np.arange(6, dtype=np.float32) / 6
    s = m.stream()
    y = s.step(list(map(float, x)))  # a list of numbers is one vector
    s.reset()
    np.testing.assert_array_equal(y, s.step(x))
    seqs = [np.ones((4, 6), np.float32), np.zeros((2, 6), np.float32), np.ones((3, 6))]
    ys = m.run(seqs)  # a list of whole-width sequences is the ragged form
    assert [y.shape for y in ys] == [(4, 4), (2, 4), (3, 4)]


def test_errors_name_the_input() -> None:
    m = _named()
    s = m.stream()
    x = {"acc": np.zeros(3), "gyro": np.zeros(2), "mag": np.zeros(1)}
    with pytest.raises(InputError, match=r"input 'mag' is missing; the model's inputs are "
                                         r"'acc' \(3\), 'gyro' \(2\), 'mag' \(1\)"):
        s.step({"acc": x["acc"], "gyro": x["gyro"]})
    with pytest.raises(InputError, match="unknown input 'gyr0'"):
        s.step({**x, "gyr0": np.zeros(2)})
    with pytest.raises(InputError, match=r"input 'gyro' has shape \(3,\), expected \(2,\)"):
        s.step({**x, "gyro": np.zeros(3)})
    with pytest.raises(InputError, match=r"input 'acc' has shape \(1, 3\), expected \(3,\)"):
        s.step({**x, "acc": np.zeros((1, 3))})
    with pytest.raises(InputError, match=r"input 'gyro' has shape \(3,\), expected \(2,\)"):
        s.step([np.zeros(3), np.zeros(3), np.zeros(1)])
    with pytest.raises(InputTypeError, match="input 'acc' is not an array of numbers"):
        s.step({**x, "acc": [[1.0], [2.0, 3.0]]})
    with pytest.raises(InputTypeError, match="input 'mag' has dtype complex128"):
        s.step({**x, "mag": np.zeros(1, complex)})
    with pytest.raises(InputError, match=r"input 'gyro' has shape \(9, 2\), expected \(10, 2\) "
                                         r"\(the leading axes of input 'acc'\)"):
        m.run({"acc": np.zeros((10, 3)), "gyro": np.zeros((9, 2)), "mag": np.zeros((10, 1))})
    with pytest.raises(InputError, match=r"expected \(T, 3\) or \(N, T, 3\)"):
        m.run({**x})
    with pytest.raises(InputError, match=r"expected \(B, 3\)"):
        m.stream_batch(2).step(x)
    assert not s.state.any()  # every refusal left the state as it was
    plain = random_spec([6, 8, 4]).load()
    with pytest.raises(InputError, match="this model names no inputs"):
        plain.stream().step(x)
    with pytest.raises(InputError, match="this model names no inputs"):
        plain.run({"a": np.zeros((2, 6))})


def test_q15_calibration_is_per_input_feature() -> None:
    """Each input keeps its own range: a small-valued input next to a large one is not crushed
    into a few integer steps (the in_scale of layer 0 is per feature)."""
    rng = np.random.default_rng(3)
    calib = np.concatenate([rng.normal(0, 50.0, (8, 60, 3)), rng.normal(0, 0.01, (8, 60, 3))],
                           axis=-1)
    spec = random_spec([6, 8, 4], seed=2).with_inputs({"big": 3, "small": 3})
    from gru_rt.quantize import quantize

    q, _ = quantize(spec, "q15", calib)
    assert q.inputs == (("big", 3), ("small", 3))  # the record survives quantization
    m = q.load()
    scale = m.input_scale
    assert scale is not None
    big, small = scale[:3], scale[3:]
    assert np.all(big / small > 1000)
    # each group's range is its own calibrated |x| max with the documented headroom
    np.testing.assert_allclose(big, np.abs(calib[..., :3]).max(axis=(0, 1)) * 1.25 / 32767,
                               rtol=1e-6)
    np.testing.assert_allclose(small, np.abs(calib[..., 3:]).max(axis=(0, 1)) * 1.25 / 32767,
                               rtol=1e-6)
