"""convert(): any supported source of trained weights → a canonical, validated ModelSpec."""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ArgumentError, ConversionError, printable
from .format import PRECISION_NAMES
from .importers.convention import Convention
from .importers.numpy_importer import import_arrays, read_npz
from .spec import ModelSpec, check_metadata

__all__ = ["convert"]

_ACCEPTED = ("a torch.nn.Module, a Keras model, an onnx.ModelProto, a PyTorch state dict (a "
             "mapping of tensors), a mapping of NumPy arrays, or the path of a .pt/.pth, "
             ".safetensors, .npz, .keras, .h5/.weights.h5 or .onnx file")
_TORCH_SUFFIXES = (".pt", ".pth")
_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _torch_types() -> tuple[Any, Any]:
    """(nn.Module, Tensor) if torch is already imported, else (None, None): an object can only be a
    torch object if torch has been imported, so this never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None, None
    return torch.nn.Module, torch.Tensor


def _is_torch_module(source: object) -> bool:
    module_type, _ = _torch_types()
    return module_type is not None and isinstance(source, module_type)


def _holds_tensors(source: Mapping[Any, Any]) -> bool:
    _, tensor_type = _torch_types()
    return tensor_type is not None and any(isinstance(v, tensor_type) for v in source.values())


def _is_keras_model(source: object) -> bool:
    """A Keras model, recognised by its classes' modules (keras itself is not imported)."""
    return any(c.__module__.startswith("keras") and c.__name__ == "Model"
               for c in type(source).__mro__)


def _is_onnx_model(source: object) -> bool:
    cls = type(source)
    return cls.__name__ == "ModelProto" and cls.__module__.startswith("onnx")


def _refuse_convention(convention: object, what: str) -> None:
    if convention is not None:
        raise ArgumentError(f"convention applies to NumPy sources (.npz or a mapping of arrays); "
                            f"{what} has a fixed convention of its own")


def _refuse_option(name: str, value: object, what: str, applies: str) -> None:
    if value is not None:
        raise ArgumentError(f"{name} applies to {applies}, not to {what}")


