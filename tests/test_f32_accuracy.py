"""f32 as exact as the framework (issue 12, item 6): the runtime's float activations within a few
ulps of the correctly rounded value, and whole models within 2× of PyTorch's own float32 error
against the float64 reference, at every ISA level and weight layout. The measurements themselves
are tools/f32_accuracy.py (docs/ACCURACY.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import f32_accuracy as acc  # noqa: E402

from gru_rt.reference import ACTIVATION_FUNCTIONS  # noqa: E402

from .models import random_spec  # noqa: E402

# Measured maxima (docs/ACCURACY.md): tanh 1.28 ulp, sigmoid 2.42 ulp; the bounds leave some room.
MAX_ULPS = {"tanh": 1.5, "sigmoid": 3.0}


@pytest.mark.parametrize("act", sorted(MAX_ULPS))
def test_activation_ulp_error(each_isa: str, act: str) -> None:
    lo, hi = acc.RANGES[act]
    xs = acc.float_grid(lo, hi, 4099)  # an odd stride: every binade, many mantissas
    exact = ACTIVATION_FUNCTIONS[act](xs.astype(np.float64))
    err = acc.ulp_error(acc.runtime_activation(act, xs), exact)
    assert err.max() <= MAX_ULPS[act], f"{act} at x={xs[np.argmax(err)]!r}: {err.max():.2f} ulp"


def test_ulp_error_measures_ulps() -> None:
    """The measuring stick itself: one float32 step away is one ulp, the exact value zero."""
    x = np.array([1.0, 0.75, 3e-5], np.float32)
    assert np.allclose(acc.ulp_error(np.nextafter(x, np.float32(9)), x.astype(np.float64)), 1.0)
    assert np.all(acc.ulp_error(x, x.astype(np.float64)) == 0)


MODELS = {
    "issue 8-96-96-10": lambda: random_spec([8, 96, 96, 10], seed=1),
    "8-96-96-10 std 1": lambda: random_spec([8, 96, 96, 10], seed=2, weight_std=1.0),
    "4-128-3 softmax": lambda: random_spec([4, 128, 3], seed=4, head="softmax"),
}


@pytest.mark.parametrize("layout", ["auto", "row-major"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_error_within_2x_of_torch(each_isa: str, name: str, layout: str) -> None:
    pytest.importorskip("torch")
    ours, theirs = acc.model_errors(MODELS[name](), 1000, seed=0, layout=layout)
    assert ours <= 2.0 * theirs, f"gru_rt {ours:.3g} vs torch {theirs:.3g} from float64"
