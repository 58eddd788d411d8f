"""NumPy importer: weights in a .npz archive or a mapping of arrays, in a stated GRU convention.

Keys are `"{k}.{name}"` for layer k = 0, 1, 2, … (the layers run in index order). A layer with
recurrent weights `U` is a GRU, any other a Dense layer:

GRU, stacked gates (blocks in `gate_order`):
    `W`  input weights, 3H × I (layout out_in) or I × 3H (layout in_out)
    `U`  recurrent weights, 3H × H or H × 3H
    `b` or `b_i`  input bias (3H,); optional, zeros when absent. `b` may also hold both biases, as
         Keras stores them with reset_after=True: shape (2, 3H) (row 0 input, row 1 recurrent) or
         (6H,) (input then recurrent, as ONNX's B)
    `b_h`  recurrent bias (3H,); optional, zeros when absent
GRU, one key per gate g in r, z, n (then `gate_order` does not apply):
    `W_g` (H × I or I × H), `U_g` (H × H), `b_g` or `b_ig` (H,), `b_hg` (H,); biases optional
Dense:
    `W` (O × I or I × O), `b` (O,) optional

The convention (the same for every GRU layer of the file) is a `Convention` (in
gru_rt.importers.convention, with the arithmetic), a dict of its fields or a string
"gate_order=zrn,layout=in_out" (`Convention.parse`). Whatever it states is turned into the canonical
form: transposition, gate reordering, and sign flips (1 − σ(a) = σ(−a), which also holds for both
hard sigmoids) for an update or reset gate written the other way round.
The layout applies to the Dense layers' W too.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConversionError, printable
from ..fileio import open_regular
from ..spec import DenseLayer, GRULayer, Layer, ModelSpec
from ._untrusted import MAX_SOURCE_BYTES, ZIP_ERRORS, read_npy, zip_infos
from .convention import GATES as _GATES
from .convention import PRESETS, Convention, canonical_gates

__all__ = ["PRESETS", "Convention", "import_arrays", "import_gru", "import_npz", "read_npz"]

# ---- reading keys --------------------------------------------------------------------------------

_KEY = re.compile(r"(0|[1-9][0-9]*)\.([A-Za-z0-9_]+)")  # no leading zeros: one spelling
_STACKED = ("W", "U", "b", "b_i", "b_h")
_PER_GATE = tuple(name for g in _GATES
                  for name in (f"W_{g}", f"U_{g}", f"b_{g}", f"b_i{g}", f"b_h{g}"))
_DENSE = ("W", "b")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _array(key: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise ConversionError(f"{key} has dtype {arr.dtype}, expected a real number type")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ConversionError(f"{key} contains NaN or Inf")
    return out


def _layers_of(arrays: Mapping[str, Any]) -> list[dict[str, np.ndarray]]:
    """{layer index: {name: array}} as a list in index order; every key checked."""
    by_index: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        m = _KEY.fullmatch(str(key))
        if m is None:
            raise ConversionError(f"{key!r} is not a layer key: expected '<layer index>.<name>' "
                                  f"such as '0.W', '0.U', '1.b'")
        by_index.setdefault(int(m.group(1)), {})[m.group(2)] = _array(str(key), value)

    if not by_index:
        raise ConversionError("no arrays: expected keys such as '0.W', '0.U', '1.W'")
    for k in range(max(by_index) + 1):
        if k not in by_index:
            raise ConversionError(f"no keys for layer {k} (found layers "
                                  f"{', '.join(str(i) for i in sorted(by_index))})")
    return [by_index[k] for k in range(len(by_index))]


def _refuse_unknown(k: int, names: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for name in names:
        if name not in allowed:
            raise ConversionError(f"{k}.{name}: not a key of {what}; expected "
                                  f"{', '.join(f'{k}.{n}' for n in allowed)}")


# ---- one layer -----------------------------------------------------------------------------------

class _Reader:
    """Reads one layer's arrays in the file's layout and returns them canonical (rows = outputs)."""

    def __init__(self, k: int, params: Mapping[str, np.ndarray], layout: str):
        self.k, self.params, self.layout = k, params, layout
        # Said when an input weight does not fit the previous layer's output size.
        self.input_note = f"the output size of layer {k - 1}" if k else ""

    def key(self, name: str) -> str:
        return f"{self.k}.{name}"

    def has(self, name: str) -> bool:
        return name in self.params

    def matrix(self, name: str, rows: int, cols: int | None,
               is_input: bool = False) -> np.ndarray:
        """A (rows, cols) canonical matrix; cols None: whatever the array has. is_input: cols is
        the previous layer's output size (said in the error)."""
        if name not in self.params:
            raise ConversionError(f"{self.key(name)} is missing (expected shape "
                                  f"{self._stored(rows, cols)})")
        arr = self.params[name]
        given_cols = cols is not None
        if self.layout == "in_out":
            arr = arr.T if arr.ndim == 2 else arr
        if arr.ndim == 2 and cols is None:
            cols = arr.shape[1]
        if arr.ndim != 2 or arr.shape != (rows, cols):
            note = (f" ({cols} = {self.input_note})"
                    if is_input and given_cols and self.input_note else "")
            raise ConversionError(f"{self.key(name)} has shape {_shape(self.params[name].shape)}, "
                                  f"expected {self._stored(rows, cols)}{note}")
        return arr

    def _stored(self, rows: int, cols: int | None) -> str:
        c = "input_size" if cols is None else str(cols)
        return f"({rows}, {c})" if self.layout == "out_in" else f"({c}, {rows})"

    def vector(self, name: str, n: int) -> np.ndarray | None:
        if name not in self.params:
            return None
        arr = self.params[name]
        if arr.shape != (n,):
            raise ConversionError(f"{self.key(name)} has shape {_shape(arr.shape)}, "
                                  f"expected ({n},)")
        return arr

    def square_size(self, name: str, blocks: int) -> int:
        """H from a recurrent matrix of blocks·H × H (canonical)."""
        if name not in self.params:
            raise ConversionError(f"{self.key(name)} is missing")
        arr = self.params[name]
        stored = arr.T if (self.layout == "in_out" and arr.ndim == 2) else arr
        if stored.ndim != 2 or stored.shape[1] == 0 or stored.shape[0] != blocks * stored.shape[1]:
            want = f"({blocks}·H, H)" if self.layout == "out_in" else f"(H, {blocks}·H)"
            raise ConversionError(f"{self.key(name)} has shape {_shape(arr.shape)}, expected "
                                  f"{want}")
        return int(stored.shape[1])


