"""Every code, limit and version of the .grt file format, version 1.5 (docs/FORMAT.md): the one
Python place that states them. It imports nothing from the package (spec, writer, _core and the
importers import from here), and tests/test_format_constants.py checks each value against the C
header csrc/include/gru_rt.h, whose loader enforces them.

Only the writer (gru_rt/writer.py) uses the byte layouts; Python never parses a file (the C loader
is the one reader). Tests that corrupt files on purpose may use the offsets below.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

MAGIC = b"\x89GRT\r\n\x1a\n"
VERSION_MAJOR = 1
VERSION_MINOR = 5

HEADER_SIZE = 64
LAYER_ENTRY_SIZE = 32
TENSOR_ENTRY_SIZE = 32
ALIGN = 64  # the data section and every tensor start at a multiple of this

# ---- limits the loader enforces (the writer checks each: nothing writes that cannot load) ----
MAX_LAYERS = 32  # GRT_MAX_LAYERS of the default build
MAX_TENSORS = 256
MAX_DIM = 16384  # largest input, output or hidden size
MAX_FILE_SIZE = 2**32 - 1  # every size and offset is a u32
MAX_META_ENTRIES = 4096
MAX_KEY_BYTES = 255  # a metadata key: 1 … 255 bytes of UTF-8, no NUL
MAX_VALUE_BYTES = 65535  # a metadata value: 0 … 65535 bytes of UTF-8, no NUL
MAX_INPUTS = 64  # named inputs (1.4)
MAX_INPUT_NAME = 64  # an input's name: 1 … 64 bytes of UTF-8, no control character or '='

# ---- codes (append-only) ---------------------------------------------------------------------
FLAG_INPUT_MASK = 1  # header flags bit 0 (1.4): an input mask, its float32 value at OFF_MASK_VALUE
FLAG_NAMED_INPUTS = 2  # header flags bit 1 (1.4): the input vector is named inputs, recorded in
INPUTS_KEY = "model.inputs"  # this metadata entry, lines "name=width" (FORMAT.md "Named inputs")
KIND_GRU = 1
KIND_DENSE = 2
KIND_LSTM = 3  # 1.4
KIND_LAYERNORM = 6  # 1.4
KIND_CONV1D = 4  # 1.4: causal Conv1D (docs/FORMAT.md, "Conv1D layers")
KIND_EMBEDDING = 5  # 1.5: token ids -> rows of a table, layer 0 only (docs/FORMAT.md, "Embedding")
PRECISIONS = {"f32": 0, "q8": 1, "q15": 2}
PRECISION_NAMES = tuple(PRECISIONS)  # ("f32", "q8", "q15")
QUANTIZED_PRECISIONS = ("q8", "q15")
ACTIVATIONS = {
    "linear": 0,
    "relu": 1,
    "tanh": 2,
    "sigmoid": 3,
    "softmax": 4,
    "hard_sigmoid": 5,
    "hard_sigmoid_k2": 6,
    # 1.3: Dense only, f32 and q8
    "leaky_relu": 7,
    "elu": 8,
    "gelu": 9,
    "gelu_tanh": 10,
    "silu": 11,
    "softplus": 12,
    "log_softmax": 13,
}
# Which activation codes each place of a layer takes (the loader refuses the others).
GRU_ACTIVATIONS = ("tanh", "relu")
GRU_GATE_ACTIVATIONS = ("sigmoid", "hard_sigmoid", "hard_sigmoid_k2")
LSTM_ACTIVATIONS = GRU_ACTIVATIONS  # of g and of c
LSTM_GATE_ACTIVATIONS = GRU_GATE_ACTIVATIONS  # of i, f and o
# q15 LSTM (1.5): the cell state c is int16 with 15 - cell_bits fraction bits (|c| < 2^cell_bits);
# the C loader's GRT_Q15_LSTM_MAX_CELL_BITS
LSTM_MAX_CELL_BITS = 14
DENSE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax", "leaky_relu", "elu", "gelu",
                     "gelu_tanh", "silu", "softplus", "log_softmax")
# Conv1D layers take the Dense activations (and q15 the Q15_DENSE_ACTIVATIONS); their kernel size
# and dilation are u16 fields, their window of past frames, (k - 1)·d·I elements, at most
# MAX_CONV_WINDOW, and their product's columns, k·I, at most MAX_DIM (1.4).
MAX_CONV_FIELD = 65535
MAX_CONV_WINDOW = 2**20  # GRT_MAX_CONV_WINDOW
# Dense activations with a parameter, stored as float32 bits in the layer entry's param field (1.3).
PARAM_ACTIVATIONS = ("leaky_relu", "elu")
# Dense activations q15 has a fixed-point form of (the others are float only: f32 and q8).
Q15_DENSE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid", "softmax")
# Activations whose q15 output is a probability or in [-1, 1]: their out_scale is fixed at 2^-15.
Q15_FIXED_OUTPUT = ("sigmoid", "tanh", "softmax", "hard_sigmoid", "hard_sigmoid_k2")
Q15_ONE_BITS = 0x38000000  # float32 bits of 2^-15

# GRU direction (layer entry byte 6) and a bidirectional layer's merge (byte 7), 1.4.
DIRECTIONS = {"forward": 0, "reverse": 1, "bidirectional": 2}
MERGES = {"concat": 1, "sum": 2, "ave": 3, "mul": 4}  # 0: not bidirectional
Q15_MERGES = ("concat", "ave", "mul")  # a q15 sum could leave the Q15 range [-1, 1]

WEIGHT_LAYOUT_ROW_MAJOR = 0
WEIGHT_LAYOUT_PANEL8 = 1  # f32 only: panels of PANEL_ROWS rows, column-interleaved (1.2)
WEIGHT_LAYOUTS = {"row-major": WEIGHT_LAYOUT_ROW_MAJOR, "panel8": WEIGHT_LAYOUT_PANEL8}
PANEL_ROWS = 8

# Tensor roles and dtypes; numpy dtypes are little-endian.
ROLES = {"w_ih": 1, "w_hh": 2, "b_ih": 3, "b_hh": 4, "w_ih_scale": 5, "w_hh_scale": 6,
         "in_scale": 7, "out_scale": 8, "gamma": 9, "beta": 10, "table": 11}
DTYPES: dict[str, tuple[int, np.dtype[Any]]] = {
    "f32": (0, np.dtype("<f4")), "i8": (1, np.dtype("i1")), "i16": (2, np.dtype("<i2")),
    "i32": (3, np.dtype("<i4")), "bf16": (4, np.dtype("<u2"))}

# The tensors each (kind, precision) stores, in file order: (role, attribute, dtype). The one table
# the writer, the spec's validation and Model.to_spec follow (the C loader's is csrc/grt_load.c).
LAYER_TENSORS: dict[tuple[str, str], tuple[tuple[str, str, str], ...]] = {
    ("gru", "f32"): (("w_ih", "w_ih", "f32"), ("w_hh", "w_hh", "f32"), ("b_ih", "b_ih", "f32"),
                     ("b_hh", "b_hh", "f32")),
    ("gru", "q8"): (("w_ih", "w_ih", "i8"), ("w_hh", "w_hh", "i8"), ("b_ih", "b_ih", "f32"),
                    ("b_hh", "b_hh", "f32"), ("w_ih_scale", "w_ih_scale", "bf16"),
                    ("w_hh_scale", "w_hh_scale", "bf16")),
    ("gru", "q15"): (("w_ih", "w_ih", "i8"), ("w_hh", "w_hh", "i8"), ("b_ih", "b_ih", "i32"),
                     ("b_hh", "b_hh", "i32"), ("w_ih_scale", "w_ih_scale", "bf16"),
                     ("w_hh_scale", "w_hh_scale", "bf16"), ("in_scale", "in_scale", "f32"),
                     ("out_scale", "out_scale", "f32")),
    ("lstm", "f32"): (("w_ih", "w_ih", "f32"), ("w_hh", "w_hh", "f32"), ("b_ih", "b_ih", "f32"),
                      ("b_hh", "b_hh", "f32")),
    ("lstm", "q8"): (("w_ih", "w_ih", "i8"), ("w_hh", "w_hh", "i8"), ("b_ih", "b_ih", "f32"),
                     ("b_hh", "b_hh", "f32"), ("w_ih_scale", "w_ih_scale", "bf16"),
                     ("w_hh_scale", "w_hh_scale", "bf16")),
    # 1.5: q15 LSTM (the entry's param: the cell state's integer bits, LSTM_MAX_CELL_BITS at most)
    ("lstm", "q15"): (("w_ih", "w_ih", "i8"), ("w_hh", "w_hh", "i8"), ("b_ih", "b_ih", "i32"),
                      ("b_hh", "b_hh", "i32"), ("w_ih_scale", "w_ih_scale", "bf16"),
                      ("w_hh_scale", "w_hh_scale", "bf16"), ("in_scale", "in_scale", "f32"),
                      ("out_scale", "out_scale", "f32")),
    ("dense", "f32"): (("w_ih", "w", "f32"), ("b_ih", "b", "f32")),
    ("dense", "q8"): (("w_ih", "w", "i8"), ("b_ih", "b", "f32"), ("w_ih_scale", "w_scale", "bf16")),
    ("dense", "q15"): (("w_ih", "w", "i8"), ("b_ih", "b", "i32"), ("w_ih_scale", "w_scale", "bf16"),
                       ("in_scale", "in_scale", "f32"), ("out_scale", "out_scale", "f32")),
    # 1.4: LayerNorm; q8 runs the float math of f32 (no weight matrix to quantize)
    ("layernorm", "f32"): (("gamma", "gamma", "f32"), ("beta", "beta", "f32")),
    ("layernorm", "q8"): (("gamma", "gamma", "f32"), ("beta", "beta", "f32")),
    ("layernorm", "q15"): (("in_scale", "in_scale", "f32"), ("out_scale", "out_scale", "f32"),
                           ("gamma", "gamma", "i32"), ("beta", "beta", "i32")),
}
# 1.5: Embedding; the table has vocab rows (the entry's param), q8 one bf16 scale code per row, q15
# int16 values in out_scale units and in_scale [1.0] (the input is the token id itself).
LAYER_TENSORS[("embedding", "f32")] = (("table", "table", "f32"),)
LAYER_TENSORS[("embedding", "q8")] = (("w_ih_scale", "table_scale", "bf16"),
                                      ("table", "table", "i8"))
LAYER_TENSORS[("embedding", "q15")] = (("in_scale", "in_scale", "f32"),
                                       ("out_scale", "out_scale", "f32"), ("table", "table", "i16"))
MAX_VOCAB = 2**24  # GRT_MAX_VOCAB: f32/q8 ids are exact float32 inputs
MAX_VOCAB_Q15 = 2**15  # GRT_MAX_VOCAB_Q15: q15 ids are int16 inputs
# A Conv1D layer stores what a Dense layer does (its w_ih has k·I columns, or k when depthwise).
for _precision in PRECISION_NAMES:
    LAYER_TENSORS[("conv1d", _precision)] = LAYER_TENSORS[("dense", _precision)]

# ---- byte layouts ----------------------------------------------------------------------------
# Header: magic, version_major, version_minor, header_size, file_size, checksum, flags, n_layers,
# n_tensors, layer_table_offset, tensor_table_offset, meta_offset, meta_size, data_offset,
# data_size, reserved.
HEADER = struct.Struct("<8sHHIIIIIIIIIIIII")
# Header field offsets (bytes from the start of the file).
OFF_FILE_SIZE = 16
OFF_CHECKSUM = 20
OFF_FLAGS = 24
OFF_N_LAYERS = 28
OFF_N_TENSORS = 32
OFF_TENSOR_TABLE_OFFSET = 40
OFF_META_OFFSET = 44
OFF_META_SIZE = 48
OFF_DATA_OFFSET = 52
OFF_DATA_SIZE = 56
OFF_MASK_VALUE = 60  # the header's last u32: the input mask value with FLAG_INPUT_MASK (1.4)

# Layer entry: kind, precision, activation, gate_activation, reset_after, weight_layout, direction,
# merge (1.4; a reserved u16 before), input_size, output_size, first_tensor, n_tensors, param,
# reserved. A Conv1D layer (1.4) puts depthwise (0/1) in reset_after's byte and kernel_size |
# dilation << 16 in the last u32.
LAYER_ENTRY = struct.Struct("<BBBBBBBBIIIIII")

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
