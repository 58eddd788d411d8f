"""gru_rt.dask on a two-worker LocalCluster (issue 19): the same bits as the serial Model.run."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

import gru_rt  # noqa: E402
import gru_rt.dask as grd  # noqa: E402

from .models import random_spec  # noqa: E402

PRECISIONS = ("f32", "q8", "q15")


def _cluster() -> distributed.LocalCluster:
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=":0", silence_logs=40)


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with _cluster() as cluster, distributed.Client(cluster) as c:
        yield c


def _model(precision: str, sizes: tuple[int, ...] = (3, 6, 2)) -> gru_rt.Model:
    return random_spec(list(sizes), precision, seed=3).load()


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def _inputs(n: int = 23, t: int = 9, i: int = 3) -> np.ndarray:
    return np.random.default_rng(5).normal(size=(n, t, i)).astype(np.float32)


# --- score_array -------------------------------------------------------------------------------

@pytest.mark.parametrize("precision", PRECISIONS)
def test_score_array_equals_serial_run(client, precision: str) -> None:
    model, x = _model(precision), _inputs()
    serial = model.run(x)
    dx = da.from_array(x, chunks=(5, 4, 3))  # T and I chunks are merged by score_array
    _same_bits(grd.score_array(model, dx, readout="all").compute(), serial)
    _same_bits(grd.score_array(model, dx).compute(), serial[:, -1])


@pytest.mark.parametrize("precision", PRECISIONS)
def test_score_array_lengths_run_each_prefix_alone(client, precision: str) -> None:
    model, x = _model(precision), _inputs()
    lengths = np.random.default_rng(2).integers(1, x.shape[1] + 1, x.shape[0])
    lengths[:3] = x.shape[1]
    dx = da.from_array(x, chunks=(6, -1, -1))
    last = grd.score_array(model, dx, lengths, readout="last").compute()
    every = grd.score_array(model, dx, da.from_array(lengths, chunks=4), readout="all").compute()
    for k, n in enumerate(lengths):
        alone = model.run(x[k, :n])
        _same_bits(last[k], alone[-1])
        _same_bits(every[k, :n], alone)
        assert not every[k, n:].any()


def test_model_is_loaded_once_per_worker_and_is_one_graph_key(client) -> None:
    model = _model("f32", (3, 5, 2))
    client.run(lambda: grd._models.clear())
    y = grd.score_array(model, da.from_array(_inputs(40), chunks=(2, -1, -1)))
    model_keys = [k for k in dict(y.__dask_graph__()) if str(k).startswith("gru_rt-model-")]
    assert len(model_keys) == 1
    y.compute()
    digest = model_keys[0].split("-")[-1]
    cached = client.run(lambda: list(grd._models))
    assert len(cached) == 2 and all(keys == [digest] for keys in cached.values())


def test_score_array_argument_errors(client) -> None:
    model, x = _model("f32"), _inputs()
    with pytest.raises(grd.ScoreError, match=r"x has shape \(23, 9, 4\), expected \(N, T, 3\)"):
        grd.score_array(model, da.zeros((23, 9, 4)))
    with pytest.raises(grd.ScoreError, match="readout is 'first'"):
        grd.score_array(model, x, readout="first")
    with pytest.raises(grd.ScoreError, match=r"sequence 4: length 10, expected 0 … 9"):
        grd.score_array(model, x, np.r_[[1] * 4, 10, [1] * 18])
    with pytest.raises(grd.ScoreError, match=r"lengths has shape \(22,\), expected \(23,\)"):
        grd.score_array(model, x, np.ones(22, int))
    with pytest.raises(grd.ScoreError, match="lengths has dtype float64"):
        grd.score_array(model, x, np.ones(23))


def test_score_array_zero_length_with_last_readout_names_the_sequence(client) -> None:
    model, x = _model("f32"), _inputs()
    lengths = np.full(23, 3)
    lengths[17] = 0
    y = grd.score_array(model, da.from_array(x, chunks=(5, -1, -1)), da.from_array(lengths, 5))
    with pytest.raises(grd.ScoreError, match="sequence 17: length 0 has no last step"):
        y.compute()


@pytest.mark.parametrize("precision", PRECISIONS)
def test_score_array_list_equals_serial_ragged_run(client, precision: str) -> None:
    model, x = _model(precision), _inputs(n=600)
    lengths = np.random.default_rng(4).integers(1, x.shape[1] + 1, x.shape[0])
    seqs = [x[k, :n] for k, n in enumerate(lengths)]
    serial = model.run(seqs)  # the list form: a list of (T_k, O)
    last = grd.score_array(model, seqs)
    assert last.numblocks[0] == 3  # LIST_CHUNK sequences per task
    _same_bits(last.compute(), np.stack([y[-1] for y in serial]))
    every = grd.score_array(model, tuple(seqs), readout="all").compute()
    for k, y in enumerate(serial):
        _same_bits(every[k, :len(y)], y)
        assert not every[k, len(y):].any()


def test_score_array_list_errors_name_the_sequence(client) -> None:
    model, x = _model("f32"), _inputs()
    seqs = [x[k, :k % 5 + 1] for k in range(len(x))]
    seqs[6] = np.zeros((4, 5), np.float32)
    with pytest.raises(grd.ScoreError, match=r"sequence 6 has shape \(4, 5\), expected \(T, 3\): "
                                             r"3 features per step"):
        grd.score_array(model, seqs)
    seqs[6] = np.zeros(3, np.float32)
    with pytest.raises(grd.ScoreError, match=r"sequence 6 has shape \(3,\), expected \(T, 3\)"):
        grd.score_array(model, seqs)
    seqs[6] = np.array([["a", "b", "c"]])
    with pytest.raises(grd.ScoreError, match="sequence 6 has dtype <U1, expected real numbers"):
        grd.score_array(model, seqs)
    with pytest.raises(grd.ScoreError, match="lengths goes with a padded"):
        grd.score_array(model, seqs[:2], np.array([1, 1]))
    with pytest.raises(grd.ScoreError, match="the list of sequences is empty"):
        grd.score_array(model, [])


# --- score_frame -------------------------------------------------------------------------------

def _long_frame(n_ids: int = 17, seed: int = 0) -> pd.DataFrame:
    """Long format as a log is written: ids with 1 … 12 steps at irregular increasing times, the
    rows of all ids interleaved in time order."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_ids):
        steps = int(rng.integers(1, 13))
        times = np.cumsum(rng.integers(1, 5, steps))
        for t in times:
            rows.append((f"unit{k:03d}", int(t), *rng.normal(size=3)))
    frame = pd.DataFrame(rows, columns=["unit", "t", "a", "b", "c"])
    return frame.sort_values("t", kind="stable").reset_index(drop=True)