def _stacked_biases(r: _Reader, h: int) -> tuple[np.ndarray, np.ndarray]:
    if r.has("b") and r.has("b_i"):
        raise ConversionError(f"{r.key('b')} and {r.key('b_i')} are both given; they are the "
                              f"same input bias")
    name = "b" if r.has("b") else "b_i"
    b = r.params.get(name)
    if b is not None and b.shape in ((2, 3 * h), (6 * h,)):
        if r.has("b_h"):
            raise ConversionError(f"{r.key(name)} holds both biases (shape {_shape(b.shape)}), "
                                  f"and {r.key('b_h')} is given too")
        both = b.reshape(2, 3 * h)
        return both[0], both[1]
    if b is not None and b.shape != (3 * h,):
        raise ConversionError(f"{r.key(name)} has shape {_shape(b.shape)}, expected ({3 * h},) "
                              f"(or ({2}, {3 * h}) / ({6 * h},) for input and recurrent biases)")
    b_h = r.vector("b_h", 3 * h)
    zeros = np.zeros(3 * h)
    return (zeros if b is None else b), (zeros if b_h is None else b_h)


def _stacked_gru(r: _Reader, in_size: int | None) -> tuple[np.ndarray, ...]:
    """The stacked arrays, gate blocks still in the file's order."""
    _refuse_unknown(r.k, r.params, _STACKED, "a GRU layer with stacked gates")
    h = r.square_size("U", 3)
    u = r.matrix("U", 3 * h, h)
    w = r.matrix("W", 3 * h, in_size, is_input=True)
    b_i, b_h = _stacked_biases(r, h)
    return w, u, b_i, b_h


