"""The runtime (C core through the Cython layer) against the NumPy reference, from NumPy-built
models alone (the comparisons with PyTorch are tests/test_torch_parity.py)."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import gru_rt
from gru_rt._core import Model
from gru_rt.format import ACTIVATIONS
from gru_rt.reference import reference_run

from .models import random_spec


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("act,gate,head", [("tanh", "sigmoid", "softmax"),
                                           ("relu", "hard_sigmoid", "relu"),
                                           ("tanh", "hard_sigmoid_k2", "sigmoid"),
                                           ("tanh", "sigmoid", "tanh"),
                                           ("relu", "sigmoid", "linear")])
def test_matches_numpy_reference(reset_after: bool, act: str, gate: str, head: str) -> None:
    rng = np.random.default_rng(7)
    spec = random_spec([4, 9, 3, 5], reset_after=reset_after, act=act, gate=gate, head=head,
                       seed=7)
    xs = rng.standard_normal((500, 4)).astype(np.float32)
    expected, expected_state = reference_run(spec, xs)
    ys, state = spec.load().run(xs, return_state=True)
    scale = max(1.0, float(np.max(np.abs(expected))))  # relu candidates can grow
    assert np.max(np.abs(ys - expected)) <= 2e-5 * scale
    assert np.max(np.abs(state - expected_state)) <= 2e-5 * scale


def test_run_continues_from_state_and_chunks_are_seamless() -> None:
    rng = np.random.default_rng(3)
    model = random_spec([3, 8, 8, 2], seed=3).load()
    xs = rng.standard_normal((700, 3)).astype(np.float32)  # > one 256-step chunk of run()
    whole, state = model.run(xs, return_state=True)
    first, mid = model.run(xs[:300], return_state=True)
    second = model.run(xs[300:], state=mid)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    s = model.stream()
    s.run(xs[:300])
    np.testing.assert_array_equal(s.state, mid)
    s.run(xs[300:])
    np.testing.assert_array_equal(s.state, state)


def test_batch_run_streams_each_sequence_from_zero() -> None:
    rng = np.random.default_rng(4)
    model = random_spec([2, 5, 3], reset_after=False, head="softmax", seed=4).load()
    xs = rng.standard_normal((4, 50, 2)).astype(np.float32)
    ys, states = model.run(xs, return_state=True)
    assert ys.shape == (4, 50, 3) and states.shape == (4, 5)
    for k in range(4):
        np.testing.assert_array_equal(ys[k], model.run(xs[k]))
    np.testing.assert_allclose(ys.sum(axis=-1), 1.0, atol=1e-6)  # softmax head


def test_stream_state_reset_and_out() -> None:
    model = random_spec([3, 4, 6, 2], seed=5).load()
    assert model.state_size == 10
    assert [layer.state_offset for layer in model.layers] == [0, 4, None]
    s = model.stream()
    x = [0.5, -1, 2]  # any real array-like is accepted
    first = s.step(x)
    saved = s.state
    second = s.step(x)
    assert not np.array_equal(first, second)
    s.state = saved
    out = np.zeros(2, dtype=np.float32)
    assert s.step(x, out=out) is out
    np.testing.assert_array_equal(out, second)
    s.reset()
    np.testing.assert_array_equal(s.state, np.zeros(10, np.float32))
    np.testing.assert_array_equal(s.step(np.array(x, dtype=np.float64)), first)


def test_bad_out_state_and_sequence_arguments() -> None:
    model = random_spec([3, 4, 2], seed=8).load()
    s = model.stream()
    with pytest.raises(ValueError, match=r"out has shape \(3,\), expected \(2,\)"):
        s.step(np.zeros(3), out=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="float32"):
        s.step(np.zeros(3), out=np.zeros(2, np.float64))
    with pytest.raises(ValueError, match=r"state has shape \(5,\), expected \(4,\)"):
        s.state = np.zeros(5)
    with pytest.raises(ValueError, match=r"xs has shape \(10, 2\), expected \('T', 3\)"):
        model.run(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="only accepted with a single"):
        model.run(np.zeros((2, 10, 3)), state=np.zeros(4))
    assert model.run(np.zeros((0, 3))).shape == (0, 2)


def test_stream_keeps_model_alive_and_model_owns_its_bytes() -> None:
    spec = random_spec([2, 3, 1], seed=9)
    data = bytearray(spec.to_bytes())
    model = gru_rt.load(data)
    expected = model.run(np.ones((5, 2)))
    data[:] = b"\0" * len(data)  # the caller's buffer changes after load: no effect
    s = model.stream()
    del model
    gc.collect()
    np.testing.assert_array_equal(np.stack([s.step(np.ones(2)) for _ in range(5)]), expected)


def test_two_threads_with_own_streams_match_serial() -> None:
    rng = np.random.default_rng(10)
    model = random_spec([8, 32, 4], seed=10).load()
    xs = rng.standard_normal((2, 2000, 8)).astype(np.float32)
    serial = [model.run(x) for x in xs]
    results: list = [None, None]

    def work(k: int) -> None:
        s = model.stream()
        results[k] = np.stack([s.step(x) for x in xs[k]])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(2):
        np.testing.assert_array_equal(results[k], serial[k])


def test_round_trip_through_the_c_loader() -> None:
    spec = random_spec([3, 5, 4, 2], reset_after=False, act="relu", gate="hard_sigmoid",
                       head="softmax", seed=11)
    spec.metadata = {"user.note": "héllo", "empty": ""}
    model = gru_rt.load(spec.to_bytes())
    back = model.to_spec()
    assert back.metadata["user.note"] == "héllo" and back.metadata["empty"] == ""
    assert back.metadata["tool.name"] == "gru_rt"
    for a, b in zip(spec.validated().layers, back.layers):
        assert type(a) is type(b)
        for name in vars(a):
            va, vb = getattr(a, name), getattr(b, name)
            if isinstance(va, np.ndarray):
                np.testing.assert_array_equal(va, vb)
            elif name != "name":
                assert va == vb, name
    assert back.to_bytes() == spec.to_bytes()
    assert not model.tensor(0, "w_ih").flags.writeable


def test_activation_codes_agree_between_python_and_c() -> None:
    import gru_rt._core as core

    for name, code in ACTIVATIONS.items():
        assert core.activation_name(code) == name


def test_summary_and_repr_describe_the_model() -> None:
    model = random_spec([3, 5, 2], head="softmax", seed=12).load()
    text = model.summary()
    assert "GRU" in text and "Dense" in text and "softmax" in text and "verified" in text
    assert repr(model).startswith("<gru_rt.Model 3→2: GRU(3→5) → DENSE(5→2, softmax)")
    assert isinstance(model, Model)
