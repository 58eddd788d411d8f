"""Exceptions of gru_rt: one class per kind of user error, all under GruRtError.

    GruRtError
    ├── ModelFormatError (ValueError)   a .grt model the C loader refused (status, field, index)
    ├── CoreError (ValueError)          another C call refused its arguments (status)
    ├── ConversionError (ValueError)    a source (weights, model file) that cannot become a model
    │   └── SpecError                   a ModelSpec that breaks a format rule (gru_rt.spec)
    ├── UnsafeFileError (ValueError)    a path that is not a plain regular file (gru_rt.fileio)
    ├── InputError (ValueError)         an input array of the wrong shape or values, a bad out=
    │   └── InputTypeError (TypeError)  ... of the wrong dtype or type
    ├── ArgumentError (ValueError)      an option or argument value a call does not accept
    │   └── UsageError                  the same on the command line (gru_rt.cli)
    ├── ScoreError (ValueError)         data gru_rt.dask cannot score (names the sequence)
    └── MissingDependencyError (ImportError)  an optional framework/package is not installed

The builtin bases stay for callers that catch ValueError (or TypeError, ImportError). Passing an
argument of the wrong Python type (not an array) is a TypeError, as everywhere in Python; a
stream used by two threads at once is a RuntimeError. The command line prints GruRtError (and
OSError: missing files, permissions) as one line; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import re

# What the index of a loader diagnosis counts, by the prefix of its field name.
_INDEX_OWNERS = {"layer": "layer", "tensor": "tensor", "meta": "metadata entry",
                 "padding": "after tensor"}


class GruRtError(Exception):
    """Base class of every gru_rt error."""


class ModelFormatError(GruRtError, ValueError):
    """A model file the C loader rejected; carries the loader's diagnosis.

    status: the C status name ("GRT_E_CHECKSUM"); field: the field that broke a rule
    ("layer.input_size"); index: the layer or tensor index (None if none); actual/expected: the
    values involved (None when the rule has no single expected value).
    """

    def __init__(self, status: str, message: str, field: str, index: int | None,
                 actual: int | None, expected: int | None, source: str | None = None):
        self.status = status
        self.field = field
        self.index = index
        self.actual = actual
        self.expected = expected
        self.source = source
        super().__init__(self._describe(message))

    def _describe(self, message: str) -> str:
        where = ""
        if self.index is not None:
            owner = _INDEX_OWNERS.get(self.field.split(".", 1)[0], "item")
            where = f" {owner} {self.index}:"
        detail = f" {self.field}" if self.field else ""
        if self.actual is not None:
            detail += f" is {self.actual}"
            if self.expected is not None:
                detail += f", expected {self.expected}"
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{self.status}: {message} ({where}{detail})".replace("( ", "(")


class CoreError(GruRtError, ValueError):
    """A C call other than the load returned an error status (status: its name, GRT_E_...)."""

    def __init__(self, status: str, message: str):
        self.status = status
        super().__init__(message)


class ConversionError(GruRtError, ValueError):
    """Weights that cannot be turned into a model: names the key/module and what was expected."""


class InputError(GruRtError, ValueError):
    """An input array (or out=, lengths=, state) whose shape or values a call cannot take."""


class InputTypeError(InputError, TypeError):
    """An input array of the wrong dtype, or not an array where one is needed."""


class ArgumentError(GruRtError, ValueError):
    """An option or argument value that a call does not accept (names it and what it accepts)."""


class MissingDependencyError(GruRtError, ImportError):
    """An optional package a feature needs is not installed (says what to pip install)."""


def printable(text: object) -> str:
    """`text` with every control character (C0, DEL, C1, line and paragraph separators) written
    as an escape: names read from files are shown with this, so they cannot move the cursor,
    clear a terminal or fake extra lines."""
    return _UNSAFE.sub(lambda m: _escape(m.group()), str(text))


def _escape(c: str) -> str:
    code = ord(c)
    if code < 0x20 or 0x7F <= code < 0xA0 or 0x2028 <= code <= 0x202E or code in _BIDI:
        return repr(c)[1:-1] if code < 0x80 else f"\\u{code:04x}"
    return c


_BIDI = frozenset((0x200E, 0x200F, 0x2066, 0x2067, 0x2068, 0x2069))  # marks and isolates
# The characters _escape rewrites, found in one pass (names are mostly plain: no per-character call)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028-\u202e\u200e\u200f\u2066-\u2069]")