def _per_gate_gru(r: _Reader, in_size: int | None) -> tuple[np.ndarray, ...]:
    _refuse_unknown(r.k, r.params, _PER_GATE, "a GRU layer with one key per gate")
    for name in (f"{p}_{g}" for p in ("W", "U") for g in _GATES):
        if not r.has(name):
            raise ConversionError(f"{r.key(name)} is missing (a GRU layer with one key per gate "
                                  f"needs W_r, W_z, W_n, U_r, U_z, U_n)")
    h = r.square_size("U_r", 1)
    w = [r.matrix(f"W_{g}", h, in_size, is_input=True) for g in _GATES]
    u = [r.matrix(f"U_{g}", h, h) for g in _GATES]
    b_i, b_h = [], []
    for g in _GATES:
        if r.has(f"b_{g}") and r.has(f"b_i{g}"):
            raise ConversionError(f"{r.key(f'b_{g}')} and {r.key(f'b_i{g}')} are both given; "
                                  f"they are the same input bias")
        bi = r.vector(f"b_{g}", h) if r.has(f"b_{g}") else r.vector(f"b_i{g}", h)
        bh = r.vector(f"b_h{g}", h)
        b_i.append(np.zeros(h) if bi is None else bi)
        b_h.append(np.zeros(h) if bh is None else bh)
    return tuple(np.concatenate(parts) for parts in (w, u, b_i, b_h))


def _gru_layer(r: _Reader, in_size: int | None, conv: Convention) -> GRULayer:
    per_gate = any(name in _PER_GATE for name in r.params)
    if per_gate and any(name in _STACKED for name in r.params):
        name = next(n for n in r.params if n in _STACKED)
        raise ConversionError(f"{r.key(name)}: layer {r.k} mixes stacked keys (W, U, b, b_i, b_h) "
                              f"with per-gate keys (W_r, U_r, b_r, …); use one form")
    arrays = _per_gate_gru(r, in_size) if per_gate else _stacked_gru(r, in_size)
    w, u, b_i, b_h = canonical_gates(arrays, conv, None if per_gate else conv.gate_order)
    return GRULayer(w_ih=w, w_hh=u, b_ih=b_i, b_hh=b_h, reset_after=conv.reset == "after",
                    activation=conv.activation, gate_activation=conv.gate_activation)


def _dense_layer(r: _Reader, in_size: int | None) -> DenseLayer:
    if not r.has("W"):
        raise ConversionError(f"{r.key('W')} is missing (layer {r.k} has no recurrent weights "
                              f"'U', so it is read as a Dense layer: W, b)")
    _refuse_unknown(r.k, r.params, _DENSE, f"a Dense layer (layer {r.k} has no recurrent "
                                           f"weights 'U')")
    w_stored = r.params["W"]
    if w_stored.ndim != 2:
        raise ConversionError(f"{r.key('W')} has shape {_shape(w_stored.shape)}, expected a "
                              f"2-D matrix")
    out = w_stored.shape[0] if r.layout == "out_in" else w_stored.shape[1]
    w = r.matrix("W", out, in_size, is_input=True)
    b = r.vector("b", out)
    return DenseLayer(w=w, b=np.zeros(out) if b is None else b)


# ---- the whole model -----------------------------------------------------------------------------

def _transforms(conv: Convention, layers: list[dict[str, np.ndarray]]) -> str:
    grus = [p for p in layers if any(n.startswith("U") for n in p)]
    stacked = any("U" in p for p in grus)
    done = []
    if conv.layout == "in_out":
        done.append("transposed in_out->out_in")
    if stacked and conv.gate_order != "rzn":
        done.append(f"gate reorder {conv.gate_order}->rzn")
    if grus and conv.update == "z_takes_candidate":
        done.append("negated z (update sense)")
    if grus and conv.reset_sense == "one_minus_r":
        done.append("negated r (reset sense)")
    return "; ".join(done) or "none"