def convert(source: str | os.PathLike[str] | Mapping[str, Any] | Any, *,
            activations: Mapping[Any, str] | None = None,
            head_activation: str | None = None,
            convention: None | str | Mapping[str, str] | Convention = None,
            metadata: Mapping[str, str] | None = None,
            architecture: object = None,
            layers: Sequence[Any] | None = None,
            precision: str = "f32",
            calibration: object | None = None,
            calibration_lengths: object | None = None,
            verify: bool = True,
            verify_input: object | None = None,
            inputs: Mapping[str, int] | Sequence[tuple[str, int]] | None = None,
            causal: Sequence[str] | Mapping[str, int] | None = None,
            layernorm_eps: float | None = None) -> ModelSpec:
    """A validated ModelSpec from trained weights, in the chosen precision.

    source: a torch.nn.Module; a Keras model (Sequential or a Functional chain); an
        onnx.ModelProto; a state dict (mapping of torch tensors); a mapping of NumPy arrays with
        keys "{layer}.{name}" (see gru_rt.importers.numpy_importer); or the path of a file:
        .pt/.pth (torch.save(model.state_dict())), .safetensors (a state dict), .npz (np.savez),
        .keras, .h5 (a whole Keras model, or weights plus `architecture`), .onnx.
    activations: activations of Dense layers: {module prefix: name} for PyTorch sources, {layer
        index: name} for NumPy sources, {layer name: name} for Keras. head_activation: the
        activation of the last layer (Dense).
    convention: NumPy sources only: how their GRU weights are written (Convention, dict, or a
        string like "gate_order=zrn,layout=in_out").
    metadata: extra string entries stored in the file (they override the importer's own).
    architecture: Keras weights-only .h5 files: model.to_json() as a string, a .json path or a
        dict.
    layers: a torch.nn.Module: the modules (or their names) in the order forward() applies them,
        when registration order is not that order; a .safetensors file: the module prefixes in
        layer order, when it cannot be inferred (safetensors files sort tensors by name).
    precision: "f32" (default), "q8" or "q15" (docs/QUANTIZATION.md). The quantized model's
        error report against the float model is in its metadata (quant.* keys).
    calibration: q8/q15: the user's input sequences, (N, T, I) or (T, I) array-like or a .npy
        path, or a list of (T_k, I) sequences of different lengths: q15 takes its ranges from them;
        both measure the error report on them. calibration_lengths: with a zero-padded (N, T, I),
        each sequence's length (only real steps count; padding is never run).
    verify: a source that can be run (a torch.nn.Module, a Keras model, an ONNX model or .onnx
        file with onnxruntime installed) is run with the converted float model on the same input
        sequence, and a mismatch raises ConversionError (gru_rt.verify; docs/CONVENTIONS.md).
        Weights alone (state dicts, .pt, .npz, .safetensors) cannot be run: a likely dropped
        activation (two linear Dense layers in a row) gives a warning. The outcome is in the
        metadata: source.verified. verify=False skips both.
    verify_input: the input sequence (T, I) of that check (default: 100 steps of N(0, 1), seed 0).
    inputs: the model's input vector as named inputs, in order ({"acc": 3, "gyro": 3}; the widths
        sum to the input size): the file records them (format 1.4) and step/run then also take
        {name: array}. For a PyTorch module whose forward() takes one tensor per input and
        torch.cat-s them on the last axis first (the check runs it so); a Keras model or ONNX graph
        with several inputs joined by a Concatenate/Concat names them itself (inputs= must then
        agree).
    causal: the nn.Conv1d layers that are causal (left zero padding of (kernel_size - 1)·dilation,
        stride 1) where the source does not show it: for a torch.nn.Module, the names of those
        whose forward() pads them itself (as import_module's causal=); for a PyTorch state dict
        (a mapping, .pt/.pth, .safetensors), {module prefix: dilation}, since a state dict
        records neither padding nor dilation.
    layernorm_eps: PyTorch state dicts only: the eps of their nn.LayerNorm layers, which a state
        dict does not record (a LayerNorm is refused without it; a module gives its own).
    """
    if precision not in PRECISION_NAMES:
        raise ArgumentError(f"precision {precision!r}: expected one of "
                            f"{', '.join(PRECISION_NAMES)}")
    if precision == "f32" and (calibration is not None or calibration_lengths is not None):
        raise ArgumentError("calibration applies to precision q8 or q15, not f32")
    try:
        spec = _import(source, activations=activations, head_activation=head_activation,
                       convention=convention, metadata=metadata, architecture=architecture,
                       layers=layers, causal=causal, layernorm_eps=layernorm_eps)
    except RecursionError:  # a source nested deeper than any importer's checks foresaw
        raise ConversionError("the source is nested too deeply to convert (Python's recursion "
                              "limit was reached)") from None
    except MemoryError:
        raise ConversionError("out of memory while reading the source (it declares more data "
                              "than this machine can hold)") from None
    for key in [k for k in spec.metadata if k.startswith("source.")]:  # names from the file
        spec.metadata[key] = printable(spec.metadata[key])
    if inputs is not None:
        spec = _named_inputs(spec, inputs)
    spec.metadata["source.verified"] = _verified(source, spec, verify, verify_input,
                                                 head_activation)
    if precision == "f32":
        return spec
    from .quantize import quantize

    return quantize(spec, precision, calibration, calibration_lengths)[0]


def _named_inputs(spec: ModelSpec, inputs: Mapping[str, int] | Sequence[tuple[str, int]]
                  ) -> ModelSpec:
    """spec with the caller's named inputs; ArgumentError if the source named others."""
    named = spec.with_inputs(inputs)
    if spec.inputs and spec.inputs != named.inputs:
        listed = ", ".join(f"{n}={w}" for n, w in spec.inputs)
        raise ArgumentError(f"inputs={dict(named.inputs)}: the source names its inputs "
                            f"{listed}; pass the same or none")
    return named


