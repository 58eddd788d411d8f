"""The test suite's one model builder: random canonical models from NumPy alone (no framework)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gru_rt.quantize import quantize
from gru_rt.spec import DenseLayer, GRULayer, Layer, LSTMLayer, ModelSpec


def random_spec(sizes: Sequence[int], precision: str = "f32", *, reset_after: bool = True,
                act: str = "tanh", gate: str = "sigmoid", head: str = "linear", seed: int = 0,
                weight_std: float = 0.5, calibration: np.ndarray | None = None,
                kinds: str | Sequence[str] = "gru") -> ModelSpec:
    """GRU layers for sizes[0] → sizes[1] → … → sizes[-2], then a Dense layer to sizes[-1].
    kinds: "gru" or "lstm" for every recurrent layer, or one per layer.

    Weights are N(0, weight_std²) (the recurrent ones scaled by 1/√H past H = 4, so that larger
    layers stay out of chaos), biases N(0, 0.3²). q8/q15 models are quantized from the float one,
    calibrated on `calibration` or on N(0, 1) sequences drawn from the same seed."""
    if len(sizes) < 2:
        raise ValueError(f"sizes {list(sizes)}: expected at least an input and an output size")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    n_rec = len(sizes) - 2
    kind_list = [kinds] * n_rec if isinstance(kinds, str) else list(kinds)
    for i, h, kind in zip(sizes[:-2], sizes[1:-1], kind_list):
        recurrent_std = weight_std * min(1.0, 2.0 / np.sqrt(h))
        if kind == "lstm":
            layers.append(LSTMLayer(rng.normal(0, weight_std, (4 * h, i)),
                                    rng.normal(0, recurrent_std, (4 * h, h)),
                                    rng.normal(0, 0.3, 4 * h), rng.normal(0, 0.3, 4 * h),
                                    activation=act, gate_activation=gate))
            continue
        layers.append(GRULayer(rng.normal(0, weight_std, (3 * h, i)),
                               rng.normal(0, recurrent_std, (3 * h, h)),
                               rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h),
                               reset_after=reset_after, activation=act, gate_activation=gate))
    layers.append(DenseLayer(rng.normal(0, weight_std, (sizes[-1], sizes[-2])),
                             rng.normal(0, 0.3, sizes[-1]), activation=head))
    spec = ModelSpec(layers)
    if precision == "f32":
        return spec
    if calibration is None:
        calibration = rng.normal(0, 1, (4, 40, sizes[0]))
    return quantize(spec, precision, calibration)[0]


def save_npz(spec: ModelSpec, path: Path) -> None:
    """A float spec as a NumPy source (.npz in the importer's default convention: the canonical
    one), so that tests can convert from a file without any framework."""
    arrays: dict[str, np.ndarray] = {}
    for k, layer in enumerate(spec.layers):
        if isinstance(layer, GRULayer):
            arrays.update({f"{k}.W": layer.w_ih, f"{k}.U": layer.w_hh, f"{k}.b_i": layer.b_ih,
                           f"{k}.b_h": layer.b_hh})
        else:
            arrays.update({f"{k}.W": layer.w, f"{k}.b": layer.b})
    np.savez(path, **{key: value.astype(np.float32) for key, value in arrays.items()})


def unverified_bytes(spec: ModelSpec) -> bytes:
    """The .grt bytes without source.verified, which says how the source was checked and so
    differs between a model object (run) and its saved weights (not run)."""
    meta = {k: v for k, v in spec.metadata.items() if k != "source.verified"}
    return ModelSpec(spec.layers, meta).to_bytes()
