"""The canonical, framework-free model description that importers produce and the writer serialises.

Every framework convention is resolved by the importers; here there is one form only, the canonical
GRU of docs/FORMAT.md (gates r, z, n; h' = (1 - z) * n + z * h), the canonical LSTM (gates i, f, g,
o; c' = f * c + i * g, h' = o * phi(c')) and Dense y = act(W x + b).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, cast

import numpy as np

from ._core import _kind_tensor
from .errors import ConversionError
from .format import (
    DENSE_ACTIVATIONS,
    DIRECTIONS,
    DTYPES,
    GRU_ACTIVATIONS,
    GRU_GATE_ACTIVATIONS,
    INPUTS_KEY,
    LAYER_TENSORS,
    LSTM_ACTIVATIONS,
    LSTM_GATE_ACTIVATIONS,
    LSTM_MAX_CELL_BITS,
    MAX_CONV_FIELD,
    MAX_CONV_WINDOW,
    MAX_DIM,
    MAX_KEY_BYTES,
    MAX_LAYERS,
    MAX_META_ENTRIES,
    MAX_VALUE_BYTES,
    MAX_VOCAB,
    MAX_VOCAB_Q15,
    MERGES,
    PARAM_ACTIVATIONS,
    PRECISIONS,
    Q15_DENSE_ACTIVATIONS,
    Q15_FIXED_OUTPUT,
    Q15_MERGES,
    Q15_ONE_BITS,
)

if TYPE_CHECKING:
    from ._core import Model

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


def _bf16_codes_ok(codes: np.ndarray, precision: str) -> np.ndarray:
    """Which bf16 row-scale codes the loader accepts at this precision (docs/QUANTIZATION.md)."""
    c = codes.astype(np.int64)
    sign, exponent = c >> 15, (c >> 7) & 255
    if precision == "q8":
        return (sign == 0) & (exponent != 255)
    return (c == 0) | ((sign == 0) & (exponent >= 72) & (exponent <= 134))


def _quantized(name: str, a: object, shape: tuple[int, ...], dtype: str,
               precision: str) -> np.ndarray:
    """A tensor of a q8/q15 layer: exactly the stored dtype (no silent conversion) and shape."""
    arr = np.asarray(a)
    if arr.shape != shape:
        raise SpecError(f"{name} has shape {arr.shape}, expected {shape}")
    want = DTYPES[dtype][1]
    if dtype == "f32":
        out = _finite_f32(name, arr)
    elif arr.dtype.newbyteorder("=") != want.newbyteorder("="):
        raise SpecError(f"{name} has dtype {arr.dtype}, expected {want} ({dtype}) for {precision}")
    else:
        out = np.ascontiguousarray(arr, dtype=want)
    if dtype == "i8" and out.size and int(out.min()) < -127:
        raise SpecError(f"{name} contains -128; int8 weights are symmetric, -127 … 127")
    if dtype == "bf16":
        bad = np.flatnonzero(~_bf16_codes_ok(out, precision))
        if bad.size:
            raise SpecError(f"{name}[{bad[0]}] is the bf16 code {int(out[bad[0]]):#06x}, not a "
                            f"valid {precision} row scale (docs/QUANTIZATION.md)")
    return out


def _check_q15_scale(name: str, scale: np.ndarray, fixed: bool) -> None:
    if not np.all((scale > 0) & (scale >= np.finfo(np.float32).tiny)):
        raise SpecError(f"{name} must hold positive normal float32 values")
    if fixed and np.any(scale.view("<u4") != Q15_ONE_BITS):
        raise SpecError(f"{name} must be 2^-15 everywhere: this output is Q15")


def _validated_tensors(layer: Layer, where: str) -> dict[str, np.ndarray]:
    """The layer's tensors by attribute (LAYER_TENSORS for its precision), each checked against the
    shape and dtype of the C loader's table (_kind_tensor)."""
    table = LAYER_TENSORS[(layer.kind, layer.precision)]
    wanted = {attr for _, attr, _ in table}
    out: dict[str, np.ndarray] = {}
    for attr in QUANT_ATTRS[layer.kind]:
        if attr not in wanted and getattr(layer, attr) is not None:
            raise SpecError(f"{where}: {attr} is set, but {layer.precision} layers have none")
    for role, attr, _ in table:
        value = getattr(layer, attr)
        name = f"{where}: {attr}"
        if value is None:
            raise SpecError(f"{name} is missing: {layer.precision} layers need it")
        units = layer.hidden_size if isinstance(layer, GRULayer) else layer.output_size
        described = _kind_tensor(layer.kind, layer.precision, role, layer.input_size, units)
        assert described is not None  # LAYER_TENSORS lists the C table's roles (test_tensor_table)
        dtype, shape = described[0], described[1]
        if isinstance(layer, Conv1DLayer) and role == "w_ih":  # the C table describes kernel 1
            shape = (layer.output_size, layer.weight_cols)
        if isinstance(layer, EmbeddingLayer) and role in ("table", "w_ih_scale"):  # and vocab 1
            shape = (layer.vocab_size, *shape[1:])
        if layer.precision == "f32":
            out[attr] = (_matrix(name, value, (shape[0], shape[1])) if len(shape) == 2
                         else _vector(name, value, shape[0]))
        else:
            out[attr] = _quantized(name, value, shape, dtype, layer.precision)
    if layer.precision == "q15":
        fixed_out = layer.kind in ("gru", "lstm") \
            or getattr(layer, "activation", None) in Q15_FIXED_OUTPUT
        _check_q15_scale(f"{where}: in_scale", out["in_scale"], False)
        _check_q15_scale(f"{where}: out_scale", out["out_scale"], fixed_out)
    return out


