"""How exact is gru_rt's f32 path? Two measurements against float64:

  activations  each float activation of the runtime (the C code, run through a one-unit Dense
               layer y = act(1·x + 0), at every ISA level) over a dense sample of the float32
               inputs of its range: the maximum error in ulps of the correctly rounded result,
               next to PyTorch's own float32 functions on the same inputs;
  models       whole models over 1,000-step sequences: max |y - y64| of gru_rt f32 and of
               PyTorch float32 (same float32 weights), y64 the NumPy float64 reference
               (gru_rt/reference.py), and their ratio.

Usage: python tools/f32_accuracy.py [activations|models|all] [--stride N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gru_rt  # noqa: E402
from gru_rt import _core  # noqa: E402
from gru_rt.reference import (  # noqa: E402
    ACTIVATION_FUNCTIONS,
    PARAM_ACTIVATION_FUNCTIONS,
    reference_run,
)
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec  # noqa: E402

F32 = np.float32
BEST = _core.cpu_info()["best"]

# The input range measured per activation: beyond it the result is saturated (or the true value
# is below the float32 normal range, where ulps lose their meaning).
RANGES: dict[str, tuple[float, float]] = {
    "tanh": (-10.0, 10.0),
    "sigmoid": (-87.0, 30.0),
    "gelu": (-10.0, 10.0),
    "gelu_tanh": (-10.0, 10.0),
    "silu": (-80.0, 30.0),
    "softplus": (-80.0, 30.0),
    "elu": (-20.0, 10.0),  # alpha = 1
}


def float_grid(lo: float, hi: float, stride: int) -> np.ndarray:
    """Every stride-th float32 in [lo, hi] (by bit pattern, so dense near 0 as floats are)."""
    def ordered(v: float) -> int:
        b = int(np.array(v, F32).view(np.int32))
        return b if b >= 0 else -(b & 0x7FFFFFFF)
    k = np.arange(ordered(lo), ordered(hi) + 1, stride, dtype=np.int64)
    bits = np.where(k >= 0, k, (-k) | 0x80000000).astype(np.uint32)
    return bits.view(F32)


def ulp_error(y: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|y - exact| in units of the float32 spacing at the exact value (normal range)."""
    mag = np.maximum(np.abs(exact), np.finfo(F32).tiny)
    ulp = np.ldexp(1.0, np.floor(np.log2(mag)).astype(np.int64) - 23)
    return np.abs(y.astype(np.float64) - exact) / ulp


def runtime_activation(act: str, xs: np.ndarray) -> np.ndarray:
    """The runtime's act(x) for each x: a 1 → 1 Dense layer with w = 1, b = 0 (b + 1·x == x)."""
    alpha = 1.0 if act == "elu" else None
    spec = ModelSpec([DenseLayer(np.ones((1, 1)), np.zeros(1), activation=act, alpha=alpha)])
    return spec.load().run(xs.reshape(-1, 1)).reshape(-1)


def exact_activation(act: str, x: np.ndarray) -> np.ndarray:
    """The float64 value (gru_rt/reference.py; elu with alpha 1)."""
    x64 = x.astype(np.float64)
    if act == "elu":
        return PARAM_ACTIVATION_FUNCTIONS["elu"](x64, 1.0)
    return ACTIVATION_FUNCTIONS[act](x64)


def _errors(y: np.ndarray, ref: np.ndarray, xs: np.ndarray) -> str:
    ulps, absolute = ulp_error(y, ref), np.abs(y.astype(np.float64) - ref)
    return (f"max {ulps.max():.3g} ulp (at x={xs[np.argmax(ulps)]:.6g}), mean {ulps.mean():.3f} "
            f"ulp, max abs {absolute.max():.3g}")


def measure_activations(stride: int) -> None:
    import torch
    import torch.nn.functional as F

    torch_fn: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu": F.gelu,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"), "silu": F.silu,
        "softplus": F.softplus, "elu": F.elu}
    levels = _core.cpu_info()["available"]
    print(f"activation errors, every {stride}th float32 of the range")
    for act, (lo, hi) in RANGES.items():
        xs = float_grid(lo, hi, stride)
        ref = exact_activation(act, xs)
        row = [f"{act:8s} [{lo:g}, {hi:g}] ({xs.size} inputs):"]
        for isa in levels:
            _core._select_isa(isa)
            row.append(f"gru_rt {isa}: {_errors(runtime_activation(act, xs), ref, xs)}")
        with torch.no_grad():
            ty = torch_fn[act](torch.from_numpy(xs)).numpy()
        row.append(f"torch: {_errors(ty, ref, xs)}")
        print("\n    ".join(row))
    _core._select_isa(BEST)


