"""The 1.3 Dense activations (leaky_relu, elu, gelu, gelu_tanh, silu, softplus, log_softmax): the C
code bit-identical to the golden model's float32 operations at every ISA level, close to the float64
reference, whole models against it (f32) and bit-exact with golden (q8), PyTorch and Keras modules
converted and compared with their own outputs, q15 refused, alpha through the file."""

from __future__ import annotations

import numpy as np
import pytest

import gru_rt
from gru_rt import format as fmt
from gru_rt import golden
from gru_rt.errors import ConversionError
from gru_rt.quantize import quantize
from gru_rt.reference import ACTIVATION_FUNCTIONS, PARAM_ACTIVATION_FUNCTIONS, reference_run
from gru_rt.spec import DenseLayer, ModelSpec, SpecError

from .models import random_spec

F32 = np.float32
NEW = ("leaky_relu", "elu", "gelu", "gelu_tanh", "silu", "softplus", "log_softmax")
ALPHA = {"leaky_relu": 0.1, "elu": 0.7}
ELEMENTWISE = [a for a in NEW if a != "log_softmax"]


def _inputs() -> np.ndarray:
    """Every 2^15-th float32 in [-120, 120] plus the edges: zeros, tiny, huge, ±inf, NaN."""
    lo, hi = np.array([-120.0, 120.0], F32).view(np.int32)
    pos = np.arange(0, hi, 1 << 15, dtype=np.int64).astype(np.uint32).view(F32)
    special = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-45, 3e38, -3e38, np.inf, -np.inf, np.nan,
                        16.0, 20.0, 87.5, -87.5, 89.0, -89.0, 0.3465, -0.3466], F32)
    return np.concatenate([pos, -pos, special])


def _runtime(act: str, xs: np.ndarray) -> np.ndarray:
    """act(x) by the C core: a 1 → 1 Dense layer with w = 1, b = 0."""
    layer = DenseLayer(np.ones((1, 1)), np.zeros(1), activation=act, alpha=ALPHA.get(act))
    spec = ModelSpec([layer])
    return spec.load().run(xs.reshape(-1, 1)).reshape(-1)


def _golden(act: str, v: np.ndarray) -> np.ndarray:
    layer = DenseLayer(np.ones((1, 1)), np.zeros(1), activation=act, alpha=ALPHA.get(act))
    pre = F32(0.0) + v * F32(1.0)  # the layer's b + w·x: -0 becomes +0
    return golden.f32_dense_activation(layer.validated("t"), pre)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_c_equals_golden_bit_for_bit(each_isa: str, act: str) -> None:
    xs = _inputs()
    got, want = _runtime(act, xs), _golden(act, xs)
    same = (got.view(np.uint32) == want.view(np.uint32)) | (np.isnan(got) & np.isnan(want))
    assert same.all(), f"{act} at x={xs[~same][:5]}: {got[~same][:5]} vs golden {want[~same][:5]}"
    assert np.isnan(got[np.isnan(xs)]).all(), "NaN in, NaN out"


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_close_to_float64(act: str) -> None:
    xs = _inputs()
    xs = xs[np.isfinite(xs) & (np.abs(xs) <= 60)]
    x64 = xs.astype(np.float64)
    exact = (PARAM_ACTIVATION_FUNCTIONS[act](x64, float(F32(ALPHA[act]))) if act in ALPHA
             else ACTIVATION_FUNCTIONS[act](x64))
    err = np.abs(_runtime(act, xs) - exact) / np.maximum(1.0, np.abs(exact))
    assert err.max() <= 1e-6, f"{act} at x={xs[np.argmax(err)]}: relative error {err.max():.3g}"


def test_log_softmax_vectors(each_isa: str) -> None:
    rng = np.random.default_rng(5)
    v = (rng.standard_normal((64, 7)) * np.array([0.1, 1, 3, 10, 30, 100, 1])).astype(F32)
    spec = ModelSpec([DenseLayer(np.eye(7), np.zeros(7), activation="log_softmax")])
    got = spec.load().run(v)
    assert np.array_equal(got, golden.f32_log_softmax(v))
    exact = ACTIVATION_FUNCTIONS["log_softmax"](v.astype(np.float64))
    assert np.max(np.abs(got - exact)) <= 1e-6 * np.max(np.abs(exact))


def _model(act: str) -> ModelSpec:
    spec = random_spec([5, 16, 12, 6], seed=3, head=act if act not in ALPHA else "linear")
    if act in ALPHA:  # random_spec takes plain names; set alpha on the head
        head = spec.layers[-1]
        assert isinstance(head, DenseLayer)
        head.activation, head.alpha = act, ALPHA[act]
    return spec


@pytest.mark.parametrize("act", NEW)
def test_f32_model_against_reference(each_isa: str, act: str) -> None:
    spec = _model(act)
    xs = np.random.default_rng(1).standard_normal((500, 5)).astype(F32)
    ref, _ = reference_run(spec, xs)
    assert np.max(np.abs(spec.load().run(xs) - ref)) <= 1e-5


