"""Sequences of different lengths (issue 15, item 1): Model.run / StreamBatch.run (and run_int16)
of a list of (T_k, I) arrays or of a padded (N, T, I) array with lengths=, readout='last' and
return_state, bit-identical to running each sequence alone, in every precision at every kernel
level; the padding never stepped through; every argument error."""

from __future__ import annotations

import numpy as np
import pytest

import gru_rt
from tests.models import random_spec

# 0 and 1 steps, equal lengths, lengths longer than a lockstep chunk (8 steps for 32 streams)
LENGTHS = [5, 0, 23, 1, 23, 3, 12, 0, 8, 17]


def _model(precision: str) -> gru_rt.Model:
    return gru_rt.Model.from_buffer(random_spec([3, 16, 9, 4], precision, seed=7).to_bytes())


def _sequences(lengths: list[int], width: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, (n, width)).astype(np.float32) for n in lengths]


def _padded(seqs: list[np.ndarray], fill: float = 0.0) -> np.ndarray:
    """Zero-padded (N, T, I), or padded with `fill` (which must change nothing)."""
    T = max(len(x) for x in seqs)
    pad = np.full((len(seqs), T, seqs[0].shape[1]), fill, dtype=np.float32)
    for k, x in enumerate(seqs):
        pad[k, :len(x)] = x
    return pad


