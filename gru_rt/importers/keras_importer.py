"""Keras importer: Keras 3 model objects, `.keras` files, `.h5` files (full models or weights plus
an architecture), and Keras 2 / tf.keras `.h5` files.

Files are read with `json`, `zipfile` and `h5py` only: Keras is never imported for a file and no
code from the file ever runs (a `Lambda` layer or a custom class is refused by its name). A model
object is read through `get_config()` and `get_weights()` of its layers; the same code then
checks both.

Supported layers, in a sequential stack (a `Sequential`, or a `Functional` model whose layers form a
single chain):

- `InputLayer` (skipped); several inputs (a Functional model with several `Input`s) when a
  `Concatenate` on the feature axis joins all of them, each once, before the first layer: the file
  then names each input and its width (format 1.4, docs/FORMAT.md "Named inputs"), in the
  Concatenate's order;
- `Masking(mask_value=v)` as the first layer (after `InputLayer`, Dropout-like layers): the model's
  input mask (ModelSpec.input_mask; a step equal to v in every feature keeps every GRU state and
  repeats its output, as Keras does); refused anywhere else (it would mask a computed value);
- `GRU`: reset_after True/False (canonical reset_after 1/0), activation tanh/relu,
  recurrent_activation sigmoid/hard_sigmoid (Keras 3's hard_sigmoid is relu6(x + 3)/6 = gru_rt
  "hard_sigmoid"; Keras 2's is clip(0.2 x + 0.5) = "hard_sigmoid_k2": chosen by the file's Keras
  version), use_bias False (zero biases), return_sequences True/False (False only for the last GRU,
  followed by nothing or Dense-like layers: a stream emits the per-step output, whose last step is
  Keras' output); dropout, recurrent_dropout, stateful and unroll do not matter at inference;
  go_backwards: see below; return_state is refused;
- `LSTM` (format 1.4): the same options as a GRU (activation tanh/relu, recurrent_activation
  sigmoid/hard_sigmoid, use_bias, return_sequences, go_backwards/return_state refused); its gate
  order i, f, c, o is the canonical i, f, g, o, so the weights are only transposed (bias → b_ih,
  b_hh = 0); unit_forget_bias only initialises the bias, which the trained weights already hold;
- `Dense` (or `TimeDistributed(Dense)`) with activation linear/relu/tanh/sigmoid/softmax/
  leaky_relu/elu/gelu/silu (swish)/softplus/log_softmax; an `Activation`, `ReLU` (plain),
  `LeakyReLU`, `ELU` or `Softmax` (last axis) layer right after a linear Dense is folded into it;
- `BatchNormalization`, `Normalization`, `Rescaling`: per-feature affine maps a·x + c at inference,
  folded exactly (float64) into the linear Dense right before them, else into the input weights and
  bias of the next GRU or Dense (W·diag(a), b + W·c); refused when no layer can take them;
- `Dropout`, `SpatialDropout1D`, `GaussianNoise`, `GaussianDropout`, `AlphaDropout` (identity at
  inference).

`Bidirectional(GRU(..., return_sequences=True))` with merge_mode concat, sum, ave or mul becomes a
bidirectional layer (format 1.4; the model then runs whole sequences with Model.run, not streams);
`return_sequences=False` inside it (the forward output after the last step next to the backward
one after step 0: no step's output) is refused with the reason. `GRU(go_backwards=True,
return_sequences=False)` becomes a reverse GRU: Keras' output, the state after step 0, is gru_rt's
output at step 0, `Model.run(x, readout='first')` (metadata `source.readout` says so); with
return_sequences=True (outputs in reversed time order), and in an LSTM, it is refused. Refused too:
a model with several inputs with their names and the layers that merge them. Everything else
(Conv1D, Attention, SimpleRNN, Lambda, Embedding, nested models, custom
classes …) is refused with an error naming the layer and its class.

The GRU weights go through the NumPy importer's `Convention` (preset "keras": gate order z, r, h,
kernels input × 3H), so the convention arithmetic lives in one place.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ArgumentError, ConversionError, printable
from ..fileio import open_regular, read_regular
from ..format import INPUTS_KEY
from ..inputs import source_record
from ..spec import (
    DENSE_ACTIVATIONS,
    Conv1DLayer,
    DenseLayer,
    GRULayer,
    Layer,
    LayerNormLayer,
    LSTMLayer,
    ModelSpec,
    split_activation,
)
from ._lazy import require
from ._untrusted import (
    H5_ERRORS,
    MAX_JSON_BYTES,
    MAX_SOURCE_BYTES,
    ZIP_ERRORS,
    check_h5_bytes,
    check_h5_tree,
    h5_errors,
    load_json,
    zip_infos,
    zip_member,
)
from .convention import Convention
from .numpy_importer import import_gru

__all__ = ["KERAS_CONVENTION", "import_file", "import_model"]

KERAS_CONVENTION = ("keras GRU: gates z,r,h; kernel (I,3H), recurrent_kernel (H,3H); bias (3H,) "
                    "with reset_after=False, (2,3H) input+recurrent with reset_after=True; "
                    "h' = z*h + (1-z)*hh")
KERAS_LSTM_CONVENTION = ("keras LSTM: gates i,f,c,o (= i,f,g,o); kernel (I,4H), recurrent_kernel "
                         "(H,4H), bias (4H,); c' = f*c + i*g, h' = o*act(c')")

_IDENTITY = ("Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "SpatialDropout1D")
_AFFINE = ("BatchNormalization", "Normalization", "Rescaling")  # per-feature a·x + c: folded
_CONV = ("Conv1D", "DepthwiseConv1D")  # causal (1.4): _conv1d
_WEIGHTED = ("GRU", "LSTM", "Dense", "TimeDistributed", "BatchNormalization", "Normalization",
             "LayerNormalization", *_CONV, "Bidirectional")
_POOLING = ("MaxPooling1D", "AveragePooling1D", "MaxPool1D", "AvgPool1D", "UpSampling1D",
            "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Cropping1D", "ZeroPadding1D")
_NOT_STREAMABLE = ("a stream returns one output per input step from the past only; a stride, "
                   "pooling, 'valid' or 'same' padding changes the time rate or looks ahead")
_RECURRENT = ("GRU", "LSTM")
_KERAS_MERGES = ("concat", "sum", "ave", "mul")  # Bidirectional merge modes gru_rt has
_FOLDED = ("Activation", "ReLU", "Softmax", "LeakyReLU", "ELU")
_MODELS = ("Sequential", "Functional", "Model")
_SUPPORTED = ("gru_rt converts InputLayer, Masking (first), GRU, LSTM, Dense (or "
              "TimeDistributed(Dense)), "
              "LayerNormalization (over the feature axis), "
              "Conv1D/DepthwiseConv1D with padding='causal', "
              "Activation/ReLU/LeakyReLU/ELU/Softmax after a Dense or Conv1D, BatchNormalization/"
              "Normalization/Rescaling "
              "(folded into the adjacent layer) and Dropout-like layers")


def _keras() -> Any:
    return require("keras", "reading a Keras model object")


def _h5py() -> Any:
    return require("h5py", "reading Keras .keras/.h5 files")


@dataclass
class _KLayer:
    """One layer of the source: its class, config and (once read) weights."""

    name: str
    class_name: str
    config: dict[str, Any]
    module: str | None = None
    registered_name: str | None = None
    weights: list[np.ndarray] | None = None

    @property
    def label(self) -> str:
        return f"layer {self.name!r} ({self.class_name})"


@dataclass
class _Arch:
    """A model's architecture: its layers in order, the Keras major version that wrote it."""

    layers: list[_KLayer]
    keras_major: int
    model_class: str
    inputs: tuple[tuple[str, int], ...] = ()  # named inputs joined by a Concatenate (1.4)


