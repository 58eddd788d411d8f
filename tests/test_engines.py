"""The Ray Data and Spark recipes of docs/SCALE.md (examples/score_ray.py, examples/score_spark.py)
on a small long-format archive: the same bits as the serial Model.run. Ray and PySpark are heavy
and not installed by `make setup-test`: `make test-engines` installs them and runs this module."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import gru_rt  # noqa: E402

from .models import random_spec  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FEATURES = ["a", "b", "c"]


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Long format in three Parquet parts: 40 ids of 1 … 30 steps, rows interleaved in time."""
    rng = np.random.default_rng(8)
    rows = []
    for k in range(40):
        times = np.cumsum(rng.integers(1, 4, int(rng.integers(1, 31))))
        rows += [(f"unit{k:03d}", int(t), *rng.normal(size=3)) for t in times]
    frame = pd.DataFrame(rows, columns=["unit", "t", *FEATURES]).sort_values("t", kind="stable")
    path = tmp_path_factory.mktemp("engines") / "archive"
    path.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(path / f"part{k}.parquet", index=False)
    return path, frame


def _serial(model: gru_rt.Model, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per id, sorted by id: the last step's time and output of Model.run alone."""
    rows = []
    for unit, g in frame.groupby("unit", sort=True):
        g = g.sort_values("t")
        rows.append((unit, g["t"].iloc[-1], *model.run(g[FEATURES].to_numpy(np.float32))[-1]))
    out = pd.DataFrame(rows, columns=["unit", "t", *(f"y{j}" for j in range(model.output_size))])
    return out.astype({c: np.float32 for c in out.columns[2:]})


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values("unit").reset_index(drop=True)
    assert got["unit"].tolist() == want["unit"].tolist()  # every sequence once
    assert got["t"].tolist() == want["t"].tolist()
    for col in want.columns[2:]:
        a, b = got[col].to_numpy(), want[col].to_numpy()
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.fixture(scope="module")
def ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed (make test-engines)")
    os.environ["PYTHONPATH"] = str(EXAMPLES)  # the workers import score_ray's functions
    # 4 logical CPUs on any machine: two actors and the group-by's tasks beside them
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=200 * 2**20,
             log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_ray_recipe_equals_serial_run(archive, ray, tmp_path, precision: str) -> None:
    path, frame = archive
    random_spec([3, 8, 2], precision, seed=1).save(tmp_path / "m.grt")
    got = _example("score_ray").score(str(tmp_path / "m.grt"), str(path), "unit", "t", FEATURES)
    _same(got, _serial(gru_rt.load(tmp_path / "m.grt"), frame))


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="PySpark is not installed (make test-engines)")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (apt-get install default-jre-headless)")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers: this venv's Python, not python3
    session = (SparkSession.builder.master("local[2]").appName("gru_rt test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .getOrCreate())
    yield session
    session.stop()


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_spark_recipe_equals_serial_run(archive, spark, tmp_path, precision: str) -> None:
    path, frame = archive
    random_spec([3, 8, 2], precision, seed=1).save(tmp_path / "m.grt")
    scores = _example("score_spark").score(spark, str(tmp_path / "m.grt"), str(path), "unit", "t",
                                           FEATURES)
    _same(scores.toPandas(), _serial(gru_rt.load(tmp_path / "m.grt"), frame))


def test_spark_recipe_refuses_a_repeated_time_stamp(spark, tmp_path) -> None:
    frame = pd.DataFrame({"unit": ["u1", "u1", "u2"], "t": [1, 1, 1], "a": 0.0, "b": 0.0,
                          "c": 0.0})
    frame.to_parquet(tmp_path / "dup.parquet", index=False)
    random_spec([3, 8, 2], "f32", seed=1).save(tmp_path / "m.grt")
    with pytest.raises(ValueError, match="sequence 'u1': a time stamp appears twice"):
        _example("score_spark").score(spark, str(tmp_path / "m.grt"), str(tmp_path / "dup.parquet"),
                                      "unit", "t", FEATURES)