def _apply_activations(layers: list[Layer], activations: Mapping[Any, str] | None,
                       head_activation: str | None) -> None:
    dense = [k for k, layer in enumerate(layers) if isinstance(layer, DenseLayer)]
    known = ", ".join(str(k) for k in dense) or "none in this model"
    for key, name in (activations or {}).items():
        k = int(key) if isinstance(key, int) or str(key).isdigit() else -1
        if k not in dense:
            what = "is a GRU layer" if 0 <= k < len(layers) else "is not a layer index"
            raise ConversionError(f"activations: {key!r} {what}; activations apply to the Dense "
                                  f"layers, by index: {known}")
        layer = layers[k]
        assert isinstance(layer, DenseLayer)
        layer.activation = name
    if head_activation is not None:
        last = layers[-1]
        if not isinstance(last, DenseLayer):
            raise ConversionError(f"head_activation: the last layer ({len(layers) - 1}) is a GRU, "
                                  f"not a Dense layer (a GRU's output activation is fixed)")
        if activations and last.activation != head_activation and any(
                str(key) == str(len(layers) - 1) for key in activations):
            raise ConversionError(f"head_activation {head_activation!r} conflicts with "
                                  f"activations[{len(layers) - 1!r}] = {last.activation!r}")
        last.activation = head_activation


def import_arrays(arrays: Mapping[str, Any], *,
                  convention: None | str | Mapping[str, str] | Convention = None,
                  activations: Mapping[Any, str] | None = None,
                  head_activation: str | None = None,
                  metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A ModelSpec from a mapping "{k}.{name}" → array (see the module docstring).

    activations: {Dense layer index (int or its string): activation}; head_activation: the
    activation of the last layer, which must be Dense.
    """
    conv = Convention.coerce(convention)
    per_layer = _layers_of(arrays)
    layers: list[Layer] = []
    in_size: int | None = None
    for k, params in enumerate(per_layer):
        r = _Reader(k, params, conv.layout)
        is_gru = any(name.startswith("U") for name in params)
        layer: Layer = _gru_layer(r, in_size, conv) if is_gru else _dense_layer(r, in_size)
        layers.append(layer)
        in_size = layer.output_size
    _apply_activations(layers, activations, head_activation)
    meta = {
        "source.framework": "numpy",
        "source.convention": str(conv),
        "source.transforms": _transforms(conv, per_layer),
    }
    meta.update(metadata or {})
    return ModelSpec(layers, meta).validated()


def import_npz(path: str | Path, *,
               convention: None | str | Mapping[str, str] | Convention = None,
               activations: Mapping[Any, str] | None = None,
               head_activation: str | None = None,
               metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A ModelSpec from a .npz archive (np.savez); read with allow_pickle=False."""
    return import_arrays(_read_npz(Path(path)), convention=convention, activations=activations,
                         head_activation=head_activation, metadata=metadata)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz archive, in the archive's order (np.savez keeps the caller's)."""
    return _read_npz(Path(path))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz archive, each member's declared size and .npy header checked before it
    is inflated (no pickled objects; shapes a layer can hold)."""
    arrays = {}
    with open_regular(path, MAX_SOURCE_BYTES, "NumPy archive") as f:
        if f.read(6) == b"\x93NUMPY":
            raise ConversionError(f"{path} holds a single array, expected a .npz archive of "
                                  f"named arrays (np.savez)")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as z:
                for info in zip_infos(z, str(path)):
                    name = info.filename
                    key = name[:-4] if name.endswith(".npy") else name
                    with z.open(info) as member:
                        arrays[key] = read_npy(member, info.file_size,
                                               f"{path}: {printable(key)}")
        except ConversionError:
            raise
        except ZIP_ERRORS as e:
            raise ConversionError(f"cannot read {path} as a .npz archive ({e})") from None
    return arrays


def import_gru(arrays: Mapping[str, Any], convention: Convention,
               name: str) -> tuple[GRULayer, str]:
    """One canonical GRU layer from another framework's arrays ("W", "U", "b"/"b_i", "b_h", in
    `convention`), named `name`, and the transformations that took (source.transforms)."""
    spec = import_arrays({f"0.{key}": value for key, value in arrays.items()},
                         convention=convention)
    layer = spec.layers[0]
    assert isinstance(layer, GRULayer)
    layer.name = name
    return layer, spec.metadata["source.transforms"]
