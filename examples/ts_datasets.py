"""Real time-series data for the demo, the tools and the tests: a strict reader of the `.ts` format.

Not part of the runtime package (gru_rt needs none of it): the examples import it as `ts_datasets`
(their own directory is on the path), the tests as `examples.ts_datasets`, the tools and benchmarks
after putting examples/ on sys.path. AEON_VERSION below is the one place the aeon release is
written (the Makefile's setup targets read it from here).

The UEA/UCR archive ships its data sets as `.ts` text files; the `aeon` package carries a few of
them (JapaneseVowels, BasicMotions, ...) inside its wheel, so they are available offline with

    pip install --no-deps aeon==1.6.0

Only the data files are used: aeon is never imported (importing it needs pandas, scikit-learn and
numba). This module needs NumPy and the standard library only.

The `.ts` format, as read here:

* blank lines and lines starting with ``#`` (comments) are ignored anywhere;
* header lines ``@key value...`` (keys case-insensitive) come first: ``@problemName``,
  ``@timeStamps`` (must be false), ``@missing``, ``@univariate``, ``@dimensions``,
  ``@equalLength``, ``@seriesLength``, ``@classLabel true <label> <label> ...`` (required: only
  classification data is read), then ``@data``;
* after ``@data``, one case per line: the dimensions separated by ``:``, the values of a dimension
  by ``,``, and the class label as the last ``:``-separated field. Every dimension of a case has
  the same length; different cases may have different lengths unless ``@equalLength true``.

Missing values (``?``) are an error by default; with ``missing="nan"`` they become NaN. Values
that parse to NaN or infinity (``nan``, ``inf``) are always an error: the format spells a missing
value ``?``. Every error is a :class:`TsFormatError` naming the file, the line and what was
expected there.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from gru_rt.errors import GruRtError

__all__ = [
    "AEON_VERSION",
    "DatasetNotFoundError",
    "TsDataset",
    "TsFormatError",
    "dataset_path",
    "load_ts_dataset",
    "parse_ts",
    "read_ts",
]

AEON_VERSION = "1.6.0"
"""The aeon release whose wheel the demo data is taken from."""

_INSTALL_HINT = f"pip install --no-deps aeon=={AEON_VERSION}"
_SPLITS = ("train", "test")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*\Z")

Missing = Literal["error", "nan"]


class TsFormatError(GruRtError, ValueError):
    """A `.ts` file that breaks the format; names the source, the 1-based line and the problem."""

    def __init__(self, message: str, line: int | None = None, source: str | None = None):
        self.line = line
        self.source = source
        where = source or "<ts>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


class DatasetNotFoundError(GruRtError, FileNotFoundError):
    """The data file of a named data set is not installed (or the name/split is wrong)."""


@dataclass(frozen=True)
class TsDataset:
    """A parsed classification `.ts` file.

    series: one float32 array per case, shape (T_i, C) (time major, as a stream sees it);
    labels: int64 index of each case's class into ``class_names``;
    class_names: the labels in the order of the ``@classLabel`` header;
    problem_name: the ``@problemName`` header ("" if absent).
    """

    series: list[np.ndarray]
    labels: np.ndarray
    class_names: list[str]
    problem_name: str = ""

    @property
    def n_channels(self) -> int:
        return int(self.series[0].shape[1]) if self.series else 0

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.series], dtype=np.int64)


# --- parsing --------------------------------------------------------------------------------------

_BOOL_KEYS = ("timestamps", "missing", "univariate", "equallength")
_INT_KEYS = ("dimensions", "serieslength")
_KNOWN_KEYS = (*_BOOL_KEYS, *_INT_KEYS, "problemname", "classlabel", "targetlabel")


def _parse_bool(word: str, key: str, lineno: int, source: str) -> bool:
    low = word.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise TsFormatError(f"@{key} expects true or false, got {word!r}", lineno, source)


def _parse_value(token: str, lineno: int, dim: int, index: int, missing: Missing,
                 source: str) -> float:
    text = token.strip()
    where = f"dimension {dim + 1}, value {index + 1}"
    if text == "?":
        if missing == "nan":
            return math.nan
        raise TsFormatError(f"missing value '?' at {where} (read with missing='nan' to accept "
                            "missing values as NaN)", lineno, source)
    try:
        value = float(text)
    except ValueError:
        shown = repr(text) if text else "an empty field"
        raise TsFormatError(f"expected a number at {where}, got {shown}", lineno, source) from None
    if not math.isfinite(value):
        raise TsFormatError(f"non-finite value {text!r} at {where} (a missing value is written "
                            "'?')", lineno, source)
    return value


def parse_ts(text: str, source: str = "<ts>", missing: Missing = "error") -> TsDataset:
    """Parse the text of a classification `.ts` file. See the module docstring for the rules.

    source names the file in error messages. missing: "error" (default) rejects ``?``; "nan"
    reads it as NaN.
    """
    if missing not in ("error", "nan"):
        raise ValueError(f"missing must be 'error' or 'nan', got {missing!r}")

    header: dict[str, bool | int | str] = {}
    class_names: list[str] | None = None
    data_line: int | None = None
    series: list[np.ndarray] = []
    labels: list[int] = []
    label_index: dict[str, int] = {}
    n_dims: int | None = None  # from @dimensions / @univariate, else from the first case
    first_length: int | None = None

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        if data_line is None:
            if not line.startswith("@"):
                raise TsFormatError(f"expected a header line starting with '@' or '@data' before "
                                    f"the data, got {line[:40]!r}", lineno, source)
            words = line[1:].split()
            if not words:
                raise TsFormatError("empty header line '@'", lineno, source)
            key, args = words[0].lower(), words[1:]
            if key == "data":
                if args:
                    raise TsFormatError("@data takes no value", lineno, source)
                data_line = lineno
                if class_names is None:
                    raise TsFormatError("@classLabel true <labels...> must come before @data "
                                        "(only classification data is supported)", lineno, source)
                if header.get("timestamps") is True:
                    raise TsFormatError("@timeStamps true is not supported", lineno, source)
                dims = header.get("dimensions")
                if header.get("univariate") is True:
                    if dims is not None and dims != 1:
                        raise TsFormatError(f"@univariate true contradicts @dimensions {dims}",
                                            lineno, source)
                    n_dims = 1
                elif isinstance(dims, int):
                    n_dims = dims
                continue
            if key not in _KNOWN_KEYS:
                raise TsFormatError(f"unknown header @{words[0]} (expected one of @problemName, "
                                    "@timeStamps, @missing, @univariate, @dimensions, "
                                    "@equalLength, @seriesLength, @classLabel, @data)",
                                    lineno, source)
            if key in header or (key == "classlabel" and class_names is not None):
                raise TsFormatError(f"duplicate header @{words[0]}", lineno, source)
            if key == "problemname":
                header[key] = " ".join(args)
            elif key in _BOOL_KEYS:
                if len(args) != 1:
                    raise TsFormatError(f"@{words[0]} expects one value (true/false), got "
                                        f"{len(args)}", lineno, source)
                header[key] = _parse_bool(args[0], words[0], lineno, source)
            elif key in _INT_KEYS:
                if len(args) != 1 or not args[0].isdigit() or int(args[0]) < 1:
                    raise TsFormatError(f"@{words[0]} expects one positive integer, got "
                                        f"{' '.join(args)!r}", lineno, source)
                header[key] = int(args[0])
            elif key == "targetlabel":
                raise TsFormatError("@targetLabel (regression data) is not supported; expected "
                                    "@classLabel true <labels...>", lineno, source)
            else:  # classlabel
                if not args or not _parse_bool(args[0], words[0], lineno, source):
                    raise TsFormatError("@classLabel false is not supported; expected "
                                        "@classLabel true <labels...>", lineno, source)
                if len(args) < 2:
                    raise TsFormatError("@classLabel true lists no labels", lineno, source)
                class_names = args[1:]
                if len(set(class_names)) != len(class_names):
                    raise TsFormatError("@classLabel lists a label twice", lineno, source)
                label_index = {name: i for i, name in enumerate(class_names)}
            continue

        # --- a case ---
        if line.startswith("@"):
            raise TsFormatError(f"header line after @data (line {data_line})", lineno, source)
        fields = line.split(":")
        if len(fields) < 2:
            raise TsFormatError("expected '<dimension>:...:<class label>', found no ':'",
                                lineno, source)
        label = fields[-1].strip()
        dims_text = fields[:-1]
        if n_dims is None:
            n_dims = len(dims_text)
        if len(dims_text) != n_dims:
            raise TsFormatError(f"expected {n_dims} dimension(s) and a class label, got "
                                f"{len(dims_text)} dimension(s)", lineno, source)
        if label not in label_index:
            raise TsFormatError(f"class label {label!r} is not one of @classLabel "
                                f"{' '.join(class_names or [])}", lineno, source)
        columns: list[list[float]] = []
        for d, dim_text in enumerate(dims_text):
            tokens = dim_text.split(",")
            if tokens[-1].strip() == "" and len(tokens) > 1:
                tokens = tokens[:-1]  # a trailing comma, as some archive files have
            columns.append([_parse_value(tok, lineno, d, i, missing, source)
                            for i, tok in enumerate(tokens)])
            if len(columns[d]) != len(columns[0]):
                raise TsFormatError(f"dimension {d + 1} has {len(columns[d])} values, dimension "
                                    f"1 has {len(columns[0])} (all dimensions of a case must have "
                                    "the same length)", lineno, source)
        length = len(columns[0])
        if header.get("equallength") is True:
            expected = header.get("serieslength", first_length)
            if expected is not None and length != expected:
                what = "@seriesLength" if "serieslength" in header else "the first case"
                raise TsFormatError(f"series length {length}, expected {expected} "
                                    f"(@equalLength true, length from {what})", lineno, source)
        if first_length is None:
            first_length = length
        series.append(np.asarray(columns, dtype=np.float32).T.copy())
        labels.append(label_index[label])

    if data_line is None:
        raise TsFormatError("no @data line: expected the header to end with @data", None, source)
    if not series:
        raise TsFormatError(f"no cases after @data (line {data_line})", None, source)
    problem = header.get("problemname", "")
    return TsDataset(series=series, labels=np.asarray(labels, dtype=np.int64),
                     class_names=list(class_names or []), problem_name=str(problem))


def read_ts(path: str | Path, missing: Missing = "error") -> TsDataset:
    """Read and parse a `.ts` file (UTF-8; a file that is not UTF-8 is a TsFormatError)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TsFormatError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", None,
                            str(p)) from None
    return parse_ts(text, source=str(p), missing=missing)