# ---- architecture ----------------------------------------------------------------------------

def _major(version: object) -> int:
    text = version.decode() if isinstance(version, bytes) else str(version or "")
    head = text.split(".", 1)[0]
    return int(head) if head.isdigit() else 3


def _inbound_names(layer_cfg: Mapping[str, Any]) -> list[str]:
    """Names of the layers feeding a layer of a Functional config (Keras 2 and 3 forms)."""
    names: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, Mapping):
            hist = x.get("keras_history")
            if isinstance(hist, (list, tuple)) and hist and isinstance(hist[0], str):
                names.append(hist[0])
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            if len(x) >= 3 and isinstance(x[0], str) and isinstance(x[1], int):
                names.append(x[0])  # Keras 2: [name, node_index, tensor_index, kwargs]
                return
            for v in x:
                walk(v)

    walk(layer_cfg.get("inbound_nodes", []))
    return names


def _chain_order(model_cfg: Mapping[str, Any], layers: list[Mapping[str, Any]]
                 ) -> tuple[tuple[str, int], ...]:
    """Refuse a Functional graph that is not one chain in list order, after its inputs joined by a
    Concatenate (then returned: the named inputs, in the order of the joined vector)."""
    inputs, start = _merged_inputs(model_cfg, layers)
    previous: str | None = _layer_name(layers[start - 1]) if start else None
    for cfg in layers[start:]:
        name = _layer_name(cfg)
        inbound = _inbound_names(cfg)
        if previous is None:
            if inbound:
                raise ConversionError(f"layer {name!r} ({cfg.get('class_name')}) has inputs "
                                      f"{inbound} but is the first layer of the model")
        elif inbound != [previous]:
            raise ConversionError(
                f"layer {name!r} ({cfg.get('class_name')}) takes its input from "
                f"{', '.join(repr(n) for n in inbound) or 'nothing'}, not from the previous layer "
                f"{previous!r}: only a single chain of layers (a sequential model) can be "
                f"converted")
        previous = name
    outputs = _inbound_names({"inbound_nodes": model_cfg.get("output_layers", [])})
    if previous is not None and outputs and outputs != [previous]:
        raise ConversionError(f"the model's outputs are {outputs}, expected the last layer "
                              f"{previous!r} alone")
    return inputs


def _merged_inputs(model_cfg: Mapping[str, Any], layers: list[Mapping[str, Any]]
                   ) -> tuple[tuple[tuple[str, int], ...], int]:
    """A model with several inputs converts when its first layers are their InputLayers and the
    next one a Concatenate on the feature axis of all of them, each once: then the named inputs
    (name, width) in the Concatenate's order, and the index of the first layer after it.
    ((), 0) for a model with one input; ConversionError naming what differs otherwise."""
    inputs = _inbound_names({"inbound_nodes": model_cfg.get("input_layers", [])})
    if len(inputs) <= 1:
        return (), 0
    listed = ", ".join(repr(n) for n in inputs)
    refusal = (f"the model has {len(inputs)} inputs ({listed}): gru_rt converts several inputs "
               f"when one Concatenate on the last axis joins them all, each once, before the "
               f"first layer")
    k = 0
    while k < len(layers) and isinstance(layers[k], Mapping) \
            and layers[k].get("class_name") == "InputLayer":
        k += 1
    widths = {_layer_name(cfg): _input_width(cfg) for cfg in layers[:k]}
    merge: Mapping[str, Any] = layers[k] if k < len(layers) and isinstance(layers[k], Mapping) \
        else {}
    config = merge.get("config")
    inner: Mapping[str, Any] = config if isinstance(config, Mapping) else {}
    joined = _inbound_names(merge)
    if sorted(widths) != sorted(inputs) or merge.get("class_name") != "Concatenate":
        found = (f"layer {_layer_name(merge)!r} ({merge.get('class_name')})" if merge
                 else "no layer")
        raise ConversionError(f"{refusal}; after the inputs comes {found}")
    if sorted(joined) != sorted(inputs):
        raise ConversionError(f"{refusal}; layer {_layer_name(merge)!r} joins "
                              f"{', '.join(repr(n) for n in joined) or 'nothing'}")
    if inner.get("axis", -1) not in (-1, 2):
        raise ConversionError(f"{refusal}; layer {_layer_name(merge)!r} joins on axis "
                              f"{inner.get('axis')!r}, not the feature axis")
    return tuple((name, widths[name]) for name in joined), k + 1


def _input_width(cfg: Mapping[str, Any]) -> int:
    """The feature width of an InputLayer of (batch, time, features) sequences."""
    config = cfg.get("config")
    inner: Mapping[str, Any] = config if isinstance(config, Mapping) else {}
    shape = inner.get("batch_shape", inner.get("batch_input_shape"))
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 \
            or not isinstance(shape[-1], int) or isinstance(shape[-1], bool) or shape[-1] < 1:
        raise ConversionError(f"input {_layer_name(cfg)!r} has shape {shape!r}, expected "
                              f"(batch, time, features) with a fixed number of features")
    return shape[-1]


def _layer_name(cfg: Mapping[str, Any]) -> str:
    inner = cfg.get("config")
    name = cfg.get("name") or (inner.get("name") if isinstance(inner, Mapping) else None)
    return str(name) if name is not None else "?"


def _arch_from_config(top: Mapping[str, Any], keras_major: int, where: str) -> _Arch:
    if not isinstance(top, Mapping) or "class_name" not in top:
        raise ConversionError(f"{where}: not a Keras model config (no 'class_name')")
    model_class = str(top["class_name"])
    if model_class not in _MODELS:
        raise ConversionError(f"{where}: the model is a {model_class}; gru_rt converts a "
                              f"Sequential or a Functional model made of a chain of layers")
    cfg = top.get("config")
    layers_cfg = cfg if isinstance(cfg, list) else (cfg or {}).get("layers")  # Keras 2.0: a list
    if not isinstance(layers_cfg, list):
        raise ConversionError(f"{where}: the model config has no list of layers")
    inputs: tuple[tuple[str, int], ...] = ()
    if model_class != "Sequential":
        inputs = _chain_order(cfg if isinstance(cfg, Mapping) else {}, layers_cfg)
    layers = []
    for lc in layers_cfg:
        if not isinstance(lc, Mapping) or "class_name" not in lc:
            raise ConversionError(f"{where}: a layer entry is not a Keras layer config")
        inner = lc.get("config") or {}
        layers.append(_KLayer(name=_layer_name(lc), class_name=str(lc["class_name"]),
                              config=dict(inner) if isinstance(inner, Mapping) else {},
                              module=lc.get("module"), registered_name=lc.get("registered_name")))
    return _Arch(layers, keras_major, model_class, inputs)


def _architecture(architecture: object) -> Mapping[str, Any]:
    """The model config from a JSON file, a JSON string (model.to_json()) or a dict."""
    if isinstance(architecture, Mapping):
        return architecture
    if isinstance(architecture, (str, Path)) and Path(architecture).suffix.lower() == ".json":
        text = read_regular(architecture, MAX_JSON_BYTES, "JSON file").decode("utf-8", "replace")
        where = str(architecture)
    elif isinstance(architecture, str):
        text, where = architecture, "architecture"
    else:
        raise TypeError(f"architecture must be a .json path, a JSON string (model.to_json()) or "
                        f"a dict, not {type(architecture).__name__}")
    out = load_json(text, where)
    if isinstance(out, Mapping) and "model_config" in out:  # a saved Keras 2 JSON wrapper
        out = out["model_config"]
    if not isinstance(out, Mapping):
        raise ConversionError(f"{where}: expected a JSON object (model.to_json())")
    return out