def _runnable(source: Any) -> tuple[str | None, Any, str]:
    """(kind for gru_rt.verify or None, the object to run, why it cannot be run)."""
    if _is_keras_model(source):
        return "keras", source, ""
    if _is_onnx_model(source):
        return "onnx", source, ""
    if _is_torch_module(source):
        return "torch", source, ""
    if isinstance(source, (str, os.PathLike)):
        suffix = Path(source).suffix.lower()
        if suffix == ".onnx":
            from .importers._lazy import require

            return "onnx", require("onnx", "verifying an ONNX model").load(
                os.fspath(source), load_external_data=False), ""  # checked by the importer
        if suffix in _KERAS_SUFFIXES:
            return None, None, "a Keras file, read without running Keras"
    return None, None, "weights only"


def _verified(source: Any, spec: ModelSpec, verify: bool, verify_input: object,
              head_activation: str | None) -> str:
    """The value of source.verified: run the check gru_rt.verify describes, or say why not."""
    from . import verify as check

    kind, runnable, why = _runnable(source)
    if kind is None:
        if verify_input is not None:
            raise ArgumentError(f"verify_input applies to a source that can be run (a module or "
                                f"model object, an .onnx file), not to {why}")
        if verify and why == "weights only":
            warning = check.dropped_activation(spec)
            if warning is not None:
                warnings.warn(warning, UserWarning, stacklevel=3)
        return f"no ({why})"
    if not verify:
        if verify_input is not None:
            raise ArgumentError("verify_input is given with verify=False")
        return "no (verify=False)"
    if kind == "onnx":
        reason = check.onnx_runnable(runnable, max(1, len(spec.inputs)))
        if reason is not None:
            return f"no ({reason})"
    result = check.verify_source(kind, runnable, spec, verify_input, head_activation)
    if result.warning is not None:
        warnings.warn(result.warning, UserWarning, stacklevel=3)
    return result.verified


def _import(source: Any, *, activations: Mapping[Any, str] | None,
            head_activation: str | None, convention: None | str | Mapping[str, str] | Convention,
            metadata: Mapping[str, str] | None, architecture: object,
            layers: Sequence[Any] | None, causal: Sequence[str] | Mapping[str, int] | None,
            layernorm_eps: float | None) -> ModelSpec:
    if metadata is not None:
        check_metadata(metadata)
    options: dict[str, Any] = {"activations": activations, "head_activation": head_activation,
                               "metadata": metadata,
                               _STATE_DICT_OPTIONS: {"causal": causal,
                                                     "layernorm_eps": layernorm_eps}}
    kind = type(source).__name__
    if _is_torch_module(source) and not _is_keras_model(source):
        return _torch_module(source, layers, convention, architecture, causal, layernorm_eps,
                             options)
    if not isinstance(source, (str, os.PathLike, Mapping)):
        for name, value in options.pop(_STATE_DICT_OPTIONS).items():
            _refuse_option(name, value, f"a {kind}", "PyTorch sources")
    # Keras models on the torch backend are nn.Modules too: they are recognised first.
    keras_or_onnx = _is_keras_model(source) or _is_onnx_model(source)
    is_path = isinstance(source, (str, os.PathLike))
    if (keras_or_onnx or not _is_torch_module(source)) and not is_path:
        _refuse_option("layers", layers, f"a {kind}", "a torch.nn.Module or a .safetensors file")
    if keras_or_onnx:
        _refuse_convention(convention, f"a {kind}")
        _refuse_option("architecture", architecture, f"a {kind}", "Keras weight files")
        if _is_onnx_model(source):
            from .importers import onnx_importer

            return onnx_importer.import_model(source, **options)
        from .importers import keras_importer

        return keras_importer.import_model(source, **options)
    if isinstance(source, (str, os.PathLike)):
        return _convert_path(Path(source), convention, architecture, layers, options)
    if isinstance(source, Mapping):
        if not source:
            raise ConversionError("the mapping of weights is empty")
        if any(isinstance(v, Mapping) for v in source.values()):
            return _checkpoint(source, "the checkpoint", convention, architecture, options)
        return _named_arrays(source, "the arrays", convention, architecture, options)
    if isinstance(source, (list, tuple)) and architecture is not None:
        _refuse_convention(convention, "a list of Keras weights")
        from .importers import keras_importer

        return keras_importer.import_weight_list(source, architecture, where="the list",
                                                 **options)
    _refuse_option("architecture", architecture, f"a {kind}", "Keras weights")
    raise TypeError(f"cannot convert a {kind}: expected {_ACCEPTED}")


