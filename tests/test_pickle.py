"""Model and ModelSpec pickling (issue 19: how a model travels to Dask workers); ModelSpec repr."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import gru_rt
from gru_rt import _core
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

from .models import random_spec

PRECISIONS = ("f32", "q8", "q15")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_model_pickles_as_its_bytes(precision: str, protocol: int) -> None:
    model = random_spec([3, 5, 2], precision).load()
    back = pickle.loads(pickle.dumps(model, protocol=protocol))
    assert isinstance(back, gru_rt.Model)
    assert back.to_bytes() == model.to_bytes()
    assert back.checksum_verified
    xs = np.random.default_rng(1).normal(size=(4, 7, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.run(xs), model.run(xs))


def test_model_pickle_keeps_source_and_checksum_choice(tmp_path) -> None:
    path = tmp_path / "m.grt"
    random_spec([2, 3, 1]).save(path)
    back = pickle.loads(pickle.dumps(gru_rt.load(path)))
    assert back.source == str(path) and back.checksum_verified
    unchecked = pickle.loads(pickle.dumps(gru_rt.load(path, verify_checksum=False)))
    assert not unchecked.checksum_verified


def test_model_pickle_out_of_band_buffer_is_the_blob() -> None:
    model = random_spec([3, 4, 2]).load()
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(model, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 1 and bytes(buffers[0].raw()) == model.to_bytes()
    assert len(data) < 200  # the weights went out of band
    back = pickle.loads(data, buffers=buffers)
    assert back.to_bytes() == model.to_bytes()


def _aligned_bytes(data: bytes) -> bytes:
    """A bytes object equal to `data` whose contents start on a 64-byte boundary."""
    kept = []  # alive, so that each try gets a new address
    for _ in range(1000):
        candidate = bytes(bytearray(data))
        if np.frombuffer(candidate, np.uint8).ctypes.data % 64 == 0:
            return candidate
        kept.append(candidate)
    pytest.skip("no 64-byte aligned bytes object came up")


def _inside(arr: np.ndarray, data: bytes) -> bool:
    start = np.frombuffer(data, np.uint8).ctypes.data
    return start <= arr.ctypes.data < start + len(data)


def test_unpickling_aligned_bytes_is_zero_copy_and_anything_else_copies() -> None:
    model = random_spec([3, 4, 2]).load()
    aligned = _aligned_bytes(model.to_bytes())
    in_place = _core._model_from_pickle(aligned, None, True)
    assert _inside(in_place.tensor(0, "b_ih"), aligned)
    mutable = bytearray(aligned)  # its owner could change it later: copied
    copied = _core._model_from_pickle(mutable, None, True)
    assert not _inside(copied.tensor(0, "b_ih"), aligned)
    mutable[:] = bytes(len(mutable))
    np.testing.assert_array_equal(copied.tensor(0, "b_ih"), model.tensor(0, "b_ih"))


def test_unpickling_damaged_bytes_is_a_load_error() -> None:
    model = random_spec([3, 4, 2]).load()
    func, (data, source, verify) = model.__reduce_ex__(4)
    damaged = bytearray(data)
    damaged[-1] ^= 1
    with pytest.raises(gru_rt.ModelFormatError):
        func(bytes(damaged), source, verify)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_spec_pickle_round_trip(precision: str) -> None:
    spec = random_spec([3, 5, 2], precision)
    spec.metadata["note"] = "x"
    back = pickle.loads(pickle.dumps(spec))
    assert back.to_bytes() == spec.to_bytes()
    assert back.metadata == spec.metadata


def test_spec_repr_shows_layers_and_sizes_not_arrays() -> None:
    spec = random_spec([3, 5, 2], "q8")
    spec.layers[0].name = "enc"
    spec.metadata = {"a": "b"}
    text = repr(spec)
    assert text == ("ModelSpec([GRULayer 'enc'(3→5, tanh/sigmoid, reset_after, q8), "
                    "DenseLayer(5→2, linear, q8)], 1 metadata entries)")
    assert "array" not in text


def test_spec_repr_of_a_malformed_layer_does_not_fail() -> None:
    spec = ModelSpec([GRULayer(np.zeros(6), np.zeros((6, 2)), np.zeros(6), np.zeros(6)),
                      DenseLayer(np.zeros((2, 2)), np.zeros(2))])
    assert "GRULayer(? (weights of shape (6,))" in repr(spec)
