"""A small, strict reader of safetensors files, in NumPy alone (no safetensors or torch package).

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned header
length N; N bytes of UTF-8 JSON, an object mapping each tensor name to {"dtype", "shape",
"data_offsets": [begin, end]} (offsets relative to the byte after the header), plus an optional
"__metadata__" object of string → string; then the data. Everything is checked before use: the
header length against the file, the JSON (no duplicate names), each dtype, shape and offset
pair, and the byte ranges, which must tile the data exactly (no overlap, no hole, nothing after the
last tensor) — the rules of the reference implementation. A bad file gets a ConversionError naming
the tensor and the rule it breaks.

The tensors are returned as NumPy arrays in file (data offset) order. safetensors writers sort
tensors by dtype and name, so that order is not the model's layer order: `order_state_dict` puts a
PyTorch-style state dict back in layer order (numeric prefixes, sizes that chain, or the user's
list).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConversionError
from ..fileio import read_regular
from ._untrusted import MAX_SOURCE_BYTES, load_json

__all__ = ["MAX_HEADER_BYTES", "order_state_dict", "read_bytes", "read_file"]

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the reference implementation's limit

# safetensors dtype → (NumPy dtype, item size); BF16 is widened to float32 on read.
_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U64": ("<u8", 8), "U32": ("<u4", 4), "U16": ("<u2", 2), "U8": ("u1", 1),
    "BOOL": ("?", 1),
}
_KNOWN_UNSUPPORTED = ("F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64")


def read_file(path: str | Path) -> dict[str, np.ndarray]:
    """{name: array} from a .safetensors file, in data order (see read_bytes)."""
    path = Path(path)
    return read_bytes(read_regular(path, MAX_SOURCE_BYTES, "safetensors file"), str(path))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ConversionError(f"tensor name {key!r} appears twice in the header")
        out[key] = value
    return out


def read_bytes(data: bytes, where: str = "safetensors data") -> dict[str, np.ndarray]:
    """{name: array} from a safetensors file's bytes; ConversionError naming the rule broken."""
    if len(data) < 8:
        raise ConversionError(f"{where}: {len(data)} bytes, too short for the 8-byte header "
                              f"length of a safetensors file")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise ConversionError(f"{where}: header length {n} exceeds the limit of "
                              f"{MAX_HEADER_BYTES} bytes")
    if 8 + n > len(data):
        raise ConversionError(f"{where}: header length {n} runs past the end of the file "
                              f"({len(data)} bytes)")
    if n < 2:
        raise ConversionError(f"{where}: header length {n} is too small for a JSON object")
    try:
        text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConversionError(f"{where}: the header is not UTF-8 ({e.reason} at byte "
                              f"{8 + e.start})") from None
    try:
        header = load_json(text, "the header", MAX_HEADER_BYTES,
                           object_pairs_hook=_no_duplicates)
    except ConversionError as e:
        raise ConversionError(f"{where}: {e}") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{where}: the header is a JSON {type(header).__name__}, expected "
                              f"an object")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict)
                                 and all(isinstance(v, str) for v in meta.values())):
        raise ConversionError(f"{where}: __metadata__ must be an object of strings")
    buffer = memoryview(data)[8 + n:]
    entries = [(name, *_entry(where, name, info, len(buffer))) for name, info in header.items()]
    entries.sort(key=lambda e: (e[3][0], e[3][1]))
    end = 0
    for name, _, _, (begin, stop) in entries:
        if begin != end:
            other = next((e[0] for e in entries if e[3][1] > begin and e[3][0] < begin), None)
            problem = (f"overlaps tensor {other!r}" if begin < end and other
                       else f"leaves a gap: bytes {end} … {begin - 1} belong to no tensor")
            raise ConversionError(f"{where}: tensor {name!r} starts at data offset {begin}, "
                                  f"expected {end}: it {problem}")
        end = stop
    if end != len(buffer):
        raise ConversionError(f"{where}: the tensors cover {end} bytes of data, but the file has "
                              f"{len(buffer)} bytes after the header")
    out: dict[str, np.ndarray] = {}
    for name, dtype, shape, (begin, stop) in entries:
        np_dtype = _DTYPES[dtype][0]
        arr = np.frombuffer(buffer[begin:stop], dtype=np_dtype).reshape(shape)
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=True)
    return out