# ---- weights from h5 -------------------------------------------------------------------------

def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _read_v3_weights(root: Any, arch: _Arch, where: str) -> None:
    """Keras 3 weights layout: layers/<key>/vars/<i> (GRU: layers/<key>/cell/vars/<i>), where the
    key is the layer's class name in snake case, numbered from the second of a class on."""
    layers_group = root.get("layers")
    if layers_group is None:
        raise ConversionError(f"{where}: no 'layers' group: not a Keras 3 weights file")
    used: dict[str, int] = {}
    for layer in arch.layers:
        # Keras 3 stores a model's layers by class name, not layer name: "gru", "gru_1", …
        key = _snake(layer.class_name)
        used[key] = used.get(key, -1) + 1
        key = f"{key}_{used[key]}" if used[key] else key
        if layer.class_name not in _WEIGHTED:
            continue
        group = layers_group.get(key)
        if group is None:
            raise ConversionError(f"{where}: no weights for {layer.label} (no group "
                                  f"layers/{key})")
        if layer.class_name == "Bidirectional":  # forward_layer/cell then backward_layer/cell
            layer.weights = [w for side in ("forward_layer", "backward_layer")
                             for w in _v3_vars(group.get(side), f"{where}: layers/{key}/{side}",
                                               layer, "cell")]
            continue
        inner = {"GRU": "cell", "LSTM": "cell", "TimeDistributed": "layer"}.get(layer.class_name)
        if inner is not None:
            group = group.get(inner)
            if group is None:
                raise ConversionError(f"{where}: no group layers/{key}/{inner} for "
                                      f"{layer.label}")
        var = group.get("vars")
        if var is None:
            raise ConversionError(f"{where}: no vars for {layer.label}")
        keys = sorted(var.keys(), key=lambda k: int(k) if str(k).isdigit() else -1)
        if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
            raise ConversionError(f"{where}: the vars of {layer.label} are named {keys}, "
                                  f"expected 0, 1, …")
        layer.weights = [np.asarray(var[k][()]) for k in keys]


def _v3_vars(group: Any, where: str, layer: _KLayer, inner: str) -> list[np.ndarray]:
    """The arrays of group/<inner>/vars/0, 1, … (a Bidirectional side's GRU cell)."""
    group = None if group is None else group.get(inner)
    var = None if group is None else group.get("vars")
    if var is None:
        raise ConversionError(f"{where}: no {inner}/vars for {layer.label}")
    keys = sorted(var.keys(), key=lambda k: int(k) if str(k).isdigit() else -1)
    if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
        raise ConversionError(f"{where}: the vars of {layer.label} are named {keys}, "
                              f"expected 0, 1, …")
    return [np.asarray(var[k][()]) for k in keys]


def _read_legacy_weights(root: Any, arch: _Arch, where: str) -> None:
    """Keras 2 / legacy h5 layout: <layer>/ with attribute weight_names, datasets by name."""
    for layer in arch.layers:
        if layer.class_name not in _WEIGHTED:
            continue
        group = root.get(layer.name)
        if group is None:
            raise ConversionError(f"{where}: no weights for {layer.label}")
        names = [n.decode() if isinstance(n, bytes) else str(n)
                 for n in group.attrs.get("weight_names", [])]
        weights = []
        for n in names:
            if n not in group:
                raise ConversionError(f"{where}: {layer.label} lists weight {n!r}, which is "
                                      f"missing")
            weights.append(np.asarray(group[n][()]))
        layer.weights = weights


def _read_h5(source: IO[bytes], arch_override: object, where: str) -> _Arch:
    """Architecture and weights from an HDF5 file object, once the whole file is checked (global
    heaps, no links, external storage or virtual datasets; shapes a layer can hold)."""
    h5py = _h5py()
    check_h5_bytes(source, where)
    try:
        f = h5py.File(source, "r")
    except H5_ERRORS as e:
        raise ConversionError(f"cannot read {where} as an HDF5 file ({printable(e)})") from None
    with f, h5_errors(where):
        check_h5_tree(h5py, f, where)
        attrs = f.attrs
        if "model_config" in attrs and arch_override is None:
            top = load_json(attrs["model_config"], f"{where}: model_config")
            arch = _arch_from_config(top, _major(attrs.get("keras_version")), where)
            weights_root = f.get("model_weights")
            if weights_root is None:
                raise ConversionError(f"{where}: has a model_config but no model_weights group")
            _read_legacy_weights(weights_root, arch, where)
            return arch
        if arch_override is None:
            raise ConversionError(
                f"{where} holds weights only (no model config): give the architecture too "
                f"(architecture= a model.to_json() string/.json file, or --architecture)")
        top = _architecture(arch_override)
        if "layer_names" in attrs:  # legacy save_weights() .h5
            arch = _arch_from_config(top, _major(attrs.get("keras_version")), where)
            _read_legacy_weights(f, arch, where)
        elif "model_weights" in f:
            arch = _arch_from_config(top, _major(attrs.get("keras_version")), where)
            _read_legacy_weights(f["model_weights"], arch, where)
        else:
            arch = _arch_from_config(top, 3, where)
            _read_v3_weights(f, arch, where)
        return arch


def _read_keras_zip(path: Path) -> _Arch:
    """A .keras archive: each member's declared size is checked before it is inflated."""
    try:
        with open_regular(path, MAX_SOURCE_BYTES, "Keras file") as file, \
                zipfile.ZipFile(file) as z:
            infos = {i.filename: i for i in zip_infos(z, str(path))}
            for needed in ("config.json", "model.weights.h5"):
                if needed not in infos:
                    raise ConversionError(f"{path}: no {needed} in the archive: not a Keras 3 "
                                          f".keras file")
            top = load_json(zip_member(z, infos["config.json"], MAX_JSON_BYTES, str(path)),
                            f"{path} (config.json)")
            meta = load_json(zip_member(z, infos["metadata.json"], MAX_JSON_BYTES, str(path)),
                             f"{path} (metadata.json)") if "metadata.json" in infos else {}
            weights = zip_member(z, infos["model.weights.h5"], MAX_SOURCE_BYTES, str(path))
    except (ConversionError, FileNotFoundError):
        raise
    except ZIP_ERRORS as e:
        raise ConversionError(f"cannot read {path} as a .keras file ({e})") from None
    if not isinstance(meta, Mapping):
        raise ConversionError(f"{path} (metadata.json): a JSON {type(meta).__name__}, expected an "
                              f"object")
    arch = _arch_from_config(top, _major(meta.get("keras_version", "3")), str(path))
    h5py = _h5py()
    where = f"{path} (model.weights.h5)"
    check_h5_bytes(io.BytesIO(weights), where)
    with h5_errors(where), h5py.File(io.BytesIO(weights), "r") as f:
        check_h5_tree(h5py, f, where)
        _read_v3_weights(f, arch, f"{path} (model.weights.h5)")
    return arch


# ---- layers → canonical ----------------------------------------------------------------------

def _activation_name(layer: _KLayer, key: str) -> str:
    value = layer.config.get(key)
    if value is None:
        return "linear"
    if isinstance(value, Mapping):  # a serialised function: {"module": ..., "config": name}
        module = str(value.get("module", ""))
        inner = value.get("config")
        if module.startswith("keras") and isinstance(inner, str):
            return _KERAS_NAMES.get(inner, inner)
        raise ConversionError(f"{layer.label}: {key} is a custom function "
                              f"({value.get('class_name')}); only built-in activations convert")
    return _KERAS_NAMES.get(str(value), str(value))