def _serial_frame(model: gru_rt.Model, frame: pd.DataFrame, readout: str) -> pd.DataFrame:
    parts = []
    for _, g in frame.groupby("unit", sort=True):  # each id's rows in the frame's order
        ys = model.run(g[["a", "b", "c"]].to_numpy(np.float32))
        if readout == "last":
            g, ys = g.iloc[-1:], ys[-1:]
        out = pd.DataFrame({"unit": g["unit"].to_numpy(), "t": g["t"].to_numpy()})
        for j in range(ys.shape[1]):
            out[f"y{j}"] = ys[:, j]
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["unit", "t"]).reset_index(drop=True)


def _same_frames(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = _sorted(got)
    assert list(got.columns) == list(want.columns)
    assert got["unit"].tolist() == want["unit"].tolist()  # nothing lost or duplicated
    assert got["t"].tolist() == want["t"].tolist()
    for col in want.columns[2:]:
        _same_bits(got[col].to_numpy(), want[col].to_numpy())


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("readout", ["last", "all"])
def test_score_frame_shuffled_equals_serial(client, precision: str, readout: str) -> None:
    model, frame = _model(precision), _long_frame()
    scores = grd.score_frame(model, dd.from_pandas(frame, npartitions=4), id="unit", time="t",
                             readout=readout)
    _same_frames(scores.compute(), _serial_frame(model, frame, readout))


def test_score_frame_indexed_by_id_needs_no_shuffle(client) -> None:
    model, frame = _model("q15"), _long_frame(seed=4)
    ddf = dd.from_pandas(frame.set_index("unit").sort_index(kind="stable"), npartitions=3,
                         sort=True)
    assert ddf.known_divisions
    scores = grd.score_frame(model, ddf, id="unit", time="t", features=["a", "b", "c"])
    assert not any("shuffle" in str(k) for k in dict(scores.__dask_graph__()))
    _same_frames(scores.compute(), _serial_frame(model, frame, "last"))


def test_score_frame_column_errors(client) -> None:
    model, ddf = _model("f32"), dd.from_pandas(_long_frame(), npartitions=2)
    with pytest.raises(grd.ScoreError, match="id column 'uid' is not in the frame"):
        grd.score_frame(model, ddf, id="uid", time="t")
    with pytest.raises(grd.ScoreError, match="time column 'time' is not in the frame"):
        grd.score_frame(model, ddf, id="unit", time="time")
    with pytest.raises(grd.ScoreError, match=r"2 feature columns \['a', 'b'\], but the model "
                                             r"takes 3 inputs"):
        grd.score_frame(model, ddf, id="unit", time="t", features=["a", "b"])
    with pytest.raises(grd.ScoreError, match=r"feature columns \['d'\] are not in the frame"):
        grd.score_frame(model, ddf, id="unit", time="t", features=["a", "b", "d"])
    with pytest.raises(grd.ScoreError, match="feature column 'unit' has dtype"):
        grd.score_frame(_model("f32", (1, 3, 2)), ddf, id="t", time="a", features=["unit"])
    with pytest.raises(grd.ScoreError, match="the frame has a column '__gru_rt_row__', the name "
                                             "gru_rt.dask gives row numbers"):
        grd.score_frame(model, ddf.assign(__gru_rt_row__=1), id="unit", time="t",
                        features=["a", "b", "c"])


def _damaged(kind: str) -> tuple[pd.DataFrame, str]:
    """The frame with one fault in sequence unit005, and the error message naming it."""
    frame = _sorted(_long_frame())
    rows = np.flatnonzero(frame["unit"] == "unit005")
    row, t = int(rows[1]), int(frame.loc[rows[1], "t"])
    if kind == "nan":
        frame.loc[row, "b"] = np.nan
        return frame, f"sequence 'unit005': feature 'b' is nan at time {t}"
    if kind == "inf":
        frame.loc[row, "c"] = -np.inf
        return frame, f"sequence 'unit005': feature 'c' is -inf at time {t}"
    if kind == "duplicate":  # the copy far from the original, in the last partition
        frame = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
        return frame, f"sequence 'unit005': time stamp {t} appears twice"
    if kind == "unsorted":  # its second row moved to the top, a partition before its first
        t0 = int(frame.loc[rows[0], "t"])
        frame = pd.concat([frame.iloc[[row]], frame.drop(index=row)], ignore_index=True)
        return frame, (f"sequence 'unit005': step 1 has time stamp {t0}, before step 0's {t}; a "
                       f"sequence's rows must come in time order")
    assert kind == "no time"
    frame["t"] = frame["t"].astype(float)
    frame.loc[row, "t"] = np.nan
    return frame, "sequence 'unit005': a row has no time stamp ('t' missing)"


@pytest.mark.parametrize("kind", ["nan", "inf", "duplicate", "unsorted", "no time"])
@pytest.mark.parametrize("indexed", [False, True])
def test_score_frame_bad_rows_name_the_sequence(client, kind: str, indexed: bool) -> None:
    frame, message = _damaged(kind)
    assert frame["unit"].iloc[:1].tolist() != ["unit005"] or kind == "unsorted"
    if indexed:  # one map_partitions, no shuffle: each id's rows in one partition, in order
        ddf = dd.from_pandas(frame.set_index("unit").sort_index(kind="stable"), npartitions=3,
                             sort=True)
    else:  # numbered, shuffled on the id, put back in row order
        ddf = dd.from_pandas(frame, npartitions=3)
    scores = grd.score_frame(_model("f32"), ddf, id="unit", time="t")
    with pytest.raises(grd.ScoreError, match=re.escape(message)):
        scores.compute()


def test_score_partition_restores_the_row_order_a_shuffle_lost() -> None:
    model, frame = _model("f32"), _long_frame(seed=2)
    numbered = pd.concat([grd._number_rows(frame.iloc[rows], {"number": k}) for k, rows in
                          enumerate(np.array_split(np.arange(len(frame)), 3))])
    assert numbered[grd._ROW].is_monotonic_increasing and numbered[grd._ROW].is_unique
    scrambled = numbered.sample(frac=1.0, random_state=3)  # as a shuffle may deliver them
    data = model.to_bytes()
    got = grd._score_partition(scrambled, "digest-of-this-test", data, "unit", "t",
                               ["a", "b", "c"], "all")
    _same_frames(got, _serial_frame(model, frame, "all"))
    with pytest.raises(grd.ScoreError, match=r"sequence .*: step \d+ has time stamp"):
        grd._score_partition(scrambled.drop(columns=grd._ROW), "digest-of-this-test", data,
                             "unit", "t", ["a", "b", "c"], "all")


def test_a_part_without_a_feature_column_is_named(tmp_path) -> None:
    model, frame = _model("f32"), _sorted(_long_frame())
    parts = tmp_path / "archive"
    parts.mkdir()
    first = frame["unit"] < "unit009"
    frame[first].to_parquet(parts / "part0.parquet", index=False)
    frame[~first].drop(columns="c").to_parquet(parts / "part1.parquet", index=False)
    for features in (None, ["a", "b", "c"]):  # (Dask reads part1 with part0's columns)
        with pytest.raises(grd.ScoreError, match=re.escape(
                f"{parts / 'part1.parquet'}: no column ['c'] (its columns: ['unit', 't', 'a', "
                f"'b']); every part of the archive needs the id, time and feature columns")):
            grd.score_parquet(model, str(parts), tmp_path / "out", id="unit", time="t",
                              features=features, scheduler="tcp://127.0.0.1:1")  # never reached
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive"]
    # a partition from another reader: its first sequence is named
    with pytest.raises(grd.ScoreError, match=re.escape(
            "sequence 'unit009': no column ['c'] in its part (whose columns are ['unit', 't', "
            "'a', 'b'])")):
        grd._score_partition(frame[~first].drop(columns="c"), "digest-of-this-test",
                             model.to_bytes(), "unit", "t", ["a", "b", "c"], "last")


# --- faults ------------------------------------------------------------------------------------

def test_killed_worker_loses_and_duplicates_nothing(client) -> None:
    model = _model("q15", (8, 48, 4))
    x = np.random.default_rng(9).normal(size=(24 * 48, 150, 8)).astype(np.float32)
    serial = model.run(x)[:, -1]
    y = grd.score_array(model, da.from_array(x, chunks=(48, -1, -1))).persist()
    futures = distributed.futures_of(y)
    distributed.wait(futures, return_when="FIRST_COMPLETED")
    holder = next(iter(client.who_has([f for f in futures if f.done()][:1]).values()))[0]
    pid = client.run(os.getpid, workers=[holder])[holder]
    done_before = sum(f.done() for f in futures)
    os.kill(pid, signal.SIGKILL)  # its finished chunks are lost with it and computed again
    result = y.compute()
    assert done_before < len(futures)  # the kill came mid-job
    _same_bits(result, serial)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the tests after this one


# --- gru-rt score ------------------------------------------------------------------------------

def test_cli_score_writes_serial_bits_all_or_nothing(client, tmp_path, monkeypatch) -> None:
    from gru_rt import fileio
    from gru_rt.cli import main

    frame = _long_frame(seed=7)
    data = tmp_path / "archive"
    data.mkdir()
    for k, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[rows].to_parquet(data / f"part{k}.parquet", index=False)
    spec = random_spec([3, 6, 2], "q8", seed=3)
    spec.save(tmp_path / "m.grt")
    model, out = spec.load(), tmp_path / "scores.parquet"
    args = [str(tmp_path / "m.grt"), str(data), "-o", str(out), "--id", "unit", "--time", "t"]
    assert main(["score", *args, "--readout", "all", "--features", "a,b,c", "--workers", "1"]) == 0
    _same_frames(pd.read_parquet(out), _serial_frame(model, frame, "all"))

    def interrupt(directory):  # Ctrl-C after the parts are written, before they replace `out`
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio, "_fsync_directory", interrupt)
    args += ["--scheduler", client.scheduler.address]  # the fixture's cluster: quicker
    with pytest.raises(KeyboardInterrupt):
        main(["score", *args])
    monkeypatch.undo()
    _same_frames(pd.read_parquet(out), _serial_frame(model, frame, "all"))  # the old output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "m.grt", "scores.parquet"]
    assert main(["score", *args]) == 0  # the re-run replaces it whole
    _same_frames(pd.read_parquet(out), _serial_frame(model, frame, "last"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "m.grt", "scores.parquet"]


def test_cli_score_refusals(tmp_path, capsys) -> None:
    from gru_rt.cli import main

    data = tmp_path / "data.parquet"
    _long_frame().to_parquet(data, index=False)
    random_spec([3, 6, 2]).save(tmp_path / "m.grt")
    base = [str(tmp_path / "m.grt"), str(data), "--id", "unit", "--time", "t"]
    assert main(["score", *base, "-o", str(data)]) == 1
    assert "would replace the input" in capsys.readouterr().err
    assert main(["score", *base, "-o", str(tmp_path / "o"), "--features", "a,b"]) == 1
    assert "2 feature columns ['a', 'b'], but the model takes 3" in capsys.readouterr().err
    assert main(["score", *base, "-o", str(tmp_path / "o"), "--workers", "0"]) == 1
    assert "--workers is 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    broken = tmp_path / "broken.parquet"  # pyarrow's ArrowInvalid was a traceback
    broken.write_bytes(b"PAR1" + bytes(40) + b"PAR1")
    assert main(["score", str(tmp_path / "m.grt"), str(broken), "--id", "unit", "--time", "t",
                 "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"cannot read {broken} as Parquet: " in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_score_names_the_sequence_out_of_time_order_and_writes_nothing(client, tmp_path,
                                                                         capsys) -> None:
    from gru_rt.cli import main

    frame, message = _damaged("unsorted")
    frame.to_parquet(tmp_path / "data.parquet", index=False)
    random_spec([3, 6, 2]).save(tmp_path / "m.grt")
    assert main(["score", str(tmp_path / "m.grt"), str(tmp_path / "data.parquet"), "-o",
                 str(tmp_path / "out"), "--id", "unit", "--time", "t", "--scheduler",
                 client.scheduler.address]) == 1
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet", "m.grt"]


def test_atomic_directory_removes_its_temp_on_failure(tmp_path) -> None:
    from gru_rt.fileio import UnsafeFileError, atomic_directory

    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "part").write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafeFileError, match="it is a regular file; the output must be new or "
                                              "an existing directory"), \
            atomic_directory(tmp_path / "file"):
        pass


def test_killed_worker_during_frame_scoring_loses_and_duplicates_no_sequence(client) -> None:
    model, frame = _model("q8", (3, 24, 2)), _long_frame(n_ids=400, seed=11)
    scores = grd.score_frame(model, dd.from_pandas(frame, npartitions=12), id="unit", time="t")
    scores = scores.persist()
    futures = distributed.futures_of(scores)
    distributed.wait(futures, return_when="FIRST_COMPLETED")
    holder = next(iter(client.who_has([f for f in futures if f.done()][:1]).values()))[0]
    pid = client.run(os.getpid, workers=[holder])[holder]
    done_before = sum(f.done() for f in futures)
    os.kill(pid, signal.SIGKILL)
    got = scores.compute()
    assert done_before < len(futures)
    assert got["unit"].is_unique and len(got) == 400
    _same_frames(got, _serial_frame(model, frame, "last"))
    client.wait_for_workers(2, timeout=60)