# ---- models -------------------------------------------------------------------------------------


def to_torch(spec: ModelSpec):  # type: ignore[no-untyped-def]
    """The same float32 model as PyTorch modules (GRU reset_after = 1, tanh/sigmoid; Dense)."""
    import torch

    mods: list[torch.nn.Module] = []
    for layer in spec.validated().layers:
        if isinstance(layer, GRULayer):
            acts = (layer.activation, layer.gate_activation)
            assert layer.reset_after and acts == ("tanh", "sigmoid"), "torch's GRU form only"
            g = torch.nn.GRU(layer.input_size, layer.hidden_size)
            with torch.no_grad():
                g.weight_ih_l0.copy_(torch.from_numpy(layer.w_ih))
                g.weight_hh_l0.copy_(torch.from_numpy(layer.w_hh))
                g.bias_ih_l0.copy_(torch.from_numpy(layer.b_ih))
                g.bias_hh_l0.copy_(torch.from_numpy(layer.b_hh))
            mods.append(g)
        else:
            lin = torch.nn.Linear(layer.input_size, layer.output_size)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.w))
                lin.bias.copy_(torch.from_numpy(layer.b))
            mods.append(lin)
            act = {"linear": torch.nn.Identity(), "tanh": torch.nn.Tanh(),
                   "sigmoid": torch.nn.Sigmoid(), "relu": torch.nn.ReLU(),
                   "softmax": torch.nn.Softmax(-1)}[layer.activation]
            mods.append(act)
    return mods


def torch_run(spec: ModelSpec, xs: np.ndarray) -> np.ndarray:
    import torch

    y = torch.from_numpy(xs.astype(F32))[:, None, :]
    with torch.no_grad():
        for m in to_torch(spec):
            y = m(y)[0] if isinstance(m, torch.nn.GRU) else m(y)
    return y[:, 0, :].numpy()


def test_models() -> Iterator[tuple[str, ModelSpec]]:
    """Random models (tests/models.py) and the trained demo models (examples/models/)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from models import random_spec

    yield "random 8-96-96-10 (the issue's case)", random_spec([8, 96, 96, 10], seed=1)
    yield "random 8-96-96-10 std 1", random_spec([8, 96, 96, 10], seed=2, weight_std=1.0)
    yield "random 16-64-32-4", random_spec([16, 64, 32, 4], seed=3)
    yield "random 4-128-3", random_spec([4, 128, 3], seed=4)
    demo = ROOT / "examples" / "models"
    for name in ("japanese_vowels", "basic_motions"):
        yield f"demo {name}", gru_rt.convert(demo / f"{name}_gru.npz").validated()
    yield "demo japanese_vowels + softmax", gru_rt.convert(
        demo / "japanese_vowels_gru.npz", head_activation="softmax").validated()


def model_errors(spec: ModelSpec, steps: int, seed: int,
                 layout: str = "auto") -> tuple[float, float]:
    """max |y - y64| of gru_rt (the active ISA level, weight layout `layout`) and of PyTorch."""
    xs = np.random.default_rng(seed).standard_normal((steps, spec.input_size)).astype(F32)
    ref, _ = reference_run(spec, xs)
    ours = spec.load(layout).run(xs)
    theirs = torch_run(spec, xs)
    return float(np.max(np.abs(ours - ref))), float(np.max(np.abs(theirs - ref)))


def measure_models(steps: int) -> None:
    import torch

    torch.set_num_threads(1)
    print(f"model error vs the float64 reference, max |y - y64| over {steps} steps")
    for name, spec in test_models():
        for isa in _core.cpu_info()["available"]:
            _core._select_isa(isa)
            for layout in ("panel8", "row-major"):
                writer_layout = "auto" if layout == "panel8" else layout
                ours, theirs = model_errors(spec, steps, 0, writer_layout)
                print(f"  {name:34s} {isa:6s} {layout:9s}: gru_rt {ours:.3g}  torch {theirs:.3g}  "
                      f"ratio {ours / theirs:.2f}")
    _core._select_isa(BEST)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", default="all", choices=["activations", "models", "all"])
    ap.add_argument("--stride", type=int, default=64, help="measure every N-th float32 (1: all)")
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    if args.what in ("activations", "all"):
        measure_activations(args.stride)
    if args.what in ("models", "all"):
        measure_models(args.steps)


if __name__ == "__main__":
    main()
