"""gru-rt export-c and the C examples (examples/c): built with the system C compiler against the C
core, they stream the same frames as the Python API and produce exactly its outputs, for f32, q8
and q15 models; the exported source is deterministic and loads through the validating loader."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gru_rt
from gru_rt.export_c import c_sources
from gru_rt.quantize import quantize
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
EXAMPLES = ROOT / "examples" / "c"
CC = shutil.which("cc") or shutil.which("gcc")
# The examples see the public header alone (csrc/include), as an application does.
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-I{CSRC / 'include'}"]

pytestmark = pytest.mark.skipif(CC is None, reason="needs a C compiler")


@pytest.fixture(scope="module")
def libgru_rt() -> Path:
    subprocess.run(["make", "-s", "-C", str(CSRC)], check=True, capture_output=True)
    return CSRC / "build" / "libgru_rt.a"


def _model(precision: str) -> ModelSpec:
    rng = np.random.default_rng(5)
    i, h, o = 12, 17, 5
    spec = ModelSpec([
        GRULayer(rng.normal(0, 0.5, (3 * h, i)), rng.normal(0, 0.4, (3 * h, h)),
                 rng.normal(0, 0.2, 3 * h), rng.normal(0, 0.2, 3 * h), reset_after=False),
        DenseLayer(rng.normal(0, 0.5, (o, h)), rng.normal(0, 0.2, o), activation="softmax"),
    ])
    return spec if precision == "f32" else quantize(spec, precision)[0]


def _same_outputs(precision: str):  # type: ignore[no-untyped-def]
    """Exact equality, except for f32 when Python was forced to another kernel level than the one
    the C programs pick (GRU_RT_ISA): f32 levels agree to rounding only (FMA)."""
    info = gru_rt.cpu_info()
    if precision == "f32" and info["isa"] != info["best"]:
        return lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    return np.testing.assert_array_equal


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gru_rt", *args], capture_output=True, text=True)


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_examples_equal_the_python_api(tmp_path: Path, libgru_rt: Path, precision: str) -> None:
    spec = _model(precision)
    model_path = tmp_path / "model.grt"
    spec.save(model_path)
    xs = np.random.default_rng(6).normal(0, 1.5, (300, 12)).astype("<f4")
    frames = tmp_path / "frames.f32"
    xs.tofile(frames)
    expected = gru_rt.load(model_path).run(xs)
    check = _same_outputs(precision)

    stream_file = tmp_path / "stream_file"
    subprocess.run([CC, *FLAGS, str(EXAMPLES / "stream_file.c"), str(libgru_rt), "-o",
                    str(stream_file)], check=True)
    out = subprocess.run([str(stream_file), str(model_path), str(frames)], check=True,
                         capture_output=True).stdout
    check(np.frombuffer(out, "<f4").reshape(expected.shape), expected)
    with open(frames, "rb") as f:  # the same through stdin
        out = subprocess.run([str(stream_file), str(model_path)], stdin=f, check=True,
                             capture_output=True).stdout
    check(np.frombuffer(out, "<f4").reshape(expected.shape), expected)

    done = _cli("export-c", str(model_path), "-o", str(tmp_path / "model_data"))
    assert done.returncode == 0, done.stderr
    static_model = tmp_path / "static_model"
    subprocess.run([CC, *FLAGS, f"-I{tmp_path}", str(EXAMPLES / "static_model.c"),
                    str(tmp_path / "model_data.c"), str(libgru_rt), "-o", str(static_model)],
                   check=True)
    with open(frames, "rb") as f:
        out = subprocess.run([str(static_model)], stdin=f, check=True, capture_output=True).stdout
    check(np.frombuffer(out, "<f4").reshape(expected.shape), expected)


def test_stream_file_reports_bad_models_and_inputs(tmp_path: Path, libgru_rt: Path) -> None:
    exe = tmp_path / "stream_file"
    subprocess.run([CC, *FLAGS, str(EXAMPLES / "stream_file.c"), str(libgru_rt), "-o", str(exe)],
                   check=True)
    good = tmp_path / "m.grt"
    _model("q15").save(good)
    bad = tmp_path / "bad.grt"
    data = bytearray(good.read_bytes())
    data[100] ^= 0xFF
    bad.write_bytes(bytes(data))
    done = subprocess.run([str(exe), str(bad)], capture_output=True, text=True, input="")
    assert done.returncode == 1 and "GRT_E_CHECKSUM" in done.stderr
    done = subprocess.run([str(exe), str(tmp_path / "missing.grt")], capture_output=True, text=True)
    assert done.returncode == 2
    done = subprocess.run([str(exe), str(good)], capture_output=True, input=b"\0" * 20)
    assert done.returncode == 3 and b"truncated" in done.stderr


def test_export_is_deterministic_and_checked(tmp_path: Path) -> None:
    model = gru_rt.load(_model("q15").to_bytes())
    header, source = c_sources(model, "demo", "model.grt")
    assert (header, source) == c_sources(model, "demo", "model.grt")
    assert "#define DEMO_SIZE" in header and "DEMO_STREAM_BYTES" in header
    assert f"#define DEMO_STREAM_BYTES {model.stream_nbytes}u" in header
    assert source.count("0x") == model.nbytes
    path = tmp_path / "m.grt"
    path.write_bytes(model.to_bytes())
    done = _cli("export-c", str(path), "-o", str(tmp_path / "2bad"))
    assert done.returncode == 1 and "not usable as a C name" in done.stderr
    assert not (tmp_path / "2bad.c").exists()
    done = _cli("export-c", str(path), "-o", str(tmp_path / "2bad"), "--symbol", "ok_name")
    assert done.returncode == 0 and (tmp_path / "2bad.c").exists()
    assert '#include "2bad.h"' in (tmp_path / "2bad.c").read_text()
    broken = tmp_path / "broken.grt"
    broken.write_bytes(model.to_bytes()[:-1])
    done = _cli("export-c", str(broken), "-o", str(tmp_path / "x"))
    assert done.returncode == 1 and "GRT_E_" in done.stderr and not (tmp_path / "x.c").exists()
