"""docs/EMBEDDING.md: the minimal program of the page compiles as written, in the q15-only,
no-float-boundary configuration of the C core, against a model exported with `gru-rt export-c`, and
gives the Python API's int16 outputs; the memory formulas of the page equal grt_stream_size and
grt_run_work_size (Model.stream_nbytes / run_work_nbytes) and grt_batch_run_work_size
(Model.batch_work_nbytes) for models of every precision."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gru_rt
from gru_rt.quantize import quantize
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

from .c_core import INCLUDE_FLAGS, lib_sources

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "EMBEDDING.md"
CC = shutil.which("cc") or shutil.which("gcc")
Q15_ONLY = ["-DGRT_NO_F32", "-DGRT_NO_Q8", "-DGRT_NO_FLOAT_BOUNDARY"]

MAIN = r"""
#include <stdio.h>

int main(void)
{
    static int16_t x[KWS_MODEL_INPUT_SIZE], y[KWS_MODEL_OUTPUT_SIZE];
    if (kws_init() != 0)
        return 1;
    for (int t = 0; t < 2 * 20; t++) {
        if (t == 20)
            kws_new_utterance();
        if (fread(x, sizeof x, 1, stdin) != 1 || kws_step(x, y) != 0)
            return 2;
        if (fwrite(y, sizeof y, 1, stdout) != 1)
            return 2;
    }
    return 0;
}
"""


def _doc_example() -> str:
    blocks = re.findall(r"```c\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "no C example in docs/EMBEDDING.md"
    return blocks[0]


@pytest.mark.skipif(CC is None, reason="needs a C compiler")
def test_minimal_program_compiles_and_matches_python(tmp_path: Path) -> None:
    model_path = tmp_path / "kws.grt"
    gru_rt.convert(ROOT / "examples" / "models" / "japanese_vowels_gru.npz",
                   head_activation="softmax", precision="q15").save(model_path)
    done = subprocess.run([sys.executable, "-m", "gru_rt", "export-c", str(model_path), "-o",
                           str(tmp_path / "kws_model")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (tmp_path / "example.c").write_text(_doc_example() + MAIN)
    exe = tmp_path / "example"
    subprocess.run([str(CC), "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                    "-ffp-contract=off", *Q15_ONLY, *INCLUDE_FLAGS, f"-I{tmp_path}",
                    str(tmp_path / "example.c"), str(tmp_path / "kws_model.c"),
                    *lib_sources(), "-o", str(exe)], check=True)

    model = gru_rt.load(model_path)
    xs = np.random.default_rng(3).integers(-20000, 20000, (2, 20, model.input_size), dtype=np.int16)
    ran = subprocess.run([str(exe)], input=xs.astype("<i2").tobytes(), capture_output=True)
    assert ran.returncode == 0
    got = np.frombuffer(ran.stdout, "<i2").reshape(2, 20, model.output_size)
    np.testing.assert_array_equal(got, model.run_int16(xs))  # (N, T, I): a fresh stream each


def _r(n: int) -> int:
    return (n + 63) // 64 * 64


def _doc_formulas(spec: ModelSpec, precision: str, c: int) -> tuple[int, int]:
    """grt_stream_size and grt_run_work_size as docs/EMBEDDING.md writes them."""
    sizes = [(layer.input_size, layer.output_size, isinstance(layer, GRULayer))
             for layer in spec.layers]
    s = sum(o for _, o, gru in sizes if gru)
    g = max([3 * o for _, o, gru in sizes if gru], default=0)
    w = max(max(i, o) for i, o, _ in sizes)
    if precision == "q15":
        return (_r(2 * s) + _r(4 * max(g, w)) + _r(4 * g) + 3 * _r(2 * w),
                _r(c * (4 * max(g, w) + 4 * w)))
    stream = _r(4 * s) + 2 * _r(4 * g) + 3 * _r(4 * w)
    if precision == "q8":
        return stream + 64 + 2 * _r(w), _r(c * (4 * g + 8 * w + 4 + w))
    return stream, _r(c * (4 * g + 8 * w))


def _doc_batch_formula(spec: ModelSpec, precision: str, b: int, c: int) -> int:
    """grt_batch_run_work_size as docs/EMBEDDING.md writes it."""
    sizes = [(layer.input_size, layer.output_size, isinstance(layer, GRULayer))
             for layer in spec.layers]
    s = sum(o for _, o, gru in sizes if gru)
    g = max([3 * o for _, o, gru in sizes if gru], default=0)
    w = max(max(i, o) for i, o, _ in sizes)
    if precision == "q15":
        return (_r(2 * b * s) + _r(4 * b * g) + _r(2 * b * w) + _r(4 * b)
                + _r(c * b * (4 * max(g, w) + 4 * w)))
    rows = _r(4 * b * s) + _r(4 * b * g) + _r(4 * b * w) + _r(4 * b)
    if precision == "q8":
        return rows + _r(b * w) + _r(4 * b) + _r(c * b * (4 * g + 8 * w + 4 + w))
    return rows + _r(c * b * (4 * g + 8 * w))


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_memory_formulas(precision: str) -> None:
    rng = np.random.default_rng(8)
    for i, h1, h2, o in [(12, 48, 0, 9), (3, 5, 0, 2), (40, 7, 33, 6), (2, 64, 100, 300)]:
        layers: list[GRULayer | DenseLayer] = [
            GRULayer(rng.normal(0, 0.3, (3 * h1, i)), rng.normal(0, 0.3, (3 * h1, h1)),
                     rng.normal(0, 0.1, 3 * h1), rng.normal(0, 0.1, 3 * h1))]
        last = h1
        if h2:
            layers.append(GRULayer(rng.normal(0, 0.3, (3 * h2, h1)),
                                   rng.normal(0, 0.3, (3 * h2, h2)),
                                   rng.normal(0, 0.1, 3 * h2), rng.normal(0, 0.1, 3 * h2)))
            last = h2
        layers.append(DenseLayer(rng.normal(0, 0.3, (o, last)), rng.normal(0, 0.1, o),
                                 activation="softmax"))
        spec = ModelSpec(layers)
        if precision != "f32":
            spec = quantize(spec, precision)[0]
        model = gru_rt.load(spec.to_bytes())
        for c in (1, 16):
            assert _doc_formulas(spec, precision, c) == (model.stream_nbytes,
                                                         model.run_work_nbytes(c))
            for b in (1, 3, 16):
                assert _doc_batch_formula(spec, precision, b, c) == model.batch_work_nbytes(b, c)