# The options that only a PyTorch state dict takes, kept apart in `options` until the source is
# known to be one (state_dict_options passes them on, _without_state_dict_options refuses them).
_STATE_DICT_OPTIONS = "state dict options"


def _torch_module(source: Any, layers: Sequence[Any] | None, convention: object,
                  architecture: object, causal: Sequence[str] | Mapping[str, int] | None,
                  layernorm_eps: float | None, options: dict[str, Any]) -> ModelSpec:
    _refuse_convention(convention, "a PyTorch module")
    _refuse_option("architecture", architecture, "a PyTorch module", "Keras weight files")
    _refuse_option("layernorm_eps", layernorm_eps, "a PyTorch module (its nn.LayerNorm layers "
                   "give their own eps)", "PyTorch state dicts")
    if isinstance(causal, (str, Mapping)) or (causal is not None and not all(
            isinstance(name, str) for name in causal)):
        raise ArgumentError(f"causal={causal!r}: for a torch.nn.Module, the names of its causal "
                            f"nn.Conv1d modules (a list of str; the module gives the dilation)")
    from .importers import torch_importer

    options = {k: v for k, v in options.items() if k != _STATE_DICT_OPTIONS}
    return torch_importer.import_module(source, layers=layers, causal=tuple(causal or ()),
                                        **options)


def _state_dict_options(options: dict[str, Any]) -> dict[str, Any]:
    """options with the state-dict options checked and passed on (causal: {prefix: dilation})."""
    extra = options[_STATE_DICT_OPTIONS]
    causal = extra["causal"]
    if causal is not None and not (isinstance(causal, Mapping) and all(
            isinstance(k, str) for k in causal)):
        raise ArgumentError(f"causal={causal!r}: a PyTorch state dict records neither the padding "
                            f"nor the dilation of an nn.Conv1d; give {{module prefix: dilation}}, "
                            f"e.g. causal={{'conv': 1}}")
    rest = {k: v for k, v in options.items() if k != _STATE_DICT_OPTIONS}
    return {**rest, **{k: v for k, v in extra.items() if v is not None}}


def _without_state_dict_options(options: dict[str, Any], what: str) -> dict[str, Any]:
    """options for a source that is not a PyTorch state dict: causal/layernorm_eps refused."""
    for name, value in options[_STATE_DICT_OPTIONS].items():
        _refuse_option(name, value, what, "PyTorch sources")
    return {k: v for k, v in options.items() if k != _STATE_DICT_OPTIONS}


def _checkpoint(source: Mapping[Any, Any], where: str, convention: object, architecture: object,
                options: dict[str, Any]) -> ModelSpec:
    """A training checkpoint: the state dict under one of its keys (torch_importer)."""
    from .importers import torch_importer

    state, key = torch_importer.checkpoint_state(source, where)
    if key is not None:
        options = {**options, "metadata": {"source.checkpoint_key": key,
                                           **(options["metadata"] or {})}}
    return _named_arrays(state, f"{where}[{key!r}]" if key else where, convention, architecture,
                         options)


_TORCH_NAME = re.compile(r"(weight|bias)(_(ih|hh)(_l[0-9]+)?)?(_reverse)?")


def _key_kind(keys: Sequence[str]) -> str:
    """How arrays are named: "torch" (state-dict names: gru.weight_ih_l0, fc.bias), "keras"
    (variable paths: gru/gru_cell/kernel), "list" (np.savez(*arrays): arr_0, arr_1, …) or
    "numpy" (gru_rt's own "0.W", "0.U", …)."""
    from .importers.keras_importer import is_weight_path

    if not keys:
        return "numpy"
    if all(_TORCH_NAME.fullmatch(k.rpartition(".")[2]) for k in keys):
        return "torch"
    if all(is_weight_path(k) for k in keys):
        return "keras"
    if sorted(keys) == sorted(f"arr_{i}" for i in range(len(keys))):
        return "list"
    return "numpy"


_KEY_KINDS = {"torch": "PyTorch state-dict names", "keras": "Keras weight paths",
              "list": "np.savez(*model.get_weights()) arrays (arr_0, arr_1, …)"}