@pytest.mark.parametrize("act", NEW)
def test_q8_model_bit_exact_with_golden(each_isa: str, act: str) -> None:
    spec = _model(act)
    q8 = quantize(spec, "q8", np.random.default_rng(2).standard_normal((2, 40, 5)))[0]
    xs = np.random.default_rng(3).standard_normal((200, 5)).astype(F32)
    assert np.array_equal(q8.load().run(xs), golden.golden_run(q8, xs).outputs)


@pytest.mark.parametrize("act", NEW)
def test_q15_refused_with_the_activation_named(act: str) -> None:
    with pytest.raises(ConversionError, match=f"q15 has no fixed-point '{act}'.*q8"):
        quantize(_model(act), "q15", np.random.default_rng(2).standard_normal((2, 40, 5)))


def test_alpha_round_trips_through_the_file() -> None:
    spec = ModelSpec([DenseLayer(np.eye(2), np.zeros(2), activation="leaky_relu(alpha=0.25)")])
    model = spec.load()
    assert model.layers[0].activation == "leaky_relu" and model.layers[0].alpha == 0.25
    assert "leaky_relu(alpha=0.25)" in model.summary()
    back = model.to_spec().layers[0]
    assert isinstance(back, DenseLayer) and (back.activation, back.alpha) == ("leaky_relu", 0.25)
    assert model.version == (1, fmt.VERSION_MINOR)
    elu = ModelSpec([DenseLayer(np.eye(2), np.zeros(2), activation="elu")]).load()
    assert elu.layers[0].alpha == 1.0, "elu's alpha defaults to 1"


@pytest.mark.parametrize("layer,message", [
    (DenseLayer(np.eye(2), np.zeros(2), activation="leaky_relu"), "needs its negative slope"),
    (DenseLayer(np.eye(2), np.zeros(2), activation="gelu", alpha=0.5), "takes no parameter"),
    (DenseLayer(np.eye(2), np.zeros(2), activation="elu", alpha=float("inf")), "not a finite"),
    (DenseLayer(np.eye(2), np.zeros(2), activation="elu(alpha=2)", alpha=3.0), "disagree"),
    (DenseLayer(np.eye(2), np.zeros(2), activation="elu(alpha=x)"), "not a number"),
])
def test_alpha_errors(layer: DenseLayer, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ModelSpec([layer]).validated()


def test_gru_refuses_the_dense_activations() -> None:
    for act in NEW:
        with pytest.raises(SpecError, match="activation"):
            random_spec([3, 4, 2], act=act).validated()


# ---- PyTorch and Keras ---------------------------------------------------------------------------

def _torch_modules():  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    nn = torch.nn
    return {"LeakyReLU": nn.LeakyReLU(0.07), "ELU": nn.ELU(alpha=0.6), "GELU": nn.GELU(),
            "GELU-tanh": nn.GELU(approximate="tanh"), "SiLU": nn.SiLU(), "Softplus": nn.Softplus(),
            "LogSoftmax": nn.LogSoftmax(dim=-1)}


@pytest.mark.parametrize("name", ["LeakyReLU", "ELU", "GELU", "GELU-tanh", "SiLU", "Softplus",
                                  "LogSoftmax"])
def test_torch_activation_modules(name: str) -> None:
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(4, 24)
            self.fc = torch.nn.Linear(24, 5)
            self.act = _torch_modules()[name]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.fc(self.gru(x)[0]) * 3)

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        net.fc.weight.mul_(3.0)  # pre-activations over several units, both signs
    xs = np.random.default_rng(0).standard_normal((500, 4)).astype(F32)
    # forward() scales by 3 after fc: state that as part of the Linear by scaling its weights.
    with torch.no_grad():
        want = net(torch.from_numpy(xs)[:, None])[:, 0].numpy()
        net.fc.weight.mul_(3.0)
        net.fc.bias.mul_(3.0)
        net.forward = lambda x: net.act(net.fc(net.gru(x)[0]))  # type: ignore[method-assign]
    model = gru_rt.convert(net).load()
    assert np.max(np.abs(model.run(xs) - want)) <= 1e-5


def test_torch_softplus_with_other_beta_is_refused() -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.GRU(3, 8), torch.nn.Linear(8, 2), torch.nn.Softplus(beta=2))
    with pytest.raises(ConversionError, match="beta=2"):
        gru_rt.convert(net, verify=False)


@pytest.mark.parametrize("act", ["leaky_relu", "elu", "gelu", "silu", "swish", "softplus",
                                 "log_softmax", "LeakyReLU", "ELU"])
def test_keras_activations(act: str) -> None:
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    layers = [keras.Input((None, 4)), keras.layers.GRU(16, return_sequences=True)]
    if act == "LeakyReLU":
        layers += [keras.layers.Dense(5), keras.layers.LeakyReLU(negative_slope=0.15)]
    elif act == "ELU":
        layers += [keras.layers.Dense(5), keras.layers.ELU(alpha=0.5)]
    else:
        layers.append(keras.layers.Dense(5, activation=act))
    model = keras.Sequential(layers)
    dense = model.layers[1]
    dense.set_weights([w * 3 for w in dense.get_weights()])
    xs = np.random.default_rng(0).standard_normal((500, 4)).astype(F32)
    want = model.predict(xs[None], verbose=0)[0]
    got = gru_rt.convert(model).load().run(xs)
    assert np.max(np.abs(got - want)) <= 1e-5
