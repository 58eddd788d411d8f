"""The Keras importer: model objects, .keras, .h5 and .weights.h5 files, Keras 2 .h5 files; every
convention matches Keras (torch backend) within 1e-5 over 500-step sequences; every unsupported
construct is refused with an error naming the layer and its class."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError

from .models import unverified_bytes

keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")
layers = keras.layers

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-5
T = 500


def perturbed(model: Any, seed: int, scale: float = 0.5) -> Any:
    """Weights larger than the default init, so gates saturate and states use their range."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * scale
                       for w in model.get_weights()])
    return model


def sequential(input_size: int, *stack: Any, seed: int = 0, scale: float = 0.5) -> Any:
    return perturbed(keras.Sequential([keras.Input((None, input_size)), *stack]), seed, scale)


def keras_out(model: Any, xs: np.ndarray) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(model(xs, training=False)))


def max_err(model: Any, spec: Any, t: int = T, seed: int = 1) -> float:
    """|gru_rt − Keras| over one t-step sequence: every step when Keras returns sequences, else the
    last step (the stream's output at the end is Keras' output)."""
    xs = np.random.default_rng(seed).standard_normal((1, t, spec.input_size)).astype(np.float32)
    expected = keras_out(model, xs)
    got = spec.load().run(xs[0])
    if expected.ndim == 3:
        err = float(np.max(np.abs(got - expected[0])))
    else:
        err = float(np.max(np.abs(got[-1] - expected[0])))
    print(f"max |gru_rt - keras| = {err:.2e}")
    return err


# ---- conventions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_every_gru_convention_matches_keras(reset_after: bool, gate: str, act: str) -> None:
    model = sequential(3, layers.GRU(8, return_sequences=True, reset_after=reset_after,
                                     recurrent_activation=gate, activation=act),
                       scale=0.5 if act == "tanh" else 0.3)
    spec = convert(model)
    gru = spec.layers[0]
    assert gru.reset_after is reset_after and gru.activation == act
    assert gru.gate_activation == gate  # Keras 3's hard_sigmoid is relu6(x + 3) / 6
    assert spec.metadata["source.framework"] == "keras3"
    assert spec.metadata["source.transforms"] == "transposed in_out->out_in; gate reorder zrn->rzn"
    assert max_err(model, spec) <= TOL


def test_no_bias_and_dense_before_gru() -> None:
    model = sequential(4, layers.Dense(6, activation="tanh"), layers.Dropout(0.3),
                       layers.GRU(5, use_bias=False, return_sequences=True, reset_after=False),
                       layers.Dense(3, use_bias=False))
    spec = convert(model)
    assert [layer.kind for layer in spec.layers] == ["dense", "gru", "dense"]
    assert not spec.layers[1].b_ih.any() and not spec.layers[1].b_hh.any()
    assert max_err(model, spec) <= TOL


# ---- the seed-style models of the issue ----------------------------------------------------------

SEED_MODELS = {
    "gru64_seq": lambda: [layers.GRU(64, return_sequences=True)],
    "gru1_dense1": lambda: [layers.GRU(1), layers.Dense(1)],
    "gru128_gru64_sigmoid": lambda: [layers.GRU(128, return_sequences=True), layers.GRU(64),
                                     layers.Dense(1, activation="sigmoid")],
    "gru128_gru64_softmax": lambda: [layers.GRU(128, return_sequences=True), layers.GRU(64),
                                     layers.Dense(10, activation="softmax")],
}


@pytest.mark.parametrize("name", list(SEED_MODELS))
def test_seed_style_models_match_keras(name: str) -> None:
    model = sequential(6, *SEED_MODELS[name](), seed=3, scale=0.15)
    assert max_err(model, convert(model)) <= TOL


# ---- files ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    tmp = tmp_path_factory.mktemp("keras")
    model = sequential(3, layers.GRU(7, return_sequences=True, reset_after=False,
                                     recurrent_activation="hard_sigmoid", name="g1"),
                       layers.Dropout(0.2), layers.GRU(5, return_sequences=True, name="g2"),
                       layers.Dense(4, name="d"), layers.Activation("softmax", name="act"),
                       seed=5)
    model.save(tmp / "m.keras")
    model.save(tmp / "m.h5")
    model.save_weights(tmp / "m.weights.h5")
    (tmp / "m.json").write_text(model.to_json())
    return model, tmp


