"""The `.ts` reader (examples/ts_datasets.py) on small files, and on real data with aeon's."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from examples import ts_datasets as datasets
from examples.ts_datasets import (
    DatasetNotFoundError,
    TsFormatError,
    dataset_path,
    load_ts_dataset,
    parse_ts,
    read_ts,
)
from gru_rt.errors import GruRtError

EQUAL = """\
# a comment
#another comment
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength true
@seriesLength 3
@classLabel true a b c
@data
1,2,3:4,5,6:b
0.5,-1e-3,7:8,9,10:a

# comments and blank lines between cases are ignored
1,1,1:2,2,2:c
"""

VARIABLE = """\
@problemName Var
@univariate true
@equalLength false
@classLabel true 1 2
@data
1,2,3,4:2
5:1
6,7:2
"""


def write(tmp_path: Path, text: str, name: str = "x.ts") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def errors_of(text: str, **kwargs: str) -> TsFormatError:
    with pytest.raises(TsFormatError) as info:
        parse_ts(text, source="t.ts", **kwargs)  # type: ignore[arg-type]
    return info.value


# --- well-formed files ---------------------------------------------------------------------------

def test_equal_length_multivariate(tmp_path: Path) -> None:
    ds = read_ts(write(tmp_path, EQUAL))
    assert ds.problem_name == "Tiny"
    assert ds.class_names == ["a", "b", "c"]
    assert ds.labels.dtype == np.int64
    assert ds.labels.tolist() == [1, 0, 2]
    assert len(ds.series) == 3 and ds.n_channels == 2
    for s in ds.series:
        assert s.shape == (3, 2) and s.dtype == np.float32 and s.flags.c_contiguous
    # time major: row t holds dimension 1 and dimension 2 at time t
    np.testing.assert_array_equal(ds.series[0], np.array([[1, 4], [2, 5], [3, 6]], np.float32))
    np.testing.assert_array_equal(ds.series[1][:, 0], np.array([0.5, -1e-3, 7], np.float32))
    assert ds.lengths.tolist() == [3, 3, 3]


def test_variable_length_univariate() -> None:
    ds = parse_ts(VARIABLE)
    assert [s.shape for s in ds.series] == [(4, 1), (1, 1), (2, 1)]
    assert ds.labels.tolist() == [1, 0, 1]
    assert ds.class_names == ["1", "2"]
    np.testing.assert_array_equal(ds.series[0][:, 0], [1, 2, 3, 4])


def test_variable_length_multivariate_and_dims_from_first_case() -> None:
    text = "@classLabel true x y\n@data\n1,2:3,4:x\n5:6:y\n7,8,9:1,2,3:x\n"
    ds = parse_ts(text)
    assert [s.shape for s in ds.series] == [(2, 2), (1, 2), (3, 2)]
    np.testing.assert_array_equal(ds.series[2], [[7, 1], [8, 2], [9, 3]])


def test_header_keys_case_insensitive_crlf_trailing_comma_and_spaces() -> None:
    text = ("@PROBLEMNAME p\r\n@TimeStamps FALSE\r\n@equallength True\r\n"
            "@CLASSLABEL true u v\r\n@DATA\r\n 1 , 2 ,:3,4,: v \r\n")
    ds = parse_ts(text)
    assert ds.class_names == ["u", "v"] and ds.labels.tolist() == [1]
    np.testing.assert_array_equal(ds.series[0], [[1, 3], [2, 4]])


def test_missing_values_error_by_default_nan_on_request() -> None:
    text = "@classLabel true a\n@data\n1,?,3:a\n"
    err = errors_of(text)
    assert err.line == 3
    assert "missing value '?'" in str(err) and "value 2" in str(err)
    ds = parse_ts(text, missing="nan")
    assert ds.series[0].shape == (3, 1)
    assert math.isnan(float(ds.series[0][1, 0]))
    with pytest.raises(ValueError, match="missing must be"):
        parse_ts(text, missing="zero")  # type: ignore[arg-type]


# --- malformed files: the error names the line and what was expected -----------------------------

@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        # a value that is not a number
        ("@classLabel true a\n@data\n1,2:a\n1,x:a\n", 4,
         "expected a number at dimension 1, value 2"),
        # an empty field between commas
        ("@classLabel true a\n@data\n1,,3:a\n", 3, "an empty field"),
        # nan/inf are not how the format writes missing values
        ("@classLabel true a\n@data\n1,nan:a\n", 3, "non-finite value 'nan'"),
        ("@classLabel true a\n@data\n1,-inf:a\n", 3, "non-finite value '-inf'"),
        # no ':' at all: no class label
        ("@classLabel true a\n@data\n1,2,3\n", 3, "found no ':'"),
        # a label not declared
        ("@classLabel true a b\n@data\n1:a\n2:z\n", 4, "class label 'z' is not one of"),
        # wrong number of dimensions, declared
        ("@dimensions 2\n@classLabel true a\n@data\n1:2:a\n1:a\n", 5,
         "expected 2 dimension(s) and a class label, got 1"),
        # wrong number of dimensions, inferred from the first case
        ("@classLabel true a\n@data\n1:2:a\n1:2:3:a\n", 4, "expected 2 dimension(s)"),
        # univariate, but two dimensions
        ("@univariate true\n@classLabel true a\n@data\n1:2:a\n", 4, "expected 1 dimension(s)"),
        # dimensions of one case with different lengths
        ("@classLabel true a\n@data\n1,2:3:a\n", 3, "dimension 2 has 1 values, dimension 1 has 2"),
        # @equalLength true with @seriesLength
        ("@equalLength true\n@seriesLength 2\n@classLabel true a\n@data\n1,2:a\n1,2,3:a\n", 6,
         "series length 3, expected 2"),
        # @equalLength true without @seriesLength: the first case sets the length
        ("@equalLength true\n@classLabel true a\n@data\n1,2:a\n1:a\n", 5,
         "series length 1, expected 2"),
        # header problems
        ("@classLabel true a\n@bogus 1\n@data\n1:a\n", 2, "unknown header @bogus"),
        ("@dimensions two\n@classLabel true a\n@data\n1:a\n", 1, "one positive integer"),
        ("@missing maybe\n@classLabel true a\n@data\n1:a\n", 1, "expects true or false"),
        ("@classLabel true a\n@classLabel true b\n@data\n1:a\n", 2, "duplicate header"),
        ("@classLabel true a a\n@data\n1:a\n", 1, "lists a label twice"),
        ("@classLabel true\n@data\n1:a\n", 1, "lists no labels"),
        ("@classLabel false\n@data\n1:a\n", 1, "@classLabel false is not supported"),
        ("@targetLabel true\n@data\n1:2.5\n", 1, "regression data"),
        ("@timeStamps true\n@classLabel true a\n@data\n(1,2):a\n", 3, "@timeStamps true"),
        ("@data\n1:a\n", 1, "@classLabel true <labels...> must come before @data"),
        ("@univariate true\n@dimensions 3\n@classLabel true a\n@data\n1:a\n", 4, "contradicts"),
        ("@data extra\n", 1, "@data takes no value"),
        ("@\n", 1, "empty header line"),
        # data before the header ends, header after the data starts
        ("@classLabel true a\n1,2:a\n@data\n", 2, "expected a header line"),
        ("@classLabel true a\n@data\n1:a\n@dimensions 1\n", 4, "header line after @data"),
    ],
)
def test_malformed_lines(text: str, line: int, fragment: str) -> None:
    err = errors_of(text)
    assert err.line == line, str(err)
    assert err.source == "t.ts"
    assert fragment in str(err), str(err)
    assert str(err).startswith(f"t.ts:{line}: ")


def test_whole_file_errors(tmp_path: Path) -> None:
    err = errors_of("# only a comment\n@classLabel true a\n")
    assert err.line is None and "no @data line" in str(err)
    err = errors_of("@classLabel true a\n@data\n\n# nothing\n")
    assert "no cases after @data (line 2)" in str(err)
    bad = tmp_path / "latin1.ts"
    bad.write_bytes(b"# caf\xe9\n@classLabel true a\n@data\n1:a\n")
    with pytest.raises(TsFormatError, match="not UTF-8"):
        read_ts(bad)


def test_error_classes() -> None:
    err = errors_of("@data\n")
    assert isinstance(err, ValueError) and isinstance(err, GruRtError)
    assert issubclass(DatasetNotFoundError, FileNotFoundError)
    assert issubclass(DatasetNotFoundError, GruRtError)


# --- locating aeon's data ------------------------------------------------------------------------

def test_dataset_path_argument_checks() -> None:
    with pytest.raises(ValueError, match="split must be"):
        dataset_path("JapaneseVowels", "validation")
    with pytest.raises(ValueError, match="invalid data set name"):
        dataset_path("../etc", "train")


def test_dataset_path_without_aeon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    hint = f"pip install --no-deps aeon=={datasets.AEON_VERSION}"
    with pytest.raises(DatasetNotFoundError, match=re.escape(hint)):
        dataset_path("JapaneseVowels", "train")


def aeon_data_or_skip() -> None:
    try:
        dataset_path("JapaneseVowels", "train")
    except DatasetNotFoundError as exc:
        pytest.skip(f"aeon data not installed: {exc}")


def test_unknown_dataset_lists_what_is_there() -> None:
    aeon_data_or_skip()
    with pytest.raises(DatasetNotFoundError, match="JapaneseVowels") as info:
        dataset_path("NoSuchDataSet", "train")
    assert f"pip install --no-deps aeon=={datasets.AEON_VERSION}" in str(info.value)


@pytest.mark.parametrize(("split", "count", "per_class"),
                         [("train", 270, [30] * 9),
                          ("test", 370, [31, 35, 88, 44, 29, 24, 40, 50, 29])])
def test_japanese_vowels(split: str, count: int, per_class: list[int]) -> None:
    aeon_data_or_skip()
    series, labels, class_names = load_ts_dataset("JapaneseVowels", split)
    assert len(series) == count and labels.shape == (count,)
    assert class_names == [str(i) for i in range(1, 10)]
    assert np.bincount(labels, minlength=9).tolist() == per_class
    lengths = [len(s) for s in series]
    assert min(lengths) >= 7 and max(lengths) <= 29 and len(set(lengths)) > 1
    for s in series:
        assert s.ndim == 2 and s.shape[1] == 12 and s.dtype == np.float32
        assert np.isfinite(s).all()


def test_basic_motions() -> None:
    aeon_data_or_skip()
    for split in ("train", "test"):
        series, labels, class_names = load_ts_dataset("BasicMotions", split)
        assert len(series) == 40
        assert class_names == ["Standing", "Running", "Walking", "Badminton"]
        assert np.bincount(labels).tolist() == [10, 10, 10, 10]
        assert all(s.shape == (100, 6) and s.dtype == np.float32 for s in series)
