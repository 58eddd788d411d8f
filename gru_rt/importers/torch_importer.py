"""PyTorch importer: nn.Module objects and state dicts (in memory or saved with torch.save).

PyTorch's GRU is already the canonical one (gates r, z, n; reset applied after the recurrent
product; h' = (1 - z) * n + z * h), and so is its LSTM (gates i, f, g, o), so the tensors are copied
without any transformation.

A state dict is read as a sequential stack in key order, grouped by module prefix (everything before
the last dot of a key):

- `weight_ih_l0`, `weight_hh_l0` [, `bias_ih_l0`, `bias_hh_l0`] … `_l{k}`: an nn.GRU of k+1 layers,
  or an nn.LSTM when `weight_hh_l0` has 4·H rows (3·H: a GRU);
- `weight_ih`, `weight_hh` [, `bias_ih`, `bias_hh`]: an nn.GRUCell (nn.LSTMCell: 4·H rows);
- a 2-D `weight` [+ `bias`]: an nn.Linear (activation "linear" unless told otherwise);
- a 1-D `weight` [+ `bias`]: an nn.LayerNorm over the last dimension. A state dict does not hold
  its eps: the caller states it (`layernorm_eps=`), else the LayerNorm is refused (a module gives
  its own, and a LayerNorm without affine parameters, which has no keys, converts only from the
  module);
- a 3-D `weight` [+ `bias`]: an nn.Conv1d, only when the caller declares it causal with its
  dilation (`causal={prefix: dilation}`: a state dict holds neither its padding nor its
  dilation); weight (O, 1, k) after a layer of O/m outputs (m >= 1, more than one channel) is
  depthwise, else groups 1.

Anything else is refused with an error naming the key. A module is walked through its leaf modules
in registration order (which must be the order `forward` applies them): nn.GRU, nn.GRUCell,
nn.LSTM, nn.LSTMCell, nn.Linear and nn.LayerNorm (over the last dimension) become layers, an
activation module (ReLU, Tanh, Sigmoid, Softmax over the last dimension, Hardsigmoid, LeakyReLU,
ELU, GELU, SiLU, Softplus, LogSoftmax) right after a Linear sets that Linear's activation,
nn.Dropout and nn.Identity are skipped, and any other module is refused. When registration order
is not the order `forward` applies the
modules, `layers=` states the stack (module names or objects, in forward order).
An nn.GRU's `bidirectional=True` (keys `…_l{k}_reverse`) gives bidirectional layers, outputs
concatenated [forward, backward] as nn.GRU's: such a model runs whole sequences (Model.run), not
streams. An nn.LSTM's `bidirectional=True` is refused, and so is its
`proj_size > 0` (weight_hr_l{k}: projections are not part of the canonical LSTM); `batch_first` and
`num_layers` need nothing (each layer of a multi-layer module is a layer of the stack).
nn.Conv1d (1.4) becomes a causal Conv1D layer when the module walk shows it causal: stride 1,
groups 1 or depthwise (groups = in_channels), zero padding on the left only, either as an
nn.ConstantPad1d((p, 0), 0.0) / nn.ZeroPad1d((p, 0)) right before it with padding=0, or, when
forward() makes it causal itself (F.pad(x, (p, 0)), or padding=p and the last p outputs sliced
off), by naming it in `causal=`; p must be (kernel_size - 1)·dilation; an activation module after
it sets its activation. The (N, C, T) layout of nn.Conv1d is forward()'s business: the layer reads
one frame of C channels per step. Strides, "valid"/"same"/two-sided padding and pooling change
the time rate or look ahead, which a stream cannot do: they are refused with that reason.

A safetensors file (gru_rt.importers.safetensors_reader) is read into NumPy arrays and goes through
import_state_dict, which then needs no torch.

torch is imported only when one of these functions runs.
"""

from __future__ import annotations

import errno
import pickle
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import ConversionError, GruRtError, MissingDependencyError, printable
from ..fileio import open_regular
from ..spec import Conv1DLayer, DenseLayer, GRULayer, Layer, LayerNormLayer, LSTMLayer, ModelSpec
from ._lazy import require
from ._untrusted import MAX_SOURCE_BYTES, zip_infos
from .convention import BIDIRECTIONAL
from .torch_legacy import check_legacy_storages

__all__ = ["TORCH_CONVENTION", "import_file", "import_module", "import_state_dict"]

TORCH_CONVENTION = ("torch.nn.GRU: gates r,z,n; n = tanh(W_in x + b_in + r*(W_hn h + b_hn)); "
                    "h' = (1-z)*n + z*h")
TORCH_LSTM_CONVENTION = "torch.nn.LSTM: gates i,f,g,o; c' = f*c + i*g; h' = o*tanh(c')"

_GRU_KEY = re.compile(r"(weight|bias)_(ih|hh)_l(\d+)(_reverse)?")
_PROJ_KEY = re.compile(r"weight_hr(_l\d+)?")
_CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_SUPPORTED = ("only nn.GRU and nn.LSTM (weight_ih_l0, weight_hh_l0, …), nn.GRUCell and nn.LSTMCell "
              "(weight_ih, weight_hh, …), nn.Linear (weight, bias) and nn.LayerNorm (1-D weight, "
              "bias) are supported")
_PROJECTION = ("an nn.LSTM with proj_size > 0 (a projection of h) is not supported: gru_rt's LSTM "
               "has no projection; train with proj_size=0")
_GATES = {"gru": 3, "lstm": 4}  # gate blocks of each recurrent kind
_MODULE_NAMES = {"gru": "nn.GRU", "lstm": "nn.LSTM", "cell": "nn.GRUCell",
                 "lstm_cell": "nn.LSTMCell", "linear": "nn.Linear", "norm": "nn.LayerNorm",
                 "conv": "nn.Conv1d"}


