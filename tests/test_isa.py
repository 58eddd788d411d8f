"""Run-time kernel dispatch: every instruction-set level the CPU supports matches the NumPy
reference, keeps run() == step() bit for bit and agrees with the scalar level; cpu_info and ISA
selection. No framework needed (each level against PyTorch: tests/test_torch_parity.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

import gru_rt
from gru_rt import _core
from gru_rt.reference import reference_run

from .models import random_spec

TOL = 1e-5
AVAILABLE = gru_rt.cpu_info()["available"]
X86_LEVELS = ["avx2", "avxvnni", "avx512vnni"]
ALL_LEVELS = ["scalar", "avx2", "neon", "neon_dot", "avxvnni", "avx512vnni"]


def _level(name: str) -> str:
    """Skip the test of a level this CPU or build lacks, saying so."""
    if name not in AVAILABLE:
        pytest.skip(f"ISA level {name} not available on this CPU/build (available: "
                    f"{', '.join(AVAILABLE)})")
    return name


@pytest.fixture(autouse=True)
def restore_isa() -> Iterator[None]:
    original = gru_rt.cpu_info()["isa"]
    yield
    _core._select_isa(original)


def test_cpu_info() -> None:
    info = gru_rt.cpu_info()
    assert set(info) == {"isa", "best", "available"}
    assert info["available"][0] == "scalar"
    assert info["best"] == info["available"][-1]
    assert info["isa"] in info["available"]
    assert set(info["available"]) <= set(ALL_LEVELS)
    # One architecture's levels: x86-64 has no NEON, AArch64 no AVX2 (the list is not a prefix).
    assert not (set(X86_LEVELS) & set(AVAILABLE) and {"neon", "neon_dot"} & set(AVAILABLE))
    # The VNNI levels are avx2 plus the dot-product instructions.
    assert "avx2" in AVAILABLE or not {"avxvnni", "avx512vnni"} & set(AVAILABLE)


def test_isa_names() -> None:
    assert _core._isa_names() == ALL_LEVELS


def _cpu_flags() -> set[str] | None:
    """The flags of /proc/cpuinfo (Linux x86-64: the kernel lists a feature only when it also
    saves its register state), or None elsewhere."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return None


def test_available_levels_are_the_cpus() -> None:
    """The levels that run (AVAILABLE, each parametrized test below) are exactly those the CPU
    reports, as far as this build has them (GRT_FEATURE_*: a build without a level never offers
    it)."""
    flags = _cpu_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags to compare with (not Linux x86-64)")
    avx2 = {"avx2", "fma"} <= flags
    expected = ["scalar"]
    expected += ["avx2"] if avx2 else []
    expected += ["avxvnni"] if avx2 and "avx_vnni" in flags else []
    expected += ["avx512vnni"] if avx2 and {"avx512f", "avx512bw", "avx512vl",
                                            "avx512_vnni"} <= flags else []
    built = _core._isa_built()
    assert [name for name in expected if name in built] == AVAILABLE


UNSUPPORTED = [name for name in _core._isa_names() if name not in AVAILABLE]


def test_select_isa_rejects_unknown_and_unsupported() -> None:
    before = gru_rt.cpu_info()["isa"]
    with pytest.raises(ValueError, match="unknown ISA"):
        _core._select_isa("avx512")
    for name in UNSUPPORTED:  # e.g. neon and neon_dot on x86-64
        with pytest.raises(ValueError, match="not supported"):
            _core._select_isa(name)
    assert gru_rt.cpu_info()["isa"] == before


@pytest.mark.parametrize("isa", AVAILABLE)
def test_select_isa(isa: str) -> None:
    _core._select_isa(isa)
    assert gru_rt.cpu_info()["isa"] == isa


def _import_with_env(value: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GRU_RT_ISA=value)
    code = "import gru_rt; print(gru_rt.cpu_info()['isa'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=False)


@pytest.mark.parametrize("isa", AVAILABLE)
def test_env_var_selects_isa(isa: str) -> None:
    proc = _import_with_env(isa)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == isa


def test_env_var_unknown_isa_fails_import() -> None:
    proc = _import_with_env("sse9")
    assert proc.returncode != 0
    assert "GRU_RT_ISA" in proc.stderr and "unknown ISA" in proc.stderr


@pytest.mark.parametrize("isa", UNSUPPORTED)
def test_env_var_unsupported_isa_fails_import(isa: str) -> None:
    proc = _import_with_env(isa)
    assert proc.returncode != 0
    assert f"GRU_RT_ISA={isa!r}" in proc.stderr
    assert "not supported by this CPU or build" in proc.stderr


CASES = [(1, 1, 1, 1), (3, 7, 2, 5), (17, 33, 3, 2), (40, 64, 2, 10), (5, 129, 1, 3)]
_EXPECTED: dict[tuple[int, ...], tuple[gru_rt.Model, np.ndarray, np.ndarray]] = {}


def _case(i: int, h: int, layers: int, o: int) -> tuple[gru_rt.Model, np.ndarray, np.ndarray]:
    """(model, inputs of 1000 steps, the NumPy reference's outputs), computed once per case."""
    key = (i, h, layers, o)
    if key not in _EXPECTED:
        spec = random_spec([i] + [h] * layers + [o], seed=h)
        xs = np.random.default_rng(h).standard_normal((1000, i)).astype(np.float32)
        _EXPECTED[key] = (spec.load(), xs, reference_run(spec, xs)[0])
    return _EXPECTED[key]


@pytest.mark.parametrize("isa", ALL_LEVELS)
@pytest.mark.parametrize("i,h,layers,o", CASES)
def test_isa_matches_reference_and_scalar(isa: str, i: int, h: int, layers: int, o: int) -> None:
    _level(isa)
    model, xs, expected = _case(i, h, layers, o)

    _core._select_isa("scalar")
    scalar = model.run(xs)

    _core._select_isa(isa)
    stream = model.stream()
    stepped = np.stack([stream.step(x) for x in xs])
    run = model.run(xs)

    assert np.max(np.abs(stepped - expected)) <= TOL
    assert np.array_equal(run, stepped), "run() must equal step() bit for bit"
    assert np.max(np.abs(run - scalar)) <= TOL