def _entry(where: str, name: str, info: object,
           size: int) -> tuple[str, tuple[int, ...], tuple[int, int]]:
    what = f"{where}: tensor {name!r}"
    if not isinstance(info, dict):
        raise ConversionError(f"{what}: header entry is a {type(info).__name__}, expected an "
                              f"object with dtype, shape and data_offsets")
    extra = set(info) - {"dtype", "shape", "data_offsets"}
    missing = {"dtype", "shape", "data_offsets"} - set(info)
    if missing or extra:
        raise ConversionError(f"{what}: header entry has "
                              + (f"no {', '.join(sorted(missing))}" if missing
                                 else f"unknown field(s) {', '.join(sorted(extra))}"))
    dtype = info["dtype"]
    if dtype not in _DTYPES:
        why = ("a dtype gru_rt does not read" if dtype in _KNOWN_UNSUPPORTED
               else "not a safetensors dtype")
        raise ConversionError(f"{what}: dtype {dtype!r} is {why} (expected one of "
                              f"{', '.join(_DTYPES)})")
    shape = info["shape"]
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ConversionError(f"{what}: shape {shape!r} is not a list of non-negative integers")
    offsets = info["data_offsets"]
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
        raise ConversionError(f"{what}: data_offsets {offsets!r} is not a pair of non-negative "
                              f"integers")
    begin, stop = offsets
    if begin > stop:
        raise ConversionError(f"{what}: data_offsets [{begin}, {stop}] end before they begin")
    if stop > size:
        raise ConversionError(f"{what}: data_offsets [{begin}, {stop}] run past the end of the "
                              f"data ({size} bytes)")
    need = math.prod(shape) * _DTYPES[dtype][1]
    if stop - begin != need:
        raise ConversionError(f"{what}: data_offsets [{begin}, {stop}] hold {stop - begin} bytes, "
                              f"but shape {tuple(shape)} of {dtype} needs {need}")
    return dtype, tuple(shape), (begin, stop)


# ---- layer order -------------------------------------------------------------------------------

_GRU = re.compile(r"weight_(ih|hh)_l(\d+)")


def _sizes(params: Mapping[str, np.ndarray]) -> tuple[int, int] | None:
    """(input, output) size of one module's parameters (nn.GRU, nn.GRUCell, nn.Linear), if known."""
    try:
        if "weight_ih_l0" in params:
            last = max(int(m.group(2)) for k in params if (m := _GRU.fullmatch(k)))
            return int(params["weight_ih_l0"].shape[1]), int(params[f"weight_hh_l{last}"].shape[1])
        if "weight_ih" in params and "weight_hh" in params:
            return int(params["weight_ih"].shape[1]), int(params["weight_hh"].shape[1])
        if "weight" in params and params["weight"].ndim == 2:
            return int(params["weight"].shape[1]), int(params["weight"].shape[0])
    except (KeyError, IndexError, ValueError):
        return None
    return None


def order_state_dict(arrays: Mapping[str, np.ndarray], layers: Sequence[str] | None = None,
                     where: str = "the safetensors file") -> tuple[dict[str, np.ndarray], str]:
    """The state dict in layer order and how that order was found.

    layers: the module prefixes in forward order (as in the state dict's keys, e.g. ["gru", "fc"]).
    Without it: prefixes that are all integers (an nn.Sequential) run in numeric order; otherwise
    the one order in which the modules' sizes chain; if several orders chain, the caller must
    state it.
    """
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        prefix, _, name = key.rpartition(".")
        groups.setdefault(prefix, {})[name] = arr
    prefixes = list(groups)
    if layers is not None:
        names = [str(p) for p in layers]
        for p in names:
            if p not in groups:
                raise ConversionError(f"layers: {p!r} is not a module prefix of {where} "
                                      f"(prefixes: {', '.join(repr(q) for q in prefixes)})")
        left = [p for p in prefixes if p not in names]
        if left or len(set(names)) != len(names):
            raise ConversionError(f"layers: list every module prefix of {where} once; "
                                  + (f"missing {', '.join(repr(p) for p in left)}" if left
                                     else "a prefix is repeated"))
        how = "stated (layers=)"
        order = names
    elif all(p.isdigit() for p in prefixes):
        order, how = sorted(prefixes, key=int), "numeric module indices"
    elif len(prefixes) == 1:
        order, how = prefixes, "one module"
    else:
        order, how = _chain(groups, where), "the only order in which the module sizes chain"
    return {f"{p}.{name}" if p else name: arr for p in order
            for name, arr in groups[p].items()}, how


def _chain(groups: dict[str, dict[str, np.ndarray]], where: str) -> list[str]:
    sizes = {p: _sizes(params) for p, params in groups.items()}
    if any(s is None for s in sizes.values()) or len(groups) > 8:
        return list(groups)  # the importer names what is wrong / too many to search: file order
    valid = [list(perm) for perm in itertools.permutations(groups)
             if all(sizes[a][1] == sizes[b][0]  # type: ignore[index]
                    for a, b in zip(perm, perm[1:]))]
    if len(valid) == 1:
        return valid[0]
    if not valid:
        return list(groups)  # the importer reports the mismatch
    raise ConversionError(
        f"{where} does not record the order of its layers (safetensors sorts tensors by name) "
        f"and {len(valid)} orders of the modules {', '.join(repr(p) for p in groups)} fit "
        f"their sizes; state it: convert(..., layers=[{', '.join(repr(p) for p in valid[0])}]) "
        f"or --layers {','.join(valid[0])}")
