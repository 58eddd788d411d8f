"""Constants of the .grt file format, version 1.1 (docs/FORMAT.md): the one place that states them.

Only the writer (gru_rt/writer.py) uses the byte layouts; Python never parses a file (the C loader
is the one reader). Tests that corrupt files on purpose may use the offsets below.
"""

from __future__ import annotations

import struct

from .spec import ACTIVATIONS, DTYPES, LAYER_TENSORS, MAX_DIM, MAX_LAYERS, PRECISIONS, ROLES

__all__ = [
    "ACTIVATIONS", "ALIGN", "DTYPES", "HEADER", "HEADER_SIZE", "KIND_DENSE",
    "KIND_GRU", "LAYER_ENTRY", "LAYER_ENTRY_SIZE", "MAGIC", "MAX_DIM", "MAX_FILE_SIZE",
    "MAX_KEY_BYTES", "MAX_LAYERS", "MAX_TENSORS", "MAX_VALUE_BYTES", "META_COUNT", "META_ENTRY",
    "OFF_CHECKSUM", "OFF_DATA_OFFSET", "OFF_DATA_SIZE", "OFF_FILE_SIZE", "OFF_META_OFFSET",
    "OFF_META_SIZE", "OFF_N_LAYERS", "OFF_N_TENSORS", "OFF_TENSOR_TABLE_OFFSET", "PRECISIONS",
    "LAYER_TENSORS", "ROLES", "ROLE_B_HH", "ROLE_B_IH", "ROLE_W_HH", "ROLE_W_IH", "TENSOR_ENTRY",
    "TENSOR_ENTRY_SIZE", "U32",
    "VERSION_MAJOR", "VERSION_MINOR", "WEIGHT_LAYOUT_PANEL8", "WEIGHT_LAYOUT_ROW_MAJOR",
    "WEIGHT_LAYOUTS", "PANEL_ROWS",
]

MAGIC = b"\x89GRT\r\n\x1a\n"
VERSION_MAJOR = 1
VERSION_MINOR = 2

HEADER_SIZE = 64
LAYER_ENTRY_SIZE = 32
TENSOR_ENTRY_SIZE = 32
ALIGN = 64  # the data section and every tensor start at a multiple of this
MAX_TENSORS = 256
MAX_FILE_SIZE = 2**32 - 1  # every size and offset is a u32
MAX_KEY_BYTES = 255
MAX_VALUE_BYTES = 65535

# Header: magic, version_major, version_minor, header_size, file_size, checksum, flags, n_layers,
# n_tensors, layer_table_offset, tensor_table_offset, meta_offset, meta_size, data_offset,
# data_size, reserved.
HEADER = struct.Struct("<8sHHIIIIIIIIIIIII")
# Header field offsets (bytes from the start of the file).
OFF_FILE_SIZE = 16
OFF_CHECKSUM = 20
OFF_N_LAYERS = 28
OFF_N_TENSORS = 32
OFF_TENSOR_TABLE_OFFSET = 40
OFF_META_OFFSET = 44
OFF_META_SIZE = 48
OFF_DATA_OFFSET = 52
OFF_DATA_SIZE = 56

# Layer entry: kind, precision, activation, gate_activation, reset_after, weight_layout, reserved
# (u16), input_size, output_size, first_tensor, n_tensors, param, reserved.
LAYER_ENTRY = struct.Struct("<BBBBBBHIIIIII")
KIND_GRU = 1
KIND_DENSE = 2
WEIGHT_LAYOUT_ROW_MAJOR = 0
WEIGHT_LAYOUT_PANEL8 = 1  # f32 only: panels of PANEL_ROWS rows, column-interleaved (1.2)
WEIGHT_LAYOUTS = {"row-major": WEIGHT_LAYOUT_ROW_MAJOR, "panel8": WEIGHT_LAYOUT_PANEL8}
PANEL_ROWS = 8

# Tensor entry: role, dtype, reserved (u16), layer, rows, cols, offset, nbytes, reserved[2].
TENSOR_ENTRY = struct.Struct("<BBHIIIIIII")
ROLE_W_IH = ROLES["w_ih"]
ROLE_W_HH = ROLES["w_hh"]
ROLE_B_IH = ROLES["b_ih"]
ROLE_B_HH = ROLES["b_hh"]

# Metadata: u32 count, then per entry u32 key_len, u32 value_len, key bytes, value bytes.
U32 = struct.Struct("<I")  # e.g. the checksum field
META_COUNT = U32
META_ENTRY = struct.Struct("<II")

assert HEADER.size == HEADER_SIZE
assert LAYER_ENTRY.size == LAYER_ENTRY_SIZE
assert TENSOR_ENTRY.size == TENSOR_ENTRY_SIZE
