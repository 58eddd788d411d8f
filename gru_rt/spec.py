"""The canonical, framework-free model description that importers produce and the writer serialises.

Every framework convention is resolved by the importers; here there is one form only, the canonical
GRU of docs/FORMAT.md (gates r, z, n; h' = (1 - z) * n + z * h) and Dense y = act(W x + b).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from .errors import ConversionError

if TYPE_CHECKING:
    from ._core import Model

# Codes of docs/FORMAT.md; append-only.
ACTIVATIONS = {
    "linear": 0,
    "relu": 1,
    "tanh": 2,
    "sigmoid": 3,
    "softmax": 4,
    "hard_sigmoid": 5,
    "hard_sigmoid_k2": 6,
}
GRU_ACTIVATIONS = ("tanh", "relu")
GRU_GATE_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "hard_sigmoid_k2")
DENSE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax")
PRECISIONS = {"f32": 0}
MAX_DIM = 16384
MAX_LAYERS = 32


class SpecError(ConversionError):
    """A model description that cannot be written: names the layer and the field."""


def _matrix(name: str, a: object, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(a)
    if arr.shape != shape:
        raise SpecError(f"{name} has shape {arr.shape}, expected {shape}")
    return _finite_f32(name, arr)


def _vector(name: str, a: object, n: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.shape != (n,):
        raise SpecError(f"{name} has shape {arr.shape}, expected ({n},)")
    return _finite_f32(name, arr)


def _finite_f32(name: str, arr: np.ndarray) -> np.ndarray:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise SpecError(f"{name} has dtype {arr.dtype}, expected a real number type")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise SpecError(f"{name} contains NaN or Inf (or values beyond float32 range)")
    return out


def _check_dim(name: str, n: int) -> None:
    if not 1 <= n <= MAX_DIM:
        raise SpecError(f"{name} is {n}, expected 1 … {MAX_DIM}")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(f"{name} is {value!r}, expected one of {', '.join(allowed)}")


@dataclass
class GRULayer:
    """Canonical GRU: w_ih (3H, I), w_hh (3H, H), b_ih (3H,), b_hh (3H,); gate blocks r, z, n."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    reset_after: bool = True
    activation: str = "tanh"
    gate_activation: str = "sigmoid"
    precision: str = "f32"
    name: str = ""

    kind = "gru"

    @property
    def input_size(self) -> int:
        return int(np.shape(self.w_ih)[1])

    @property
    def hidden_size(self) -> int:
        return int(np.shape(self.w_hh)[1])

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def validated(self, where: str) -> GRULayer:
        """A copy with float32 contiguous arrays, or SpecError naming `where` and the field."""
        if np.ndim(self.w_ih) != 2 or np.ndim(self.w_hh) != 2:
            raise SpecError(f"{where}: w_ih and w_hh must be 2-D, got shapes "
                            f"{np.shape(self.w_ih)} and {np.shape(self.w_hh)}")
        h, i = self.hidden_size, self.input_size
        _check_dim(f"{where}: hidden size", h)
        _check_dim(f"{where}: input size", i)
        _check_choice(f"{where}: activation", self.activation, GRU_ACTIVATIONS)
        _check_choice(f"{where}: gate_activation", self.gate_activation, GRU_GATE_ACTIVATIONS)
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        return GRULayer(
            w_ih=_matrix(f"{where}: w_ih", self.w_ih, (3 * h, i)),
            w_hh=_matrix(f"{where}: w_hh", self.w_hh, (3 * h, h)),
            b_ih=_vector(f"{where}: b_ih", self.b_ih, 3 * h),
            b_hh=_vector(f"{where}: b_hh", self.b_hh, 3 * h),
            reset_after=bool(self.reset_after),
            activation=self.activation,
            gate_activation=self.gate_activation,
            precision=self.precision,
            name=self.name,
        )


@dataclass
class DenseLayer:
    """y = activation(w @ x + b): w (O, I), b (O,)."""

    w: np.ndarray
    b: np.ndarray
    activation: str = "linear"
    precision: str = "f32"
    name: str = ""

    kind = "dense"

    @property
    def input_size(self) -> int:
        return int(np.shape(self.w)[1])

    @property
    def output_size(self) -> int:
        return int(np.shape(self.w)[0])

    def validated(self, where: str) -> DenseLayer:
        if np.ndim(self.w) != 2:
            raise SpecError(f"{where}: w must be 2-D, got shape {np.shape(self.w)}")
        o, i = self.output_size, self.input_size
        _check_dim(f"{where}: output size", o)
        _check_dim(f"{where}: input size", i)
        _check_choice(f"{where}: activation", self.activation, DENSE_ACTIVATIONS)
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        return DenseLayer(
            w=_matrix(f"{where}: w", self.w, (o, i)),
            b=_vector(f"{where}: b", self.b, o),
            activation=self.activation,
            precision=self.precision,
            name=self.name,
        )


Layer = Union[GRULayer, DenseLayer]


@dataclass
class ModelSpec:
    """A sequential stack of layers plus string metadata: what one .grt file holds."""

    layers: list[Layer]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    def validated(self) -> ModelSpec:
        """A checked copy (float32 arrays, chained sizes, valid codes), or SpecError."""
        if not 1 <= len(self.layers) <= MAX_LAYERS:
            raise SpecError(f"model has {len(self.layers)} layers, expected 1 … {MAX_LAYERS}")
        layers: list[Layer] = []
        for k, layer in enumerate(self.layers):
            where = f"layer {k} ({layer.kind}{' ' + layer.name if layer.name else ''})"
            checked = layer.validated(where)
            if layers and checked.input_size != layers[-1].output_size:
                raise SpecError(f"{where}: input size is {checked.input_size}, expected "
                                f"{layers[-1].output_size} (the output size of layer {k - 1})")
            layers.append(checked)
        meta = {}
        for key, value in self.metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise SpecError(f"metadata {key!r}: keys and values must be str")
            meta[key] = value
        return ModelSpec(layers, meta)

    def to_bytes(self) -> bytes:
        """The .grt file bytes (deterministic)."""
        from .writer import write_model

        return write_model(self)

    def save(self, path: str | Path) -> Path:
        """Write the .grt file atomically (temporary file + rename); returns the path."""
        from .fileio import write_atomic

        return write_atomic(Path(path), self.to_bytes())

    def load(self) -> Model:
        """The runtime model for this description (through the one reader, the C loader)."""
        from . import load

        return load(self.to_bytes())
