"""GRU conventions: how another framework writes a GRU, in the terms of the canonical GRU of
docs/FORMAT.md, and the arithmetic that turns its weights canonical. The one place for it: the
NumPy, Keras and ONNX importers all go through here (docs/CONVENTIONS.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..errors import ConversionError
from ..spec import GRU_ACTIVATIONS, GRU_GATE_ACTIVATIONS

__all__ = ["BIDIRECTIONAL", "GATES", "PRESETS", "Convention", "canonical_gates", "negate_gate",
           "reorder_gates"]

GATES = "rzn"  # the canonical gate order

# Said by every importer that meets a bidirectional LSTM (reverse and bidirectional GRUs convert:
# format 1.4), so the refusal reads the same everywhere.
BIDIRECTIONAL = ("a bidirectional LSTM is not supported: gru_rt runs LSTMs forward only (reverse "
                 "and bidirectional GRUs convert, and run whole sequences with Model.run); train "
                 "with bidirectional=False, or keep the forward direction alone")

_CHOICES: dict[str, tuple[str, ...]] = {
    "layout": ("out_in", "in_out"),
    "update": ("z_keeps_state", "z_takes_candidate"),
    "reset": ("after", "before"),
    "reset_sense": ("r", "one_minus_r"),
    "activation": GRU_ACTIVATIONS,
    "gate_activation": GRU_GATE_ACTIVATIONS,
}


@dataclass(frozen=True)
class Convention:
    """How a GRU's weights are written, in the terms of the canonical GRU of docs/FORMAT.md.

    gate_order: the order of the gate blocks in the stacked W, U, b: a permutation of "rzn" (r
        reset, z update, n candidate; "h" is accepted for n). PyTorch "rzn", Keras and ONNX "zrn".
    layout: "out_in" (rows are outputs: PyTorch, ONNX) or "in_out" (rows are inputs: Keras kernels).
    update: "z_keeps_state", h' = (1 − z) n + z h (PyTorch, Keras, ONNX), or "z_takes_candidate",
        h' = (1 − z) h + z n (several textbooks).
    reset: "after", n = φ(W_n x + b_in + r (U_n h + b_hn)) (PyTorch; Keras reset_after=True; ONNX
        linear_before_reset=1), or "before", n = φ(W_n x + b_in + U_n (r h) + b_hn).
    reset_sense: "r" (r multiplies the state) or "one_minus_r" ((1 − r) does).
    activation: the candidate activation φ, "tanh" or "relu".
    gate_activation: σ, "sigmoid", "hard_sigmoid" (x/6 + 1/2) or "hard_sigmoid_k2" (0.2 x + 1/2).
    """

    gate_order: str = "rzn"
    layout: str = "out_in"
    update: str = "z_keeps_state"
    reset: str = "after"
    reset_sense: str = "r"
    activation: str = "tanh"
    gate_activation: str = "sigmoid"

    def __post_init__(self) -> None:
        order = str(self.gate_order).lower().replace("h", "n")
        if sorted(order) != ["n", "r", "z"]:
            raise ConversionError(f"convention: gate_order is {self.gate_order!r}, expected a "
                                  f"permutation of 'rzn' (e.g. 'rzn' for PyTorch, 'zrn' for "
                                  f"Keras and ONNX)")
        object.__setattr__(self, "gate_order", order)
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConversionError(f"convention: {name} is {value!r}, expected one of "
                                      f"{', '.join(allowed)}")

    @classmethod
    def parse(cls, text: str) -> Convention:
        """From "field=value,field=value", optionally starting with a preset name: "keras",
        "keras,reset=before". Fields not given keep their defaults (those of the preset, if any)."""
        items = [item.strip() for item in text.split(",")]
        if items == [""]:
            return cls()
        base = cls()
        if "=" not in items[0] and items[0]:
            base = _preset(items.pop(0))
        given: dict[str, str] = {}
        names = [f.name for f in fields(cls)]
        for item in items:
            name, sep, value = (part.strip() for part in item.partition("="))
            if not sep or not name or not value:
                raise ConversionError(f"convention: {item!r} is not of the form field=value "
                                      f"(fields: {', '.join(names)}; presets first: "
                                      f"{', '.join(PRESETS)})")
            if name not in names:
                raise ConversionError(f"convention: unknown field {name!r}; expected one of "
                                      f"{', '.join(names)}")
            if name in given:
                raise ConversionError(f"convention: {name} is given twice")
            given[name] = value
        return replace(base, **given)

    @classmethod
    def coerce(cls, value: None | str | Mapping[str, str] | Convention) -> Convention:
        """A Convention from None (the default), a Convention, a string (parse) or a dict."""
        if value is None:
            return cls()
        if isinstance(value, Convention):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            names = [f.name for f in fields(cls)]
            for name in value:
                if name not in names:
                    raise ConversionError(f"convention: unknown field {name!r}; expected one of "
                                          f"{', '.join(names)}")
            return cls(**value)
        raise TypeError(f"convention must be a Convention, a dict or a string like "
                        f"'gate_order=zrn,layout=in_out', not {type(value).__name__}")

    def __str__(self) -> str:
        """The parseable form, every field spelled out: "gate_order=rzn,layout=out_in,…"."""
        return ",".join(f"{name}={value}" for name, value in asdict(self).items())


PRESETS: dict[str, Convention] = {
    "torch": Convention(),
    "keras": Convention(gate_order="zrn", layout="in_out"),
    "onnx": Convention(gate_order="zrn", reset="before"),
}


def _preset(name: str) -> Convention:
    if name not in PRESETS:
        raise ConversionError(f"convention: {name!r} is neither a preset ({', '.join(PRESETS)}) "
                              f"nor of the form field=value")
    return PRESETS[name]


def reorder_gates(a: np.ndarray, order: str) -> np.ndarray:
    """Gate blocks (along axis 0) from `order` to r, z, n."""
    h = a.shape[0] // 3
    blocks = {g: a[i * h:(i + 1) * h] for i, g in enumerate(order)}
    return np.concatenate([blocks[g] for g in GATES])


def negate_gate(arrays: tuple[np.ndarray, ...], gate: int) -> tuple[np.ndarray, ...]:
    """Negate one gate's rows of w_ih, w_hh, b_ih, b_hh: σ(−a) = 1 − σ(a) flips its sense."""
    out = []
    for a in arrays:
        a = a.copy()
        h = a.shape[0] // 3
        a[gate * h:(gate + 1) * h] *= -1.0
        out.append(a)
    return tuple(out)


def canonical_gates(arrays: tuple[np.ndarray, ...], conv: Convention,
                    order: str | None) -> tuple[np.ndarray, ...]:
    """(w_ih, w_hh, b_ih, b_hh) rows in gate order `order` (None: already r, z, n) → canonical:
    reordered, then a gate written the other way round negated (σ(−a) = 1 − σ(a), which also
    holds for both hard sigmoids)."""
    if order is not None:
        arrays = tuple(reorder_gates(a, order) for a in arrays)
    if conv.update == "z_takes_candidate":
        arrays = negate_gate(arrays, 1)
    if conv.reset_sense == "one_minus_r":
        arrays = negate_gate(arrays, 0)
    return arrays