def _named_arrays(arrays: Mapping[Any, Any], where: str, convention: object,
                  architecture: object, options: dict[str, Any]) -> ModelSpec:
    """Arrays in any of the naming conventions _key_kind recognises; torch tensors are a state
    dict whatever their names (the torch importer names what it cannot place)."""
    if _holds_tensors(arrays):
        _refuse_convention(convention, "a PyTorch state dict")
        _refuse_option("architecture", architecture, "a PyTorch state dict", "Keras weights")
        from .importers import torch_importer

        return torch_importer.import_state_dict(arrays, **_state_dict_options(options))
    kind = _key_kind([str(k) for k in arrays])
    if kind == "numpy":
        _refuse_option("architecture", architecture, "arrays named '0.W', '0.U', …",
                       "Keras weights (arrays named arr_0, arr_1, …)")
        return import_arrays(arrays, convention=convention,  # type: ignore[arg-type]
                             **_without_state_dict_options(options, "arrays named '0.W', …"))
    what = _KEY_KINDS[kind]
    _refuse_convention(convention, f"{where} (keys read as {what})")
    if kind != "list":
        _refuse_option("architecture", architecture, f"{where} (keys read as {what})",
                       "Keras weights named arr_0, arr_1, …")
    from .importers import keras_importer, torch_importer

    try:
        if kind == "torch":
            meta = {"source.keys": what, **(options["metadata"] or {})}
            return torch_importer.import_state_dict(
                arrays, **{**_state_dict_options(options), "metadata": meta})
        options = _without_state_dict_options(options, f"{where} (keys read as {what})")
        if kind == "keras":
            return keras_importer.import_weight_paths(arrays, where=where, **options)
        if architecture is None:
            raise ConversionError(f"{where}: arrays named arr_0, arr_1, … (np.savez(path, "
                                  f"*model.get_weights())) carry no layer names: give the "
                                  f"model's architecture (architecture=model.to_json(), "
                                  f"--architecture)")
        ordered = [arrays[f"arr_{i}"] for i in range(len(arrays))]
        return keras_importer.import_weight_list(ordered, architecture, where=where, **options)
    except ConversionError as e:
        if what in str(e):
            raise
        raise ConversionError(f"{e} (keys read as {what})") from None


def _convert_path(path: Path, convention: object, architecture: object,
                  layers: Sequence[Any] | None, options: dict[str, Any]) -> ModelSpec:
    suffix = path.suffix.lower()
    what = f"a {suffix or 'suffix-less'} file ({path.name})"
    if suffix != ".safetensors":
        _refuse_option("layers", layers, what, "a torch.nn.Module or a .safetensors file")
    if suffix not in (*_KERAS_SUFFIXES, ".npz"):
        _refuse_option("architecture", architecture, what, "Keras weight files (.h5, .npz)")
    if suffix != ".npz":
        _refuse_convention(convention, what)
    if suffix in _TORCH_SUFFIXES:
        from .importers import torch_importer

        return torch_importer.import_file(path, **_state_dict_options(options))
    if suffix == ".safetensors":
        from .importers import safetensors_reader, torch_importer

        arrays, how = safetensors_reader.order_state_dict(
            safetensors_reader.read_file(path), layers, str(path))
        meta = {"source.file": "safetensors", "source.layer_order": how,
                **(options["metadata"] or {})}
        return torch_importer.import_state_dict(
            arrays, **{**_state_dict_options(options), "metadata": meta})
    if suffix in _KERAS_SUFFIXES:
        from .importers import keras_importer

        return keras_importer.import_file(path, architecture=architecture,
                                          **_without_state_dict_options(options, what))
    if suffix == ".onnx":
        from .importers import onnx_importer

        return onnx_importer.import_file(path, **_without_state_dict_options(options, what))
    if suffix == ".npz":
        return _named_arrays(read_npz(path), str(path), convention, architecture, options)
    raise ConversionError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; accepted: "
                          f".pt/.pth and .safetensors (a PyTorch state dict), .npz (a NumPy "
                          f"archive), .keras and .h5 (Keras), .onnx")
