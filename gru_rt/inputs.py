"""Named inputs (format 1.4): a model whose input vector is several inputs concatenated (a
multimodal model: accelerometer and gyroscope, audio and metadata) records each input's name and
width.

The record is the metadata entry "model.inputs" of a file with header flag bit 1 (docs/FORMAT.md,
"Named inputs"): one line "name=width" per input, in the order of the input vector. The C loader
checks it (csrc/grt_inputs.c); this module writes it, checks a spec's before writing, and joins the
per-input arrays a caller passes to Stream.step / run into the one vector the runtime reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from .errors import ConversionError, InputError, InputTypeError
from .format import MAX_DIM, MAX_INPUT_NAME, MAX_INPUTS

__all__ = ["InputInfo", "join_inputs", "make_record", "parse_record", "source_record"]


class InputInfo(NamedTuple):
    """One named input: input vector elements [offset, offset + width)."""

    name: str
    width: int
    offset: int


def _check_name(name: object, k: int) -> str:
    if not isinstance(name, str):
        raise ValueError(f"input {k}: name {name!r} is a {type(name).__name__}, expected str")
    try:
        n = len(name.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise ValueError(f"input {k}: name {name!r} is not valid UTF-8 text ({e.reason})") from None
    if not 1 <= n <= MAX_INPUT_NAME:
        raise ValueError(f"input {k}: name {name!r} is {n} bytes in UTF-8, expected 1 … "
                         f"{MAX_INPUT_NAME}")
    bad = [c for c in name if ord(c) < 0x20 or ord(c) == 0x7F or c == "="]
    if bad:
        raise ValueError(f"input {k}: name {name!r} contains {bad[0]!r} (names have no control "
                         f"characters and no '=')")
    return name


def _check_width(width: object, name: str) -> int:
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)):
        raise ValueError(f"input {name!r}: width {width!r} is not an integer")
    if not 1 <= int(width) <= MAX_DIM:
        raise ValueError(f"input {name!r}: width {int(width)}, expected 1 … {MAX_DIM}")
    return int(width)


def checked_inputs(inputs: Mapping[str, int] | Sequence[tuple[str, int]]
                   ) -> tuple[tuple[str, int], ...]:
    """(name, width) pairs in order, checked as the loader checks them (ValueError otherwise):
    1 … 64 inputs, names 1 … 64 bytes of UTF-8 without control characters or '=', unique, widths
    1 … 16384."""
    pairs = list(inputs.items()) if isinstance(inputs, Mapping) else list(inputs)
    if not 1 <= len(pairs) <= MAX_INPUTS:
        raise ValueError(f"{len(pairs)} inputs, expected 1 … {MAX_INPUTS}")
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for k, pair in enumerate(pairs):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"input {k}: {pair!r}, expected a (name, width) pair")
        name = _check_name(pair[0], k)
        if name in seen:
            raise ValueError(f"input {k}: name {name!r} repeats")
        seen.add(name)
        out.append((name, _check_width(pair[1], name)))
    return tuple(out)


def make_record(inputs: Mapping[str, int] | Sequence[tuple[str, int]]) -> str:
    """The "model.inputs" metadata value of these inputs (ValueError if they are not valid)."""
    return "\n".join(f"{name}={width}" for name, width in checked_inputs(inputs))


def source_record(pairs: Sequence[tuple[str, int]], where: str) -> str:
    """make_record for the inputs an importer found in a source: ConversionError naming them if
    the format cannot record them (a name with '=' or over 64 bytes, ...)."""
    try:
        return make_record(pairs)
    except ValueError as e:
        raise ConversionError(f"{where}: the inputs cannot be named in the file: {e}") from None


def parse_record(text: str) -> tuple[tuple[str, int], ...]:
    """The (name, width) pairs of a "model.inputs" value, checked as the C loader checks it
    (ValueError naming the line otherwise; the sum of the widths is the caller's to check)."""
    pairs: list[tuple[str, int]] = []
    for k, line in enumerate(text.split("\n")):
        name, eq, width = line.partition("=")
        if not eq:
            raise ValueError(f"line {k} {line!r} is not 'name=width'")
        if not (width.isascii() and width.isdigit()) or width.startswith("0"):
            raise ValueError(f"line {k}: width {width!r} is not a decimal number from 1")
        pairs.append((name, int(width)))
    return checked_inputs(pairs)


def infos(pairs: Sequence[tuple[str, int]]) -> tuple[InputInfo, ...]:
    out, offset = [], 0
    for name, width in pairs:
        out.append(InputInfo(name, width, offset))
        offset += width
    return tuple(out)


def _listing(inputs: Sequence[InputInfo]) -> str:
    return ", ".join(f"{i.name!r} ({i.width})" for i in inputs)


def is_per_input(inputs: Sequence[InputInfo], input_size: int, x: object) -> bool:
    """Is x the per-input form: a dict, or a list/tuple of one array per input (n >= 2) none of
    which has the whole input width as its last axis (so a list of whole vectors or whole
    sequences keeps its meaning)."""
    if isinstance(x, dict):
        return True
    if len(inputs) < 2 or not isinstance(x, (list, tuple)) or len(x) != len(inputs):
        return False
    shapes = [np.shape(item) for item in x]
    return all(len(s) >= 1 for s in shapes) and not any(s[-1] == input_size for s in shapes)


def _shape_text(lead: tuple[str, ...], width: int) -> str:
    return f"({', '.join([*lead, str(width)])}{',' if not lead else ''})"


def join_inputs(inputs: Sequence[InputInfo], input_size: int, x: object,
                leads: tuple[tuple[str, ...], ...], int16: bool, what: str) -> np.ndarray:
    """The per-input form x (is_per_input) as one array: each input's array (shape (*lead,
    width) for one of the leading-axis names of leads, e.g. (("T",), ("N", "T")); the same
    leading axes for all inputs) concatenated along the last axis in the
    model's input order. float32, or int64 for the int16 API (whose caller checks the range).
    InputError / InputTypeError name the input that is missing, unknown or mis-shaped."""
    if not inputs:
        raise InputError(f"{what}: this model names no inputs (its file has no input record); "
                         f"pass one array of width {input_size}")
    if isinstance(x, dict):
        unknown = [key for key in x if key not in {i.name for i in inputs}]
        if unknown:
            raise InputError(f"{what}: unknown input {unknown[0]!r}; the model's inputs are "
                             f"{_listing(inputs)}")
        missing = [i.name for i in inputs if i.name not in x]
        if missing:
            raise InputError(f"{what}: input {missing[0]!r} is missing; the model's inputs are "
                             f"{_listing(inputs)}")
        items = [x[i.name] for i in inputs]
    else:
        assert isinstance(x, (list, tuple))
        items = list(x)
    arrays: list[np.ndarray] = []
    lead: tuple[int, ...] | None = None
    for info, item in zip(inputs, items):
        try:
            arr = np.asarray(item)
        except (ValueError, TypeError) as e:  # ragged nested lists, objects numpy cannot read
            raise InputTypeError(f"{what}: input {info.name!r} is not an array of numbers "
                                 f"({e})") from None
        kinds = "biu" if int16 else "biuf"
        if arr.dtype.kind not in kinds:
            want = "integers (raw q15 values)" if int16 else "real numbers"
            raise InputTypeError(f"{what}: input {info.name!r} has dtype {arr.dtype}, expected "
                                 f"{want}")
        shown = " or ".join(_shape_text(lead_names, info.width) for lead_names in leads)
        if arr.ndim not in {len(names) + 1 for names in leads} or arr.shape[-1] != info.width:
            raise InputError(f"{what}: input {info.name!r} has shape {arr.shape}, expected "
                             f"{shown}")
        if lead is None:
            lead = arr.shape[:-1]
        elif arr.shape[:-1] != lead:
            raise InputError(f"{what}: input {info.name!r} has shape {arr.shape}, expected "
                             f"{(*lead, info.width)} (the leading axes of input "
                             f"{inputs[0].name!r})")
        arrays.append(arr.astype(np.int64 if int16 else np.float32, copy=False))
    return np.concatenate(arrays, axis=-1)
