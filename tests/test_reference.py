"""The NumPy reference (the tests' oracle) against PyTorch and against scalar hand formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gru_rt.reference import ACTIVATION_FUNCTIONS, reference_run, reference_step, state_size
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec


def f32(a: np.ndarray) -> np.ndarray:
    """Values exactly representable in float32, so the spec's rounding changes nothing."""
    return np.asarray(a, np.float32).astype(np.float64)


def random_gru(rng: np.random.Generator, i: int, h: int, **kw: object) -> GRULayer:
    return GRULayer(f32(rng.normal(0, 0.6, (3 * h, i))), f32(rng.normal(0, 0.6, (3 * h, h))),
                    f32(rng.normal(0, 0.4, 3 * h)), f32(rng.normal(0, 0.4, 3 * h)),
                    **kw)  # type: ignore[arg-type]


# ---- scalar hand formulas ------------------------------------------------------------------------

SCALAR = {
    "sigmoid": lambda a: 1.0 / (1.0 + math.exp(-a)),
    "hard_sigmoid": lambda a: min(1.0, max(0.0, a / 6.0 + 0.5)),
    "hard_sigmoid_k2": lambda a: min(1.0, max(0.0, 0.2 * a + 0.5)),
    "tanh": math.tanh,
    "relu": lambda a: max(a, 0.0),
}


def hand_gru_step(layer: GRULayer, x: list[float], h: list[float]) -> list[float]:
    """The canonical GRU of FORMAT.md, one unit at a time with plain floats."""
    hs, n_in = layer.hidden_size, layer.input_size
    w, u = np.asarray(layer.w_ih), np.asarray(layer.w_hh)
    bi, bh = np.asarray(layer.b_ih), np.asarray(layer.b_hh)
    sig, phi = SCALAR[layer.gate_activation], SCALAR[layer.activation]

    def wx(row: int) -> float:
        return sum(float(w[row, k]) * x[k] for k in range(n_in)) + float(bi[row])

    def uh(row: int, v: list[float]) -> float:
        return sum(float(u[row, k]) * v[k] for k in range(hs)) + float(bh[row])

    r = [sig(wx(j) + uh(j, h)) for j in range(hs)]
    z = [sig(wx(hs + j) + uh(hs + j, h)) for j in range(hs)]
    if layer.reset_after:
        n = [phi(wx(2 * hs + j) + r[j] * uh(2 * hs + j, h)) for j in range(hs)]
    else:
        rh = [r[k] * h[k] for k in range(hs)]
        n = [phi(wx(2 * hs + j) + uh(2 * hs + j, rh)) for j in range(hs)]
    return [(1 - z[j]) * n[j] + z[j] * h[j] for j in range(hs)]


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("act,gate", [("tanh", "sigmoid"), ("relu", "hard_sigmoid"),
                                      ("tanh", "hard_sigmoid_k2")])
@pytest.mark.parametrize("i,h", [(1, 1), (3, 2), (2, 5)])
def test_gru_matches_hand_formula(reset_after: bool, act: str, gate: str, i: int, h: int) -> None:
    rng = np.random.default_rng(i * 10 + h)
    layer = random_gru(rng, i, h, reset_after=reset_after, activation=act, gate_activation=gate)
    spec = ModelSpec([layer])
    xs = rng.normal(0, 2, (30, i))
    ys, state = reference_run(spec, xs)
    hv = [0.0] * h
    for t in range(30):
        hv = hand_gru_step(layer, list(xs[t]), hv)
        np.testing.assert_allclose(ys[t], hv, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state, hv, rtol=0, atol=1e-12)


def test_reset_modes_differ() -> None:
    rng = np.random.default_rng(0)
    layer = random_gru(rng, 2, 3)
    xs = rng.normal(size=(10, 2))
    after, _ = reference_run(ModelSpec([layer]), xs)
    layer.reset_after = False
    before, _ = reference_run(ModelSpec([layer]), xs)
    assert np.max(np.abs(after - before)) > 1e-3


@pytest.mark.parametrize("act", ["linear", "relu", "tanh", "sigmoid", "softmax"])
def test_dense_matches_hand_formula(act: str) -> None:
    w = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    b = np.array([0.125, -0.5])
    x = np.array([1.0, -2.0, 0.5])
    pre = [sum(w[o, k] * x[k] for k in range(3)) + b[o] for o in range(2)]
    expected = {
        "linear": pre,
        "relu": [max(p, 0.0) for p in pre],
        "tanh": [math.tanh(p) for p in pre],
        "sigmoid": [1 / (1 + math.exp(-p)) for p in pre],
        "softmax": [math.exp(p) / sum(math.exp(q) for q in pre) for p in pre],
    }[act]
    y, state = reference_step(ModelSpec([DenseLayer(w, b, act)]), x)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-14)
    assert state.shape == (0,)