def check_metadata(metadata: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The entries as UTF-8 (key, value) pairs sorted by key, or SpecError naming the bad entry:
    every metadata rule of the loader (docs/FORMAT.md, "Metadata"), so nothing writes that cannot
    load."""
    if len(metadata) > MAX_META_ENTRIES:
        raise SpecError(f"metadata has {len(metadata)} entries, expected at most "
                        f"{MAX_META_ENTRIES} (with the writer's tool.name and tool.version)")
    entries = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise SpecError(f"metadata {key!r}: keys and values must be str, got "
                            f"{type(key).__name__} and {type(value).__name__}")
        k = _utf8(key, f"metadata key {key!r}")
        v = _utf8(value, f"metadata {key!r}: value")
        if not 1 <= len(k) <= MAX_KEY_BYTES:
            raise SpecError(f"metadata key {key!r} is {len(k)} bytes in UTF-8, expected 1 … "
                            f"{MAX_KEY_BYTES}")
        if len(v) > MAX_VALUE_BYTES:
            raise SpecError(f"metadata {key!r}: value is {len(v)} bytes in UTF-8, expected at "
                            f"most {MAX_VALUE_BYTES}")
        if b"\0" in k:
            raise SpecError(f"metadata key {key!r} contains a NUL character")
        if b"\0" in v:
            raise SpecError(f"metadata {key!r}: value contains a NUL character")
        entries.append((k, v))
    return sorted(entries)  # keys are unique (dict keys), so this sorts by key alone


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise SpecError(f"{what} is not valid UTF-8 text ({e.reason})") from None


def _layer_repr(layer: Layer, matrix: np.ndarray, activations: str) -> str:
    """Kind, name, input → output size (from `matrix`'s shape, "?" where it has none), codes."""
    shape = np.shape(matrix)
    blocks = {"gru": 3, "lstm": 4}.get(layer.kind, 1)
    sizes = f"{shape[1]}→{shape[0] // blocks}" if len(shape) == 2 \
        else f"? (weights of shape {shape})"
    if isinstance(layer, Conv1DLayer):
        sizes = f"{layer.in_channels}→{shape[0] if len(shape) == 2 else '?'}"
    name = f" {layer.name!r}" if layer.name else ""
    return f"{type(layer).__name__}{name}({sizes}, {activations}, {layer.precision})"


class _Recurrent:
    """What GRULayer and LSTMLayer share: the sizes read off w_ih (G·H, I) and w_hh (G·H, H), G
    gate blocks, and their checks."""

    w_ih: np.ndarray
    w_hh: np.ndarray

    @property
    def input_size(self) -> int:
        return int(np.shape(self.w_ih)[1])

    @property
    def hidden_size(self) -> int:
        return int(np.shape(self.w_hh)[1])

    def _check_sizes(self, where: str) -> None:
        """Both matrices 2-D, the hidden and input sizes within the format's limits."""
        if np.ndim(self.w_ih) != 2 or np.ndim(self.w_hh) != 2:
            raise SpecError(f"{where}: w_ih and w_hh must be 2-D, got shapes "
                            f"{np.shape(self.w_ih)} and {np.shape(self.w_hh)}")
        _check_dim(f"{where}: hidden size", self.hidden_size)
        _check_dim(f"{where}: input size", self.input_size)


@dataclass(repr=False)
class GRULayer(_Recurrent):
    """Canonical GRU: w_ih (3H, I), w_hh (3H, H), b_ih (3H,), b_hh (3H,); gate blocks r, z, n.

    f32 layers hold float32 arrays. q8 and q15 layers (docs/QUANTIZATION.md) hold int8 weights,
    float32 (q8) or int32 (q15) biases, bf16 row-scale codes (uint16) in w_ih_scale/w_hh_scale,
    and, for q15, the real value of one input/output unit in in_scale/out_scale.

    direction (format 1.4): "forward" (a stream can step it), "reverse" (from the last step to the
    first, outputs kept in time order) or "bidirectional": these tensors are the forward direction,
    `backward` a GRULayer (same sizes, codes and precision, direction "forward") with the backward
    one's, and `merge` ("concat", "sum", "ave" or "mul") joins their outputs at each step; concat
    gives 2H outputs, [forward, backward]. A reverse or bidirectional layer needs the whole
    sequence: such a model runs with Model.run only."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    reset_after: bool = True
    activation: str = "tanh"
    gate_activation: str = "sigmoid"
    precision: str = "f32"
    name: str = ""
    w_ih_scale: np.ndarray | None = None
    w_hh_scale: np.ndarray | None = None
    in_scale: np.ndarray | None = None
    out_scale: np.ndarray | None = None
    direction: str = "forward"
    merge: str | None = None
    backward: GRULayer | None = None

    kind = "gru"

    @property
    def output_size(self) -> int:
        return 2 * self.hidden_size if self.merge == "concat" else self.hidden_size

    @property
    def needs_future(self) -> bool:
        """Does the layer read later steps (reverse or bidirectional)?"""
        return self.direction != "forward"

    @property
    def directions(self) -> list[GRULayer]:
        """The layer's cells in file order: itself, then `backward` when bidirectional."""
        return [self] if self.backward is None else [self, self.backward]

    def __repr__(self) -> str:
        """Kind, sizes and codes, never the arrays (they can be megabytes)."""
        way = "" if self.direction == "forward" else \
            f", {self.direction}" + (f" {self.merge}" if self.merge else "")
        return _layer_repr(self, self.w_ih,
                           f"{self.activation}/{self.gate_activation}, "
                           f"reset_{'after' if self.reset_after else 'before'}{way}")

    def validated(self, where: str) -> GRULayer:
        """A copy with contiguous arrays of the stored dtypes, or SpecError naming `where` and the
        field."""
        self._check_sizes(where)
        _check_choice(f"{where}: activation", self.activation, GRU_ACTIVATIONS)
        _check_choice(f"{where}: gate_activation", self.gate_activation, GRU_GATE_ACTIVATIONS)
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        if self.precision == "q15" and self.activation != "tanh":
            raise SpecError(f"{where}: q15 needs the tanh candidate activation (the state must "
                            f"stay in [-1, 1]), got {self.activation!r}")
        tensors = _validated_tensors(self, where)
        backward = self._validated_backward(where)
        return replace(self, reset_after=bool(self.reset_after), backward=backward,
                       **cast("dict[str, Any]", tensors))

    def _validated_backward(self, where: str) -> GRULayer | None:
        """direction/merge checked; the backward direction validated (or None)."""
        _check_choice(f"{where}: direction", self.direction, tuple(DIRECTIONS))
        if self.direction != "bidirectional":
            if self.merge is not None or self.backward is not None:
                raise SpecError(f"{where}: merge and backward go with direction='bidirectional', "
                                f"this layer is {self.direction!r}")
            return None
        _check_choice(f"{where}: merge", str(self.merge),
                      Q15_MERGES if self.precision == "q15" else tuple(MERGES))
        back = self.backward
        if not isinstance(back, GRULayer) or back.direction != "forward":
            raise SpecError(f"{where}: a bidirectional layer needs backward=GRULayer(...) with "
                            f"the backward direction's tensors (direction 'forward')")
        same = ("reset_after", "activation", "gate_activation", "precision")
        for attr in same:
            if getattr(back, attr) != getattr(self, attr):
                raise SpecError(f"{where}: backward.{attr} is {getattr(back, attr)!r}, expected "
                                f"{getattr(self, attr)!r} (both directions share it)")
        if np.shape(back.w_ih) != np.shape(self.w_ih) or np.shape(back.w_hh) != np.shape(self.w_hh):
            raise SpecError(f"{where}: backward weights have shapes {np.shape(back.w_ih)} and "
                            f"{np.shape(back.w_hh)}, expected {np.shape(self.w_ih)} and "
                            f"{np.shape(self.w_hh)} (both directions have the same sizes)")
        if self.merge == "concat" and 2 * self.hidden_size > MAX_DIM:
            raise SpecError(f"{where}: concat output size is {2 * self.hidden_size}, expected "
                            f"at most {MAX_DIM}")
        return back.validated(f"{where} backward")


@dataclass(repr=False)
class LSTMLayer(_Recurrent):
    """Canonical LSTM: w_ih (4H, I), w_hh (4H, H), b_ih (4H,), b_hh (4H,); gate blocks i, f, g, o
    (PyTorch's order). gate_activation σ is that of i, f and o; activation φ that of g and of the
    cell state in h' = o ⊙ φ(c'). Its part of the stream state is h then c (2H values).

    The tensors of each precision are a GRULayer's. cell_bits (q15 only, format 1.5): the cell
    state c is int16 with 15 - cell_bits fraction bits, so |c| < 2^cell_bits (0 to
    LSTM_MAX_CELL_BITS; the quantizer picks it from the calibrated range of c); 0 in f32 and q8."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    activation: str = "tanh"
    gate_activation: str = "sigmoid"
    precision: str = "f32"
    name: str = ""
    w_ih_scale: np.ndarray | None = None
    w_hh_scale: np.ndarray | None = None
    in_scale: np.ndarray | None = None
    out_scale: np.ndarray | None = None
    cell_bits: int = 0

    kind = "lstm"

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def __repr__(self) -> str:
        return _layer_repr(self, self.w_ih, f"{self.activation}/{self.gate_activation}")

    def validated(self, where: str) -> LSTMLayer:
        self._check_sizes(where)
        _check_choice(f"{where}: activation", self.activation, LSTM_ACTIVATIONS)
        _check_choice(f"{where}: gate_activation", self.gate_activation, LSTM_GATE_ACTIVATIONS)
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        if self.precision == "q15" and self.activation != "tanh":
            raise SpecError(f"{where}: q15 needs the tanh activation (h must stay in [-1, 1]), "
                            f"got {self.activation!r}")
        bits = self.cell_bits
        top = LSTM_MAX_CELL_BITS if self.precision == "q15" else 0
        if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)) \
                or not 0 <= bits <= top:
            raise SpecError(f"{where}: cell_bits is {bits!r}, expected an integer from 0 to {top}"
                            + (" (q15 only)" if top == 0 else ""))
        return replace(self, cell_bits=int(bits),
                       **cast("dict[str, Any]", _validated_tensors(self, where)))


@dataclass(repr=False)
class DenseLayer:
    """y = activation(w @ x + b): w (O, I), b (O,); q8/q15 tensors as in GRULayer (w_scale).

    alpha: the parameter of leaky_relu (its negative slope; required) and elu (default 1.0);
    None for every other activation."""

    w: np.ndarray
    b: np.ndarray
    activation: str = "linear"
    precision: str = "f32"
    name: str = ""
    w_scale: np.ndarray | None = None
    in_scale: np.ndarray | None = None
    out_scale: np.ndarray | None = None
    alpha: float | None = None

    kind = "dense"

    @property
    def input_size(self) -> int:
        return int(np.shape(self.w)[1])

    @property
    def output_size(self) -> int:
        return int(np.shape(self.w)[0])

    def __repr__(self) -> str:
        return _layer_repr(self, self.w, self.activation)

    def validated(self, where: str) -> DenseLayer:
        if np.ndim(self.w) != 2:
            raise SpecError(f"{where}: w must be 2-D, got shape {np.shape(self.w)}")
        o, i = self.output_size, self.input_size
        _check_dim(f"{where}: output size", o)
        _check_dim(f"{where}: input size", i)
        activation, alpha = split_activation(self.activation)
        if alpha is not None and self.alpha is not None \
                and np.float32(alpha) != np.float32(self.alpha):
            raise SpecError(f"{where}: activation {self.activation!r} and alpha={self.alpha!r} "
                            f"disagree")
        _check_choice(f"{where}: activation", activation, DENSE_ACTIVATIONS)
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        if self.precision == "q15" and activation not in Q15_DENSE_ACTIVATIONS:
            raise SpecError(f"{where}: q15 has no fixed-point {activation!r} (only "
                            f"{', '.join(Q15_DENSE_ACTIVATIONS)}); use f32 or q8 for this model")
        alpha = _activation_alpha(where, activation, self.alpha if alpha is None else alpha)
        return replace(self, activation=activation, alpha=alpha,
                       **cast("dict[str, Any]", _validated_tensors(self, where)))


_WITH_ALPHA = re.compile(r"(\w+)\(alpha=([^()]+)\)")


def split_activation(text: str) -> tuple[str, float | None]:
    """A Dense activation as importers and users may write it, "leaky_relu(alpha=0.1)", split
    into its name and alpha; a plain name gives (name, None)."""
    match = _WITH_ALPHA.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return text, None
    try:
        return match.group(1), float(match.group(2))
    except ValueError:
        raise SpecError(f"activation {text!r}: alpha is not a number") from None


def _activation_alpha(where: str, activation: str, alpha: float | None) -> float | None:
    """The float32 alpha of leaky_relu/elu (elu defaults to 1.0); None for the others."""
    if activation not in PARAM_ACTIVATIONS:
        if alpha is not None:
            raise SpecError(f"{where}: alpha={alpha!r} given, but {activation!r} takes no "
                            f"parameter (only {', '.join(PARAM_ACTIVATIONS)})")
        return None
    if alpha is None:
        if activation == "leaky_relu":
            raise SpecError(f"{where}: leaky_relu needs its negative slope: alpha=... (torch's "
                            f"default is 0.01, Keras' 0.2 or 0.3)")
        alpha = 1.0
    value = np.float32(alpha)
    if not np.isfinite(value):
        raise SpecError(f"{where}: alpha={alpha!r} is not a finite float32")
    return float(value)


@dataclass(repr=False)
class LayerNormLayer:
    """LayerNorm over the features (1.4): y = gamma * (x - mean) / sqrt(var + eps) + beta, with the
    mean and the population variance of each row; gamma, beta (D,). A LayerNorm without an affine
    part has gamma = 1, beta = 0.

    f32 and q8 (the same float math) hold float32 gamma/beta and eps > 0. q15
    (docs/QUANTIZATION.md) holds int32 gamma (gamma/out_scale * 2^15) and beta (beta/out_scale),
    a uniform in_scale, out_scale, and eps as an integer in (in_scale unit)^2 (eps_q)."""

    gamma: np.ndarray
    beta: np.ndarray
    eps: float = 1e-5
    precision: str = "f32"
    name: str = ""
    in_scale: np.ndarray | None = None
    out_scale: np.ndarray | None = None
    eps_q: int | None = None

    kind = "layernorm"

    @property
    def input_size(self) -> int:
        return int(np.shape(self.gamma)[0]) if np.ndim(self.gamma) == 1 else 0

    @property
    def output_size(self) -> int:
        return self.input_size

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return (f"LayerNormLayer{name}({self.input_size}, eps={self.eps:g}, "
                f"{self.precision})")

    def validated(self, where: str) -> LayerNormLayer:
        if np.ndim(self.gamma) != 1:
            raise SpecError(f"{where}: gamma must be 1-D, got shape {np.shape(self.gamma)}")
        _check_dim(f"{where}: size", self.input_size)
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        eps = np.float32(self.eps)
        if not (np.isfinite(eps) and eps >= np.finfo(np.float32).tiny):
            raise SpecError(f"{where}: eps is {self.eps!r}, expected a positive normal float32 "
                            f"(eps = 0 is refused: a constant row would divide by zero)")
        eps_q = None
        if self.precision == "q15":
            if self.eps_q is None or not 0 <= int(self.eps_q) <= 0xFFFFFFFF:
                raise SpecError(f"{where}: eps_q is {self.eps_q!r}, expected an integer in "
                                f"0 … 2^32 − 1 (eps in units of in_scale², from the quantizer)")
            eps_q = int(self.eps_q)
        elif self.eps_q is not None:
            raise SpecError(f"{where}: eps_q is set, but {self.precision} layers have none")
        out = _validated_tensors(self, where)
        if self.precision == "q15":
            unit = out["in_scale"].view("<u4")
            if np.any(unit != unit[0]):
                raise SpecError(f"{where}: in_scale must be the same for every feature (a q15 "
                                f"LayerNorm averages its inputs, so they share one unit)")
        return replace(self, eps=float(eps), eps_q=eps_q, **cast("dict[str, Any]", out))


@dataclass(repr=False)
class Conv1DLayer:
    """A causal 1-D convolution over time (1.4, docs/FORMAT.md "Conv1D layers"): at step t,

        y[t] = activation(b + sum over taps j < k of W_j · x[t - (k - 1 - j)·dilation])

    with frames before the first taken as zeros, so that a stream gives at step t exactly the
    framework's causal (left-padded) output at t. w holds PyTorch's (O, I, k) weight flattened:
    (O, k·I) with w[o, i·k + j] the weight of tap j (0 = oldest) of input channel i; depthwise
    (groups = I, O = m·I: output o reads channel o // m only) w is (O, k). Tensors and
    activations are those of a DenseLayer (w_scale, in_scale per input channel, out_scale)."""

    w: np.ndarray
    b: np.ndarray
    in_channels: int
    kernel_size: int
    dilation: int = 1
    depthwise: bool = False
    activation: str = "linear"
    precision: str = "f32"
    name: str = ""
    w_scale: np.ndarray | None = None
    in_scale: np.ndarray | None = None
    out_scale: np.ndarray | None = None
    alpha: float | None = None

    kind = "conv1d"

    @property
    def input_size(self) -> int:
        return int(self.in_channels)

    @property
    def output_size(self) -> int:
        return int(np.shape(self.w)[0])

    @property
    def weight_cols(self) -> int:
        """Columns of w: k·I, or k when depthwise."""
        return int(self.kernel_size) * (1 if self.depthwise else int(self.in_channels))

    @property
    def window(self) -> int:
        """Past input frames the layer keeps in the stream's state: (k - 1)·dilation."""
        return (int(self.kernel_size) - 1) * int(self.dilation)

    def __repr__(self) -> str:
        return _layer_repr(self, self.w, f"k={self.kernel_size} d={self.dilation}"
                           f"{' depthwise' if self.depthwise else ''}, {self.activation}")

    def validated(self, where: str) -> Conv1DLayer:
        if np.ndim(self.w) != 2:
            raise SpecError(f"{where}: w must be 2-D (O, k·I), got shape {np.shape(self.w)}")
        for name in ("in_channels", "kernel_size", "dilation"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise SpecError(f"{where}: {name} must be an int, got {value!r}")
        _check_dim(f"{where}: output size", self.output_size)
        _check_dim(f"{where}: input size", self.input_size)
        for name in ("kernel_size", "dilation"):
            if not 1 <= getattr(self, name) <= MAX_CONV_FIELD:
                raise SpecError(f"{where}: {name} is {getattr(self, name)}, expected 1 … "
                                f"{MAX_CONV_FIELD}")
        if self.depthwise and self.output_size % self.input_size:
            raise SpecError(f"{where}: a depthwise Conv1D has m·I outputs; {self.output_size} is "
                            f"not a multiple of its {self.input_size} input channels")
        if self.kernel_size * self.input_size > MAX_DIM:
            raise SpecError(f"{where}: kernel_size·in_channels is {self.kernel_size} x "
                            f"{self.input_size}, expected at most {MAX_DIM}")
        if self.window * self.input_size > MAX_CONV_WINDOW:
            raise SpecError(f"{where}: the window of (kernel_size - 1)·dilation·in_channels = "
                            f"{self.window * self.input_size} values is above {MAX_CONV_WINDOW}")
        activation, alpha = split_activation(self.activation)
        _check_choice(f"{where}: activation", activation, DENSE_ACTIVATIONS)
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        if self.precision == "q15" and activation not in Q15_DENSE_ACTIVATIONS:
            raise SpecError(f"{where}: q15 has no fixed-point {activation!r} (only "
                            f"{', '.join(Q15_DENSE_ACTIVATIONS)}); use f32 or q8 for this model")
        alpha = _activation_alpha(where, activation, self.alpha if alpha is None else alpha)
        return replace(self, activation=activation, alpha=alpha, in_channels=int(self.in_channels),
                       kernel_size=int(self.kernel_size), dilation=int(self.dilation),
                       depthwise=bool(self.depthwise),
                       **cast("dict[str, Any]", _validated_tensors(self, where)))


@dataclass(repr=False)
class EmbeddingLayer:
    """Token ids to vectors (1.5, docs/FORMAT.md "Embedding"): step t's input is one token id,
    0 <= id < vocab_size, and its output the table's row id, (D,). Only as the first layer: the
    model's input is then one id per step (input_size 1).

    f32: table (vocab, D) float32. q8: table int8 with one bf16 scale code per row (table_scale,
    (vocab,)): row id is table[id] * scale. q15: table int16 in out_scale units (D,), in_scale
    [1.0] (the id is its own unit)."""

    table: np.ndarray
    precision: str = "f32"
    name: str = ""
    table_scale: np.ndarray | None = None
    in_scale: np.ndarray | None = None
    out_scale: np.ndarray | None = None

    kind = "embedding"

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return int(np.shape(self.table)[1]) if np.ndim(self.table) == 2 else 0

    @property
    def vocab_size(self) -> int:
        return int(np.shape(self.table)[0]) if np.ndim(self.table) == 2 else 0

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"EmbeddingLayer{name}({self.vocab_size} → {self.output_size}, {self.precision})"

    def validated(self, where: str) -> EmbeddingLayer:
        if np.ndim(self.table) != 2:
            raise SpecError(f"{where}: table must be 2-D (vocab, D), got shape "
                            f"{np.shape(self.table)}")
        _check_choice(f"{where}: precision", self.precision, tuple(PRECISIONS))
        _check_dim(f"{where}: output size", self.output_size)
        most = MAX_VOCAB_Q15 if self.precision == "q15" else MAX_VOCAB
        if not 1 <= self.vocab_size <= most:
            why = "ids are int16 inputs" if self.precision == "q15" else "ids are exact float32"
            raise SpecError(f"{where}: the vocabulary has {self.vocab_size} tokens, expected 1 … "
                            f"{most} ({why})")
        out = _validated_tensors(self, where)
        if self.precision == "q15" and np.any(out["in_scale"] != np.float32(1.0)):
            raise SpecError(f"{where}: in_scale must be [1.0]: the input is the token id itself")
        return replace(self, **cast("dict[str, Any]", out))


def output_scale(layer: Layer) -> np.ndarray | None:
    """The real value of one unit of each of a q15 layer's outputs (output_size,): its out_scale,
    or for a bidirectional concat GRU both directions' in turn; None for other precisions."""
    if layer.out_scale is None:
        return None
    if isinstance(layer, GRULayer) and layer.backward is not None and layer.merge == "concat":
        assert layer.backward.out_scale is not None
        return np.concatenate([layer.out_scale, layer.backward.out_scale])
    return layer.out_scale


QUANT_ATTRS = {"gru": ("w_ih_scale", "w_hh_scale", "in_scale", "out_scale"),
               "lstm": ("w_ih_scale", "w_hh_scale", "in_scale", "out_scale"),
               "dense": ("w_scale", "in_scale", "out_scale"),
               "layernorm": ("in_scale", "out_scale"),
               "conv1d": ("w_scale", "in_scale", "out_scale"),
               "embedding": ("table_scale", "in_scale", "out_scale")}


Layer = Union[GRULayer, LSTMLayer, DenseLayer, LayerNormLayer, Conv1DLayer, EmbeddingLayer]
RecurrentLayer = Union[GRULayer, LSTMLayer]


def layer_state_size(layer: Layer) -> int:
    """The layer's values in the flat stream state: H for a GRU (2H for a bidirectional one,
    whose model has no streams), h and c (2H) for an LSTM, a
    Conv1D layer's window ((k - 1)·d frames of I values), 0 for a Dense or LayerNorm layer."""
    if isinstance(layer, LSTMLayer):
        return 2 * layer.hidden_size
    if isinstance(layer, Conv1DLayer):
        return layer.window * layer.input_size
    return layer.hidden_size * len(layer.directions) if isinstance(layer, GRULayer) else 0


def _checked_mask(value: object, layers: list[Layer]) -> float | None:
    """The input mask value as a float32 number (stored as float32 bits), or SpecError."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise SpecError(f"input_mask is {value!r}, expected a number (the mask value) or None")
    v = np.float32(value)
    if np.isnan(v):
        raise SpecError("input_mask is NaN: no input equals NaN, so no step would be masked")
    conv = [k for k, layer in enumerate(layers) if isinstance(layer, Conv1DLayer)]
    if conv:
        raise SpecError(f"input_mask with a Conv1D layer (layer {conv[0]}): a masked step would "
                        f"still enter its window of past frames; the runtime masks GRU and LSTM "
                        f"states only")
    if not any(isinstance(layer, (GRULayer, LSTMLayer)) for layer in layers):
        raise SpecError("input_mask needs a GRU or LSTM layer: a masked step keeps their states, "
                        "and this model has none")
    return float(v)


def masked_steps(mask_value: float | None, xs: np.ndarray) -> np.ndarray:
    """Which steps of xs (..., I) float are masked: equal to mask_value in every feature (as
    Keras compares; -0 equals 0, NaN never matches). All False without a mask."""
    xs = np.asarray(xs)
    if mask_value is None:
        return np.zeros(xs.shape[:-1], bool)
    return np.all(np.asarray(xs, np.float32) == np.float32(mask_value), axis=-1)


def _named_inputs(metadata: Mapping[str, str], input_size: int) -> tuple[tuple[str, int], ...]:
    """The (name, width) pairs of the metadata's named-inputs record (() without one), checked as
    the loader checks it: SpecError if malformed or if the widths do not sum to input_size."""
    from .inputs import parse_record

    record = metadata.get(INPUTS_KEY)
    if record is None:
        return ()
    try:
        pairs = parse_record(record)
    except ValueError as e:
        raise SpecError(f"metadata {INPUTS_KEY!r} (the named inputs): {e}") from None
    total = sum(width for _, width in pairs)
    if total != input_size:
        raise SpecError(f"metadata {INPUTS_KEY!r}: the input widths sum to {total}, expected "
                        f"{input_size} (layer 0's input size)")
    return pairs


def _check_precision_mix(layers: list[Layer]) -> None:
    """q15 models are integer end to end: all layers q15, each in_scale the previous out_scale."""
    q15 = [layer.precision == "q15" for layer in layers]
    if any(q15) and not all(q15):
        raise SpecError(f"layers {[k for k, q in enumerate(q15) if not q]} are not q15: a q15 "
                        f"model has only q15 layers (f32 and q8 layers may mix)")
    for k in range(1, len(layers) if all(q15) else 0):
        prev = output_scale(layers[k - 1])
        for cell in _cells(layers[k]):
            cur = cell.in_scale
            assert prev is not None and cur is not None
            if not np.array_equal(prev.view("<u4"), cur.view("<u4")):
                raise SpecError(f"layer {k}: in_scale differs from layer {k - 1}'s out_scale")


def _cells(layer: Layer) -> list[Layer]:
    return list(layer.directions) if isinstance(layer, GRULayer) else [layer]


@dataclass(repr=False)
class ModelSpec:
    """A sequential stack of layers plus string metadata: what one .grt file holds.

    Pickles (the default dataclass pickling) as its arrays and metadata."""

    layers: list[Layer]
    metadata: dict[str, str] = field(default_factory=dict)
    # The input mask (Keras Masking(mask_value=v); docs/CONVENTIONS.md, "Masking"): a step whose
    # input equals v in every feature keeps every GRU state and outputs it again. None: no mask.
    input_mask: float | None = None

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    @property
    def needs_future(self) -> bool:
        """Has the model a reverse or bidirectional layer (whole sequences only)?"""
        return any(isinstance(layer, GRULayer) and layer.needs_future for layer in self.layers)

    def __repr__(self) -> str:
        """The layer stack with sizes and the number of metadata entries; no arrays."""
        layers = ", ".join(repr(layer) for layer in self.layers)
        mask = "" if self.input_mask is None else f", input_mask={self.input_mask!r}"
        return f"ModelSpec([{layers}], {len(self.metadata)} metadata entries{mask})"

    def validated(self) -> ModelSpec:
        """A checked copy (float32 arrays, chained sizes, valid codes), or SpecError."""
        if not 1 <= len(self.layers) <= MAX_LAYERS:
            raise SpecError(f"model has {len(self.layers)} layers, expected 1 … {MAX_LAYERS}")
        layers: list[Layer] = []
        for k, layer in enumerate(self.layers):
            where = f"layer {k} ({layer.kind}{' ' + layer.name if layer.name else ''})"
            checked = layer.validated(where)
            if k > 0 and isinstance(checked, EmbeddingLayer):
                raise SpecError(f"{where}: an Embedding can only be the first layer (its input is "
                                f"the model's token ids)")
            if layers and checked.input_size != layers[-1].output_size:
                raise SpecError(f"{where}: input size is {checked.input_size}, expected "
                                f"{layers[-1].output_size} (the output size of layer {k - 1})")
            layers.append(checked)
        _check_precision_mix(layers)
        check_metadata(self.metadata)
        _named_inputs(self.metadata, layers[0].input_size)
        return ModelSpec(layers, dict(self.metadata), _checked_mask(self.input_mask, layers))

    @property
    def inputs(self) -> tuple[tuple[str, int], ...]:
        """The named inputs (name, width) in the order of the input vector (the metadata entry
        "model.inputs", docs/FORMAT.md "Named inputs"); () when the model names none. SpecError if
        the entry is malformed or its widths do not sum to layer 0's input size."""
        return _named_inputs(self.metadata, self.input_size)

    def with_inputs(self, inputs: Mapping[str, int] | Sequence[tuple[str, int]] | None
                    ) -> ModelSpec:
        """A copy whose input vector is these named inputs, in order ({"acc": 3, "gyro": 3} or
        [("acc", 3), ("gyro", 3)]; the widths sum to the input size), or none (None). The file
        records them (format 1.4); Stream.step and run then also take {name: array}."""
        from .inputs import make_record

        metadata = {k: v for k, v in self.metadata.items() if k != INPUTS_KEY}
        if inputs is not None:
            try:
                metadata[INPUTS_KEY] = make_record(inputs)
            except ValueError as e:
                raise SpecError(f"named inputs: {e}") from None
        _named_inputs(metadata, self.input_size)
        return replace(self, layers=list(self.layers), metadata=metadata)

    def to_bytes(self, weight_layout: str = "auto") -> bytes:
        """The .grt file bytes (deterministic). weight_layout: "auto" (the fastest layout each
        layer allows) or "row-major" (gru_rt.writer.write_model)."""
        from .writer import write_model

        return write_model(self, weight_layout)

    def save(self, path: str | Path, weight_layout: str = "auto") -> Path:
        """Write the .grt file atomically (temporary file + rename); returns the path."""
        from .fileio import write_atomic

        return write_atomic(Path(path), self.to_bytes(weight_layout))

    def load(self, weight_layout: str = "auto") -> Model:
        """The runtime model for this description (through the one reader, the C loader)."""
        from . import load

        return load(self.to_bytes(weight_layout))