# Keras activation names whose gru_rt name differs (keras.activations.leaky_relu's default slope is
# 0.2; gelu's default is the exact, erf form).
_KERAS_NAMES = {"swish": "silu", "leaky_relu": "leaky_relu(alpha=0.2)"}


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _expect(layer: _KLayer, what: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if arr.shape != shape:
        raise ConversionError(f"{layer.label}: {what} has shape {_shape(arr.shape)}, expected "
                              f"{_shape(shape)}")
    if arr.dtype.kind not in "iuf":
        raise ConversionError(f"{layer.label}: {what} has dtype {arr.dtype}, expected floats")
    return arr


def _recurrent_options(layer: _KLayer, keras_major: int) -> tuple[str, str]:
    """The activation and gate activation of a GRU or LSTM layer, after refusing what a stream
    cannot run."""
    cfg = layer.config
    if cfg.get("return_state"):
        raise ConversionError(f"{layer.label}: return_state=True is not supported (its extra "
                              f"state outputs have no place in a sequential stream)")
    if cfg.get("go_backwards") and (layer.class_name != "GRU" or cfg.get("return_sequences")):
        why = ("gru_rt has no reverse LSTM" if layer.class_name != "GRU" else
               "with return_sequences=True Keras returns the outputs in reversed time order, "
               "the one after step 0 last, while a gru_rt reverse layer keeps each output at "
               "its own step, so the next layer would read them in another order; "
               "return_sequences=False (the output after step 0, Model.run(..., "
               "readout='first')) and Bidirectional(GRU) convert")
        raise ConversionError(f"{layer.label}: go_backwards=True is not supported ({why})")
    activation = _activation_name(layer, "activation")
    if activation not in ("tanh", "relu"):
        raise ConversionError(f"{layer.label}: activation {activation!r} is not supported "
                              f"(tanh, relu)")
    gate = _activation_name(layer, "recurrent_activation")
    if gate == "hard_sigmoid":
        gate = "hard_sigmoid" if keras_major >= 3 else "hard_sigmoid_k2"
    elif gate != "sigmoid":
        raise ConversionError(f"{layer.label}: recurrent_activation {gate!r} is not supported "
                              f"(sigmoid, hard_sigmoid)")
    return activation, gate


def _recurrent_weights(layer: _KLayer, gates: int) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray | None]:
    """A Keras GRU's (gates 3) or LSTM's (4) kernel (I, G·H) and recurrent_kernel (H, G·H),
    checked against each other and `units`, and its bias array unchecked (None without use_bias)."""
    use_bias = bool(layer.config.get("use_bias", True))
    weights = layer.weights or []
    if len(weights) != (3 if use_bias else 2):
        names = "kernel, recurrent_kernel" + (", bias" if use_bias else "")
        raise ConversionError(f"{layer.label}: has {len(weights)} weight arrays, expected "
                              f"{names}")
    kernel, rk = weights[0], weights[1]
    if rk.ndim != 2 or rk.shape[1] != gates * rk.shape[0] or rk.shape[0] == 0:
        raise ConversionError(f"{layer.label}: recurrent_kernel has shape {_shape(rk.shape)}, "
                              f"expected (H, {gates}H)")
    h = rk.shape[0]
    units = layer.config.get("units")
    if units is not None and int(units) != h:
        raise ConversionError(f"{layer.label}: units is {units} but recurrent_kernel has shape "
                              f"{_shape(rk.shape)}")
    if kernel.ndim != 2:
        raise ConversionError(f"{layer.label}: kernel has shape {_shape(kernel.shape)}, "
                              f"expected (input_size, {gates * h})")
    _expect(layer, "kernel", kernel, (kernel.shape[0], gates * h))
    _expect(layer, "recurrent_kernel", rk, (h, gates * h))
    return kernel, rk, weights[2] if use_bias else None


def _lstm(layer: _KLayer, keras_major: int) -> LSTMLayer:
    activation, gate = _recurrent_options(layer, keras_major)
    kernel, rk, raw_bias = _recurrent_weights(layer, 4)
    h = rk.shape[0]
    bias = np.zeros(4 * h) if raw_bias is None else _expect(layer, "bias", raw_bias, (4 * h,))
    return LSTMLayer(w_ih=np.asarray(kernel, np.float64).T, w_hh=np.asarray(rk, np.float64).T,
                     b_ih=np.asarray(bias, np.float64), b_hh=np.zeros(4 * h),
                     activation=activation, gate_activation=gate, name=layer.name)


def _gru(layer: _KLayer, keras_major: int) -> tuple[GRULayer, str]:
    cfg = layer.config
    activation, gate = _recurrent_options(layer, keras_major)
    reset_after = bool(cfg.get("reset_after", keras_major >= 3))
    kernel, rk, raw_bias = _recurrent_weights(layer, 3)
    h = rk.shape[0]
    arrays = {"W": kernel, "U": rk}
    if raw_bias is not None:
        bias_shape = (2, 3 * h) if reset_after else (3 * h,)
        arrays["b"] = _expect(layer, f"bias (reset_after={reset_after})", raw_bias, bias_shape)
    conv = Convention(gate_order="zrn", layout="in_out", reset="after" if reset_after else "before",
                      activation=activation, gate_activation=gate)
    gru, transforms = import_gru(arrays, conv, layer.name)
    if cfg.get("go_backwards"):  # return_sequences=False: its output is the one after step 0
        gru = replace(gru, direction="reverse")
    return gru, transforms


def _bidirectional(layer: _KLayer, keras_major: int) -> tuple[GRULayer, str]:
    """Bidirectional(GRU(return_sequences=True)): the forward GRU's weights then the backward one's
    (Keras reverses the backward outputs back into time order, as gru_rt does), merged."""
    cfg = layer.config
    inner = cfg.get("layer")
    if not isinstance(inner, Mapping) or inner.get("class_name") != "GRU":
        what = inner.get("class_name") if isinstance(inner, Mapping) else "?"
        raise ConversionError(f"{layer.label} wraps a {printable(str(what))}: only "
                              f"Bidirectional(GRU) can be converted")
    merge = cfg.get("merge_mode", "concat")
    if merge not in _KERAS_MERGES:
        raise ConversionError(f"{layer.label}: merge_mode={merge!r} is not supported "
                              f"({', '.join(_KERAS_MERGES)}; None returns two outputs)")
    gru_cfg = dict(inner.get("config") or {})
    if gru_cfg.get("go_backwards"):
        raise ConversionError(f"{layer.label}: the wrapped GRU has go_backwards=True, which "
                              f"makes its forward side run backwards; only go_backwards=False "
                              f"inside Bidirectional is supported")
    if not gru_cfg.get("return_sequences", False):
        raise ConversionError(
            f"{layer.label}: return_sequences=False returns the forward state after the last "
            f"step next to the backward state after step 0, which is no step's output; gru_rt "
            f"runs Bidirectional(GRU(..., return_sequences=True)), whose every step it gives "
            f"(Model.run(..., readout='last') then reads the last step's)")
    back_cfg = cfg.get("backward_layer")
    if isinstance(back_cfg, Mapping):
        back = dict(back_cfg.get("config") or {})
        for key in ("units", "activation", "recurrent_activation", "use_bias", "reset_after",
                    "return_sequences", "return_state"):
            if back.get(key) != gru_cfg.get(key):
                raise ConversionError(f"{layer.label}: the backward layer's {key} is "
                                      f"{back.get(key)!r}, the forward one's "
                                      f"{gru_cfg.get(key)!r}; both directions must match")
    weights = layer.weights or []
    half = len(weights) // 2
    sides = []
    for k, name in enumerate(("forward", "backward")):
        side = _KLayer(f"{layer.name}.{name}", "GRU", {**gru_cfg, "go_backwards": False},
                       weights=weights[k * half:(k + 1) * half] if len(weights) % 2 == 0
                       else weights)
        sides.append(_gru(side, keras_major))
    (fwd, transforms), (bwd, _) = sides
    return replace(fwd, name=layer.name, direction="bidirectional", merge=merge,
                   backward=bwd), transforms