# torch.load(weights_only=True) has known bypasses before 2.10 (CVE-2025-32434: code execution
# through weights_only in torch <= 2.5.1; CVE-2026-24747: memory corruption in the weights-only
# unpickler before 2.10). Older versions are refused rather than trusted with a file.
MIN_TORCH = (2, 10)


def _torch() -> ModuleType:
    torch = require("torch", "converting a PyTorch model")
    found = re.match(r"(\d+)\.(\d+)", str(getattr(torch, "__version__", "")))
    if found is None or (int(found.group(1)), int(found.group(2))) < MIN_TORCH:
        raise MissingDependencyError(
            f"converting a PyTorch model needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]}, found "
            f"{printable(getattr(torch, '__version__', '?'))}: older versions have known ways "
            f"around torch.load(weights_only=True) (CVE-2025-32434, CVE-2026-24747), so a "
            f"crafted file could run code; pip install 'torch>={MIN_TORCH[0]}.{MIN_TORCH[1]}'")
    return torch


@dataclass
class _Block:
    """The layers one module (one key prefix) contributes."""

    prefix: str
    kind: str  # "gru", "lstm", "cell", "lstm_cell", "linear", "norm" or "conv"
    layers: list[Layer]
    in_key: str  # the key whose shape gives the input size
    out_key: str  # the key whose shape gives the output size
    activation: str | None = None  # Linear only, once set
    activation_source: str = ""  # where the activation came from, for conflict messages
    gru_layers: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        name = self.prefix or {"cell": "gru_cell", "norm": "layer_norm",
                               "conv": "conv1d"}.get(self.kind, self.kind)
        if self.kind in _GATES:
            return f"{name}({','.join(f'l{k}' for k in self.gru_layers)})"
        return name

    @property
    def description(self) -> str:
        kind = _MODULE_NAMES[self.kind]
        return f"{kind} {self.prefix!r}" if self.prefix else kind


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _expect(key: str, arr: np.ndarray, shape: tuple[int, ...], hint: str = "") -> np.ndarray:
    if arr.shape != shape:
        raise ConversionError(f"{key} has shape {_shape(arr.shape)}, expected {_shape(shape)}"
                              + (f" ({hint})" if hint else ""))
    return arr


