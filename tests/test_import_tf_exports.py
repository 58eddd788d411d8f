"""ONNX files written by the TensorFlow exporters: tf2onnx on tf-keras GRU models, and Keras 3's
model.export(format="onnx") on the TensorFlow backend. Each file is made in the test, converted with
gru_rt.convert and compared with ONNX Runtime (every step of a per-step model over 500 steps, the
last step of a last-step model), or refused with an error that names what it found.

TensorFlow is heavy (about 2 GB) and pins its own NumPy and protobuf, so it lives in its own
environment: `make test-tf` makes .venv-tf and runs this module there. Elsewhere it is skipped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed: make test-tf")
# Keras 3's export runs on the TensorFlow backend (conftest.py sets torch for the other modules;
# with TensorFlow installed this module runs alone, in make test-tf).
os.environ["KERAS_BACKEND"] = "tensorflow"
tf_keras = pytest.importorskip("tf_keras", reason="tf-keras is not installed: make test-tf")
tf2onnx = pytest.importorskip("tf2onnx", reason="tf2onnx is not installed: make test-tf")
keras = pytest.importorskip("keras")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from gru_rt.convert import convert  # noqa: E402
from gru_rt.errors import ConversionError  # noqa: E402

TOL = 1e-5
T = 500
N_IN, H, N_OUT = 8, 16, 3


def randomize(model: Any, seed: int, scale: float = 0.6) -> None:
    """Weights beyond the initializers' (Keras starts biases at zero, which the exporters fold
    away): every bias non-zero, gates saturating."""
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.standard_normal(w.shape) * scale).astype(np.float32)
                       for w in model.get_weights()])


def tf_keras_model(layers: int, reset_after: bool, per_step: bool) -> Any:
    inp = tf_keras.Input((None, N_IN))
    x = inp
    for k in range(layers):
        x = tf_keras.layers.GRU(H, reset_after=reset_after,
                                return_sequences=per_step or k < layers - 1)(x)
    model = tf_keras.Model(inp, tf_keras.layers.Dense(N_OUT, activation="softmax")(x))
    randomize(model, 10 * layers + reset_after)
    return model


def keras3_model(reset_after: bool, per_step: bool) -> Any:
    inp = keras.Input((None, N_IN))
    x = keras.layers.GRU(H, reset_after=reset_after, return_sequences=per_step)(inp)
    model = keras.Model(inp, keras.layers.Dense(N_OUT, activation="softmax")(x))
    randomize(model, 3 + reset_after)
    model(np.zeros((1, 5, N_IN), np.float32))  # export needs a model that has been called
    return model


def tf2onnx_export(model: Any, path: Path) -> None:
    spec = [tf.TensorSpec((None, None, N_IN), tf.float32, name="x")]
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    onnx.save(proto, str(path))


def check_against_onnxruntime(path: Path, per_step: bool) -> tuple[float, Any]:
    spec = convert(path)
    xs = np.random.default_rng(5).standard_normal((T, N_IN)).astype(np.float32)
    sess = ort.InferenceSession(str(path))
    want = sess.run(None, {sess.get_inputs()[0].name: xs[None]})[0][0]
    got = spec.load().run(xs)
    if not per_step:
        got = got[-1]
        assert "Model.run(x)[-1] is the graph's output" in spec.metadata["source.output"]
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want))), spec


# tf2onnx writes a reset_after=True GRU (tf-keras' default) as the ONNX GRU operator.
CASES = [(1, False), (1, True), (2, False), (2, True)]


@pytest.mark.parametrize("layers,per_step", CASES,
                         ids=[f"{n}layers-{'per_step' if p else 'last_step'}" for n, p in CASES])
def test_tf2onnx_gru_op(layers: int, per_step: bool, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    tf2onnx_export(tf_keras_model(layers, True, per_step), path)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("GRU") == layers
    # the patterns: the last step as Slice [-1:] (INT32_MAX end); the per-step Dense as a
    # Tensordot, Reshape [-1, H] -> MatMul -> Reshape to the computed [batch, time, O]
    assert ("Reshape" in ops) == per_step
    err, spec = check_against_onnxruntime(path, per_step)
    if not per_step:
        assert "Slice [-1:] on axis 0" in spec.metadata["source.output"]
    print(f"tf2onnx {layers} layers per_step={per_step}: max |gru_rt - onnxruntime| = {err:.2e}")
    assert err <= TOL
    assert spec.metadata["source.verified"].startswith("yes")


# A Loop over the time steps: tf2onnx writes a tf-keras GRU with reset_after=False so, Keras 3's
# export every GRU. gru_rt lowers it to the ONNX GRU operator after matching the body to the cell.
LOOPS = [("tf2onnx", 1, False, False, "tanh", "sigmoid"),
         ("tf2onnx", 1, False, True, "tanh", "sigmoid"),
         ("keras3", 1, True, False, "tanh", "sigmoid"),
         ("keras3", 1, True, True, "tanh", "sigmoid"),
         ("keras3", 1, False, False, "tanh", "sigmoid"),
         ("keras3", 1, False, True, "tanh", "sigmoid"),
         ("keras3", 2, True, True, "tanh", "sigmoid"),
         ("keras3", 1, False, True, "relu", "hard_sigmoid"),
         ("tf2onnx", 1, False, True, "relu", "hard_sigmoid")]


def keras_model(lib: Any, layers: int, reset_after: bool, per_step: bool, act: str,
                gate: str) -> Any:
    inp = lib.Input((None, N_IN))
    x = inp
    for k in range(layers):
        x = lib.layers.GRU(H, reset_after=reset_after, activation=act, recurrent_activation=gate,
                           return_sequences=per_step or k < layers - 1)(x)
    model = lib.Model(inp, lib.layers.Dense(N_OUT, activation="softmax")(x))
    # a relu state is unbounded: at 0.6 it grows to 17 and the recurrence amplifies float32
    # rounding (gru_rt 7e-4 and ONNX Runtime 1.3e-2 from float64 after 500 steps)
    randomize(model, 7 * layers + 2 * reset_after + per_step, 0.3 if act == "relu" else 0.6)
    model(np.zeros((1, 5, N_IN), np.float32))  # Keras 3's export needs a model that was called
    return model


@pytest.mark.parametrize("case", LOOPS, ids=["-".join(map(str, c)) for c in LOOPS])
def test_gru_loop_matches_onnxruntime(case: tuple[Any, ...], tmp_path: Path) -> None:
    exporter, layers, reset_after, per_step, act, gate = case
    path = tmp_path / "m.onnx"
    if exporter == "keras3":
        keras_model(keras, layers, reset_after, per_step, act, gate).export(
            str(path), format="onnx", verbose=False)
    else:
        tf2onnx_export(keras_model(tf_keras, layers, reset_after, per_step, act, gate), path)
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("Loop") == layers
    err, spec = check_against_onnxruntime(path, per_step)
    grus = spec.layers[:layers]
    assert [(g.reset_after, g.activation) for g in grus] == [(reset_after, act)] * layers
    assert grus[0].gate_activation == ("sigmoid" if gate == "sigmoid" else (
        "hard_sigmoid" if exporter == "keras3" else "hard_sigmoid_k2"))
    print(f"{exporter} {case}: max |gru_rt - onnxruntime| = {err:.2e}")
    assert err <= TOL
    assert spec.metadata["source.verified"].startswith("yes")


@pytest.mark.parametrize("tamper,found", [
    ("Sub", r"its body computes no Keras GRU cell of its constants \(the closest, .*differs by"),
    ("Add", r"its step counter .* does not grow by 1"),
])
def test_altered_gru_loop_is_refused(tamper: str, found: str, tmp_path: Path) -> None:
    """A Keras 3 export whose Loop body is changed: 1 - z becomes 0.5 - z, or the step counter
    grows by 2; refused naming the Loop and what did not match."""
    from onnx import numpy_helper

    path = tmp_path / "m.onnx"
    keras_model(keras, 1, True, True, "tanh", "sigmoid").export(str(path), format="onnx",
                                                                 verbose=False)
    model = onnx.load(str(path))
    loop = next(n for n in model.graph.node if n.op_type == "Loop")
    body = loop.attribute[0].g
    consts = {t.name: t for t in body.initializer}
    node = next(n for n in body.node if n.op_type == tamper and any(i in consts for i in n.input)
                and (tamper == "Sub" or "Identity" in n.output[0] or "add" in n.name))
    t = consts[next(i for i in node.input if i in consts)]
    value = numpy_helper.to_array(t)
    t.CopyFrom(numpy_helper.from_array((value * 0.5 if tamper == "Sub" else value * 2)
                                       .astype(value.dtype), t.name))
    with pytest.raises(ConversionError, match=r"\(Loop\) is a Loop .* that gru_rt does not read "
                                              r"as a GRU cell: " + found):
        convert(model)