def _dense(layer: _KLayer) -> DenseLayer:
    activation = _activation_name(layer, "activation")
    if split_activation(activation)[0] not in DENSE_ACTIVATIONS:
        raise ConversionError(f"{layer.label}: activation {activation!r} is not supported "
                              f"({', '.join(DENSE_ACTIVATIONS)})")
    use_bias = bool(layer.config.get("use_bias", True))
    weights = layer.weights or []
    if len(weights) != (2 if use_bias else 1):
        raise ConversionError(f"{layer.label}: has {len(weights)} weight arrays, expected "
                              f"{'kernel, bias' if use_bias else 'kernel'}")
    kernel = weights[0]
    if kernel.ndim != 2:
        raise ConversionError(f"{layer.label}: kernel has shape {_shape(kernel.shape)}, expected "
                              f"(input_size, units)")
    o = kernel.shape[1]
    b = _expect(layer, "bias", weights[1], (o,)) if use_bias else np.zeros(o)
    return DenseLayer(w=np.asarray(kernel, np.float64).T, b=b, activation=activation,
                      name=layer.name)


def _first(value: object) -> int:
    """A Keras 1-D size: an int or a one-element list/tuple."""
    return int(value[0] if isinstance(value, (list, tuple)) else value)  # type: ignore[arg-type]


def _conv1d(layer: _KLayer) -> Conv1DLayer:
    """Conv1D (kernel (k, I/groups, O), groups 1 or I) and DepthwiseConv1D (depthwise_kernel
    (k, I, m), output i·m + q) with padding="causal", stride 1, channels_last."""
    cfg, depthwise = layer.config, layer.class_name == "DepthwiseConv1D"
    k, d = _first(cfg.get("kernel_size", 1)), _first(cfg.get("dilation_rate", 1))
    strides, padding = _first(cfg.get("strides", 1)), str(cfg.get("padding", "valid"))
    if strides != 1:
        raise ConversionError(f"{layer.label}: strides={strides}: {_NOT_STREAMABLE}")
    if padding != "causal" and k > 1:
        raise ConversionError(f"{layer.label}: padding={padding!r}: {_NOT_STREAMABLE}; use "
                              f"padding='causal' (a stream sees the past only)")
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ConversionError(f"{layer.label}: data_format={cfg.get('data_format')!r}; a stream "
                              f"reads one frame of channels per step (channels_last)")
    activation = _activation_name(layer, "activation")
    if split_activation(activation)[0] not in DENSE_ACTIVATIONS:
        raise ConversionError(f"{layer.label}: activation {activation!r} is not supported "
                              f"({', '.join(DENSE_ACTIVATIONS)})")
    use_bias = bool(cfg.get("use_bias", True))
    weights = layer.weights or []
    if len(weights) != (2 if use_bias else 1) or weights[0].ndim != 3:
        raise ConversionError(f"{layer.label}: has weight arrays of shapes "
                              f"{[_shape(w.shape) for w in weights]}, expected a 3-D kernel"
                              f"{' and a bias' if use_bias else ''}")
    kernel = np.asarray(weights[0], np.float64)
    if depthwise:  # (k, I, m) → rows i·m + q, columns the k taps
        i = kernel.shape[1]
        w = kernel.transpose(1, 2, 0).reshape(-1, kernel.shape[0])
    else:
        groups = int(cfg.get("groups", 1))
        i = kernel.shape[1] * groups
        if groups not in (1, i):
            raise ConversionError(f"{layer.label}: groups={groups}: gru_rt converts groups 1 "
                                  f"and depthwise (groups = input channels = {i})")
        w = kernel.transpose(2, 1, 0).reshape(kernel.shape[2], -1)  # (O, I/groups, k) flattened
        depthwise = groups > 1
    if kernel.shape[0] != k:
        raise ConversionError(f"{layer.label}: kernel has shape {_shape(kernel.shape)}, "
                              f"expected kernel_size {k} first")
    b = _expect(layer, "bias", weights[1], (w.shape[0],)) if use_bias else np.zeros(w.shape[0])
    return Conv1DLayer(w=w, b=b, in_channels=i, kernel_size=k, dilation=d, depthwise=depthwise,
                       activation=activation, name=layer.name)


def _folded_activation(layer: _KLayer) -> str:
    cfg = layer.config
    if layer.class_name == "Activation":
        return _activation_name(layer, "activation")
    if layer.class_name == "ReLU":
        if cfg.get("max_value") is not None or float(cfg.get("negative_slope", 0) or 0) != 0 \
                or float(cfg.get("threshold", 0) or 0) != 0:
            raise ConversionError(f"{layer.label}: only a plain ReLU (no max_value, "
                                  f"negative_slope or threshold) can be converted")
        return "relu"
    if layer.class_name == "LeakyReLU":  # Keras 3: negative_slope (default 0.3); Keras 2: alpha
        slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
        return f"leaky_relu(alpha={float(slope)!r})"
    if layer.class_name == "ELU":
        return f"elu(alpha={float(cfg.get('alpha', 1.0))!r})"
    axis = cfg.get("axis", -1)
    if axis not in (-1, [-1], 2, [2]):
        raise ConversionError(f"{layer.label}: softmax over axis {axis}; only the feature axis "
                              f"(-1) can be converted")
    return "softmax"


def _layernorm(layer: _KLayer) -> LayerNormLayer:
    """LayerNormalization over the feature axis: gamma if scale, beta if center (in that order),
    epsilon (default 1e-3)."""
    cfg = layer.config
    axis = cfg.get("axis", -1)
    if axis not in (-1, [-1], (-1,), 2, [2], (2,)):
        raise ConversionError(f"{layer.label}: axis {axis}; only a LayerNormalization over the "
                              f"feature axis (-1) converts")
    if cfg.get("rms_scaling"):
        raise ConversionError(f"{layer.label}: rms_scaling=True (RMS normalisation) is not "
                              f"supported; only the standard LayerNormalization converts")
    names = (["gamma"] if cfg.get("scale", True) else []) + \
        (["beta"] if cfg.get("center", True) else [])
    w = [np.asarray(x, np.float64) for x in (layer.weights or [])]
    if len(w) != len(names) or any(x.ndim != 1 for x in w):
        raise ConversionError(f"{layer.label}: has weight arrays of shapes "
                              f"{[_shape(x.shape) for x in w]}, expected "
                              f"{', '.join(names) or 'none'} (1-D)")
    got = dict(zip(names, w))
    if not got:
        raise ConversionError(f"{layer.label}: scale=False and center=False leave no weights to "
                              f"give its size; not supported")
    d = next(iter(got.values())).shape[0]
    gamma = _expect(layer, "gamma", got["gamma"], (d,)) if "gamma" in got else np.ones(d)
    beta = _expect(layer, "beta", got["beta"], (d,)) if "beta" in got else np.zeros(d)
    return LayerNormLayer(gamma=gamma, beta=beta, eps=float(cfg.get("epsilon", 1e-3)),
                          name=layer.name)


