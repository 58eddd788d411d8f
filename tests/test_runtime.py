"""The runtime (C core through the Cython layer) against PyTorch and the NumPy reference."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import gru_rt
from gru_rt._core import Model
from gru_rt.format import ACTIVATIONS
from gru_rt.reference import reference_run
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

torch = pytest.importorskip("torch")

TOL = 1e-5  # the bound on |gru_rt - torch| over 1,000-step sequences


class Stack(torch.nn.Module):
    """nn.GRU (num_layers) + nn.Linear: the shape of most streaming models."""

    def __init__(self, i: int, h: int, layers: int, o: int):
        super().__init__()
        self.gru = torch.nn.GRU(i, h, num_layers=layers)
        self.fc = torch.nn.Linear(h, o)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(xs)[0])


def torch_outputs(module: torch.nn.Module, xs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(xs)[:, None, :])[:, 0, :].numpy()


def perturbed(module: torch.nn.Module, seed: int, scale: float) -> torch.nn.Module:
    """Normal weights of std scale/sqrt(fan-in): larger than torch's default init (so gates use
    their range and saturate), but not so large that the recurrence becomes chaotic, where float
    rounding differences grow without bound in any two implementations."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            std = scale / p.shape[-1] ** 0.5 if p.ndim == 2 else 0.5  # biases: std 0.5
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


@pytest.mark.parametrize("i,h,layers,o", [(1, 1, 1, 1), (3, 7, 2, 5), (17, 33, 3, 2),
                                          (40, 64, 2, 10), (5, 129, 1, 3)])
def test_matches_torch_gru_linear_over_1000_steps(i: int, h: int, layers: int, o: int) -> None:
    torch.manual_seed(i * 1000 + h)
    module = perturbed(Stack(i, h, layers, o), seed=h, scale=1.5).eval()
    xs = np.random.default_rng(h).standard_normal((1000, i)).astype(np.float32)
    expected = torch_outputs(module, xs)

    model = gru_rt.convert(module).load()
    stream = model.stream()
    stepped = np.stack([stream.step(x) for x in xs])
    run = model.run(xs)

    assert np.max(np.abs(stepped - expected)) <= TOL
    assert np.array_equal(run, stepped), "run() must equal step() bit for bit"


def test_matches_torch_gru_cell_and_state() -> None:
    torch.manual_seed(1)
    cell = perturbed(torch.nn.GRUCell(6, 11), seed=3, scale=1.5)
    xs = np.random.default_rng(2).standard_normal((1000, 6)).astype(np.float32)
    h = torch.zeros(1, 11)
    expected = []
    with torch.no_grad():
        for x in xs:
            h = cell(torch.from_numpy(x)[None], h)
            expected.append(h[0].numpy())
    model = gru_rt.convert(cell).load()
    ys, state = model.run(xs, return_state=True)
    assert np.max(np.abs(ys - np.stack(expected))) <= TOL
    np.testing.assert_array_equal(state, ys[-1])


def random_spec(rng: np.random.Generator, sizes: list[int], reset_after: bool, act: str,
                gate: str, head: str) -> ModelSpec:
    layers: list = []
    for i, h in zip(sizes[:-2], sizes[1:-1]):
        layers.append(GRULayer(rng.normal(0, 0.5, (3 * h, i)), rng.normal(0, 0.5, (3 * h, h)),
                               rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h),
                               reset_after=reset_after, activation=act, gate_activation=gate))
    layers.append(DenseLayer(rng.normal(0, 0.5, (sizes[-1], sizes[-2])),
                             rng.normal(0, 0.3, sizes[-1]), activation=head))
    return ModelSpec(layers)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("act,gate,head", [("tanh", "sigmoid", "softmax"),
                                           ("relu", "hard_sigmoid", "relu"),
                                           ("tanh", "hard_sigmoid_k2", "sigmoid"),
                                           ("tanh", "sigmoid", "tanh"),
                                           ("relu", "sigmoid", "linear")])
def test_matches_numpy_reference(reset_after: bool, act: str, gate: str, head: str) -> None:
    rng = np.random.default_rng(7)
    spec = random_spec(rng, [4, 9, 3, 5], reset_after, act, gate, head)
    xs = rng.standard_normal((500, 4)).astype(np.float32)
    expected, expected_state = reference_run(spec, xs)
    ys, state = spec.load().run(xs, return_state=True)
    scale = max(1.0, float(np.max(np.abs(expected))))  # relu candidates can grow
    assert np.max(np.abs(ys - expected)) <= 2e-5 * scale
    assert np.max(np.abs(state - expected_state)) <= 2e-5 * scale


def test_run_continues_from_state_and_chunks_are_seamless() -> None:
    rng = np.random.default_rng(3)
    model = random_spec(rng, [3, 8, 8, 2], True, "tanh", "sigmoid", "linear").load()
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
    model = random_spec(rng, [2, 5, 3], False, "tanh", "sigmoid", "softmax").load()
    xs = rng.standard_normal((4, 50, 2)).astype(np.float32)
    ys, states = model.run(xs, return_state=True)
    assert ys.shape == (4, 50, 3) and states.shape == (4, 5)
    for k in range(4):
        np.testing.assert_array_equal(ys[k], model.run(xs[k]))
    np.testing.assert_allclose(ys.sum(axis=-1), 1.0, atol=1e-6)  # softmax head


def test_stream_state_reset_and_out() -> None:
    rng = np.random.default_rng(5)
    model = random_spec(rng, [3, 4, 6, 2], True, "tanh", "sigmoid", "linear").load()
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
    rng = np.random.default_rng(8)
    model = random_spec(rng, [3, 4, 2], True, "tanh", "sigmoid", "linear").load()
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
    rng = np.random.default_rng(9)
    spec = random_spec(rng, [2, 3, 1], True, "tanh", "sigmoid", "linear")
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
    model = random_spec(rng, [8, 32, 4], True, "tanh", "sigmoid", "linear").load()
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
    rng = np.random.default_rng(11)
    spec = random_spec(rng, [3, 5, 4, 2], False, "relu", "hard_sigmoid", "softmax")
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
    rng = np.random.default_rng(12)
    model = random_spec(rng, [3, 5, 2], True, "tanh", "sigmoid", "softmax").load()
    text = model.summary()
    assert "GRU" in text and "Dense" in text and "softmax" in text and "verified" in text
    assert repr(model).startswith("<gru_rt.Model 3→2: GRU(3→5) → DENSE(5→2, softmax)")
    assert isinstance(model, Model)