def test_activation_functions_edges() -> None:
    a = np.array([-1000.0, -3.0, -2.5, 0.0, 2.5, 3.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow
        sig = ACTIVATION_FUNCTIONS["sigmoid"](a)
        soft = ACTIVATION_FUNCTIONS["softmax"](np.array([1000.0, 1000.0, -1000.0]))
    np.testing.assert_allclose(sig[[0, 3, 6]], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(soft, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(ACTIVATION_FUNCTIONS["hard_sigmoid"](a),
                               [0, 0, 1 / 12, 0.5, 11 / 12, 1, 1])
    np.testing.assert_allclose(ACTIVATION_FUNCTIONS["hard_sigmoid_k2"](a),
                               [0, 0, 0, 0.5, 1, 1, 1])
    np.testing.assert_array_equal(ACTIVATION_FUNCTIONS["relu"](a), np.maximum(a, 0))
    assert set(ACTIVATION_FUNCTIONS) == {"linear", "relu", "tanh", "sigmoid", "softmax",
                                         "hard_sigmoid", "hard_sigmoid_k2", "gelu", "gelu_tanh",
                                         "silu", "softplus", "log_softmax"}


# ---- against PyTorch -----------------------------------------------------------------------------

def load_gru_weights(torch: object, module: object, suffix: str, layer: GRULayer) -> None:
    for name, value in (("weight_ih", layer.w_ih), ("weight_hh", layer.w_hh),
                        ("bias_ih", layer.b_ih), ("bias_hh", layer.b_hh)):
        getattr(module, name + suffix).copy_(torch.from_numpy(np.asarray(value)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("i,h,layers,o", [(1, 1, 1, 1), (3, 7, 2, 5), (5, 4, 3, 2), (2, 9, 1, 3)])
def test_matches_torch_gru_and_linear(i: int, h: int, layers: int, o: int) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(i + h + layers)
    grus = [random_gru(rng, i if k == 0 else h, h) for k in range(layers)]
    head = DenseLayer(f32(rng.normal(0, 0.5, (o, h))), f32(rng.normal(0, 0.5, o)))
    gru = torch.nn.GRU(i, h, num_layers=layers).double()
    fc = torch.nn.Linear(h, o).double()
    xs = rng.normal(0, 1.5, (200, i))
    with torch.no_grad():
        for k, layer in enumerate(grus):
            load_gru_weights(torch, gru, f"_l{k}", layer)
        fc.weight.copy_(torch.from_numpy(head.w))
        fc.bias.copy_(torch.from_numpy(head.b))
        out, h_n = gru(torch.from_numpy(xs)[:, None, :])
        expected = fc(out)[:, 0].numpy()
    spec = ModelSpec([*grus, head])
    ys, state = reference_run(spec, xs)
    assert state_size(spec) == layers * h
    np.testing.assert_allclose(ys, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state, h_n[:, 0].numpy().reshape(-1), rtol=0, atol=1e-12)


def test_matches_torch_gru_cell() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    layer = random_gru(rng, 4, 3)
    cell = torch.nn.GRUCell(4, 3).double()
    with torch.no_grad():
        load_gru_weights(torch, cell, "", layer)
        xs = rng.normal(size=(100, 4))
        h = torch.zeros(1, 3, dtype=torch.float64)
        expected = []
        for x in xs:
            h = cell(torch.from_numpy(x)[None], h)
            expected.append(h[0].numpy().copy())
    ys, _ = reference_run(ModelSpec([layer]), xs)
    np.testing.assert_allclose(ys, np.stack(expected), rtol=0, atol=1e-12)


# ---- state handling ------------------------------------------------------------------------------

def small_spec() -> ModelSpec:
    rng = np.random.default_rng(1)
    return ModelSpec([random_gru(rng, 2, 3), random_gru(rng, 3, 4, reset_after=False),
                      DenseLayer(f32(rng.normal(size=(2, 4))), f32(rng.normal(size=2)), "tanh")])


def test_state_is_flat_and_chunks_continue() -> None:
    spec = small_spec()
    assert state_size(spec) == 7
    xs = np.random.default_rng(2).normal(size=(40, 2))
    whole, final = reference_run(spec, xs)
    first, mid = reference_run(spec, xs[:15])
    second, end = reference_run(spec, xs[15:], mid)
    np.testing.assert_array_equal(np.concatenate([first, second]), whole)
    np.testing.assert_array_equal(end, final)
    s = None
    for t in range(40):
        y, s = reference_step(spec, xs[t], s)
        np.testing.assert_array_equal(y, whole[t])
    np.testing.assert_array_equal(s, final)


def test_state_of_each_gru_layer_is_its_output() -> None:
    spec = small_spec()
    xs = np.random.default_rng(3).normal(size=(5, 2))
    _, state = reference_run(spec, xs)
    first_layer, _ = reference_run(ModelSpec(spec.layers[:1]), xs)
    np.testing.assert_allclose(state[:3], first_layer[-1], rtol=0, atol=1e-15)


def test_caller_state_is_not_modified() -> None:
    spec = small_spec()
    s0 = np.full(7, 0.25)
    keep = s0.copy()
    reference_step(spec, [0.5, -0.5], s0)
    reference_run(spec, np.ones((3, 2)), s0)
    np.testing.assert_array_equal(s0, keep)


def test_bad_shapes() -> None:
    spec = small_spec()
    with pytest.raises(ValueError, match=r"x has shape \(3,\), expected \(2,\)"):
        reference_step(spec, np.zeros(3))
    with pytest.raises(ValueError, match=r"state has shape \(6,\), expected \(7,\)"):
        reference_step(spec, np.zeros(2), np.zeros(6))
    with pytest.raises(ValueError, match=r"xs has shape \(4,\), expected \(T, 2\)"):
        reference_run(spec, np.zeros(4))
    ys, state = reference_run(spec, np.zeros((0, 2)))
    assert ys.shape == (0, 2) and np.array_equal(state, np.zeros(7))
