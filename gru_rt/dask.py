"""Scoring archives on Dask (issue 19): the same bits as Model.run, on every worker of a cluster.

    import gru_rt.dask as grd
    ys = grd.score_array(model, x)              # x: dask array (N, T, I) → (N, O), last step
    scores = grd.score_frame(model, frame, id="unit", time="t")   # long-format dask DataFrame

Needs the optional extra `pip install 'gru_rt[dask]'` (dask[distributed], pandas, pyarrow). The
model travels once per worker: its file bytes are one key of the task graph that every chunk task
depends on, so Dask sends them to a worker once and keeps them there; each worker process loads them
once (through the C loader) and caches the Model by the bytes' SHA-256. docs/SCALE.md has the guide.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._core import Model
from .errors import GruRtError, MissingDependencyError

if TYPE_CHECKING:
    import dask.array as da
    import dask.dataframe as dd
    import pandas as pd

__all__ = ["READOUTS", "ScoreError", "score_array", "score_frame", "score_parquet"]

READOUTS = ("last", "all")
LIST_CHUNK = 256  # sequences per task when score_array is given a list
_INSTALL = "pip install 'gru_rt[dask]' (dask[distributed], pandas, pyarrow)"
_CACHE_SIZE = 8  # models kept loaded per worker process
_models: dict[str, Model] = {}  # this process's loaded models, by SHA-256 of their bytes
_ROW = "__gru_rt_row__"  # the column carrying each row's place in the frame through a shuffle
_PARTITION_SHIFT = 40  # row number = partition << 40 | row within the partition


class ScoreError(GruRtError, ValueError):
    """Input that cannot be scored: names the sequence (id or index) or the column and the fault."""


def _import_dask() -> tuple[Any, Any, Any]:
    """(dask, dask.array, dask.dataframe), or ImportError saying what to install."""
    try:
        import dask
        import dask.array
        import dask.dataframe
        import pandas  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"gru_rt.dask needs Dask and pandas ({e}): {_INSTALL}") from e
    return dask, dask.array, dask.dataframe


def _as_model(model: Model | str | os.PathLike[str] | bytes) -> Model:
    if isinstance(model, Model):
        return model
    from . import load

    return load(model)


def _model_key(model: Model) -> tuple[str, Any]:
    """(digest, a Delayed holding the model's bytes): one graph key, named by the digest, so the
    bytes go to each worker once and identical models share the key."""
    dask, _, _ = _import_dask()
    data = model.to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    return digest, dask.delayed(data, name=f"gru_rt-model-{digest}")


def _cached_model(digest: str, data: bytes) -> Model:
    """The Model of these bytes in this process, loaded on first use."""
    model = _models.get(digest)
    if model is None:
        from . import load

        model = load(data)
        if len(_models) >= _CACHE_SIZE:
            _models.pop(next(iter(_models)))
        _models[digest] = model
    return model


def _check_readout(readout: str) -> None:
    if readout not in READOUTS:
        raise ScoreError(f"readout is {readout!r}, expected one of {', '.join(READOUTS)}")


# --- arrays ------------------------------------------------------------------------------------

def score_array(model: Model | str | os.PathLike[str] | bytes, x: Any, lengths: Any = None,
                readout: str = "last") -> da.Array:
    """Score a dask array x (N, T, I), chunked along N, with the batched Model.run per chunk.

    readout "last": (N, O), each sequence's output at its last step; "all": (N, T, O).
    lengths (N,) integers (NumPy or dask), optional: sequence k is its first lengths[k] steps
    (0 ≤ lengths[k] ≤ T), the padding never stepped through (Model.run's ragged form); "last"
    then takes step lengths[k] - 1 (a length of 0 is refused) and "all" fills the steps past the
    length with zeros. x may also be a list (or tuple) of (T_k, I) arrays, sequences of different
    lengths (Model.run's list form): they are padded into chunks of LIST_CHUNK sequences with
    their lengths, so "all" gives the padded (N, max T_k, O) form. Returns a lazy dask array (call
    .compute()); float32.
    """
    _, da, _ = _import_dask()
    model = _as_model(model)
    _check_readout(readout)
    if isinstance(x, (list, tuple)):
        if lengths is not None:
            raise ScoreError("lengths goes with a padded (N, T, I) array; the sequences of a list "
                             "have their own lengths")
        padded, lengths = _padded(x, model.input_size)
        x = da.from_array(padded, chunks=(LIST_CHUNK, -1, -1))
    x = da.asarray(x)
    if x.ndim != 3 or x.shape[2] != model.input_size:
        raise ScoreError(f"x has shape {x.shape}, expected (N, T, {model.input_size}) for this "
                         f"model")
    if x.shape[1] == 0:
        raise ScoreError("x has 0 time steps; every sequence needs at least one")
    x = x.rechunk({1: -1, 2: -1})
    digest, data = _model_key(model)
    n_out = model.output_size
    chunks: tuple[tuple[int, ...], ...] = (x.chunks[0], (n_out,)) if readout == "last" else \
        (x.chunks[0], x.chunks[1], (n_out,))
    args: list[Any] = [x]
    if lengths is not None:
        args.append(_lengths_array(da, lengths, x))
    kwargs = {"digest": digest, "data": data, "readout": readout}
    return da.map_blocks(_score_block, *args, **kwargs, chunks=chunks, dtype=np.float32,
                         drop_axis=[1, 2] if readout == "last" else [2],
                         new_axis=[1] if readout == "last" else [2],
                         meta=np.empty((0,) * len(chunks), np.float32))


def _padded(sequences: Sequence[Any], width: int) -> tuple[np.ndarray, np.ndarray]:
    """A list of (T_k, width) sequences as (padded (N, max T_k, width) float32, lengths), or a
    ScoreError naming the first sequence (its index) of another shape."""
    seqs = [np.asarray(s) for s in sequences]
    if not seqs:
        raise ScoreError("the list of sequences is empty")
    for k, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[1] != width:
            raise ScoreError(f"sequence {k} has shape {s.shape}, expected (T, {width}): "
                             f"{width} features per step for this model")
        if s.dtype.kind not in "biuf":
            raise ScoreError(f"sequence {k} has dtype {s.dtype}, expected real numbers")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    padded = np.zeros((len(seqs), int(lengths.max(initial=0)), width), np.float32)
    for row, s in zip(padded, seqs):
        row[:len(s)] = s
    return padded, lengths


def _lengths_array(da: Any, lengths: Any, x: Any) -> Any:
    n, t = x.shape[0], x.shape[1]
    if isinstance(lengths, np.ndarray) or not hasattr(lengths, "chunks"):
        lengths = np.asarray(lengths)
        _check_lengths(lengths, t, 0, n)
    lengths = da.asarray(lengths)
    if lengths.ndim != 1 or lengths.shape[0] != n:
        raise ScoreError(f"lengths has shape {lengths.shape}, expected ({n},)")
    if lengths.dtype.kind not in "iu":
        raise ScoreError(f"lengths has dtype {lengths.dtype}, expected integers")
    # (N, 1, 1): map_blocks lines blocks up by trailing axes, as NumPy broadcasts
    return lengths.rechunk((x.chunks[0],))[:, None, None]


def _check_lengths(lengths: np.ndarray, steps: int, offset: int, n: int | None = None) -> None:
    """ScoreError naming the first sequence (its index in x) whose length is outside 0 … steps."""
    if n is not None and lengths.shape != (n,):
        raise ScoreError(f"lengths has shape {lengths.shape}, expected ({n},)")
    if lengths.dtype.kind not in "iu":
        raise ScoreError(f"lengths has dtype {lengths.dtype}, expected integers")
    bad = np.flatnonzero((lengths < 0) | (lengths > steps))
    if bad.size:
        k = int(bad[0])
        raise ScoreError(f"sequence {offset + k}: length {int(lengths[k])}, expected 0 … {steps} "
                         f"(the time steps of x)")


def _score_block(x: np.ndarray, lengths: np.ndarray | None = None, *, digest: str, data: bytes,
                 readout: str, block_info: dict[Any, Any] | None = None) -> np.ndarray:
    """One chunk on a worker: (n, T, I) → (n, O) or (n, T, O)."""
    model = _cached_model(digest, data)
    if lengths is None:
        return model.run(x, readout=readout)
    offset = block_info[0]["array-location"][0][0] if block_info else 0
    lengths = lengths.reshape(-1)
    _check_lengths(lengths, x.shape[1], offset)  # here for errors naming the index in all of x
    if readout == "last" and lengths.size and lengths.min() == 0:
        k = int(np.flatnonzero(lengths == 0)[0])
        raise ScoreError(f"sequence {offset + k}: length 0 has no last step (readout='last')")
    return model.run(x, lengths=lengths, readout=readout)


# --- long-format frames ------------------------------------------------------------------------

def score_frame(model: Model | str | os.PathLike[str] | bytes, frame: Any, id: str, time: str,
                features: Sequence[str] | None = None, readout: str = "last") -> dd.DataFrame:
    """Score a long-format dask DataFrame: one row per time step, with a sequence id column, a
    time stamp column and feature columns (default: all the others, in frame order).

    Each sequence is its id's rows in the frame's row order (partitions in order, rows in order
    within each), run from a zero state; that order is the order the device saw them, so the time
    stamps must increase along it: rows out of time order are refused, never re-sorted. When the
    frame is indexed by the id with known divisions (e.g. read_parquet(..., index=id,
    calculate_divisions=True) on data written sorted by id), every id lies in one partition and the
    scoring is one map_partitions; otherwise each row is numbered and the frame shuffled on the id,
    the numbers restoring the row order after the shuffle. Output: readout "last", one row per
    sequence (id, the time of its last step, y0 … y{O-1}); "all", one row per step. float32
    outputs; rows come grouped by partition, sorted by id (then time) within each.
    ScoreError (on compute, from the worker) names the sequence id for NaN or infinite features,
    a missing, duplicate or out-of-order time stamp; missing columns and a wrong feature count
    fail at once.
    """
    _, _, dd = _import_dask()
    model = _as_model(model)
    _check_readout(readout)
    indexed = frame.index.name == id and id not in frame.columns
    columns = [id, *frame.columns] if indexed else list(frame.columns)
    for name, what in ((id, "id"), (time, "time")):
        if name not in columns:
            raise ScoreError(f"{what} column {name!r} is not in the frame (columns: {columns})")
    if id == time:
        raise ScoreError(f"id and time are the same column {id!r}")
    feats = [c for c in columns if c not in (id, time)] if features is None else list(features)
    missing = [c for c in feats if c not in columns]
    if missing:
        raise ScoreError(f"feature columns {missing} are not in the frame (columns: {columns})")
    if len(feats) != model.input_size:
        raise ScoreError(f"{len(feats)} feature columns {feats}, but the model takes "
                         f"{model.input_size} inputs")
    for c in feats:
        if c in (id, time):
            raise ScoreError(f"feature column {c!r} is also the id or time column")
        if frame[c].dtype.kind not in "biuf":
            raise ScoreError(f"feature column {c!r} has dtype {frame[c].dtype}, expected numbers")
    if _ROW in columns:
        raise ScoreError(f"the frame has a column {_ROW!r}, the name gru_rt.dask gives row numbers")
    if not (indexed and frame.known_divisions):
        if indexed:
            frame = frame.reset_index()
        meta = frame._meta.assign(**{_ROW: np.empty(0, np.int64)})
        frame = frame.map_partitions(_number_rows, meta=meta).shuffle(on=id)
    digest, data = _model_key(model)
    empty = frame._meta if id in frame._meta.columns else frame._meta.reset_index()
    meta = _empty_output(empty, id, time, model.output_size)
    return frame.map_partitions(_score_partition, digest, data, id, time, feats, readout,
                                meta=meta, align_dataframes=False)


def _output_frame(part: pd.DataFrame, id: str, time: str, ids: np.ndarray, times: np.ndarray,
                  ys: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({id: pd.Series(ids, dtype=part[id].dtype),
                        time: pd.Series(times, dtype=part[time].dtype)})
    for j in range(ys.shape[1]):
        out[f"y{j}"] = ys[:, j]
    return out


def _empty_output(part: pd.DataFrame, id: str, time: str, n_out: int) -> pd.DataFrame:
    return _output_frame(part, id, time, part[id].to_numpy()[:0], part[time].to_numpy()[:0],
                         np.empty((0, n_out), np.float32))


def _number_rows(part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """The partition with its rows' places in the whole frame's order (a shuffle loses it)."""
    number = partition_info["number"] if partition_info else 0
    rows = np.arange(len(part), dtype=np.int64) + (np.int64(number) << _PARTITION_SHIFT)
    return part.assign(**{_ROW: rows})


def _shown(value: Any) -> str:
    """A sequence id or time stamp for an error message: Python's repr, not NumPy's."""
    if isinstance(value, np.datetime64):
        return str(value)
    return repr(value.item() if isinstance(value, np.generic) else value)


def _score_partition(part: pd.DataFrame, digest: str, data: bytes, id: str, time: str,
                     features: list[str], readout: str) -> pd.DataFrame:
    """One partition on a worker: every id in it is complete (the caller's partitioning)."""
    model = _cached_model(digest, data)
    if id not in part.columns:
        part = part.reset_index()
    absent = [c for c in (id, time, *features) if c not in part.columns]
    if absent:  # the Parquet parts of an archive need not share one schema
        named = id in part.columns and len(part)
        whose = f"sequence {_shown(part[id].iloc[0])}" if named else "a part of the data"
        raise ScoreError(f"{whose}: no column {absent} in its part (whose columns are "
                         f"{[c for c in part.columns if c != _ROW]})")
    if len(part) == 0:
        return _empty_output(part, id, time, model.output_size)
    if part[id].isna().any():
        raise ScoreError(f"{int(part[id].isna().sum())} rows have no sequence id ({id!r} missing)")
    # each id's rows together, in the frame's row order (restored from _ROW after a shuffle)
    part = part.sort_values([id, _ROW] if _ROW in part.columns else id, kind="stable")
    ids = part[id].to_numpy()
    times = part[time].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    _check_times(part, id, time, ids, times, starts)
    x = part[features].to_numpy(dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ScoreError(f"sequence {_shown(ids[row])}: feature {features[col]!r} is "
                         f"{x[row, col]} at time {_shown(times[row])}")
    ys = model.run(np.split(x, starts[1:]), readout=readout)  # the ragged batched run
    if readout == "all":
        return _output_frame(part, id, time, ids, times, np.concatenate(ys))
    ends = np.r_[starts[1:], len(ids)] - 1
    return _output_frame(part, id, time, ids[starts], times[ends], ys)


def _check_times(part: pd.DataFrame, id: str, time: str, ids: np.ndarray, times: np.ndarray,
                 starts: np.ndarray) -> None:
    """ScoreError naming the first sequence with a missing, repeated or out-of-order time stamp
    (part's rows grouped by id, each id's rows in the frame's order, as ids/times/starts say)."""
    no_time = part[time].isna().to_numpy()
    if no_time.any():
        raise ScoreError(f"sequence {_shown(ids[no_time.argmax()])}: a row has no time stamp "
                         f"({time!r} missing)")
    repeated = part.duplicated([id, time]).to_numpy()
    if repeated.any():
        k = int(repeated.argmax())
        raise ScoreError(f"sequence {_shown(ids[k])}: time stamp {_shown(times[k])} appears "
                         f"twice")
    backwards = np.flatnonzero((ids[1:] == ids[:-1]) & (times[1:] < times[:-1]))
    if backwards.size:
        k = int(backwards[0])
        step = k + 1 - int(starts[np.searchsorted(starts, k, side="right") - 1])
        raise ScoreError(f"sequence {_shown(ids[k])}: step {step} has time stamp "
                         f"{_shown(times[k + 1])}, before step {step - 1}'s {_shown(times[k])}; a "
                         f"sequence's rows must come in time order (docs/SCALE.md, 'Row order')")


# --- files (gru-rt score) ----------------------------------------------------------------------

def _overlaps(source: Path, output: Path) -> bool:
    """Whether replacing `output` would touch `source` (the same path, or one inside the other)."""
    a, b = source.resolve(), output.resolve()
    return a == b or b in a.parents or a in b.parents

@contextlib.contextmanager
def _parquet_errors(what: str) -> Iterator[None]:
    """pyarrow's error (a file missing or not Parquet, a damaged part found while scoring, a part
    that cannot be written) as a one-line ScoreError saying `what` failed, not a traceback or
    Dask's wrapping of it."""
    import pyarrow

    try:
        yield
    except (pyarrow.ArrowException, OSError) as e:  # (pyarrow raises OSError for damaged footers)
        message = str(e).split("Original Message:")[-1].strip().splitlines()[0]
        raise ScoreError(f"{what}: {message}") from None


def _check_parts(source: str, columns: list[str]) -> None:
    """ScoreError naming the first Parquet file of `source` that lacks one of `columns`: an
    archive's parts need not share one schema, and Dask reads each part with the first's."""
    import glob

    import pyarrow.dataset

    paths = sorted(glob.glob(source)) if glob.has_magic(source) else source
    for fragment in pyarrow.dataset.dataset(paths, format="parquet").get_fragments():
        names = fragment.physical_schema.names
        absent = [c for c in columns if c not in names]
        if absent:
            raise ScoreError(f"{fragment.path}: no column {absent} (its columns: {names}); "
                             f"every part of the archive needs the id, time and feature columns")


def score_parquet(model: Model | str | os.PathLike[str] | bytes, source: str, output: str | Path,
                  *, id: str, time: str, features: Sequence[str] | None = None,
                  readout: str = "last", scheduler: str | None = None, workers: int | None = None,
                  progress: bool = False) -> Path:
    """Score the long-format Parquet data set `source` (a file, a directory or a glob) into the
    Parquet directory `output`, written atomically (fileio.atomic_directory: a complete result or
    none). scheduler: a Dask scheduler address (every worker must read `source` and the output's
    parent directory under the same paths); else a LocalCluster of `workers` processes (default:
    one per CPU) with one thread each. progress: Dask's progress bar on stderr. Every local
    Parquet file's footer is read first: a file lacking a needed column is named at once."""
    _, _, dd = _import_dask()
    import distributed

    from .fileio import atomic_directory

    output = Path(output)
    if "://" not in source and _overlaps(Path(source), output):
        raise ScoreError(f"output {output} would replace the input {source}; choose another path")
    with _parquet_errors(f"cannot read {source} as Parquet"):
        frame = dd.read_parquet(source)
    scores = score_frame(model, frame, id=id, time=time, features=features, readout=readout)
    if "://" not in source:  # (remote stores: the read fails on the worker, without the file)
        with _parquet_errors(f"cannot read {source} as Parquet"):
            _check_parts(source, list(frame.columns) if features is None else [id, time, *features])
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address=":0"))  # a free port: never clashes with a running cluster
            scheduler = cluster.scheduler_address
        client = stack.enter_context(distributed.Client(scheduler))
        with atomic_directory(output) as tmp:
            job = client.compute(scores.to_parquet(str(tmp), write_index=False, compute=False))
            if progress:
                distributed.progress(job)
            with _parquet_errors(f"scoring {source} into {output} failed"):
                job.result()
    return output