def _refuse_foreign(layer: _KLayer) -> None:
    module = layer.module
    if layer.registered_name not in (None, layer.class_name) or (
            module is not None and not str(module).startswith("keras")):
        raise ConversionError(f"{layer.label} is a custom class (module {module!r}, registered "
                              f"as {layer.registered_name!r}): only built-in Keras layers convert")


# ---- layers that vanish at inference: wrappers and per-feature affine maps --------------------

def _unwrapped(layer: _KLayer) -> _KLayer:
    """TimeDistributed(Dense) is a Dense applied at every step: a Dense, named by the wrapper."""
    if layer.class_name != "TimeDistributed":
        return layer
    inner = layer.config.get("layer")
    if not isinstance(inner, Mapping) or inner.get("class_name") != "Dense":
        what = inner.get("class_name") if isinstance(inner, Mapping) else "?"
        raise ConversionError(f"{layer.label} wraps a {printable(str(what))}: only "
                              f"TimeDistributed(Dense) can be converted")
    config = inner.get("config")
    return _KLayer(layer.name, "Dense", dict(config) if isinstance(config, Mapping) else {},
                   module=inner.get("module"), registered_name=inner.get("registered_name"),
                   weights=layer.weights)


@dataclass
class _Affine:
    """y = a·x + c per feature (a, c scalars or vectors), from one or more Keras layers."""

    a: np.ndarray
    c: np.ndarray
    label: str

    def then(self, other: _Affine) -> _Affine:
        return _Affine(other.a * self.a, other.a * self.c + other.c,
                       f"{self.label} and {other.label}")

    def sized(self, n: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        a, c = np.broadcast_to(self.a, (n,)) if self.a.ndim == 0 else self.a, \
            np.broadcast_to(self.c, (n,)) if self.c.ndim == 0 else self.c
        if a.shape != (n,) or c.shape != (n,):
            raise ConversionError(f"{self.label} has {max(a.size, c.size)} features, but "
                                  f"{what} has {n}")
        return a, c


def _affine(layer: _KLayer) -> _Affine:
    cfg, w = layer.config, [np.asarray(x, np.float64) for x in (layer.weights or [])]
    axis = cfg.get("axis", -1)
    if axis not in (-1, [-1], (-1,), 2, [2], (2,)):
        raise ConversionError(f"{layer.label}: axis {axis}; only the feature axis (-1) folds")
    if layer.class_name == "Rescaling":
        return _Affine(np.asarray(cfg.get("scale", 1.0), np.float64),
                       np.asarray(cfg.get("offset", 0.0), np.float64), layer.label)
    if layer.class_name == "Normalization":
        if cfg.get("invert"):
            raise ConversionError(f"{layer.label}: invert=True is not supported")
        if cfg.get("mean") is not None:
            mean, var = (np.asarray(cfg[k], np.float64).reshape(-1) for k in ("mean",
                                                                              "variance"))
        elif len(w) == 3:
            mean, var = w[0].reshape(-1), w[1].reshape(-1)
        else:
            raise ConversionError(f"{layer.label}: has {len(w)} weight arrays, expected mean, "
                                  f"variance, count")
        _check_variance(layer, "variance", var, zero_ok=True)
        a = 1.0 / np.maximum(np.sqrt(var), 1e-7)  # keras.backend.epsilon()
        return _Affine(a, -mean * a, layer.label)
    names = (["gamma"] if cfg.get("scale", True) else []) + \
        (["beta"] if cfg.get("center", True) else []) + ["moving_mean", "moving_variance"]
    if len(w) != len(names):
        raise ConversionError(f"{layer.label}: has {len(w)} weight arrays, expected "
                              f"{', '.join(names)}")
    got = dict(zip(names, w))
    var = got["moving_variance"] + float(cfg.get("epsilon", 1e-3))
    _check_variance(layer, "moving_variance + epsilon", var)
    a = got.get("gamma", np.float64(1.0)) / np.sqrt(var)
    return _Affine(a, got.get("beta", np.float64(0.0)) - got["moving_mean"] * a, layer.label)


def _check_variance(layer: _KLayer, what: str, var: np.ndarray, zero_ok: bool = False) -> None:
    if not np.all(var >= 0 if zero_ok else var > 0):  # NaN fails too
        raise ConversionError(f"{layer.label}: {what} has values {'<' if zero_ok else '<='} 0 "
                              f"(smallest {float(np.min(var)):g}); expected a variance")


def _fold_input(layer: Layer, affine: _Affine, source: _KLayer) -> Layer:
    """layer(a·x + c): W·diag(a) and b + W·c (a GRU: its input weights and input bias)."""
    if isinstance(layer, DenseLayer):
        w = np.asarray(layer.w, np.float64)
        a, c = affine.sized(w.shape[1], source.label)
        return replace(layer, w=w * a, b=np.asarray(layer.b, np.float64) + w @ c)
    assert isinstance(layer, (GRULayer, LSTMLayer))
    w = np.asarray(layer.w_ih, np.float64)
    a, c = affine.sized(w.shape[1], source.label)
    folded = replace(layer, w_ih=w * a, b_ih=np.asarray(layer.b_ih, np.float64) + w @ c)
    if isinstance(folded, GRULayer) and folded.backward is not None:  # both directions read x
        back = _fold_input(folded.backward, affine, source)
        assert isinstance(back, GRULayer)
        folded = replace(folded, backward=back)
    return folded


def _fold_output(layer: DenseLayer | Conv1DLayer, affine: _Affine,
                 source: _KLayer) -> DenseLayer | Conv1DLayer:
    """a·(W x + b) + c of a linear Dense: diag(a)·W and a·b + c."""
    w = np.asarray(layer.w, np.float64)
    a, c = affine.sized(w.shape[0], f"the output of {layer.name!r}")
    return replace(layer, w=a[:, None] * w, b=a * np.asarray(layer.b, np.float64) + c)


def _build(arch: _Arch, activations: Mapping[str, str] | None, head_activation: str | None,
           metadata: Mapping[str, str] | None, source: str) -> ModelSpec:
    layers: list[Layer] = []
    labels: list[str] = []
    transforms = "none"
    after_last_step: _KLayer | None = None  # a GRU with return_sequences=False seen
    previous: _KLayer | None = None  # last layer that produced a gru_rt layer or was folded
    pending: _Affine | None = None  # an affine map waiting to fold into the next layer's input
    folded: list[str] = []
    input_mask: float | None = None
    readout_first = False  # a GRU(go_backwards=True): Keras' output is the one at step 0
    for layer in map(_unwrapped, arch.layers):
        _refuse_foreign(layer)
        cls = layer.class_name
        if cls == "InputLayer" or cls in _IDENTITY or (cls == "Concatenate" and arch.inputs
                                                         and not layers and pending is None):
            continue  # (the Concatenate that joins the named inputs, checked by _merged_inputs)
        if cls == "Masking":
            input_mask = _masking(layer, input_mask, previous, bool(layers) or pending is not None)
            previous = layer
            continue
        if cls in _AFFINE:
            affine = _affine(layer)
            last = layers[-1] if layers else None
            if pending is None and isinstance(last, (DenseLayer, Conv1DLayer)) \
                    and last.activation == "linear" and previous is not None \
                    and previous.class_name in ("Dense", *_CONV):
                layers[-1] = _fold_output(last, affine, layer)  # Dense → BN (→ Activation)
                folded.append(f"{printable(layer.name)}->{printable(previous.name)} output")
            else:
                pending = affine if pending is None else pending.then(affine)
                folded.append(f"{printable(layer.name)}->next layer input")
            continue
        if cls in _RECURRENT:
            if after_last_step is not None:
                raise ConversionError(
                    f"{layer.label} follows {after_last_step.label}, which has "
                    f"return_sequences=False: that feeds one vector to the next {cls} (a "
                    f"RepeatVector-like model), which a stream cannot run; set "
                    f"return_sequences=True on every recurrent layer but the last")
            if cls == "LSTM":
                lstm = _lstm(layer, arch.keras_major)
                layers.append(lstm)
                labels.append(f"{printable(layer.name)}(LSTM,{lstm.activation},"
                              f"{lstm.gate_activation})")
            else:
                gru, transforms = _gru(layer, arch.keras_major)
                layers.append(gru)
                labels.append(f"{printable(layer.name)}(GRU reset_after={int(gru.reset_after)},"
                              f"{gru.activation},{gru.gate_activation}"
                              + (",go_backwards)" if gru.direction == "reverse" else ")"))
                readout_first = readout_first or gru.direction == "reverse"
            if not layer.config.get("return_sequences", False):
                after_last_step = layer
        elif cls == "Dense":
            layers.append(_dense(layer))
            labels.append(f"{printable(layer.name)}(Dense)")
        elif cls == "LayerNormalization":
            if pending is not None:
                raise ConversionError(f"{pending.label} comes right before {layer.label}: a "
                                      f"per-feature affine map cannot fold into a "
                                      f"LayerNormalization's input")
            layers.append(_layernorm(layer))
            labels.append(f"{printable(layer.name)}(LayerNormalization)")
        elif cls in _CONV:
            if pending is not None:  # its causal zeros would have to be the map's image of 0
                raise ConversionError(f"{pending.label} comes before {layer.label}: a "
                                      f"per-feature affine map cannot fold into a causal "
                                      f"Conv1D's input exactly (its padding frames stay zero)")
            conv = _conv1d(layer)
            layers.append(conv)
            labels.append(f"{printable(layer.name)}({cls} k={conv.kernel_size} "
                          f"d={conv.dilation})")
        elif cls in _POOLING:
            raise ConversionError(f"{layer.label}: {_NOT_STREAMABLE}")
        elif cls in _FOLDED:
            act = _folded_activation(layer)
            last = layers[-1] if layers else None
            if not isinstance(last, (DenseLayer, Conv1DLayer)) or previous is None \
                    or previous.class_name not in ("Dense", *_CONV):
                after = previous.label if previous else "the start of the model"
                raise ConversionError(f"{layer.label} follows {after}, not a Dense or Conv1D "
                                      f"layer; an activation layer can only follow one of those")
            if split_activation(act)[0] not in DENSE_ACTIVATIONS:
                raise ConversionError(f"{layer.label}: activation {act!r} is not supported "
                                      f"({', '.join(DENSE_ACTIVATIONS)})")
            if last.activation != "linear":
                raise ConversionError(f"{layer.label} applies {act!r} after {previous.label}, "
                                      f"which already applies {last.activation!r}; only one "
                                      f"activation per Dense layer can be converted")
            last.activation = act
            labels[-1] = labels[-1][:-1] + f"+{printable(layer.name)})"
        elif cls == "Bidirectional":
            if after_last_step is not None:
                raise ConversionError(f"{layer.label} follows {after_last_step.label}, which has "
                                      f"return_sequences=False; set return_sequences=True on "
                                      f"every GRU but the last")
            gru, transforms = _bidirectional(layer, arch.keras_major)
            layers.append(gru)
            labels.append(f"{printable(layer.name)}(Bidirectional GRU merge={gru.merge},"
                          f"reset_after={int(gru.reset_after)})")
        elif cls in _MODELS:
            raise ConversionError(f"{layer.label} is a nested model; flatten it into one "
                                  f"Sequential model")
        else:
            raise ConversionError(f"{layer.label} cannot be converted: {_SUPPORTED}")
        if pending is not None and cls in (*_RECURRENT, "Dense", "Bidirectional"):  # the new layer
            layers[-1] = _fold_input(layers[-1], pending, layer)
            pending = None
        previous = layer
    if pending is not None:
        raise ConversionError(f"{pending.label} comes after the last layer that can take it in "
                              f"(a GRU's or LSTM's output, or a Dense with an activation): a "
                              f"per-feature affine map there has no layer to fold into")
    if not layers:
        raise ConversionError(f"{source}: the model has no GRU, LSTM or Dense layer")
    if input_mask is not None and not any(isinstance(x, (GRULayer, LSTMLayer)) for x in layers):
        raise ConversionError(f"{source}: the model has a Masking layer but no GRU or LSTM, "
                              f"which is what a mask acts on")
    _apply_activations(layers, activations, head_activation)
    for k, out in enumerate(layers):
        if isinstance(out, (DenseLayer, Conv1DLayer)):
            labels[k] = labels[k][:-1] + f",{out.activation})"
    gate_note = {"hard_sigmoid": "hard_sigmoid = relu6(x+3)/6 (Keras 3)",
                 "hard_sigmoid_k2": "hard_sigmoid = clip(0.2x+0.5) (Keras 2)"}
    notes = sorted({gate_note[g.gate_activation] for g in layers
                    if isinstance(g, (GRULayer, LSTMLayer)) and g.gate_activation in gate_note})
    lstm_note = [KERAS_LSTM_CONVENTION] if any(isinstance(x, LSTMLayer) for x in layers) else []
    meta = {
        "source.framework": f"keras{arch.keras_major}",
        "source.convention": "; ".join([KERAS_CONVENTION, *lstm_note, *notes]),
        "source.transforms": transforms if any(isinstance(x, GRULayer) for x in layers)
        else "transposed in_out->out_in",
        "source.layers": ",".join(labels),
    }
    if folded:
        meta["source.folded"] = ", ".join(folded) + " (float64)"
    if readout_first:
        meta["source.readout"] = ("first: the Keras output is Model.run(x, readout='first'), "
                                  "the output at step 0 (GRU go_backwards=True, "
                                  "return_sequences=False)")
    if input_mask is not None:
        meta["source.input_mask"] = f"Masking(mask_value={input_mask!r})"
    if arch.inputs:
        meta[INPUTS_KEY] = source_record(arch.inputs, source)
    meta.update(metadata or {})
    return ModelSpec(layers, meta, input_mask).validated()


def _masking(layer: _KLayer, earlier: float | None, previous: _KLayer | None,
             computed: bool) -> float:
    """The mask value of a Masking layer that comes before any layer computing on the input."""
    if earlier is not None or computed:
        after = previous.label if previous is not None else "the input"
        raise ConversionError(f"{layer.label} follows {after}: gru_rt imports a Masking layer "
                              f"only as the model's first layer, where it masks the model's "
                              f"input (a mask on a computed value cannot be converted)")
    value = layer.config.get("mask_value", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConversionError(f"{layer.label}: mask_value is {printable(repr(value))}, expected "
                              f"a number")
    if value != value:
        raise ConversionError(f"{layer.label}: mask_value is NaN, which no input equals")
    return float(value)


def _apply_activations(layers: list[Layer], activations: Mapping[str, str] | None,
                       head_activation: str | None) -> None:
    by_name = {layer.name: layer for layer in layers}
    for name, act in (activations or {}).items():
        target = by_name.get(str(name))
        if not isinstance(target, DenseLayer):
            dense = ", ".join(repr(x.name) for x in layers if isinstance(x, DenseLayer))
            raise ConversionError(f"activations: {name!r} is not a Dense layer of the model "
                                  f"(Dense layers: {dense or 'none'})")
        target.activation = act
    if head_activation is not None:
        last = layers[-1]
        if not isinstance(last, DenseLayer):
            raise ConversionError(f"head_activation: the last layer {last.name!r} is a "
                                  f"{last.kind.upper()}, not a Dense layer")
        if last.activation not in ("linear", head_activation):
            raise ConversionError(f"head_activation {head_activation!r} conflicts with the "
                                  f"activation {last.activation!r} the model gives its last "
                                  f"layer {last.name!r}")
        last.activation = head_activation


# ---- public entry points ---------------------------------------------------------------------

def import_file(path: str | Path, *, architecture: object = None,
                activations: Mapping[str, str] | None = None,
                head_activation: str | None = None,
                metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A ModelSpec from a `.keras` file, a full-model `.h5` (Keras 2 or 3), or a weights-only
    `.weights.h5` / `.h5` plus `architecture` (model.to_json() as a string, a .json path or a dict).
    Read with json/zipfile/h5py: Keras is not imported and nothing in the file is executed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".keras":
        if architecture is not None:
            raise ArgumentError(f"{path}: a .keras file holds its architecture; do not pass one")
        arch = _read_keras_zip(path)
    else:
        with open_regular(path, MAX_SOURCE_BYTES, "HDF5 file") as file:
            arch = _read_h5(file, architecture, str(path))
    return _build(arch, activations, head_activation, metadata, str(path))


def import_model(model: Any, *, activations: Mapping[str, str] | None = None,
                 head_activation: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A ModelSpec from a Keras 3 model object (Sequential or a Functional chain)."""
    keras = _keras()
    config = keras.saving.serialize_keras_object(model)
    arch = _arch_from_config(config, _major(getattr(keras, "__version__", "3")),
                             f"model {getattr(model, 'name', '?')!r}")
    by_name = {layer.name: layer for layer in model.layers}
    for layer in arch.layers:
        obj = by_name.get(layer.name)
        if obj is not None and layer.class_name in _WEIGHTED:
            if not type(obj).__module__.startswith("keras"):
                layer.module = type(obj).__module__
            layer.weights = [np.asarray(w) for w in obj.get_weights()]
    return _build(arch, activations, head_activation, metadata,
                  f"model {getattr(model, 'name', '?')!r}")



# ---- bare weights: Keras weight paths, get_weights() lists ---------------------------------------

_PATH_NAMES = ("kernel", "recurrent_kernel", "bias")
_CELL_PARTS = ("gru_cell", "cell")


def is_weight_path(key: str) -> bool:
    """A Keras variable path such as "sequential/gru/gru_cell/kernel" (Keras 2: "…/kernel:0")."""
    parts = key.removesuffix(":0").split("/")
    return len(parts) >= 2 and parts[-1] in _PATH_NAMES


def import_weight_paths(arrays: Mapping[str, Any], *,
                        activations: Mapping[str, str] | None = None,
                        head_activation: str | None = None,
                        metadata: Mapping[str, str] | None = None,
                        where: str = "the arrays") -> ModelSpec:
    """A ModelSpec from {Keras variable path: array} in layer order (np.savez(path, **{v.path:
    v.numpy() for v in model.weights})). A layer with a recurrent_kernel is a GRU (tanh, sigmoid;
    reset_after from the bias shape), one with a kernel only a Dense layer (activation linear
    unless stated by layer name in activations=)."""
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        parts = str(key).removesuffix(":0").split("/")
        layer = parts[:-1]
        while len(layer) > 1 and layer[-1] in _CELL_PARTS:
            layer = layer[:-1]
        groups.setdefault("/".join(layer), {})[parts[-1]] = np.asarray(value)
    names = [prefix.rsplit("/", 1)[-1] for prefix in groups]
    if len(set(names)) != len(names):
        raise ConversionError(f"{where}: two layers share a name ({', '.join(names)})")
    layers = [_layer_from_names(name, group, where)
              for name, group in zip(names, groups.values())]
    meta = {"source.keys": "Keras weight paths (layer/kernel, layer/recurrent_kernel, "
                           "layer/bias)", **(metadata or {})}
    return _build(_Arch(layers, 3, "Sequential"), activations, head_activation, meta, where)


def _layer_from_names(name: str, group: dict[str, np.ndarray], where: str) -> _KLayer:
    if "kernel" not in group:
        raise ConversionError(f"{where}: layer {name!r} has {', '.join(group)} but no kernel")
    use_bias = "bias" in group
    if "recurrent_kernel" in group:
        bias = group.get("bias")
        config: dict[str, Any] = {"activation": "tanh", "recurrent_activation": "sigmoid",
                                  "use_bias": use_bias, "return_sequences": True,
                                  "reset_after": bias is None or bias.ndim == 2}
        weights = [group["kernel"], group["recurrent_kernel"]] + ([group["bias"]] if use_bias
                                                                  else [])
        return _KLayer(name, "GRU", config, weights=weights)
    return _KLayer(name, "Dense", {"activation": "linear", "use_bias": use_bias},
                   weights=[group["kernel"]] + ([group["bias"]] if use_bias else []))


def _weight_count(layer: _KLayer) -> int:
    """How many arrays of model.get_weights() a layer owns."""
    cfg = layer.config
    if layer.class_name == "TimeDistributed":
        inner = cfg.get("layer")
        cfg = inner.get("config", {}) if isinstance(inner, Mapping) else {}
    bias = int(bool(cfg.get("use_bias", True)))
    if layer.class_name == "Bidirectional":
        inner = cfg.get("layer")
        gru = inner.get("config", {}) if isinstance(inner, Mapping) else {}
        return 2 * (2 + int(bool(gru.get("use_bias", True))))
    return {"GRU": 2 + bias, "LSTM": 2 + bias, "Dense": 1 + bias, "TimeDistributed": 1 + bias,
            "BatchNormalization": 2 + int(bool(cfg.get("scale", True)))
            + int(bool(cfg.get("center", True))),
            "Normalization": 3 if cfg.get("mean") is None else 0}.get(layer.class_name, 0)


def import_weight_list(weights: Sequence[Any], architecture: object, *,
                       activations: Mapping[str, str] | None = None,
                       head_activation: str | None = None,
                       metadata: Mapping[str, str] | None = None,
                       where: str = "the arrays") -> ModelSpec:
    """A ModelSpec from model.get_weights() (a list, or np.savez(path, *model.get_weights()):
    arr_0, arr_1, …) and the architecture (model.to_json()): each GRU or LSTM takes kernel,
    recurrent_kernel [, bias], each Dense kernel [, bias], in layer order."""
    top = _architecture(architecture)
    arch = _arch_from_config(top, _major(top.get("keras_version", "3")), "architecture")
    arrays = [np.asarray(w) for w in weights]
    used = 0
    for layer in arch.layers:
        n = _weight_count(layer)
        if n == 0:
            continue
        if used + n > len(arrays):
            raise ConversionError(f"{where}: {len(arrays)} arrays, but the architecture needs "
                                  f"more: {layer.label} takes arrays {used} … {used + n - 1}")
        layer.weights = arrays[used:used + n]
        used += n
    if used != len(arrays):
        raise ConversionError(f"{where}: {len(arrays)} arrays, but the architecture's layers "
                              f"take {used}; is it the model that saved them?")
    meta = {"source.keys": "model.get_weights() list (arr_0, arr_1, …) with architecture=",
            **(metadata or {})}
    return _build(arch, activations, head_activation, meta, where)
