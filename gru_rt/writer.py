"""Serialise a ModelSpec into the .grt bytes of docs/FORMAT.md, version 1.5.

The writer is the only Python code that knows the byte layout (constants in gru_rt/format.py); files
are read by the C loader only. The output is deterministic: the same model gives the same bytes
(metadata entries are sorted by key, every padding byte is zero).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import format as fmt
from ._core import _kind_tensor
from ._version import __version__
from .errors import ArgumentError
from .spec import (
    Conv1DLayer,
    DenseLayer,
    EmbeddingLayer,
    GRULayer,
    Layer,
    LayerNormLayer,
    LSTMLayer,
    ModelSpec,
    SpecError,
    check_metadata,
)

__all__ = ["write_model"]


@dataclass(frozen=True)
class _Tensor:
    role: int
    dtype: int
    layer: int
    data: bytes  # little-endian, in the layer's weight layout
    rows: int
    cols: int


WEIGHT_LAYOUT_CHOICES = ("auto", "row-major")


def write_model(spec: ModelSpec, weight_layout: str = "auto") -> bytes:
    """The .grt file for `spec` (validated first; SpecError names what is wrong).

    weight_layout: "auto" stores the weight matrices of every f32 layer that allows it (a Dense
    layer, a GRU or LSTM whose hidden size is a multiple of 8) in the panel8 layout its kernels read
    fastest, the others row-major; "row-major" stores every layer row-major (docs/FORMAT.md)."""
    if weight_layout not in WEIGHT_LAYOUT_CHOICES:
        raise ArgumentError(f"weight_layout {weight_layout!r}: expected one of "
                            f"{', '.join(WEIGHT_LAYOUT_CHOICES)}")
    checked = spec.validated()
    layouts = [_layout_of(layer) if weight_layout == "auto" else fmt.WEIGHT_LAYOUT_ROW_MAJOR
               for layer in checked.layers]
    metadata = dict(checked.metadata)
    metadata.setdefault("tool.name", "gru_rt")
    metadata.setdefault("tool.version", __version__)
    meta = _metadata_bytes(metadata)
    tensors = [t for k, layer in enumerate(checked.layers)
               for t in _layer_tensors(k, layer, layouts[k])]
    if len(tensors) > fmt.MAX_TENSORS:
        raise SpecError(f"model has {len(tensors)} tensors, expected at most {fmt.MAX_TENSORS}")

    tensor_table_offset = fmt.HEADER_SIZE + fmt.LAYER_ENTRY_SIZE * len(checked.layers)
    meta_offset = tensor_table_offset + fmt.TENSOR_ENTRY_SIZE * len(tensors)
    data_offset = _align(meta_offset + len(meta))
    offsets = _tensor_offsets(tensors)
    data_size = _align(offsets[-1] + len(tensors[-1].data))
    file_size = data_offset + data_size
    if file_size > fmt.MAX_FILE_SIZE:
        raise SpecError(f"the model file would be {file_size} bytes, above the format's limit of "
                        f"{fmt.MAX_FILE_SIZE} bytes (4 GiB)")

    out = bytearray(file_size)  # zero-filled: every padding byte is already 0
    fmt.HEADER.pack_into(
        out, 0, fmt.MAGIC, fmt.VERSION_MAJOR, fmt.VERSION_MINOR, fmt.HEADER_SIZE, file_size,
        0,  # checksum, filled last
        (0 if checked.input_mask is None else fmt.FLAG_INPUT_MASK)
        | (fmt.FLAG_NAMED_INPUTS if checked.inputs else 0),  # flags
        len(checked.layers), len(tensors), fmt.HEADER_SIZE, tensor_table_offset, meta_offset,
        len(meta), data_offset, data_size,
        0 if checked.input_mask is None else _f32_bits(checked.input_mask),  # the mask value (1.4)
    )
    _pack_layer_table(out, checked.layers, layouts)
    _pack_tensor_table(out, tensor_table_offset, tensors, offsets)
    out[meta_offset:meta_offset + len(meta)] = meta
    for tensor, offset in zip(tensors, offsets):
        start = data_offset + offset
        out[start:start + len(tensor.data)] = tensor.data
    fmt.U32.pack_into(out, fmt.OFF_CHECKSUM, zlib.crc32(out))  # the field is still zero
    return bytes(out)


def _f32_bits(value: float) -> int:
    return int(np.array(value, np.float32).view(np.uint32))


def _metadata_bytes(metadata: Mapping[str, str]) -> bytes:
    entries = check_metadata(metadata)
    parts = [fmt.META_COUNT.pack(len(entries))]
    for key, value in entries:
        parts += [fmt.META_ENTRY.pack(len(key), len(value)), key, value]
    return b"".join(parts)


def _align(n: int) -> int:
    return -(-n // fmt.ALIGN) * fmt.ALIGN


def _layout_of(layer: Layer) -> int:
    """panel8 where the format allows it (the C loader's rule, asked through its table: f32 layers;
    a GRU's or LSTM's gate blocks must be whole panels), else row-major. The layer is validated."""
    units = layer.hidden_size if isinstance(layer, GRULayer) else layer.output_size
    try:
        _kind_tensor(layer.kind, layer.precision, "w_ih", layer.input_size, units, "panel8")
    except ValueError:  # GRT_E_LAYER_FIELD: not for this layer
        return fmt.WEIGHT_LAYOUT_ROW_MAJOR
    return fmt.WEIGHT_LAYOUT_PANEL8


def to_panels(w: np.ndarray) -> np.ndarray:
    """A (rows, cols) matrix in the panel8 layout: ceil(rows/8) panels, each the (cols, 8)
    transpose of 8 rows; the rows past the end are zeros."""
    rows, cols = w.shape
    padded = np.zeros((-(-rows // fmt.PANEL_ROWS) * fmt.PANEL_ROWS, cols), dtype=w.dtype)
    padded[:rows] = w
    panels = padded.reshape(-1, fmt.PANEL_ROWS, cols).transpose(0, 2, 1)
    return np.ascontiguousarray(panels)


def _layer_tensors(k: int, layer: Layer, layout: int) -> list[_Tensor]:
    """The layer's tensors in file order: its recipe, once per direction (1.4)."""
    cells = layer.directions if isinstance(layer, GRULayer) else [layer]
    return [t for cell in cells for t in _cell_tensors(k, cell, layout)]