def test_keras_file(saved: tuple[Any, Path]) -> None:
    model, tmp = saved
    spec = convert(tmp / "m.keras")
    assert spec.metadata["source.layers"] == (
        "g1(GRU reset_after=0,tanh,hard_sigmoid),g2(GRU reset_after=1,tanh,sigmoid),"
        "d(Dense+act,softmax)")
    assert "relu6(x+3)/6 (Keras 3)" in spec.metadata["source.convention"]
    assert max_err(model, spec) <= TOL
    assert unverified_bytes(spec) == unverified_bytes(convert(model))
    assert spec.metadata["source.verified"] == "no (a Keras file, read without running Keras)"


def test_legacy_h5_and_weights_h5(saved: tuple[Any, Path]) -> None:
    model, tmp = saved
    reference = convert(model).to_bytes()
    assert convert(tmp / "m.h5").to_bytes() != reference  # source.verified differs
    reference = unverified_bytes(convert(model))
    assert unverified_bytes(convert(tmp / "m.h5")) == reference
    assert unverified_bytes(convert(tmp / "m.weights.h5", architecture=tmp / "m.json")) == \
        reference
    assert unverified_bytes(convert(tmp / "m.weights.h5",
                                    architecture=json.loads(model.to_json()))) == reference
    with pytest.raises(ConversionError, match="holds weights only .* give the architecture"):
        convert(tmp / "m.weights.h5")


def test_functional_chain_and_file_names_by_class(tmp_path: Path) -> None:
    inp = keras.Input((None, 4))
    x = layers.Dense(5, name="first")(inp)
    x = layers.GRU(6, return_sequences=True, name="my_gru")(x)
    out = layers.Dense(2, activation="sigmoid", name="head")(x)
    model = perturbed(keras.Model(inp, out), 7)
    model.save(tmp_path / "f.keras")  # stored by class name (dense, gru, dense_1), not layer name
    spec = convert(tmp_path / "f.keras")
    assert unverified_bytes(spec) == unverified_bytes(convert(model))
    assert max_err(model, spec) <= TOL


def test_activations_and_head_activation(saved: tuple[Any, Path]) -> None:
    model = sequential(3, layers.GRU(4, name="g"), layers.Dense(2, name="out"))
    assert convert(model, head_activation="softmax").layers[-1].activation == "softmax"
    stated = convert(model, activations={"out": "tanh"}, verify=False)  # not what model does
    assert stated.layers[-1].activation == "tanh"
    with pytest.raises(ConversionError, match="conversion check failed"):
        convert(model, activations={"out": "tanh"})
    with pytest.raises(ConversionError, match="'g' is not a Dense layer of the model"):
        convert(model, activations={"g": "relu"})
    _, tmp = saved
    with pytest.raises(ConversionError, match="conflicts with the activation 'softmax'"):
        convert(tmp / "m.keras", head_activation="relu")


# ---- the CLI end to end (the done-when) --------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gru_rt", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.parametrize("reset_after,gate", [(False, "hard_sigmoid"), (True, "sigmoid")])
def test_cli_convert_and_run_keras_file(tmp_path: Path, reset_after: bool, gate: str) -> None:
    model = sequential(3, layers.GRU(16, return_sequences=True, reset_after=reset_after,
                                     recurrent_activation=gate),
                       layers.Dense(2, activation="softmax"), seed=11)
    model.save(tmp_path / "model.keras")
    done = cli("convert", str(tmp_path / "model.keras"), "-o", str(tmp_path / "m.grt"))
    assert done.returncode == 0, done.stderr
    xs = np.random.default_rng(2).standard_normal((1, T, 3)).astype(np.float32)  # batch 1: fast
    np.save(tmp_path / "x.npy", xs)
    done = cli("run", str(tmp_path / "m.grt"), str(tmp_path / "x.npy"), "-o",
               str(tmp_path / "y.npy"))
    assert done.returncode == 0, done.stderr
    err = float(np.max(np.abs(np.load(tmp_path / "y.npy") - keras_out(model, xs))))
    print(f"CLI max |gru_rt - keras| = {err:.2e}")
    assert err <= TOL
    info = cli("info", str(tmp_path / "m.grt"))
    assert info.returncode == 0, info.stderr
    assert "keras3" in info.stdout and f"reset_after={int(reset_after)}" in info.stdout


