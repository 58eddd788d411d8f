"""Shared test setup: Keras runs on its PyTorch backend (TensorFlow is not needed)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

import gru_rt  # noqa: E402
from gru_rt import _core  # noqa: E402


@pytest.fixture(params=gru_rt.cpu_info()["available"])
def each_isa(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once under each kernel level this CPU has (the parameter is its name), then
    restore the level that was active."""
    original = gru_rt.cpu_info()["isa"]
    _core._select_isa(request.param)
    try:
        yield request.param
    finally:
        _core._select_isa(original)
