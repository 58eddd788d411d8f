"""convert(): any supported source of trained weights → a canonical, validated ModelSpec."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .importers.numpy_importer import Convention, import_arrays, import_npz
from .spec import ModelSpec
from .writer import check_metadata

__all__ = ["convert"]

_ACCEPTED = ("a torch.nn.Module, a PyTorch state dict (a mapping of tensors), a mapping of NumPy "
             "arrays, or the path of a .pt/.pth file (torch.save(model.state_dict())) or of a "
             ".npz archive (np.savez)")
_TORCH_SUFFIXES = (".pt", ".pth")


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


def _refuse_convention(convention: object, what: str) -> None:
    if convention is not None:
        raise ValueError(f"convention applies to NumPy sources (.npz or a mapping of arrays); "
                         f"{what} has a fixed convention (torch.nn.GRU)")


def convert(source: str | os.PathLike[str] | Mapping[str, Any] | Any, *,
            activations: Mapping[Any, str] | None = None,
            head_activation: str | None = None,
            convention: None | str | Mapping[str, str] | Convention = None,
            metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A validated ModelSpec from trained weights.

    source: a torch.nn.Module; a state dict (mapping of torch tensors); a mapping of NumPy arrays
        with keys "{layer}.{name}" (see gru_rt.importers.numpy_importer); or the path of a .pt/.pth
        state-dict file or of a .npz archive.
    activations: activations of Dense layers: {module prefix: name} for PyTorch sources, {layer
        index: name} for NumPy sources. head_activation: the activation of the last layer (Dense).
    convention: NumPy sources only: how their GRU weights are written (Convention, dict, or a
        string like "gate_order=zrn,layout=in_out").
    metadata: extra string entries stored in the file (they override the importer's own).
    """
    if metadata is not None:
        check_metadata(metadata)
    options: dict[str, Any] = {"activations": activations, "head_activation": head_activation,
                               "metadata": metadata}
    if _is_torch_module(source):
        _refuse_convention(convention, "a PyTorch module")
        from .importers import torch_importer

        return torch_importer.import_module(source, **options)
    if isinstance(source, (str, os.PathLike)):
        return _convert_path(Path(source), convention, options)
    if isinstance(source, Mapping):
        if not source:
            raise ValueError("the mapping of weights is empty")
        if _holds_tensors(source):
            _refuse_convention(convention, "a PyTorch state dict")
            from .importers import torch_importer

            return torch_importer.import_state_dict(source, **options)
        return import_arrays(source, convention=convention, **options)
    raise TypeError(f"cannot convert a {type(source).__name__}: expected {_ACCEPTED}")


def _convert_path(path: Path, convention: object, options: dict[str, Any]) -> ModelSpec:
    suffix = path.suffix.lower()
    if suffix in _TORCH_SUFFIXES:
        _refuse_convention(convention, f"a PyTorch file ({path.name})")
        from .importers import torch_importer

        return torch_importer.import_file(path, **options)
    if suffix == ".npz":
        return import_npz(path, convention=convention, **options)  # type: ignore[arg-type]
    raise ValueError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; accepted: "
                     f".pt/.pth (a PyTorch state dict) and .npz (a NumPy archive)")