def _to_numpy(key: str, value: Any) -> np.ndarray:
    """float64 copy of a tensor (or array); dtypes are checked later by _check_dtypes, once the
    structure is known to be right (so a foreign layer is named as such, not by its dtype)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":  # no torch needed
        arr = value.astype(np.float64)
    else:
        torch = _torch()
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"{key} is a {type(value).__name__}, expected a tensor")
        arr = value.detach().to("cpu", torch.float64).numpy()
    if not np.all(np.isfinite(arr)):
        raise ConversionError(f"{key} contains NaN or Inf")
    return arr


def _check_dtypes(state: Mapping[str, Any]) -> None:
    for key, value in state.items():
        dtype = getattr(value, "dtype", None)
        floating = value.is_floating_point() if hasattr(value, "is_floating_point") else (
            getattr(dtype, "kind", "") == "f")
        if not floating:
            raise ConversionError(f"{key} has dtype {dtype}, expected a floating-point tensor")


# ---- state dict → blocks -------------------------------------------------------------------------

def _group(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        prefix, _, name = key.rpartition(".")
        groups.setdefault(prefix, {})[name] = arr
    return groups


def _classify(prefix: str, params: dict[str, np.ndarray],
              convs: Mapping[str, tuple[int, int, int]], eps: float | None) -> _Block:
    if prefix in convs:
        return _conv_block(prefix, params, *convs[prefix])
    for name in params:
        if _PROJ_KEY.fullmatch(name):
            raise ConversionError(f"{_key(prefix, name)}: {_PROJECTION}")
    if any(_GRU_KEY.fullmatch(name) for name in params):
        return _gru_block(prefix, params)
    if any(name in _CELL_NAMES for name in params):
        return _cell_block(prefix, params)
    if "weight" in params and params["weight"].ndim == 1:
        return _layernorm_block(prefix, params, eps)
    if "weight" in params:
        return _linear_block(prefix, params)
    name = next(iter(params))
    raise ConversionError(f"{_key(prefix, name)}: unknown parameter; {_SUPPORTED}")


def _refuse_extra(prefix: str, params: dict[str, np.ndarray], allowed: set[str],
                  what: str) -> None:
    for name in params:
        if name not in allowed:
            raise ConversionError(f"{_key(prefix, name)}: unexpected key next to the {what} "
                                  f"parameters of {prefix!r}; {_SUPPORTED}")


def _hidden_size(key: str, w_hh: np.ndarray) -> tuple[int, str]:
    """H and the kind from a recurrent weight: (3H, H) a GRU, (4H, H) an LSTM."""
    if w_hh.ndim != 2 or w_hh.shape[1] == 0:
        raise ConversionError(f"{key} has shape {_shape(w_hh.shape)}, expected (3·H, H) for a "
                              f"GRU or (4·H, H) for an LSTM")
    h = w_hh.shape[1]
    if w_hh.shape[0] == 4 * h:
        return h, "lstm"
    _expect(key, w_hh, (3 * h, h), "3·hidden_size rows for a GRU (r, z, n) or 4·hidden_size for "
                                   "an LSTM (i, f, g, o); is this an nn.RNN?"
            if w_hh.shape[0] == h else "3·hidden_size rows for a GRU or 4·hidden_size for an LSTM")
    return h, "gru"


def _input_size(key: str, w_ih: np.ndarray, rows: int) -> int:
    if w_ih.ndim != 2:
        raise ConversionError(f"{key} has shape {_shape(w_ih.shape)}, expected ({rows}, "
                              f"input_size)")
    _expect(key, w_ih, (rows, w_ih.shape[1]))
    return int(w_ih.shape[1])


def _gru_layer(prefix: str, params: dict[str, np.ndarray], suffix: str, h: int | None,
               in_size: int | None, has_bias: bool, name: str,
               kind: str | None = None) -> GRULayer | LSTMLayer:
    """One GRU or LSTM layer (kind; None: read it from weight_hh's rows) from weight_ih{suffix}
    etc.; h / in_size None: read them from the weights."""
    keys = {n: _key(prefix, n + suffix) for n in _CELL_NAMES}
    w_hh = params.get("weight_hh" + suffix)
    if w_hh is None:
        shape = f"({_GATES[kind]}·H, H)" if kind else "(3·H or 4·H, H)"
        if h is not None and kind:
            shape = f"({_GATES[kind] * h}, {h})"
        raise ConversionError(f"{keys['weight_hh']} is missing (expected shape {shape})")
    if h is None or kind is None:
        h, kind = _hidden_size(keys["weight_hh"], w_hh)
    rows = _GATES[kind] * h
    _expect(keys["weight_hh"], w_hh, (rows, h))
    w_ih = params.get("weight_ih" + suffix)
    if w_ih is None:
        shape = f"({rows}, {in_size if in_size is not None else 'input_size'})"
        raise ConversionError(f"{keys['weight_ih']} is missing (expected shape {shape})")
    if in_size is None:
        in_size = _input_size(keys["weight_ih"], w_ih, rows)
    _expect(keys["weight_ih"], w_ih, (rows, in_size))
    biases = []
    for n in ("bias_ih", "bias_hh"):
        b = params.get(n + suffix)
        if b is None and has_bias:
            raise ConversionError(f"{keys[n]} is missing (expected shape ({rows},))")
        biases.append(np.zeros(rows) if b is None else _expect(keys[n], b, (rows,)))
    if kind == "lstm":
        return LSTMLayer(w_ih=w_ih, w_hh=w_hh, b_ih=biases[0], b_hh=biases[1], name=name)
    return GRULayer(w_ih=w_ih, w_hh=w_hh, b_ih=biases[0], b_hh=biases[1], reset_after=True,
                    name=name)


def _gru_block(prefix: str, params: dict[str, np.ndarray]) -> _Block:
    indices = set()
    for name in params:
        m = _GRU_KEY.fullmatch(name)
        if m is None:
            raise ConversionError(f"{_key(prefix, name)}: unexpected key next to the nn.GRU/"
                                  f"nn.LSTM parameters of {prefix!r}; {_SUPPORTED}")
        indices.add(int(m.group(3)))
    has_bias = any(name.startswith("bias") for name in params)
    layers: list[Layer] = []
    h: int | None = None
    in_size: int | None = None
    kind: str | None = None  # from layer 0's weight_hh: every layer of the module has it
    reverse = {int(m.group(3)) for m in map(_GRU_KEY.fullmatch, params) if m and m.group(4)}
    for k in range(max(indices) + 1):
        layer = _gru_layer(prefix, params, f"_l{k}", h, in_size, has_bias,
                           _key(prefix, f"l{k}"), kind)
        if reverse and not isinstance(layer, GRULayer):
            name = next(n for n in params if n.endswith("_reverse"))
            raise ConversionError(f"{_key(prefix, name)}: {BIDIRECTIONAL}")
        if reverse:  # nn.GRU bidirectional=True: a _reverse set per layer, outputs concatenated
            back = _gru_layer(prefix, params, f"_l{k}_reverse", layer.hidden_size,
                              layer.input_size, has_bias, _key(prefix, f"l{k}_reverse"), "gru")
            assert isinstance(back, GRULayer) and isinstance(layer, GRULayer)
            layer = replace(layer, direction="bidirectional", merge="concat", backward=back)
        layers.append(layer)
        h, in_size = layer.hidden_size, layer.output_size
        kind = layer.kind
    last = len(layers) - 1
    assert kind is not None
    return _Block(prefix, kind, layers, _key(prefix, "weight_ih_l0"),
                  _key(prefix, f"weight_hh_l{last}"), gru_layers=list(range(last + 1)))


def _cell_block(prefix: str, params: dict[str, np.ndarray]) -> _Block:
    _refuse_extra(prefix, params, set(_CELL_NAMES), "nn.GRUCell/nn.LSTMCell")
    has_bias = "bias_ih" in params or "bias_hh" in params
    layer = _gru_layer(prefix, params, "", None, None, has_bias, prefix or "cell")
    if not prefix:
        layer.name = "gru_cell" if layer.kind == "gru" else "lstm_cell"
    return _Block(prefix, "cell" if layer.kind == "gru" else "lstm_cell", [layer],
                  _key(prefix, "weight_ih"), _key(prefix, "weight_hh"))


def _linear_block(prefix: str, params: dict[str, np.ndarray]) -> _Block:
    _refuse_extra(prefix, params, {"weight", "bias"}, "nn.Linear")
    key = _key(prefix, "weight")
    w = params["weight"]
    if w.ndim == 3:
        raise ConversionError(f"{key} has shape {_shape(w.shape)}: an nn.Conv1d, whose kernel's "
                              f"dilation, stride and padding a state dict does not record; "
                              f"convert the nn.Module itself (import_module), or declare it "
                              f"causal with its dilation: causal={{{prefix!r}: 1}} (gru-rt "
                              f"convert --causal {prefix}=1)")
    if w.ndim != 2:
        raise ConversionError(f"{key} has shape {_shape(w.shape)}, not the 2-D weight of an "
                              f"nn.Linear; {_SUPPORTED}")
    b = params.get("bias")
    b = np.zeros(w.shape[0]) if b is None else _expect(_key(prefix, "bias"), b, (w.shape[0],))
    layer = DenseLayer(w=w, b=b, name=prefix or "linear")
    return _Block(prefix, "linear", [layer], key, key)


def _layernorm_block(prefix: str, params: dict[str, np.ndarray], eps: float | None) -> _Block:
    """An nn.LayerNorm over the last dimension: a 1-D weight [+ bias]. A state dict does not hold
    eps: the caller gives it (import_module reads the module's own); None: _blocks refuses the
    layer once the chain is checked."""
    _refuse_extra(prefix, params, {"weight", "bias"}, "nn.LayerNorm")
    key = _key(prefix, "weight")
    gamma = params["weight"]
    beta = params.get("bias")
    beta = np.zeros_like(gamma) if beta is None else _expect(_key(prefix, "bias"), beta,
                                                             gamma.shape)
    layer = LayerNormLayer(gamma=gamma, beta=beta, eps=1.0 if eps is None else eps,
                           name=prefix or "layer_norm")  # None: refused by _blocks
    return _Block(prefix, "norm", [layer], key, key)
def _conv_block(prefix: str, params: dict[str, np.ndarray], in_channels: int, dilation: int,
                groups: int) -> _Block:
    """An nn.Conv1d already checked causal (import_module): weight (O, I/groups, k) flattened."""
    _refuse_extra(prefix, params, {"weight", "bias"}, "nn.Conv1d")
    key = _key(prefix, "weight")
    w = params["weight"]
    b = params.get("bias")
    b = np.zeros(w.shape[0]) if b is None else _expect(_key(prefix, "bias"), b, (w.shape[0],))
    layer = Conv1DLayer(w=w.reshape(w.shape[0], -1), b=b, in_channels=in_channels,
                        kernel_size=int(w.shape[2]), dilation=dilation, depthwise=groups > 1,
                        name=prefix or "conv1d")
    return _Block(prefix, "conv", [layer], key, key)


def _check_chain(blocks: list[_Block]) -> None:
    for before, after in zip(blocks, blocks[1:]):
        need, have = after.layers[0].input_size, before.layers[-1].output_size
        if need != have:
            raise ConversionError(
                f"{after.in_key} expects inputs of size {need}, but the previous layer "
                f"{before.description} outputs size {have} ({before.out_key})")


def _blocks(arrays: Mapping[str, np.ndarray],
            convs: Mapping[str, tuple[int, int, int]] | None = None, *,
            dilations: Mapping[str, int] | None = None,
            eps: Mapping[str, float] | float | None = None) -> list[_Block]:
    """The blocks in key order. convs: the nn.Conv1d prefixes a module walk found causal, with
    (in_channels, dilation, groups); dilations: those a state dict's caller declared causal.
    eps: each nn.LayerNorm's (a module's, by prefix) or the one the caller stated, or None."""
    if not arrays:
        raise ConversionError(f"the state dict is empty; {_SUPPORTED}")
    convs = dict(convs or {})
    blocks: list[_Block] = []
    for prefix, params in _group(arrays).items():
        if dilations is not None and prefix in dilations:
            convs[prefix] = _declared_conv(prefix, params, dilations[prefix],
                                           blocks[-1] if blocks else None)
        blocks.append(_classify(prefix, params, convs, _eps_of(eps, prefix)))
    unknown = sorted(set(dilations or {}) - set(convs))
    if unknown:
        raise ConversionError(f"causal: {', '.join(repr(p) for p in unknown)} is not an "
                              f"nn.Conv1d of the state dict (3-D weights: "
                              f"{', '.join(repr(p) for p in convs) or 'none'})")
    _check_chain(blocks)
    for block in blocks:  # after the structure: a wrong key or size is the first thing to fix
        if block.kind == "norm" and _eps_of(eps, block.prefix) is None:
            raise ConversionError(f"{block.in_key}: an nn.LayerNorm, whose eps a state dict "
                                  f"does not record; state it: convert(..., layernorm_eps=1e-5) "
                                  f"(nn.LayerNorm's default; gru-rt convert --layernorm-eps "
                                  f"1e-5), or convert the nn.Module itself")
    return blocks


def _eps_of(eps: Mapping[str, float] | float | None, prefix: str) -> float | None:
    return eps.get(prefix) if isinstance(eps, Mapping) else eps


def _declared_conv(prefix: str, params: dict[str, np.ndarray], dilation: object,
                   before: _Block | None) -> tuple[int, int, int]:
    """(in_channels, dilation, groups) of a state dict's nn.Conv1d declared causal: weight
    (O, I/groups, k); (O, 1, k) after a layer of C > 1 outputs with O a multiple of C is
    depthwise (groups = C), else groups 1."""
    key = _key(prefix, "weight")
    w = params.get("weight")
    if w is None or w.ndim != 3:
        shape = "none" if w is None else _shape(w.shape)
        raise ConversionError(f"causal: {prefix!r} is declared an nn.Conv1d, but {key} has shape "
                              f"{shape}, expected (out_channels, in_channels/groups, "
                              f"kernel_size)")
    if not isinstance(dilation, (int, np.integer)) or isinstance(dilation, bool) or dilation < 1:
        raise ConversionError(f"causal[{prefix!r}]: the dilation is {dilation!r}, expected an "
                              f"int >= 1")
    o, per_group = int(w.shape[0]), int(w.shape[1])
    channels = before.layers[-1].output_size if before is not None else 0
    if per_group == 1 and channels > 1 and o % channels == 0:
        return channels, int(dilation), channels
    return per_group, int(dilation), 1


# ---- activations -------------------------------------------------------------------------------

def _set_activation(block: _Block, name: str, source: str) -> None:
    if block.activation is not None and block.activation != name:
        raise ConversionError(f"{source} sets the activation of {block.description} to {name!r}, "
                              f"but {block.activation_source} already sets it to "
                              f"{block.activation!r}")
    block.activation, block.activation_source = name, source


def _apply_activations(blocks: list[_Block], activations: Mapping[str, str] | None,
                       head_activation: str | None) -> None:
    by_prefix = {b.prefix: b for b in blocks}
    linear = [b.prefix for b in blocks if b.kind in ("linear", "conv")]
    for prefix, name in (activations or {}).items():
        block = by_prefix.get(prefix)
        if block is None or block.kind not in ("linear", "conv"):
            what = f"is {block.description}, not an nn.Linear" if block else "is not a layer"
            raise ConversionError(
                f"activations: {prefix!r} {what}; activations apply to the nn.Linear layers: "
                f"{', '.join(repr(p) for p in linear) or 'none in this model'}")
        _set_activation(block, name, f"activations[{prefix!r}]")
    if head_activation is not None:
        last = blocks[-1]
        if last.kind != "linear":
            raise ConversionError(f"head_activation: the last layer is {last.description}, not "
                                  f"an nn.Linear (a GRU's or LSTM's output activation is fixed)")
        _set_activation(last, head_activation, "head_activation")
    for block in blocks:
        if block.kind in ("linear", "conv"):
            layer = block.layers[0]
            assert isinstance(layer, (DenseLayer, Conv1DLayer))
            layer.activation = block.activation or "linear"


def _spec(blocks: list[_Block], metadata: Mapping[str, str] | None) -> ModelSpec:
    meta = {
        "source.framework": "torch",
        "source.convention": TORCH_CONVENTION + (
            f"; {TORCH_LSTM_CONVENTION}" if any(b.kind in ("lstm", "lstm_cell") for b in blocks)
            else ""),
        "source.transforms": "none",
        "source.layers": ",".join(printable(b.label) for b in blocks),
    }
    meta.update(metadata or {})
    return ModelSpec([layer for b in blocks for layer in b.layers], meta).validated()


# ---- public entry points -----------------------------------------------------------------------

def import_state_dict(state: Mapping[str, Any], *,
                      activations: Mapping[str, str] | None = None,
                      head_activation: str | None = None,
                      metadata: Mapping[str, str] | None = None,
                      causal: Mapping[str, int] | None = None,
                      layernorm_eps: float | None = None) -> ModelSpec:
    """A ModelSpec from a state dict (a mapping of key → tensor, in the model's layer order).

    activations: {Linear module prefix: activation} ("linear" by default); head_activation: the
    activation of the last layer, which must be a Linear.
    causal: {nn.Conv1d prefix: dilation} of the convolutions that are causal in the model
    (left zero padding of (kernel_size - 1)·dilation, stride 1): a state dict records neither.
    layernorm_eps: the eps of the nn.LayerNorm layers (a state dict does not record it; the
    default 1e-5 of nn.LayerNorm is not assumed).
    """
    arrays = {str(key): _to_numpy(str(key), value) for key, value in state.items()}
    blocks = _blocks(arrays, dilations=causal, eps=layernorm_eps)
    if layernorm_eps is not None and not any(b.kind == "norm" for b in blocks):
        raise ConversionError(f"layernorm_eps={layernorm_eps!r} is given, but the state dict has "
                              f"no nn.LayerNorm (a 1-D weight)")
    _check_dtypes(state)
    _apply_activations(blocks, activations, head_activation)
    return _spec(blocks, metadata)


def import_file(path: str | Path, *,
                activations: Mapping[str, str] | None = None,
                head_activation: str | None = None,
                metadata: Mapping[str, str] | None = None,
                causal: Mapping[str, int] | None = None,
                layernorm_eps: float | None = None) -> ModelSpec:
    """A ModelSpec from a file written by torch.save(model.state_dict(), path) (causal and
    layernorm_eps: as import_state_dict's).

    The file is read with torch.load(weights_only=True): no code in the file is ever run, so a whole
    pickled model is refused (save its state_dict() instead).
    """
    torch = _torch()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, f"no such file: {path}")
    try:
        with open_regular(path, MAX_SOURCE_BYTES, "PyTorch file") as f:
            _check_declared_sizes(f, str(path))
            _refuse_torchscript(f, path)
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch < 2.13: "Unsupported global: GLOBAL x.y"; 2.13: "unsupported GLOBAL x.y whose …"
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found is None:  # not a pickle of objects either: a damaged or foreign file
            raise ConversionError(f"cannot read {path} as a PyTorch file "
                                  f"({_unpickler_reason(e)})") from None
        raise ConversionError(
            f"{path} is not a plain state dict (it contains a {found.group(1)} object): "
            f"torch.load(weights_only=True) refuses to run code from a file. Save the weights "
            f"with torch.save(model.state_dict(), path) and convert that file") from None
    except GruRtError:
        raise
    except Exception as e:  # torch raises many types for a file that is not a torch file
        raise ConversionError(f"cannot read {path} as a PyTorch file "
                              f"({type(e).__name__}: {e})") from None
    state, key = _state_dict_from(path, obj)
    meta = {"source.checkpoint_key": key} if key is not None else {}
    return import_state_dict(state, activations=activations, head_activation=head_activation,
                             metadata={**meta, **(metadata or {})}, causal=causal,
                             layernorm_eps=layernorm_eps)


def _check_declared_sizes(f: Any, where: str) -> None:
    """Refuse what declares more bytes than the file holds before torch allocates it: the members
    of a .pt zip archive before they are inflated, the storages of an old-format (not zip) file
    before torch.load allocates them at their declared sizes."""
    if zipfile.is_zipfile(f):
        with zipfile.ZipFile(f) as z:
            zip_infos(z, where)
        f.seek(0)
    else:
        f.seek(0)
        check_legacy_storages(f, where)


def _check_storage(path: Path, key: str, tensor: Any) -> None:
    """Refuse a tensor whose elements do not each have their own place in its storage (a stride-0
    expanded or an overlapping view): copying it out would allocate far more than the file holds.
    Checked on sizes and strides only, before anything is materialised. Sparse, quantized and
    other non-plain tensors are refused here too (torch would raise on converting them)."""
    if str(tensor.layout) != "torch.strided" or tensor.is_quantized or tensor.is_meta:
        kind = "quantized" if tensor.is_quantized else str(tensor.layout).replace("torch.", "")
        raise ConversionError(f"{path}: tensor {printable(key)} is a {kind} tensor, expected a "
                              f"plain dense floating-point tensor")
    sizes, strides = list(tensor.shape), list(tensor.stride())
    dense = 1
    for size, stride in sorted(zip(sizes, strides), key=lambda p: p[1]):
        if size > 1 and stride < dense:
            raise ConversionError(f"{path}: tensor {printable(key)} of shape {tuple(sizes)} has "
                                  f"strides {tuple(strides)}: its elements overlap in storage "
                                  f"(an expanded or overlapping view); save plain tensors "
                                  f"(.contiguous() or .clone())")
        dense += (size - 1) * stride
    need = (tensor.storage_offset() + tensor.numel()) * tensor.element_size()
    if tensor.numel() and need > tensor.untyped_storage().nbytes():
        raise ConversionError(f"{path}: tensor {printable(key)} needs {need} bytes but its storage "
                              f"holds {tensor.untyped_storage().nbytes()}")


def _unpickler_reason(e: Exception) -> str:
    found = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
    return found.group(1).strip() if found else str(e).splitlines()[0]


# Keys under which training scripts store the model's state dict in a checkpoint, most common first.
CHECKPOINT_KEYS = ("model_state_dict", "state_dict", "model", "net", "model_state", "network",
                   "module", "weights", "params")


def _is_tensor(value: object) -> bool:
    """A torch tensor or a NumPy array (torch itself is not imported here)."""
    return isinstance(value, np.ndarray) or (type(value).__module__.startswith("torch")
                                             and hasattr(value, "detach"))


def _all_tensors(value: object) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(_is_tensor(v) for v in
                                                              value.values())


def checkpoint_state(obj: Mapping[Any, Any], where: str) -> tuple[Mapping[str, Any], str | None]:
    """The state dict in `obj` and the checkpoint key it was found under (None: obj itself is
    one). A training checkpoint ({"epoch": 3, "model_state_dict": {...}, "optimizer_state_dict":
    {...}}) holds it under one of CHECKPOINT_KEYS, or as its only mapping of tensors."""
    if all(_is_tensor(v) for v in obj.values()):
        return obj, None
    holders = [str(k) for k, v in obj.items() if _all_tensors(v)]
    known = [k for k in CHECKPOINT_KEYS if k in holders]
    keys = ", ".join(repr(k) for k in obj)
    if known or len(holders) == 1:
        return obj[(known or holders)[0]], (known or holders)[0]
    if holders:
        raise ConversionError(
            f"{where} looks like a training checkpoint (keys {keys}) with several state dicts "
            f"({', '.join(repr(h) for h in holders)}); convert the one you want: "
            f"convert(checkpoint[{holders[0]!r}])")
    bad = next(k for k, v in obj.items() if not _is_tensor(v))
    if isinstance(obj[bad], Mapping):
        raise ConversionError(
            f"{where}: key {bad!r} holds a dict that is not a state dict, and no key "
            f"({', '.join(CHECKPOINT_KEYS)}) holds one: this looks like a training checkpoint "
            f"(keys {keys}); save the model's state dict itself, e.g. "
            f"torch.save(model.state_dict(), path)")
    raise ConversionError(f"{where}: key {bad!r} holds a {type(obj[bad]).__name__}, not a tensor, "
                          f"and no key ({', '.join(CHECKPOINT_KEYS)}) holds a state dict; "
                          f"expected a state dict (model.state_dict()) or a training checkpoint")


def _state_dict_from(path: Path, obj: object) -> tuple[Mapping[str, Any], str | None]:
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path} holds a {type(obj).__name__}, expected a state dict (a "
                              f"dict of tensors); save it with torch.save(model.state_dict(), "
                              f"path)")
    state, key = checkpoint_state(obj, str(path))
    for name, value in state.items():
        if not isinstance(value, np.ndarray):
            _check_storage(path, str(name), value)
    return state, key


TORCHSCRIPT_ADVICE = (
    "TorchScript keeps the model as compiled code, which gru_rt does not run; convert the original "
    "nn.Module, or its weights: torch.jit.load(path).state_dict() is an ordinary state dict "
    "(torch.jit.load runs code from the file: only for files you trust), with the activations "
    "stated (activations=, head_activation=)")


def _refuse_torchscript(f: Any, path: Path) -> None:
    """A torch.jit.save archive: a zip with <name>/code/ and <name>/constants.pkl entries."""
    if zipfile.is_zipfile(f):
        with zipfile.ZipFile(f) as z:
            names = z.namelist()
        if any(re.fullmatch(r"[^/]+/(constants\.pkl|code/.*)", n) for n in names):
            raise ConversionError(f"{path} is a TorchScript archive (torch.jit.save). "
                                  f"{TORCHSCRIPT_ADVICE}")
    f.seek(0)


_ACTIVATION_MODULES = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid",
                       "Softmax": "softmax", "Hardsigmoid": "hard_sigmoid", "SiLU": "silu",
                       "Softplus": "softplus", "LogSoftmax": "log_softmax"}


def _activation_name(path: str, module: Any, torch: ModuleType) -> str | None:
    nn = torch.nn
    kinds = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Softmax, nn.Hardsigmoid, nn.SiLU, nn.Softplus,
             nn.LogSoftmax, nn.LeakyReLU, nn.ELU, nn.GELU)
    if not isinstance(module, kinds):
        return None
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)) and module.dim not in (-1, 1):
        raise ConversionError(f"module {path!r} ({type(module).__name__}) has dim={module.dim}; "
                              f"only one over the features (dim=-1) can be converted")
    if isinstance(module, nn.LeakyReLU):
        return f"leaky_relu(alpha={float(module.negative_slope)!r})"
    if isinstance(module, nn.ELU):
        return f"elu(alpha={float(module.alpha)!r})"
    if isinstance(module, nn.GELU):
        return "gelu_tanh" if module.approximate == "tanh" else "gelu"
    # ln(1 + e^x) equals x in float32 from x = 16 on: torch's linear zone above the threshold.
    if isinstance(module, nn.Softplus) and (module.beta != 1 or module.threshold < 16):
        raise ConversionError(f"module {path!r} (Softplus) has beta={module.beta}, "
                              f"threshold={module.threshold}; only beta=1 with threshold >= 16 "
                              f"(the default 20) can be converted")
    return _ACTIVATION_MODULES[type(module).__name__]


def _leaves(path: str, m: Any) -> list[tuple[str, Any]]:
    return [(_key(path, sub) if sub else path, leaf) for sub, leaf in m.named_modules()
            if next(leaf.children(), None) is None]


def _stated_order(module: Any, layers: Sequence[Any]) -> list[tuple[str, Any]]:
    """The leaf modules of the user's explicit stack: names or module objects, in forward order."""
    named = dict(module.named_modules())
    path_of = {id(m): p for p, m in named.items()}
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for entry in layers:
        if isinstance(entry, str):
            if entry not in named:
                known = ", ".join(repr(p) for p in named if p) or "none"
                raise ConversionError(f"layers: {entry!r} is not a submodule of the model "
                                      f"(submodules: {known})")
            path = entry
        else:
            if id(entry) not in path_of:
                raise ConversionError(f"layers: a {type(entry).__name__} that is not a "
                                      f"submodule of the model was given")
            path = path_of[id(entry)]
        for leaf_path, leaf in _leaves(path, named[path]):
            if leaf_path in seen:
                raise ConversionError(f"layers: module {leaf_path!r} is listed twice; a module "
                                      f"applied twice (shared weights) cannot be converted")
            seen.add(leaf_path)
            out.append((leaf_path, leaf))
    if not out:
        raise ConversionError("layers: the list of modules is empty")
    return out


_NOT_STREAMABLE = ("a stream returns one output per input step from the past only; a stride, "
                   "pooling, 'valid' or two-sided padding changes the time rate or looks ahead")


def _causal_conv(path: str, m: Any, left_pad: int | None,
                 causal: bool) -> tuple[int, int, int]:
    """(in_channels, dilation, groups) of an nn.Conv1d that is causal as the walk shows it
    (left_pad: the zero padding of a pad module right before it), or ConversionError saying why
    not."""
    what = f"module {path!r} (nn.Conv1d)"
    k, d, s = m.kernel_size[0], m.dilation[0], m.stride[0]
    need = (k - 1) * d
    if s != 1:
        raise ConversionError(f"{what} has stride {s}: {_NOT_STREAMABLE}")
    if m.groups not in (1, m.in_channels):
        raise ConversionError(f"{what} has groups={m.groups}: gru_rt converts groups 1 and "
                              f"depthwise (groups = in_channels = {m.in_channels})")
    if m.padding_mode != "zeros":
        raise ConversionError(f"{what} has padding_mode={m.padding_mode!r}: a causal Conv1D pads "
                              f"with zeros")
    padding = m.padding if isinstance(m.padding, str) else m.padding[0]
    if padding == "valid":
        padding = 0
    if left_pad is not None:
        if padding != 0 or left_pad != need:
            raise ConversionError(
                f"{what} follows a left padding of {left_pad} and has padding={padding!r}: a "
                f"causal Conv1D needs a left padding of (kernel_size - 1)·dilation = {need} and "
                f"padding=0")
    elif not causal or padding not in (0, need):
        if padding in (0, need):
            hint = (f"if forward() pads it on the left (F.pad(x, ({need}, 0))) or drops the "
                    f"last {need} outputs, name it in causal=[{path!r}]")
        else:
            hint = f"a causal Conv1D needs padding 0 or {need}"
        raise ConversionError(f"{what} has padding={padding!r} and no left padding before it: "
                              f"{_NOT_STREAMABLE}; {hint}")
    return int(m.in_channels), int(d), int(m.groups)


def _left_pad(path: str, m: Any, nn: Any) -> int | None:
    """The left padding of a zero-padding module (nn.ConstantPad1d((p, 0), 0), nn.ZeroPad1d), or
    None for another module."""
    if not isinstance(m, (nn.ConstantPad1d, getattr(nn, "ZeroPad1d", nn.ConstantPad1d))):
        return None
    left, right = m.padding
    if right != 0 or getattr(m, "value", 0.0) != 0.0:
        raise ConversionError(f"module {path!r} ({type(m).__name__}) pads {m.padding} with "
                              f"{getattr(m, 'value', 0.0)}: only zeros on the left (p, 0) before "
                              f"an nn.Conv1d make it causal; {_NOT_STREAMABLE}")
    return int(left)


def import_module(module: Any, *,
                  activations: Mapping[str, str] | None = None,
                  head_activation: str | None = None,
                  metadata: Mapping[str, str] | None = None,
                  layers: Sequence[Any] | None = None,
                  causal: Sequence[str] = ()) -> ModelSpec:
    """A ModelSpec from an nn.Module, walking its leaf modules in registration order.

    layers: when registration order is not the order forward() applies the modules, the modules
    (or their names, as in named_modules()) in forward order; a container stands for its leaves.
    Every parameter of the model must belong to a listed module.
    causal: the names of nn.Conv1d modules that forward() makes causal itself (F.pad on the left,
    or padding=(k - 1)·d with the last outputs sliced off); an nn.Conv1d right after a left zero
    padding module needs no name.
    """
    torch = _torch()
    nn = torch.nn
    if isinstance(module, torch.jit.ScriptModule):
        raise ConversionError(f"the module is a TorchScript module ({type(module).__name__}, from "
                              f"torch.jit.script or torch.jit.trace). {TORCHSCRIPT_ADVICE}")
    state: dict[str, Any] = {}
    norm_eps: dict[str, float] = {}  # nn.LayerNorm path → its eps
    module_acts: list[tuple[str, str, str]] = []  # (linear prefix, activation, activation module)
    previous: tuple[str, Any] | None = None  # the last layer or activation module seen
    order = _leaves("", module) if layers is None else _stated_order(module, layers)
    convs: dict[str, tuple[int, int, int]] = {}
    pad: tuple[str, int] | None = None  # a left zero padding waiting for its nn.Conv1d
    for path, m in order:
        if isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        if pad is not None and not isinstance(m, nn.Conv1d):
            raise ConversionError(f"module {pad[0]!r} pads on the left, but {path!r} "
                                  f"({type(m).__name__}) follows it, not an nn.Conv1d")
        left = _left_pad(path, m, nn)
        if left is not None:
            pad = (path, left)
            continue
        if isinstance(m, nn.Conv1d):
            convs[path] = _causal_conv(path, m, None if pad is None else pad[1], path in causal)
            pad = None
            state.update({_key(path, k): v for k, v in m.state_dict().items()})
            previous = (path, m)
            continue
        if isinstance(m, (nn.GRU, nn.GRUCell, nn.LSTM, nn.LSTMCell, nn.Linear)):
            if isinstance(m, nn.LSTM) and m.bidirectional:
                raise ConversionError(f"module {path!r} ({_MODULE_NAMES[type(m).__name__.lower()]}"
                                      f", bidirectional=True): {BIDIRECTIONAL}")
            if isinstance(m, nn.LSTM) and m.proj_size > 0:
                raise ConversionError(f"module {path!r} (nn.LSTM, proj_size={m.proj_size}): "
                                      f"{_PROJECTION}")
            state.update({_key(path, k): v for k, v in m.state_dict().items()})
            previous = (path, m)
            continue
        if isinstance(m, nn.LayerNorm):
            state.update(_layernorm_state(path, m))
            norm_eps[path] = float(m.eps)
            previous = (path, m)
            continue
        if type(m).__name__.endswith(("Pool1d", "Pool2d")):
            raise ConversionError(f"module {path!r} ({type(m).__name__}): {_NOT_STREAMABLE}")
        act = _activation_name(path, m, torch)
        if act is None:
            raise ConversionError(
                f"module {path!r} ({type(m).__name__}) cannot be converted: gru_rt converts "
                f"nn.GRU, nn.GRUCell, nn.LSTM, nn.LSTMCell, nn.Linear, nn.LayerNorm, a causal "
                f"nn.Conv1d, an activation (ReLU, Tanh, Sigmoid, Softmax, Hardsigmoid, LeakyReLU, "
                f"ELU, GELU, SiLU, Softplus, LogSoftmax) right after a Linear or Conv1d, "
                f"nn.Dropout and nn.Identity")
        if previous is None or not isinstance(previous[1], (nn.Linear, nn.Conv1d)):
            after = (f"{type(previous[1]).__name__} {previous[0]!r}" if previous
                     else "the start of the model")
            raise ConversionError(f"module {path!r} ({type(m).__name__}) follows {after}, not an "
                                  f"nn.Linear or nn.Conv1d; an activation module can only "
                                  f"follow one of those")
        if isinstance(previous[1], nn.Conv1d) and act in ("softmax", "log_softmax") \
                and m.dim != 1:
            raise ConversionError(f"module {path!r} ({type(m).__name__}, dim={m.dim}) after an "
                                  f"nn.Conv1d's (N, C, T) output is not over its channels (dim=1)")
        module_acts.append((previous[0], act, path))
        previous = (path, m)
    if pad is not None:
        raise ConversionError(f"module {pad[0]!r} pads on the left, but no nn.Conv1d follows it")
    unknown = sorted(set(causal) - set(convs))
    if unknown:
        raise ConversionError(f"causal: {', '.join(repr(p) for p in unknown)} is not an "
                              f"nn.Conv1d of the model (its nn.Conv1d: "
                              f"{', '.join(repr(p) for p in convs) or 'none'})")
    _refuse_unconsumed(module, state)
    blocks = _blocks({key: _to_numpy(key, value) for key, value in state.items()}, convs,
                     eps=norm_eps)
    _check_dtypes(state)
    by_prefix = {b.prefix: b for b in blocks}
    for prefix, act, path in module_acts:
        _set_activation(by_prefix[prefix], act, f"module {path!r}")
    _apply_activations(blocks, activations, head_activation)
    return _spec(blocks, metadata)


def _layernorm_state(path: str, m: Any) -> dict[str, Any]:
    """An nn.LayerNorm's gamma and beta under its path (ones and zeros where it has none); only
    over the last dimension."""
    shape = tuple(m.normalized_shape)
    if len(shape) != 1:
        raise ConversionError(f"module {path!r} (nn.LayerNorm, normalized_shape={shape}): only a "
                              f"LayerNorm over the last dimension (one size) can be converted")
    d = shape[0]
    weight = m.weight if m.weight is not None else np.ones(d)
    bias = m.bias if m.bias is not None else np.zeros(d)
    return {_key(path, "weight"): weight, _key(path, "bias"): bias}


def _refuse_unconsumed(module: Any, state: Mapping[str, Any]) -> None:
    """Parameters or buffers registered on a container (not in a layer) have no place to go."""
    for key in module.state_dict():
        if key not in state:
            raise ConversionError(f"{key}: a parameter or buffer outside the supported layers "
                                  f"(nn.GRU, nn.GRUCell, nn.LSTM, nn.LSTMCell, nn.Linear) cannot "
                                  f"be converted (or, "
                                  f"with layers=, outside the listed modules)")