def test_cli_error_is_one_line(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((None, 3)), layers.SimpleRNN(4, name="rnn")])
    model.save(tmp_path / "rnn.keras")
    done = cli("convert", str(tmp_path / "rnn.keras"), "-o", str(tmp_path / "m.grt"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "layer 'rnn' (SimpleRNN) cannot be converted" in done.stderr


# ---- Keras 2 / tf.keras .h5, written with h5py the way Keras 2 writes it -------------------------

def keras2_gru(xs: np.ndarray, kernel: np.ndarray, rk: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras 2's GRU, reset_after=False, recurrent_activation hard_sigmoid = clip(0.2 x + 0.5)."""
    h_size = rk.shape[0]
    hs = np.zeros(h_size)

    def hard(a: np.ndarray) -> np.ndarray:
        return np.clip(0.2 * a + 0.5, 0.0, 1.0)

    out = []
    for x in xs.astype(np.float64):
        xz, xr, xh = np.split(x @ kernel + bias, 3)
        uz, ur, uh = np.split(rk, 3, axis=1)
        z = hard(xz + hs @ uz)
        r = hard(xr + hs @ ur)
        hh = np.tanh(xh + (r * hs) @ uh)
        hs = z * hs + (1 - z) * hh
        out.append(hs)
    return np.array(out)


def write_keras2_h5(path: Path, kernel: np.ndarray, rk: np.ndarray, bias: np.ndarray) -> None:
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, None, 3],
                                                "name": "input_1"}},
        {"class_name": "GRU", "config": {
            "name": "gru", "units": 4, "activation": "tanh",
            "recurrent_activation": "hard_sigmoid", "use_bias": True, "return_sequences": True,
            "go_backwards": False, "reset_after": False}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [b"gru"]
        g = mw.create_group("gru")
        names = [b"gru/gru_cell/kernel:0", b"gru/gru_cell/recurrent_kernel:0",
                 b"gru/gru_cell/bias:0"]
        g.attrs["weight_names"] = names
        for name, arr in zip(names, (kernel, rk, bias)):
            g.create_dataset(name.decode(), data=arr)


def test_keras2_h5_hard_sigmoid_is_the_keras2_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    kernel, rk = rng.standard_normal((3, 12)) * 0.6, rng.standard_normal((4, 12)) * 0.6
    bias = rng.standard_normal(12) * 0.3
    write_keras2_h5(tmp_path / "k2.h5", kernel.astype(np.float32), rk.astype(np.float32),
                    bias.astype(np.float32))
    spec = convert(tmp_path / "k2.h5")
    assert spec.metadata["source.framework"] == "keras2"
    assert spec.layers[0].gate_activation == "hard_sigmoid_k2"
    assert "clip(0.2x+0.5) (Keras 2)" in spec.metadata["source.convention"]
    xs = rng.standard_normal((T, 3)).astype(np.float32)
    expected = keras2_gru(xs, kernel.astype(np.float32), rk.astype(np.float32),
                          bias.astype(np.float32))
    err = float(np.max(np.abs(spec.load().run(xs) - expected)))
    print(f"keras2 max |gru_rt - numpy keras2| = {err:.2e}")
    assert err <= TOL


# ---- bare weights: .npz of weight paths or of get_weights() ----------------------------------

def bare_weights_model() -> Any:
    return sequential(4, layers.GRU(6, return_sequences=True, name="g1"),
                      layers.GRU(5, return_sequences=True, reset_after=False, name="g2"),
                      layers.Dense(3, activation="relu", name="d1"), layers.Dense(2, name="d2"),
                      seed=11)


def test_npz_of_weight_paths(tmp_path: Path) -> None:
    model = bare_weights_model()
    path = tmp_path / "paths.npz"
    np.savez(path, **{w.path: np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights})
    spec = convert(path, activations={"d1": "relu"})
    assert spec.metadata["source.keys"].startswith("Keras weight paths")
    assert spec.metadata["source.layers"] == (
        "g1(GRU reset_after=1,tanh,sigmoid),g2(GRU reset_after=0,tanh,sigmoid),d1(Dense,relu),"
        "d2(Dense,linear)")
    assert max_err(model, spec) <= TOL
    with pytest.warns(UserWarning, match=r"layers 2 \(d1\) and 3 are two Dense layers"):
        convert(path)  # the relu is not in the file: likely dropped
    legacy = {f"{w.path}:0": np.asarray(keras.ops.convert_to_numpy(w))
              for w in model.weights}  # Keras 2 variable names end in ":0"
    np.savez(path, **legacy)
    assert max_err(model, convert(path, activations={"d1": "relu"})) <= TOL


def test_npz_of_get_weights_with_architecture(tmp_path: Path) -> None:
    model = bare_weights_model()
    path = tmp_path / "list.npz"
    np.savez(path, *model.get_weights())
    with pytest.raises(ConversionError, match=r"arrays named arr_0, arr_1, … .* carry no layer "
                                              r"names: give the model's architecture"):
        convert(path)
    spec = convert(path, architecture=model.to_json())
    assert spec.metadata["source.keys"].startswith("model.get_weights() list")
    assert max_err(model, spec) <= TOL
    assert type(spec)(spec.layers).to_bytes() == type(spec)(convert(model).layers).to_bytes()
    in_memory = convert(model.get_weights(), architecture=json.loads(model.to_json()))
    assert in_memory.to_bytes() == spec.to_bytes()
    np.savez(path, *model.get_weights(), np.zeros(2))
    with pytest.raises(ConversionError, match=r"11 arrays, but the architecture's layers take "
                                              r"10; .*\(keys read as np.savez"):
        convert(path, architecture=model.to_json())
    np.savez(path, *model.get_weights()[:9])
    with pytest.raises(ConversionError, match=r"9 arrays, but the architecture needs more: "
                                              r"layer 'd2' \(Dense\) takes arrays 8 … 9"):
        convert(path, architecture=model.to_json())
    json_path = tmp_path / "arch.json"
    json_path.write_text(model.to_json())
    done = cli("convert", str(tmp_path / "list.npz"), "-o", str(tmp_path / "m.grt"),
               "--architecture", str(json_path))
    assert done.returncode == 1 and "9 arrays" in done.stderr
    np.savez(path, *model.get_weights())
    done = cli("convert", str(path), "-o", str(tmp_path / "m.grt"), "--architecture",
               str(json_path))
    assert done.returncode == 0, done.stderr


# ---- layers that vanish at inference -----------------------------------------------------------

def with_statistics(model: Any, seed: int) -> Any:
    """Non-trivial BatchNormalization statistics: gamma, beta (when used), moving mean, var."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.get_weights()[0].shape
            values = ([rng.uniform(0.5, 2.0, n)] if layer.scale else []) + \
                ([rng.normal(0, 0.5, n)] if layer.center else []) + \
                [rng.normal(0, 1.0, n), rng.uniform(0.2, 3.0, n)]
            layer.set_weights(values)
    return model


def folding_model(seed: int) -> Any:
    norm = layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(seed).normal(2.0, 3.0, (64, 5, 4)).astype(np.float32))
    model = sequential(4, norm, layers.Rescaling(0.5, offset=0.25, name="scale"),
                       layers.BatchNormalization(name="bn0"),
                       layers.GRU(6, return_sequences=True, name="g"),
                       layers.SpatialDropout1D(0.3, name="sd"), layers.GaussianNoise(0.1),
                       layers.BatchNormalization(name="bn1"),
                       layers.TimeDistributed(layers.Dense(5), name="td"),
                       layers.BatchNormalization(center=False, name="bn2"),
                       layers.Activation("relu", name="act"), layers.Dropout(0.2),
                       layers.Dense(3, activation="softmax", name="out"), seed=seed)
    norm.adapt(np.random.default_rng(seed).normal(2.0, 3.0, (64, 5, 4)).astype(np.float32))
    return with_statistics(model, seed)


def test_affine_layers_fold_and_match_keras(tmp_path: Path) -> None:
    model = folding_model(21)
    spec = convert(model)
    assert [(x.kind, x.input_size, x.output_size) for x in spec.layers] == [
        ("gru", 4, 6), ("dense", 6, 5), ("dense", 5, 3)]
    assert spec.metadata["source.folded"] == (
        "norm->next layer input, scale->next layer input, bn0->next layer input, "
        "bn1->next layer input, bn2->td output (float64)")
    assert spec.metadata["source.layers"] == (
        "g(GRU reset_after=1,tanh,sigmoid),td(Dense+act,relu),out(Dense,softmax)")
    assert max_err(model, spec) <= TOL
    model.save(tmp_path / "fold.keras")
    from_file = convert(tmp_path / "fold.keras")
    assert max_err(model, from_file) <= TOL
    model.save(tmp_path / "fold.h5")
    assert max_err(model, convert(tmp_path / "fold.h5")) <= TOL
    np.savez(tmp_path / "fold.npz", *model.get_weights())
    from_list = convert(tmp_path / "fold.npz", architecture=model.to_json())
    assert max_err(model, from_list) <= TOL


def test_affine_layer_with_nowhere_to_fold_is_refused() -> None:
    model = sequential(3, layers.GRU(4, return_sequences=True, name="g"),
                       layers.BatchNormalization(name="bn"))
    bn = model.get_layer("bn")
    weights = bn.get_weights()
    bn.set_weights(weights[:3] + [-np.abs(weights[3])])
    with pytest.raises(ConversionError, match=r"layer 'bn' \(BatchNormalization\): "
                                              r"moving_variance \+ epsilon has values <= 0"):
        convert(model)
    with_statistics(model, 1)
    with pytest.raises(ConversionError, match=r"layer 'bn' \(BatchNormalization\) comes after "
                                              r"the last layer that can take it in"):
        convert(model)
    model = sequential(3, layers.GRU(4, return_sequences=True, name="g"),
                       layers.TimeDistributed(layers.Activation("relu"), name="tg"))
    with pytest.raises(ConversionError, match=r"layer 'tg' \(TimeDistributed\) wraps an? "
                                              r"Activation: only TimeDistributed\(Dense\)"):
        convert(model)


# ---- refusals ------------------------------------------------------------------------------------

class Custom(layers.Layer):  # type: ignore[misc,name-defined]
    def call(self, x: Any) -> Any:
        return x


REFUSED = {
    "bidirectional_last_step": (lambda: [layers.Bidirectional(layers.GRU(4), name="bi")],
                                r"layer 'bi' \(Bidirectional\): return_sequences=False returns "
                                r"the forward state after the last step next to the backward "
                                r"state after step 0"),
    "bidirectional_merge_none": (lambda: [layers.Bidirectional(
        layers.GRU(4, return_sequences=True), merge_mode=None, name="bi")],
        r"layer 'bi' \(Bidirectional\): merge_mode=None is not supported"),
    "conv": (lambda: [layers.Conv1D(4, 3, name="conv")],
             r"layer 'conv' \(Conv1D\): padding='valid': a stream returns one output per input "
             r"step from the past only"),
    "rnn": (lambda: [layers.SimpleRNN(4, name="rnn")],
            r"layer 'rnn' \(SimpleRNN\) cannot be converted"),
    "lstm_backwards": (lambda: [layers.LSTM(4, go_backwards=True, name="l")],
                       r"layer 'l' \(LSTM\): go_backwards=True is not supported"),
    "lstm_gate_tanh": (lambda: [layers.LSTM(4, recurrent_activation="tanh", name="l")],
                       r"layer 'l' \(LSTM\): recurrent_activation 'tanh' is not supported"),
    "lambda": (lambda: [layers.Lambda(lambda x: x * 2, name="lam")],
               r"layer 'lam' \(Lambda\) cannot be converted"),
    "go_backwards_sequences": (lambda: [layers.GRU(4, go_backwards=True, return_sequences=True,
                                               name="g")],
                               r"layer 'g' \(GRU\): go_backwards=True is not supported \(with "
                               r"return_sequences=True Keras returns the outputs in reversed "
                               r"time order"),
    "bidirectional_go_backwards": (lambda: [layers.Bidirectional(
        layers.GRU(4, return_sequences=True, go_backwards=True),
        backward_layer=layers.GRU(4, return_sequences=True), name="bi")],
        r"layer 'bi' \(Bidirectional\): the wrapped GRU has go_backwards=True"),
    "last_step_into_gru": (lambda: [layers.GRU(4, name="a"), layers.RepeatVector(3),
                                    layers.GRU(4, name="b")],
                           r"layer 'repeat_vector.*' \(RepeatVector\) cannot be converted"),
    "dense_mish": (lambda: [layers.GRU(4), layers.Dense(2, activation="mish", name="d")],
                   r"layer 'd' \(Dense\): activation 'mish' is not supported"),
    "gru_sigmoid_candidate": (lambda: [layers.GRU(4, activation="sigmoid", name="g")],
                              r"layer 'g' \(GRU\): activation 'sigmoid' is not supported"),
    "gru_gate_tanh": (lambda: [layers.GRU(4, recurrent_activation="tanh", name="g")],
                      r"layer 'g' \(GRU\): recurrent_activation 'tanh' is not supported"),
    "activation_after_gru": (lambda: [layers.GRU(4, return_sequences=True),
                                      layers.Activation("relu", name="act")],
                             r"layer 'act' \(Activation\) follows layer 'gru.*' \(GRU\), not a "
                             r"Dense or Conv1D layer"),
    "two_activations": (lambda: [layers.GRU(4), layers.Dense(2, activation="relu", name="d"),
                                 layers.Activation("softmax", name="act")],
                        r"layer 'act' \(Activation\) applies 'softmax' after layer 'd' \(Dense\), "
                        r"which already applies 'relu'"),
    "custom": (lambda: [layers.GRU(4, return_sequences=True), Custom(name="mine")],
               r"layer 'mine' \(Custom\) is a custom class"),
    "nested": (lambda: [keras.Sequential([layers.GRU(4)], name="inner")],
               r"layer 'inner' \(Sequential\) is a nested model"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unsupported_layers_are_refused_by_name_and_class(case: str) -> None:
    build, message = REFUSED[case]
    model = keras.Sequential([keras.Input((None, 3)), *build()])
    with pytest.raises(ConversionError, match=message):
        convert(model)


def test_gru_after_a_last_step_gru_is_refused() -> None:
    # Keras itself rejects GRU(return_sequences=False) → GRU; a hand-written config reaches us.
    model = keras.Sequential([keras.Input((None, 3)), layers.GRU(4, return_sequences=True),
                              layers.GRU(4, return_sequences=True)])
    config = json.loads(model.to_json())
    config["config"]["layers"][1]["config"]["return_sequences"] = False
    path = Path("unused.h5")
    from gru_rt.importers import keras_importer

    arch = keras_importer._arch_from_config(config, 3, str(path))
    for layer, obj in zip(arch.layers[1:], model.layers):
        layer.weights = [np.asarray(w) for w in obj.get_weights()]
    with pytest.raises(ConversionError, match=r"layer 'gru_\d+' \(GRU\) follows layer 'gru.*' "
                                              r"\(GRU\), which has return_sequences=False"):
        keras_importer._build(arch, None, None, None, "config")


def test_functional_branches_are_refused() -> None:
    inp = keras.Input((None, 3))
    a = layers.GRU(4, return_sequences=True, name="a")(inp)
    b = layers.Dense(4, name="b")(inp)
    model = keras.Model(inp, layers.Add(name="sum")([a, b]))
    with pytest.raises(ConversionError, match=r"layer 'b' \(Dense\) takes its input from "
                                              r"'input_layer.*', not from the previous layer 'a'"):
        convert(model)


def _two_input_model(order: tuple[str, str] = ("acc", "gyro")) -> Any:
    """Two Inputs joined by a Concatenate (in `order`), a GRU, a Dense head."""
    ins = {"acc": keras.Input((None, 3), name="acc"), "gyro": keras.Input((None, 2), name="gyro")}
    merged = layers.Concatenate(name="merge")([ins[n] for n in order])
    x = layers.GRU(6, return_sequences=True, name="g")(merged)
    return perturbed(keras.Model([ins["acc"], ins["gyro"]], layers.Dense(3, name="d")(x)), 4)


@pytest.mark.parametrize("order", [("acc", "gyro"), ("gyro", "acc")])
def test_multi_input_model_converts_with_named_inputs(tmp_path: Path,
                                                      order: tuple[str, str]) -> None:
    model = _two_input_model(order)
    rng = np.random.default_rng(5)
    acc = rng.standard_normal((1, T, 3)).astype(np.float32)
    gyro = rng.standard_normal((1, T, 2)).astype(np.float32)
    expected = keras_out(model, [acc, gyro])[0]
    model.save(tmp_path / "two.keras")
    model.save(tmp_path / "two.h5")
    for source in (model, tmp_path / "two.keras", tmp_path / "two.h5"):
        spec = convert(source)
        widths = {"acc": 3, "gyro": 2}
        assert spec.inputs == tuple((n, widths[n]) for n in order)
        m = spec.load()
        assert [(i.name, i.width) for i in m.inputs] == list(spec.inputs)
        got = m.run({"acc": acc[0], "gyro": gyro[0]})
        assert float(np.max(np.abs(got - expected))) <= TOL
        s = m.stream()
        np.testing.assert_array_equal(np.stack([s.step({"acc": a, "gyro": g})
                                                for a, g in zip(acc[0], gyro[0])]), got)


def test_multi_input_models_refused_unless_concatenated_first() -> None:
    a, b = keras.Input((None, 4), name="feat_a"), keras.Input((None, 4), name="feat_b")
    head = "the model has 2 inputs \\('feat_a', 'feat_b'\\): gru_rt converts several inputs"
    added = keras.Model([a, b], layers.GRU(5, name="g")(layers.Add(name="merge")([a, b])))
    with pytest.raises(ConversionError, match=head + ".*after the inputs comes layer 'merge' "
                                                     "\\(Add\\)"):
        convert(added)
    on_time = keras.Model([a, b], layers.GRU(5, name="g")(
        layers.Concatenate(axis=1, name="merge")([a, b])))
    with pytest.raises(ConversionError, match=head + ".*joins on axis 1, not the feature axis"):
        convert(on_time)
    twice = keras.Model([a, b], layers.GRU(5, name="g")(
        layers.Concatenate(name="merge")([a, a])))
    with pytest.raises(ConversionError, match=head):
        convert(twice)
    branch = layers.GRU(5, return_sequences=True, name="g")(
        layers.Concatenate(name="merge")([a, b]))
    skip = keras.Model([a, b], layers.Concatenate(name="late")([branch, a]))
    with pytest.raises(ConversionError, match="layer 'late' \\(Concatenate\\) takes its input "
                                              "from 'g', 'feat_a'"):
        convert(skip)


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(ConversionError, match="cannot read .*junk.keras as a .keras file"):
        convert(tmp_path / "junk.keras")
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(ConversionError, match="no model.weights.h5 in the archive"):
        convert(tmp_path / "empty.keras")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ConversionError, match="cannot read .*junk.h5 as an HDF5 file"):
        convert(tmp_path / "junk.h5")
    with pytest.raises(FileNotFoundError):
        convert(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="architecture applies to Keras weight files"):
        convert(tmp_path / "x.pt", architecture="{}")
    np.savez(tmp_path / "x.npz", **{"0.W": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"architecture applies to Keras weights \(arrays "
                                         r"named arr_0, arr_1, …\), not to arrays named .0.W."):
        convert(tmp_path / "x.npz", architecture="{}")