def _alone(m: gru_rt.Model, seqs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Each sequence run on its own stream: the outputs and final states."""
    runs = [m.run(x, return_state=True) for x in seqs]
    return [y for y, _ in runs], np.stack([s for _, s in runs])


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_list_and_padded_equal_runs_alone(precision: str, each_isa: str) -> None:
    m = _model(precision)
    seqs = _sequences(LENGTHS)
    ref_ys, ref_states = _alone(m, seqs)

    ys, states = m.run(seqs, return_state=True)
    assert isinstance(ys, list) and len(ys) == len(seqs)
    for y, r in zip(ys, ref_ys):
        assert y.shape == r.shape and np.array_equal(y, r)
    assert np.array_equal(states, ref_states)

    # padded with garbage: what lies past each length is never read
    for fill in (0.0, 1e3):
        yp, sp = m.run(_padded(seqs, fill), lengths=LENGTHS, return_state=True)
        assert yp.shape == (len(seqs), max(LENGTHS), 4)
        for k, n in enumerate(LENGTHS):
            assert np.array_equal(yp[k, :n], ref_ys[k])
            assert not yp[k, n:].any()  # zero past each length
        assert np.array_equal(sp, ref_states)

    nonempty = [k for k, n in enumerate(LENGTHS) if n > 0]
    last, st = m.run([seqs[k] for k in nonempty], readout="last", return_state=True)
    assert last.shape == (len(nonempty), 4)
    assert np.array_equal(last, np.stack([ref_ys[k][-1] for k in nonempty]))
    assert np.array_equal(st, ref_states[nonempty])


@pytest.mark.parametrize("precision", ["f32", "q15"])
def test_stream_batch_ragged(precision: str, each_isa: str) -> None:
    m = _model(precision)
    seqs = _sequences(LENGTHS, seed=1)
    ref_ys, ref_states = _alone(m, seqs)
    batch = m.stream_batch(len(seqs))
    ys = batch.run(seqs)
    assert all(np.array_equal(y, r) for y, r in zip(ys, ref_ys))
    assert np.array_equal(np.stack([s.state for s in batch.streams]), ref_states)

    batch = m.stream_batch(len(seqs))
    out = np.full((len(seqs), max(LENGTHS), 4), 7.0, dtype=np.float32)  # stale values past lengths
    assert batch.run(_padded(seqs, -5.0), out, lengths=LENGTHS) is out
    for k, n in enumerate(LENGTHS):
        assert np.array_equal(out[k, :n], ref_ys[k]) and not out[k, n:].any()
    assert np.array_equal(np.stack([s.state for s in batch.streams]), ref_states)

    # each state moves on from where it was: a second ragged run == continuing each stream alone
    more = _sequences([2, 6, 0, 4, 1, 9, 3, 3, 0, 5], seed=2)
    alone = [m.stream() for _ in seqs]
    for s, st in zip(alone, ref_states):
        s.state = st
    ys = batch.run(more)
    for y, x, s, b in zip(ys, more, alone, batch.streams):
        assert np.array_equal(y, s.run(x)) and np.array_equal(b.state, s.state)


def test_int16_forms(each_isa: str) -> None:
    m = _model("q15")
    rng = np.random.default_rng(3)
    seqs = [rng.integers(-20000, 20000, (n, 3)).astype(np.int16) for n in LENGTHS]
    ref = [m.run_int16(x, return_state=True) for x in seqs]
    ys, states = m.run_int16(seqs, return_state=True)
    assert all(y.dtype == np.int16 and np.array_equal(y, r) for y, (r, _) in zip(ys, ref))
    assert np.array_equal(states, np.stack([s for _, s in ref]))
    pad = np.zeros((len(seqs), max(LENGTHS), 3), dtype=np.int16)
    for k, x in enumerate(seqs):
        pad[k, :len(x)] = x
        pad[k, len(x):] = 12345  # never read
    yp = m.run_int16(pad, lengths=LENGTHS)
    for k, n in enumerate(LENGTHS):
        assert np.array_equal(yp[k, :n], ref[k][0]) and not yp[k, n:].any()
    batch = m.stream_batch(len(seqs))
    yb = batch.run_int16(pad, lengths=np.array(LENGTHS, dtype=np.uint8))
    assert np.array_equal(yb, yp)
    nonempty = [x for x in seqs if len(x)]
    last = m.run_int16(nonempty, readout="last")
    assert np.array_equal(last, np.stack([m.run_int16(x)[-1] for x in nonempty]))


def test_many_groups_and_equal_lengths() -> None:
    """More sequences than one lockstep group (32), in no length order."""
    m = _model("q8")
    lengths = [int(n) for n in np.random.default_rng(4).integers(0, 30, 75)]
    seqs = _sequences(lengths, seed=5)
    ref_ys, ref_states = _alone(m, seqs)
    ys, states = m.run(seqs, return_state=True)
    assert all(np.array_equal(y, r) for y, r in zip(ys, ref_ys))
    assert np.array_equal(states, ref_states)
    # the padded form without lengths is every sequence at full length, and readout='last' its
    # last row
    x3 = _padded(seqs, 0.5)
    assert np.array_equal(m.run(x3, readout="last"), m.run(x3)[:, -1])
    assert np.array_equal(m.run(x3[0], readout="last"), m.run(x3[0])[-1])


def test_empty_list() -> None:
    m = _model("f32")
    assert m.run([]) == []
    ys, states = m.run([], return_state=True)
    assert ys == [] and states.shape == (0, m.state_size)
    assert m.run([], readout="last").shape == (0, 4)


def test_errors() -> None:
    m = _model("f32")
    seqs = _sequences([3, 2])
    pad = _padded(seqs)
    with pytest.raises(TypeError, match="lengths has dtype float64"):
        m.run(pad, lengths=[3.0, 2.0])
    with pytest.raises(ValueError, match=r"lengths has shape \(3,\), expected \(2,\)"):
        m.run(pad, lengths=[3, 2, 1])
    with pytest.raises(ValueError, match=r"lengths\[1\] is 4, expected 0 to 3"):
        m.run(pad, lengths=[3, 4])
    with pytest.raises(ValueError, match=r"lengths\[0\] is -1"):
        m.run(pad, lengths=[-1, 2])
    with pytest.raises(ValueError, match="lengths= goes with a padded"):
        m.run(seqs, lengths=[3, 2])
    with pytest.raises(ValueError, match=r"xs has shape \(3, 3\), expected \("):
        m.run(seqs[0], lengths=[3])
    with pytest.raises(ValueError, match=r"xs\[1\] has shape \(2, 5\), expected \('T', 3\)"):
        m.run([seqs[0], np.zeros((2, 5))])
    with pytest.raises(ValueError, match="readout='middle'"):
        m.run(seqs, readout="middle")
    with pytest.raises(ValueError, match="sequence 1 has length 0, so no last step"):
        m.run(pad, lengths=[3, 0], readout="last")
    with pytest.raises(ValueError, match="sequence 0 has length 0"):
        m.run(np.zeros((0, 3)), readout="last")
    with pytest.raises(ValueError, match="state is only accepted"):
        m.run(seqs, np.zeros(m.state_size))
    batch = m.stream_batch(3)
    with pytest.raises(ValueError, match="xs holds 2 sequences, this StreamBatch has 3 streams"):
        batch.run(seqs)
    batch = m.stream_batch(2)
    with pytest.raises(ValueError, match="out= goes with a padded"):
        batch.run(seqs, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="out has shape"):
        batch.run(pad, np.zeros((2, 2, 4), np.float32), lengths=[3, 2])
    with pytest.raises(ValueError, match="needs a q15 model"):
        m.run_int16([np.zeros((2, 3), np.int16)])
    assert all(not s.state.any() for s in batch.streams)  # nothing ran


# ---- calibration ---------------------------------------------------------------------------------

def test_calibration_takes_ragged_forms_and_counts_real_steps() -> None:
    from gru_rt.golden import golden_run
    from gru_rt.quantize import CALIBRATION_HEADROOM, quantize
    from gru_rt.reference import reference_run

    spec = random_spec([3, 16, 4], seed=8)
    lengths = [7, 2, 15, 0, 15, 4]
    seqs = [x.astype(np.float64) for x in _sequences(lengths, seed=9)]
    q_list, report = quantize(spec, "q15", seqs)
    # padding far outside the data's range: it must change neither the ranges nor the report
    q_pad, report_pad = quantize(spec, "q15", _padded(seqs, 1e3), np.array(lengths))
    assert q_list.to_bytes() == q_pad.to_bytes()
    assert report.steps == report_pad.steps == sum(lengths)
    assert report.calibration == "array: 6 sequences of 0 to 15 steps, 43 in all"
    real = np.concatenate(seqs)
    expected = (np.abs(real).max(axis=0) * CALIBRATION_HEADROOM / 32767).astype(np.float32)
    assert np.array_equal(q_list.layers[0].in_scale, expected)
    # the report's output error: each sequence run alone, from a zero state
    errors = np.concatenate([np.abs(golden_run(q_list, x).outputs.astype(np.float64)
                                    - reference_run(spec, x)[0]).ravel()
                             for x in seqs if len(x)])
    assert report.output == pytest.approx((errors.max(), errors.mean()), rel=1e-12)
    # q8: the report only
    _, report8 = quantize(spec, "q8", seqs)
    assert report8.steps == sum(lengths)


def test_calibration_errors() -> None:
    from gru_rt.errors import ConversionError
    from gru_rt.quantize import quantize

    spec = random_spec([3, 8, 4], seed=8)
    seqs = _sequences([3, 2])
    with pytest.raises(ConversionError, match="lengths go with a padded"):
        quantize(spec, "q15", seqs, [3, 2])
    with pytest.raises(ConversionError, match=r"calibration lengths\[1\] is 5, expected 0 to 3"):
        quantize(spec, "q15", _padded(seqs), [3, 5])
    with pytest.raises(ConversionError, match="expected 2 integers"):
        quantize(spec, "q15", _padded(seqs), [3])
    with pytest.raises(ConversionError, match="without calibration data"):
        quantize(spec, "q15", None, [3])
    with pytest.raises(ConversionError, match=r"sequence 1: shape \(2, 4\), expected \(T, 3\)"):
        quantize(spec, "q15", [seqs[0], np.zeros((2, 4))])
    with pytest.raises(ConversionError, match="no steps"):
        quantize(spec, "q15", _padded(seqs), [0, 0])
    with pytest.raises(ValueError, match="calibration applies to precision q8 or q15"):
        gru_rt.convert({"0.W": np.zeros((12, 3))}, calibration_lengths=[1])


# ---- gru-rt run ----------------------------------------------------------------------------------

def test_cli_run_lengths_and_npz(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gru_rt.cli import main

    path = tmp_path / "m.grt"
    path.write_bytes(random_spec([3, 16, 9, 4], "q8", seed=7).to_bytes())
    m = gru_rt.load(path)
    seqs = _sequences(LENGTHS, seed=6)
    np.save(tmp_path / "pad.npy", _padded(seqs, 9.0))
    np.save(tmp_path / "len.npy", np.array(LENGTHS))
    assert main(["run", str(path), str(tmp_path / "pad.npy"), "--lengths",
                 str(tmp_path / "len.npy"), "-o", str(tmp_path / "out.npy")]) == 0
    got = np.load(tmp_path / "out.npy")
    assert np.array_equal(got, m.run(_padded(seqs), lengths=LENGTHS))
    assert not got[1].any() and np.array_equal(got[2], m.run(seqs[2]))

    names = [f"utt{k}" for k in range(len(seqs))]
    np.savez(tmp_path / "seqs.npz", **dict(zip(names, seqs)))
    assert main(["run", str(path), str(tmp_path / "seqs.npz"), "-o", str(tmp_path / "o.npz")]) == 0
    with np.load(tmp_path / "o.npz") as out:
        assert list(out.keys()) == names
        for name, x in zip(names, seqs):
            assert out[name].shape == (len(x), 4) and np.array_equal(out[name], m.run(x))
    capsys.readouterr()

    def error(*args: str) -> str:
        assert main(["run", str(path), *args]) == 1
        return capsys.readouterr().err

    assert "a .npz; name it *.npz" in error(str(tmp_path / "seqs.npz"), "-o",
                                            str(tmp_path / "o.npy"))
    assert "--lengths goes with a padded (N, T, I) .npy input" in error(
        str(tmp_path / "seqs.npz"), "--lengths", str(tmp_path / "len.npy"), "-o",
        str(tmp_path / "o2.npz"))
    np.save(tmp_path / "one.npy", seqs[0])
    assert "--lengths goes with a padded (N, T, I) input" in error(
        str(tmp_path / "one.npy"), "--lengths", str(tmp_path / "len.npy"), "-o",
        str(tmp_path / "o.npy"))
    np.save(tmp_path / "badlen.npy", np.array(LENGTHS) + 30)
    assert "lengths[0] is 35, expected 0 to 23" in error(
        str(tmp_path / "pad.npy"), "--lengths", str(tmp_path / "badlen.npy"), "-o",
        str(tmp_path / "o.npy"))
    np.save(tmp_path / "flen.npy", np.array(LENGTHS, dtype=float))
    assert "expected a 1-D array of integers" in error(
        str(tmp_path / "pad.npy"), "--lengths", str(tmp_path / "flen.npy"), "-o",
        str(tmp_path / "o.npy"))
    np.savez(tmp_path / "wide.npz", a=seqs[0], b=np.zeros((3, 5)))
    assert "b: shape (3, 5), expected (T, 3)" in error(str(tmp_path / "wide.npz"), "-o",
                                                       str(tmp_path / "o3.npz"))
    assert not (tmp_path / "o3.npz").exists()
