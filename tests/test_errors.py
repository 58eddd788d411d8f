"""The exception classes (gru_rt/errors.py): one per kind of user error, each a GruRtError and
still a ValueError (TypeError, ImportError) for existing callers; the CLI prints user errors as
one line and lets anything else (a bug) show its traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gru_rt
from gru_rt import _core, cli
from gru_rt.errors import (
    ArgumentError,
    ConversionError,
    CoreError,
    GruRtError,
    InputError,
    InputTypeError,
    MissingDependencyError,
    ModelFormatError,
)
from gru_rt.importers._lazy import require

from .models import random_spec

BASES = [(ModelFormatError, ValueError), (CoreError, ValueError), (ConversionError, ValueError),
         (InputError, ValueError), (InputTypeError, TypeError), (InputTypeError, InputError),
         (ArgumentError, ValueError), (cli.UsageError, ArgumentError),
         (MissingDependencyError, ImportError)]


@pytest.mark.parametrize(("cls", "base"), BASES)
def test_each_class_is_a_gru_rt_error_and_keeps_its_builtin_base(cls: type, base: type) -> None:
    assert issubclass(cls, GruRtError) and issubclass(cls, base)


@pytest.fixture(scope="module")
def model() -> gru_rt.Model:
    return random_spec([3, 8, 2], seed=1).load()


def test_bad_model_file_is_a_model_format_error(model: gru_rt.Model) -> None:
    data = bytearray(model.to_bytes())
    data[-5] ^= 0x40
    with pytest.raises(ModelFormatError, match="GRT_E_CHECKSUM") as info:
        gru_rt.load(bytes(data))
    assert info.value.status == "GRT_E_CHECKSUM"


def test_bad_input_arrays_are_input_errors(model: gru_rt.Model) -> None:
    with pytest.raises(InputError, match=r"\(10, 4\)"):
        model.run(np.zeros((10, 4), np.float32))
    with pytest.raises(InputTypeError, match="complex"):
        model.run(np.zeros((10, 3), np.complex64))
    with pytest.raises(InputError, match="lengths"):
        model.run(np.zeros((2, 5, 3), np.float32), lengths=[1, 2, 3])


def test_bad_arguments_are_argument_errors(model: gru_rt.Model) -> None:
    with pytest.raises(ArgumentError, match="unknown ISA 'sse9'"):
        _core._select_isa("sse9")
    with pytest.raises(ArgumentError, match="readout='middle'"):
        model.run(np.zeros((2, 5, 3), np.float32), readout="middle")
    with pytest.raises(ArgumentError, match="precision 'q7'"):
        gru_rt.convert(Path("examples/models/japanese_vowels_gru.npz"), precision="q7")


def test_missing_package_is_a_missing_dependency_error() -> None:
    with pytest.raises(MissingDependencyError, match="pip install no_such_package_xyz"):
        require("no_such_package_xyz", "testing")


def test_cli_user_error_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    def user_error(args: object) -> int:
        raise InputError("xs has shape (10, 4), expected (T, 3)")

    monkeypatch.setattr(cli, "cmd_info", user_error)
    assert cli.main(["info", "model.grt"]) == 1
    assert capsys.readouterr().err == "gru-rt: error: xs has shape (10, 4), expected (T, 3)\n"


@pytest.mark.parametrize("bug", [ValueError("bug"), TypeError("bug"), KeyError("bug"),
                                 ImportError("bug")])
def test_cli_bug_is_not_caught(monkeypatch: pytest.MonkeyPatch, bug: Exception) -> None:
    """A builtin exception that is not a GruRtError is a bug in gru_rt: the CLI lets it through
    (a traceback) instead of printing it as if it were the user's mistake."""
    def buggy(args: object) -> int:
        raise bug

    monkeypatch.setattr(cli, "cmd_info", buggy)
    with pytest.raises(type(bug)):
        cli.main(["info", "model.grt"])
