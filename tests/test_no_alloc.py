"""No allocation in the step path: Stream.step/run (and the q15 int16 variants) with out= allocate
nothing at all, Python objects or NumPy data, measured with tracemalloc's peak around one call."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

import gru_rt
from gru_rt.quantize import quantize
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec


def _model(precision: str) -> gru_rt.Model:
    rng = np.random.default_rng(0)
    spec = ModelSpec([GRULayer(rng.normal(0, 0.5, (24, 5)), rng.normal(0, 0.5, (24, 8)),
                               rng.normal(0, 0.1, 24), rng.normal(0, 0.1, 24)),
                      DenseLayer(rng.normal(0, 0.5, (3, 8)), np.zeros(3), activation="softmax")])
    return gru_rt.load((spec if precision == "f32" else quantize(spec, precision)[0]).to_bytes())


def _bytes_allocated_by(call: Callable[[], object]) -> int:
    """Peak traced memory above the level before the call: 0 if nothing was allocated, even
    temporarily."""
    call()  # warm-up: first-call caches (e.g. run()'s work buffer) are allowed
    tracemalloc.start()
    try:
        worst = 0
        for _ in range(3):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            call()
            worst = max(worst, tracemalloc.get_traced_memory()[1] - before)
        return worst
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("precision", ["f32", "q8", "q15"])
def test_step_and_run_with_out_allocate_nothing(precision: str) -> None:
    stream = _model(precision).stream()
    x, out = np.ones(5, np.float32), np.empty(3, np.float32)
    xs, ys = np.ones((40, 5), np.float32), np.empty((40, 3), np.float32)
    step, run = stream.step, stream.run  # bound once: a method lookup may allocate
    assert _bytes_allocated_by(lambda: step(x, out=out)) == 0
    assert _bytes_allocated_by(lambda: run(xs, out=ys)) == 0
    if precision == "q15":
        xq, oq = np.ones(5, np.int16), np.empty(3, np.int16)
        xsq, ysq = np.ones((40, 5), np.int16), np.empty((40, 3), np.int16)
        step_q, run_q = stream.step_int16, stream.run_int16
        assert _bytes_allocated_by(lambda: step_q(xq, out=oq)) == 0
        assert _bytes_allocated_by(lambda: run_q(xsq, out=ysq)) == 0


def test_the_probe_sees_an_allocation() -> None:
    stream = _model("f32").stream()
    x = np.ones(5, np.float32)
    assert _bytes_allocated_by(lambda: stream.step(x)) > 0  # no out=: a new array each call
