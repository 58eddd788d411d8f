"""Cross builds of the C core against x86 (docs/EMBEDDING.md).

aarch64: examples/c/stream_file is built natively (the best kernel level, AVX2 where the CPU has it,
and the scalar level alone with GRT_NO_X86_SIMD) and with aarch64-linux-gnu-gcc -static, run
under qemu-aarch64: at the best level of `-cpu max` (neon_dot), at the neon level of `-cpu
cortex-a57` (no dot product) and, built with GRT_NO_ARM_SIMD, at the scalar level; the
JapaneseVowels demo model, converted to f32, q8 and q15, streams the same frames through each. q15
and q8 outputs are bit-identical everywhere (and equal to the Python API); f32 is bit-identical
between the scalar builds (the same C, IEEE single precision, no contraction, no libm) and agrees
with the AVX2 and NEON levels (other summation orders, fused multiply-adds) to rounding.

Cortex-M: `make -C csrc mps2-run` runs the demo (port/cortex-m/demo.c) under QEMU: the q15 model
on mps2-an385 (Cortex-M3) with the M3 and M0+ builds of the q15-only core, the f32 and q8 models on
mps2-an386 (Cortex-M4F) with the full core; it compares the outputs itself (f32 with Python at the
scalar level), and this test also parses them and compares them with the Python API in this process:
q15 (Model.run_int16) and q8 bit for bit, f32 to rounding (this process may use the AVX2 level).

Missing cross tools skip these tests with the reason; GRT_REQUIRE_CROSS=1 (set by .ci/run) makes
that a failure instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gru_rt

from .c_core import CSRC, INCLUDE_FLAGS, lib_sources

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "models" / "japanese_vowels_gru.npz"
LIB_SOURCES = lib_sources()
# The library's flags of csrc/Makefile (the example itself as examples/c/Makefile builds it).
FLAGS = ["-std=c99", "-O3", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", *INCLUDE_FLAGS]
DEBIAN = {"aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu", "qemu-aarch64": "qemu-user",
          "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
          "qemu-system-arm": "qemu-system-arm", "cc": "gcc"}


def _require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if "arm-none-eabi-gcc" in tools and not missing:
        done = subprocess.run(["arm-none-eabi-gcc", "--specs=rdimon.specs",
                               "-print-file-name=librdimon.a"], capture_output=True, text=True)
        if "/" not in done.stdout:
            missing.append("newlib for arm-none-eabi")
    if missing:
        packages = " ".join(DEBIAN.get(t, t) for t in missing)
        reason = f"needs {', '.join(missing)} (Debian: apt-get install {packages})"
        if os.environ.get("GRT_REQUIRE_CROSS"):
            pytest.fail(reason + "; GRT_REQUIRE_CROSS is set")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """stream_file five ways: native best level, native scalar only, and aarch64 under qemu at the
    best level of a CPU with and without the dot product and at the scalar level only."""
    _require("cc", "aarch64-linux-gnu-gcc", "qemu-aarch64")
    out = tmp_path_factory.mktemp("cross")
    example = str(ROOT / "examples" / "c" / "stream_file.c")
    aarch64 = ["aarch64-linux-gnu-gcc", "-static"]
    builds = {
        "x86 best": (["cc"], [], "x86_best"),
        "x86 scalar": (["cc", "-DGRT_NO_X86_SIMD"], [], "x86_scalar"),
        "aarch64 neon_dot": (aarch64, ["qemu-aarch64", "-cpu", "max"], "aarch64"),
        "aarch64 neon": (aarch64, ["qemu-aarch64", "-cpu", "cortex-a57"], "aarch64"),
        "aarch64 scalar": ([*aarch64, "-DGRT_NO_ARM_SIMD"], ["qemu-aarch64"], "aarch64_scalar"),
    }
    programs = {}
    for name, (compiler, runner, exe_name) in builds.items():
        exe = out / exe_name
        if not exe.exists():
            subprocess.run([*compiler, *FLAGS, *LIB_SOURCES, example, "-o", str(exe)], check=True)
        programs[name] = [*runner, str(exe)]
    return programs


def _frames() -> np.ndarray:
    rng = np.random.default_rng(11)
    xs = rng.normal(0, 1.5, (400, 12)).astype("<f4")
    xs[::37] *= 8  # some large inputs: saturation at the q15 boundary, large pre-activations
    return xs


def _stream(program: list[str], model: Path, frames: Path, shape: tuple[int, int]) -> np.ndarray:
    done = subprocess.run([*program, str(model), str(frames)], check=True, capture_output=True)
    return np.frombuffer(done.stdout, "<f4").reshape(shape)


@pytest.mark.parametrize("precision", ["q15", "q8", "f32"])
def test_aarch64_matches_x86(tmp_path: Path, programs: dict[str, list[str]],
                             precision: str) -> None:
    model_path = tmp_path / f"jv_{precision}.grt"
    gru_rt.convert(MODEL, head_activation="softmax", precision=precision).save(model_path)
    xs = _frames()
    frames = tmp_path / "frames.f32"
    xs.tofile(frames)
    python = gru_rt.load(model_path).run(xs)
    out = {name: _stream(p, model_path, frames, python.shape) for name, p in programs.items()}

    # Both scalar builds run the same C with IEEE single precision and no contraction: equal bits,
    # f32 included.
    np.testing.assert_array_equal(out["aarch64 scalar"], out["x86 scalar"])
    # neon and neon_dot share their f32 kernels, and q8/q15 are the contract's bits at every level.
    np.testing.assert_array_equal(out["aarch64 neon"], out["aarch64 neon_dot"])
    for name in ("x86 best", "aarch64 neon_dot"):
        if precision in ("q15", "q8"):
            # Every level gives the q8/q15 contract's bits; the Python API agrees.
            np.testing.assert_array_equal(out[name], out["aarch64 scalar"])
            np.testing.assert_array_equal(out[name], python)
        else:
            # AVX2 and NEON sum in other orders with fused multiply-adds: rounding differences only.
            np.testing.assert_allclose(out[name], out["aarch64 scalar"], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(out[name], python, rtol=1e-5, atol=1e-6)


def _demo_frames(header: str) -> tuple[np.ndarray, list[int]]:
    starts_text = re.search(r"demo_starts\[DEMO_UTTERANCES\] = \{([^}]*)\}", header)
    frames_text = re.search(r"demo_frames\[DEMO_FRAMES\]\[\d+\] = \{(.*)\};", header, re.S)
    assert starts_text and frames_text
    starts = [int(v) for v in starts_text.group(1).split(",")]
    rows = re.findall(r"\{([^{}]*)\}", frames_text.group(1))
    if "int16_t demo_frames" in header:
        return np.array([[int(v) for v in r.split(",")] for r in rows], dtype=np.int16), starts
    values = [[float.fromhex(v.strip().rstrip("f")) for v in r.split(",")] for r in rows]
    return np.array(values, dtype=np.float32), starts


def test_cortex_m_matches_x86(tmp_path: Path) -> None:
    _require("arm-none-eabi-gcc", "qemu-system-arm")
    build = tmp_path / "build"
    done = subprocess.run(["make", "--no-print-directory", "-C", str(CSRC), "mps2-run",
                           f"BUILD={build}", f"PYTHON={sys.executable}"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("bit-identical to x86") == 4, done.stdout

    for run, precision in [("m3-q15", "q15"), ("m0p-q15", "q15"), ("m4f-q8", "q8"),
                           ("m4f-f32", "f32")]:
        gen = build / "mps2" / f"gen-{precision}"
        model = gru_rt.load(gen / "demo_model.grt")
        frames, starts = _demo_frames((gen / "demo_frames.h").read_text())
        bounds = [*starts, len(frames)]
        run_python = model.run_int16 if precision == "q15" else model.run
        expected = np.concatenate([run_python(frames[a:b]) for a, b in zip(bounds, bounds[1:])])
        text = (build / "mps2" / f"output-{run}.txt").read_text()
        assert f"gru_rt {precision} on Cortex-M: isa scalar" in text
        rows = re.findall(r"^y (\d+):((?: -?[0-9a-f]+)+)$", text, re.M)
        assert [int(t) for t, _ in rows] == list(range(len(frames)))
        if precision == "q15":
            got = np.array([[int(v) for v in values.split()] for _, values in rows], dtype=np.int16)
        else:
            bits = [[int(v, 16) for v in values.split()] for _, values in rows]
            got = np.array(bits, dtype=np.uint32).view(np.float32)
        if precision == "f32" and gru_rt.cpu_info()["isa"] != "scalar":
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, expected)