# --- the data sets shipped in aeon's wheel ----------------------------------------------------

def _aeon_data_dir() -> Path | None:
    """aeon/datasets/data of the installed aeon, found without importing (executing) aeon."""
    try:
        spec = importlib.util.find_spec("aeon")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "datasets" / "data"
        if candidate.is_dir():
            return candidate
    return None


def dataset_path(name: str, split: str) -> Path:
    """Path of ``<name>_<SPLIT>.ts`` in the installed aeon package's data folder.

    name: a data set folder such as "JapaneseVowels" or "BasicMotions"; split: "train" or "test".
    Raises DatasetNotFoundError (a FileNotFoundError) saying how to install the data if aeon is
    missing or has no such file.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid data set name {name!r} (letters, digits, '_' and '-' only)")
    split_l = split.lower()
    if split_l not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data_dir = _aeon_data_dir()
    if data_dir is None:
        raise DatasetNotFoundError(
            f"the {name} data comes from the aeon package, which is not installed; install its "
            f"data files with: {_INSTALL_HINT}")
    path = data_dir / name / f"{name}_{split_l.upper()}.ts"
    if not path.is_file():
        available = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
        raise DatasetNotFoundError(
            f"no {path.name} in {data_dir} (data sets there: {', '.join(available)}); the demo "
            f"data is that of: {_INSTALL_HINT}")
    return path


def load_ts_dataset(name: str, split: str,
                    missing: Missing = "error") -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Load a classification data set shipped with aeon.

    Returns (series, labels, class_names): series is a list of float32 arrays of shape (T_i, C)
    (lengths may differ), labels an int64 array of indices into class_names (the order of the
    file's @classLabel header, e.g. "1".."9" for JapaneseVowels).
    """
    ds = read_ts(dataset_path(name, split), missing=missing)
    return ds.series, ds.labels, ds.class_names
