"""The gru-rt command line end to end: convert a NumPy (.npz) source, inspect it, run it. No
framework needed (the CLI on a PyTorch state dict against PyTorch: tests/test_torch_parity.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gru_rt
from gru_rt.cli import main
from gru_rt.reference import reference_run
from gru_rt.spec import ModelSpec

from .models import random_spec, save_npz

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gru_rt", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, Path, ModelSpec]:
    """A two-layer GRU 5 -> 24 -> 24 with a softmax head to 3, saved as .npz and converted."""
    tmp = tmp_path_factory.mktemp("cli")
    spec = random_spec([5, 24, 24, 3], head="softmax", seed=0)
    source = tmp / "net.npz"
    save_npz(spec, source)
    model = tmp / "net.grt"
    done = cli("convert", str(source), "-o", str(model), "--head-activation", "softmax")
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    return source, model, spec


def test_convert_then_run_matches_reference(converted, tmp_path: Path) -> None:
    _, model, spec = converted
    xs = np.random.default_rng(1).standard_normal((3, 1000, 5)).astype(np.float32)
    np.save(tmp_path / "in.npy", xs)
    np.save(tmp_path / "one.npy", xs[0].astype(np.float64))
    assert main(["run", str(model), str(tmp_path / "in.npy"), "-o", str(tmp_path / "out.npy")]) == 0
    assert main(["run", str(model), str(tmp_path / "one.npy"), "-o", str(tmp_path / "o1.npy")]) == 0
    expected = np.stack([reference_run(spec, x)[0] for x in xs])
    got = np.load(tmp_path / "out.npy")
    assert got.shape == (3, 1000, 3) and got.dtype == np.float32
    assert np.max(np.abs(got - expected)) <= 1e-5
    np.testing.assert_array_equal(np.load(tmp_path / "o1.npy"), got[0])


def test_convert_weight_layout(converted, tmp_path: Path) -> None:
    state_dict, panel8, _ = converted  # H = 24: "auto" stores every layer in panel8
    row_major = tmp_path / "row_major.grt"
    done = cli("convert", str(state_dict), "-o", str(row_major), "--head-activation", "softmax",
               "--weight-layout", "row-major")
    assert done.returncode == 0, done.stderr
    assert {info.weight_layout for info in gru_rt.load(panel8).layers} == {"panel8"}
    assert {info.weight_layout for info in gru_rt.load(row_major).layers} == {"row-major"}
    xs = np.random.default_rng(3).standard_normal((20, 5)).astype(np.float32)
    np.testing.assert_allclose(gru_rt.load(panel8).run(xs), gru_rt.load(row_major).run(xs),
                               atol=1e-6)
    assert "panel8" in cli("info", str(panel8)).stdout
    bad = cli("convert", str(state_dict), "-o", str(tmp_path / "x.grt"), "--weight-layout", "cols")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_info_shows_layers_and_metadata(converted) -> None:
    _, model, _ = converted
    done = cli("info", str(model))
    assert done.returncode == 0, done.stderr
    for words in ("GRU", "5 → 24", "Dense", "softmax", "verified", "source.framework: numpy"):
        assert words in done.stdout


def test_tools_convert_script_is_the_same_converter(converted, tmp_path: Path) -> None:
    state_dict, model, _ = converted
    out = tmp_path / "again.grt"
    done = subprocess.run([sys.executable, "tools/convert.py", str(state_dict), "-o", str(out),
                           "--head-activation", "softmax"], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == model.read_bytes()  # deterministic


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gru-rt: error: ")
    return lines[0]


def test_corrupted_model_gets_one_line_naming_the_problem(converted, tmp_path: Path) -> None:
    _, model, _ = converted
    data = bytearray(model.read_bytes())
    data[-5] ^= 0x40
    bad = tmp_path / "bad.grt"
    bad.write_bytes(bytes(data))
    assert "GRT_E_CHECKSUM" in one_line_error(cli("info", str(bad)))
    bad.write_bytes(bytes(data[:200]))
    assert "GRT_E_TRUNCATED" in one_line_error(cli("info", str(bad)))


def test_user_errors_are_one_line(converted, tmp_path: Path) -> None:
    state_dict, model, _ = converted
    assert "No such file" in one_line_error(cli("info", str(tmp_path / "missing.grt")))
    assert "is the input file" in one_line_error(
        cli("convert", str(state_dict), "-o", str(state_dict)))
    np.save(tmp_path / "wrong.npy", np.zeros((10, 4), np.float32))
    out = tmp_path / "never.npy"
    line = one_line_error(cli("run", str(model), str(tmp_path / "wrong.npy"), "-o", str(out)))
    assert "(10, 4)" in line and "(T, 5)" in line
    assert not out.exists()
    assert "mish" in one_line_error(
        cli("convert", str(state_dict), "-o", str(tmp_path / "x.grt"), "--head-activation", "mish"))
    assert not (tmp_path / "x.grt").exists()


def test_info_cpu_names_the_kernels() -> None:
    import gru_rt

    done = cli("info", "--cpu")
    assert done.returncode == 0, done.stderr
    assert f"kernels: {gru_rt.cpu_info()['isa']}" in done.stdout
    done = cli("info")
    assert done.returncode == 1 and "needs a MODEL" in done.stderr


def test_unbuilt_source_tree_says_so_in_one_line(tmp_path: Path) -> None:
    """python -m gru_rt where the unbuilt package (no compiled _core) comes first on sys.path, as
    in a source checkout after a non-editable install (-S keeps the installed copy out of the
    way)."""
    package = tmp_path / "gru_rt"
    for source in (ROOT / "gru_rt").rglob("*.py"):
        target = package / source.relative_to(ROOT / "gru_rt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    done = subprocess.run([sys.executable, "-S", "-m", "gru_rt", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"gru-rt: error: {package} has no compiled core (gru_rt._core): it is "
                           f"the unbuilt source tree, which hides an installed gru_rt when Python "
                           f"runs from {tmp_path}; run from another directory, or build it in "
                           f"place (pip install -e .)\n")
    imported = subprocess.run([sys.executable, "-S", "-c", "import gru_rt"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert imported.returncode == 1
    assert imported.stderr.splitlines()[-1].startswith(f"ImportError: {package} has no compiled")