def _cell_tensors(k: int, layer: Layer, layout: int) -> list[_Tensor]:
    tensors = []
    for role, attr, dtype in fmt.LAYER_TENSORS[(layer.kind, layer.precision)]:
        code, np_dtype = fmt.DTYPES[dtype]
        arr = np.ascontiguousarray(getattr(layer, attr), dtype=np_dtype)
        rows, cols = (arr.shape[0], arr.shape[1]) if arr.ndim == 2 else (arr.shape[0], 1)
        if layout == fmt.WEIGHT_LAYOUT_PANEL8 and role in ("w_ih", "w_hh"):
            arr = to_panels(arr)
        tensors.append(_Tensor(fmt.ROLES[role], code, k, arr.tobytes(), rows, cols))
    return tensors


def _tensor_offsets(tensors: list[_Tensor]) -> list[int]:
    """Offsets relative to data_offset: the first at 0, each next at the previous end rounded up."""
    offsets, end = [], 0
    for tensor in tensors:
        offsets.append(_align(end))
        end = offsets[-1] + len(tensor.data)
    return offsets


def _act_param(layer: Layer) -> int:
    """The layer entry's param: the float32 bits of a Dense/Conv1D leaky_relu/elu alpha or of a
    f32/q8 LayerNorm's eps, a q15 LayerNorm's integer eps_q, an Embedding's vocabulary size (1.5),
    a q15 LSTM's cell_bits (1.5), else 0."""
    if isinstance(layer, EmbeddingLayer):
        return layer.vocab_size
    if isinstance(layer, LayerNormLayer):
        if layer.eps_q is not None:
            return layer.eps_q
        return int(np.array(layer.eps, np.float32).view(np.uint32))
    if isinstance(layer, LSTMLayer):  # q15 (1.5): the cell state's integer bits; else 0
        return layer.cell_bits
    if isinstance(layer, (DenseLayer, Conv1DLayer)) and layer.alpha is not None:
        return int(np.array(layer.alpha, np.float32).view(np.uint32))
    return 0


def _layer_codes(layer: Layer) -> tuple[int, int, int, int, int, int]:
    """kind, activation, gate_activation, reset_after, direction, merge."""
    if isinstance(layer, LayerNormLayer):
        return fmt.KIND_LAYERNORM, fmt.ACTIVATIONS["linear"], 0, 0, 0, 0
    if isinstance(layer, EmbeddingLayer):
        return fmt.KIND_EMBEDDING, fmt.ACTIVATIONS["linear"], 0, 0, 0, 0
    if isinstance(layer, GRULayer):
        return (fmt.KIND_GRU, fmt.ACTIVATIONS[layer.activation],
                fmt.ACTIVATIONS[layer.gate_activation], int(layer.reset_after),
                fmt.DIRECTIONS[layer.direction], fmt.MERGES[layer.merge] if layer.merge else 0)
    if isinstance(layer, LSTMLayer):
        return (fmt.KIND_LSTM, fmt.ACTIVATIONS[layer.activation],
                fmt.ACTIVATIONS[layer.gate_activation], 0, 0, 0)
    if isinstance(layer, Conv1DLayer):
        return fmt.KIND_CONV1D, fmt.ACTIVATIONS[layer.activation], 0, int(layer.depthwise), 0, 0
    assert isinstance(layer, DenseLayer)
    return fmt.KIND_DENSE, fmt.ACTIVATIONS[layer.activation], 0, 0, 0, 0


def _pack_layer_table(out: bytearray, layers: list[Layer], layouts: list[int]) -> None:
    first = 0
    for k, (layer, layout) in enumerate(zip(layers, layouts)):
        kind, act, gate, reset_after, direction, merge = _layer_codes(layer)
        n = len(fmt.LAYER_TENSORS[(layer.kind, layer.precision)]) * (2 if merge else 1)
        fmt.LAYER_ENTRY.pack_into(
            out, fmt.HEADER_SIZE + fmt.LAYER_ENTRY_SIZE * k,
            kind, fmt.PRECISIONS[layer.precision], act, gate, reset_after,
            layout, direction, merge, layer.input_size, layer.output_size, first, n,
            _act_param(layer),
            # Conv1D: kernel_size | dilation << 16; reserved (0) for the other kinds
            layer.kernel_size | layer.dilation << 16 if isinstance(layer, Conv1DLayer) else 0,
        )
        first += n


def _pack_tensor_table(out: bytearray, table_offset: int, tensors: list[_Tensor],
                       offsets: list[int]) -> None:
    for j, (tensor, offset) in enumerate(zip(tensors, offsets)):
        fmt.TENSOR_ENTRY.pack_into(
            out, table_offset + fmt.TENSOR_ENTRY_SIZE * j,
            tensor.role, tensor.dtype, 0, tensor.layer, tensor.rows, tensor.cols, offset,
            len(tensor.data), 0, 0,
        )
