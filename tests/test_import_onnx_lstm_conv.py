"""ONNX `LSTM` and `Conv` nodes: graphs from torch.onnx.export, both exporters (nn.LSTM with 1-2
layers and batch_first both ways; nn.Conv1d made causal by ConstantPad1d or F.pad, dilated and
depthwise, around a GRU) and hand-built with onnx.helper (layout 1, HardSigmoid/Relu activations,
zero peepholes; a Conv's own left pads), checked against ONNX Runtime over 500-step sequences (and
the torch module where there is one) in f32 (<= 1e-5), q8 and q15 (LSTM: f32 and q8); each refused
construct gets a one-line error naming the node and what it found."""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError
from gru_rt.golden import golden_run
from gru_rt.spec import Conv1DLayer, LSTMLayer

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-5
T = 500
# q8/q15 against ONNX Runtime on these random untrained models (outputs within about ±1): the
# bounds of the random LSTM model of docs/QUANTIZATION.md (tests/test_lstm.py), largest and mean
QUANT_MAX, QUANT_MEAN = 0.1, 0.01


def xs_for(i: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((T, i)).astype(np.float32)


def quiet_export(net: Any, path: Path, x: Any, dynamic: dict[str, dict[int, str]] | None,
                 dynamo: bool = False) -> None:
    """torch.onnx.export: TorchScript (dynamo=False; dynamic axes named) or dynamo (fixed axes,
    weights inside the file)."""
    kwargs: dict[str, Any] = {"external_data": False} if dynamo else {"dynamic_axes": dynamic}
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (x,), str(path), dynamo=dynamo, input_names=["x"],
                              output_names=["y"], **kwargs)
    finally:
        logging.disable(logging.NOTSET)


def ort_run(model: Any, x: np.ndarray) -> np.ndarray:
    data = model.SerializeToString() if not isinstance(model, (str, Path)) else str(model)
    return ort.InferenceSession(data).run(None, {"x": x})[0]


def reference_run(model: Any, x: np.ndarray) -> np.ndarray:
    """onnx's reference evaluator: for what ONNX Runtime does not run (an LSTM with layout 1)."""
    from onnx.reference import ReferenceEvaluator

    return np.asarray(ReferenceEvaluator(model).run(None, {"x": x})[0])


def check_quantized(path: Any, xs: np.ndarray, want: np.ndarray,
                    precisions: tuple[str, ...]) -> None:
    """q8/q15 from the same source: within QUANT_MAX (largest) and QUANT_MEAN (mean) of ONNX
    Runtime's outputs, and bit-exact with the golden model."""
    for precision in precisions:
        q = convert(path, precision=precision, calibration=xs[None])
        got = q.load().run(xs)
        assert np.array_equal(got, golden_run(q, xs).outputs)
        err = np.abs(got[-len(want):] - want)
        print(f"{precision}: |gru_rt - onnxruntime| max {np.max(err):.3g}, mean "
              f"{np.mean(err):.3g} (max|y| {np.max(np.abs(want)):.3g})")
        assert np.max(err) <= QUANT_MAX and np.mean(err) <= QUANT_MEAN, precision


# ---- LSTM from torch.onnx.export ---------------------------------------------------------------

class LSTMNet(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self, layers: int, batch_first: bool, head: str):
        super().__init__()
        self.lstm = torch.nn.LSTM(6, 12, num_layers=layers, batch_first=batch_first)
        self.fc = torch.nn.Linear(12, 3)
        self.head, self.batch_first = head, batch_first

    def forward(self, x: Any) -> Any:
        out, (h_n, _) = self.lstm(x)
        return self.fc(h_n[-1]) if self.head == "h_n" else self.fc(out)


@pytest.mark.parametrize("layers,batch_first,head,dynamic,dynamo", [
    (1, True, "step", True, False), (2, False, "step", False, False),
    (2, True, "h_n", True, False), (1, False, "h_n", False, False),
    (2, True, "step", False, True), (2, False, "h_n", False, True)])
def test_torch_lstm_export(tmp_path: Path, layers: int, batch_first: bool, head: str,
                           dynamic: bool, dynamo: bool) -> None:
    torch.manual_seed(layers)
    net = LSTMNet(layers, batch_first, head).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)  # beyond the default init, so gates saturate
    path = tmp_path / "lstm.onnx"
    t, b = (7, 2) if dynamic else (T, 1)
    axes = {"x": {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}}
    quiet_export(net, path, torch.zeros((b, t, 6) if batch_first else (t, b, 6)),
                 axes if dynamic else None, dynamo)
    spec = convert(path)
    assert [type(x).__name__ for x in spec.layers] == ["LSTMLayer"] * layers + ["DenseLayer"]
    assert spec.metadata["source.verified"].startswith("yes"), spec.metadata["source.verified"]
    xs = xs_for(6, seed=layers)
    want = ort_run(path, xs[None] if batch_first else xs[:, None])
    want = want[0] if head == "step" and batch_first else want[:, 0] if head == "step" else want
    with torch.no_grad():
        x = torch.from_numpy(xs[None] if batch_first else xs[:, None])
        framework = net(x).numpy()
    got = spec.load().run(xs)
    got = got if head == "step" else got[-1:]
    err = float(np.max(np.abs(got - want)))
    print(f"{layers} layers, batch_first={batch_first}, {head}: max |gru_rt - onnxruntime| = "
          f"{err:.2e}")
    assert got.shape == want.shape and err <= TOL
    assert np.max(np.abs(got - framework.reshape(got.shape))) <= TOL
    if head == "step" and layers == 2 and not dynamo:
        check_quantized(path, xs, want, ("q8",))
    done = subprocess.run([sys.executable, "-m", "gru_rt", "convert", str(path), "-o",
                           str(tmp_path / "m.grt")], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.grt").read_bytes() == spec.to_bytes()


# ---- LSTM built by hand -----------------------------------------------------------------------

def lstm_graph(i: int, h: int, *, layout: int = 0, seed: int = 0, acts: list[str] | None = None,
               alphas: list[float] | None = None, peepholes: np.ndarray | None = None,
               attrs: dict[str, Any] | None = None, extra_inputs: dict[int, str] | None = None,
               inits: list[Any] | None = None, outputs: tuple[str, ...] = ("Y", "", "")) -> Any:
    """x → LSTM → Squeeze → MatMul → out, or with Y_h/Y_c outputs as asked."""
    rng = np.random.default_rng(seed)
    weights = [numpy_helper.from_array(rng.normal(0, 0.5, s).astype(np.float32), n)
               for n, s in (("W", (1, 4 * h, i)), ("R", (1, 4 * h, h)), ("B", (1, 8 * h)))]
    weights.append(numpy_helper.from_array(rng.normal(0, 0.5, (h, 2)).astype(np.float32), "D"))
    names = ["x", "W", "R", "B", "", "", "", ""]
    if peepholes is not None:
        weights.append(numpy_helper.from_array(peepholes.astype(np.float32), "P"))
        names[7] = "P"
    for k, name in (extra_inputs or {}).items():
        names[k] = name
    while names and not names[-1]:
        names.pop()
    kw: dict[str, Any] = {"hidden_size": h, "layout": layout, **(attrs or {})}
    if acts is not None:
        kw["activations"] = acts
    if alphas is not None:
        kw["activation_alpha"] = alphas
    lstm = helper.make_node("LSTM", names, list(outputs), name="lstm", **kw)
    squeeze_axis = 2 if layout else 1
    weights.append(numpy_helper.from_array(np.array([squeeze_axis], np.int64), "sq"))
    nodes = [lstm, helper.make_node("Squeeze", ["Y", "sq"], ["y3"]),
             helper.make_node("MatMul", ["y3", "D"], ["out"])]
    shape = ["batch", "time", i] if layout else ["time", "batch", i]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        weights + list(inits or []))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("layout,acts,alphas,gate,act", [
    (0, None, None, "sigmoid", "tanh"),
    (1, None, None, "sigmoid", "tanh"),  # onnx's reference evaluator ignores LSTM activations
    (0, ["HardSigmoid", "Relu", "Relu"], [0.2], "hard_sigmoid_k2", "relu"),
    (0, ["HardSigmoid", "Tanh", "Tanh"], [1 / 6], "hard_sigmoid", "tanh")])
def test_hand_built_lstm(layout: int, acts: list[str] | None, alphas: list[float] | None,
                         gate: str, act: str) -> None:
    i, h = 5, 7
    model = lstm_graph(i, h, layout=layout, acts=acts, alphas=alphas,
                       peepholes=np.zeros((1, 3 * h)))  # zero peepholes: a plain LSTM
    spec = convert(model, verify=layout == 0)  # ONNX Runtime runs no LSTM with layout 1
    layer = spec.layers[0]
    assert isinstance(layer, LSTMLayer) and (layer.gate_activation, layer.activation) == (gate,
                                                                                          act)
    xs = xs_for(i, seed=3)
    want = reference_run(model, xs[None])[0] if layout else ort_run(model, xs[:, None])[:, 0]
    err = float(np.max(np.abs(spec.load().run(xs) - want)))
    print(f"layout {layout}, {acts}: max |gru_rt - {'onnx reference' if layout else 'onnxruntime'}"
          f"| = {err:.2e}")
    assert err <= TOL
    if layout == 0 and acts is None:
        check_quantized(model, xs, want, ("q8",))


def zeros(name: str, shape: tuple[int, ...]) -> Any:
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def test_lstm_refusals() -> None:
    i, h = 3, 4
    cases: list[tuple[Any, str]] = [
        (lstm_graph(i, h, peepholes=np.full((1, 3 * h), 0.1)),
         "node 'lstm' (LSTM): P 'P' holds peephole weights (non-zero)"),
        (lstm_graph(i, h, attrs={"input_forget": 1}), "node 'lstm' (LSTM): input_forget=1"),
        (lstm_graph(i, h, attrs={"clip": 3.0}), "node 'lstm' (LSTM): the clip attribute (3.0)"),
        (lstm_graph(i, h, attrs={"direction": "reverse"}),
         "node 'lstm' (LSTM): direction='reverse'; gru_rt's LSTM layers run forward only"),
        (lstm_graph(i, h, acts=["Sigmoid", "Tanh", "Relu"]),
         "node 'lstm' (LSTM): activations g='Tanh' and h='Relu' differ"),
        (lstm_graph(i, h, acts=["Tanh", "Tanh", "Tanh"]), "gate activation f='Tanh'"),
        (lstm_graph(i, h, acts=["Sigmoid", "Tanh"]), "expected 3 (f, g, h)"),
        (lstm_graph(i, h, extra_inputs={4: "lens"},
                    inits=[numpy_helper.from_array(np.array([5], np.int32), "lens")]),
         "node 'lstm' (LSTM): sequence_lens 'lens' is given"),
        (lstm_graph(i, h, extra_inputs={5: "h0"},
                    inits=[numpy_helper.from_array(np.ones((1, 1, h), np.float32), "h0")]),
         "node 'lstm' (LSTM): initial_h 'h0' is not a zero constant"),
        (lstm_graph(i, h, extra_inputs={6: "c0"},
                    inits=[numpy_helper.from_array(np.ones((1, 1, h), np.float32), "c0")]),
         "node 'lstm' (LSTM): initial_c 'c0' is not a zero constant"),
        (lstm_graph(i, h, outputs=("Y", "", "Yc")),  # Y_c as a graph output is refused too
         None),
    ]
    for model, message in cases:
        if message is None:
            model.graph.output.append(helper.make_tensor_value_info("Yc", TensorProto.FLOAT, None))
            message = "node 'lstm' (LSTM): its final cell state Y_c 'Yc' is used"
        with pytest.raises(ConversionError) as e:
            convert(model)
        assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    # zero initial states are accepted, as initializers
    ok = lstm_graph(i, h, extra_inputs={5: "h0", 6: "c0"},
                    inits=[zeros("h0", (1, 1, h)), zeros("c0", (1, 1, h))])
    assert isinstance(convert(ok).layers[0], LSTMLayer)
    # an initial state from a graph input (a step graph) is refused by name
    fed = lstm_graph(i, h, extra_inputs={5: "h0"})
    fed.graph.input.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 1, h]))
    with pytest.raises(ConversionError, match="node 'lstm' \\(LSTM\\): initial_h comes from the "
                                              "graph input 'h0'"):
        convert(fed)


# ---- Conv from torch.onnx.export ---------------------------------------------------------------

class ConvNet(torch.nn.Module):  # type: ignore[misc,name-defined]
    """ConstantPad1d + dilated Conv1d + ReLU, F.pad + depthwise Conv1d (no bias), GRU, Linear."""

    def __init__(self, batch_first: bool):
        super().__init__()
        self.pad = torch.nn.ConstantPad1d((4, 0), 0.0)
        self.conv = torch.nn.Conv1d(4, 8, 3, dilation=2)
        self.act = torch.nn.ReLU()
        self.dw = torch.nn.Conv1d(8, 8, 2, groups=8, bias=False)
        self.gru = torch.nn.GRU(8, 10, batch_first=batch_first)
        self.fc = torch.nn.Linear(10, 3)
        self.batch_first = batch_first

    def forward(self, x: Any) -> Any:
        y = x.transpose(1, 2) if self.batch_first else x.permute(1, 2, 0)  # (N, C, T)
        y = self.dw(torch.nn.functional.pad(self.act(self.conv(self.pad(y))), (1, 0)))
        y = y.transpose(1, 2) if self.batch_first else y.permute(2, 0, 1)
        return self.fc(self.gru(y)[0])


@pytest.mark.parametrize("batch_first,dynamic,dynamo", [(True, True, False), (False, False, False),
                                                        (True, False, True)])
def test_torch_conv_export(tmp_path: Path, batch_first: bool, dynamic: bool, dynamo: bool) -> None:
    torch.manual_seed(5)
    net = ConvNet(batch_first).eval()
    path = tmp_path / "crnn.onnx"
    t, b = (9, 2) if dynamic else (T, 1)
    axes = {"x": {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}}
    quiet_export(net, path, torch.zeros((b, t, 4) if batch_first else (t, b, 4)),
                 axes if dynamic else None, dynamo)
    spec = convert(path)
    conv, dw = spec.layers[0], spec.layers[1]
    assert isinstance(conv, Conv1DLayer) and isinstance(dw, Conv1DLayer)
    assert (conv.kernel_size, conv.dilation, conv.depthwise, conv.activation) == (3, 2, False,
                                                                                  "relu")
    assert (dw.kernel_size, dw.dilation, dw.depthwise, dw.activation) == (2, 1, True, "linear")
    assert spec.metadata["source.verified"].startswith("yes"), spec.metadata["source.verified"]
    xs = xs_for(4, seed=6)
    x = xs[None] if batch_first else xs[:, None]
    want = ort_run(path, x)
    want = want[0] if batch_first else want[:, 0]
    with torch.no_grad():
        framework = net(torch.from_numpy(x)).numpy()
    framework = framework[0] if batch_first else framework[:, 0]
    got = spec.load().run(xs)
    err = float(np.max(np.abs(got - want)))
    print(f"batch_first={batch_first}: max |gru_rt - onnxruntime| = {err:.2e}, "
          f"- torch = {np.max(np.abs(got - framework)):.2e}")
    assert err <= TOL and np.max(np.abs(got - framework)) <= TOL
    stream = spec.load().stream()
    assert np.array_equal(np.stack([stream.step(v) for v in xs[:60]]), got[:60])
    if not dynamo:
        check_quantized(path, xs, want, ("q8", "q15"))


# ---- Conv built by hand -----------------------------------------------------------------------

def conv_graph(*, k: int = 3, d: int = 1, pads: list[int] | None = None, group: int = 1,
               c: int = 4, o: int = 6, bias: bool = True, act: str | None = "Tanh",
               attrs: dict[str, Any] | None = None, pad_node: list[int] | None = None,
               perm_in: list[int] | None = None, back: bool = True, seed: int = 0) -> Any:
    """x [T, N, C] → Transpose → [Pad] → Conv → [act] → Transpose → GRU → Squeeze → out."""
    rng = np.random.default_rng(seed)
    h = 5
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (o, c // group, k)).astype(np.float32),
                                     "Wc"),
             numpy_helper.from_array(rng.normal(0, 0.5, (1, 3 * h, o)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(0, 0.5, (1, 3 * h, h)).astype(np.float32), "R"),
             numpy_helper.from_array(np.array([1], np.int64), "sq")]
    conv_in = ["xt", "Wc"]
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(0, 0.5, o).astype(np.float32), "Bc"))
        conv_in.append("Bc")
    nodes = [helper.make_node("Transpose", ["x"], ["xt0"], perm=perm_in or [1, 2, 0])]
    if pad_node is not None:
        inits.append(numpy_helper.from_array(np.array(pad_node, np.int64), "pads"))
        nodes.append(helper.make_node("Pad", ["xt0", "pads"], ["xt"], name="pad"))
    else:
        nodes.append(helper.make_node("Identity", ["xt0"], ["xt"]))
    kw: dict[str, Any] = {"kernel_shape": [k], "dilations": [d], "group": group,
                          **(attrs or {})}
    if pads is not None:
        kw["pads"] = pads
    nodes.append(helper.make_node("Conv", conv_in, ["yc"], name="conv", **kw))
    last = "yc"
    if act:
        nodes.append(helper.make_node(act, ["yc"], ["ya"], name="act"))
        last = "ya"
    if back:
        nodes += [helper.make_node("Transpose", [last], ["yt"], perm=[2, 0, 1]),
                  helper.make_node("GRU", ["yt", "W", "R"], ["Y"], hidden_size=h, name="gru"),
                  helper.make_node("Squeeze", ["Y", "sq"], ["out"])]
    else:
        nodes.append(helper.make_node("Identity", [last], ["out"]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", c])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("k,d,group,o,bias,act", [
    (3, 2, 1, 6, True, "Tanh"), (4, 1, 4, 8, False, "Relu"), (1, 1, 1, 6, True, None)])
def test_hand_built_conv_with_its_own_pads(k: int, d: int, group: int, o: int, bias: bool,
                                           act: str | None) -> None:
    model = conv_graph(k=k, d=d, pads=[(k - 1) * d, 0], group=group, o=o, bias=bias, act=act)
    spec = convert(model)
    conv = spec.layers[0]
    assert isinstance(conv, Conv1DLayer) and conv.depthwise == (group > 1)
    xs = xs_for(4, seed=k)
    want = ort_run(model, xs[:, None])[:, 0]
    err = float(np.max(np.abs(spec.load().run(xs) - want)))
    print(f"k={k} d={d} group={group}: max |gru_rt - onnxruntime| = {err:.2e}")
    assert err <= TOL
    check_quantized(model, xs, want, ("q8", "q15"))


def test_conv_refusals() -> None:
    cases = [
        (conv_graph(pads=[2, 0], attrs={"strides": [2]}),
         "node 'conv' (Conv): strides [2]: a stream returns one output per input step"),
        (conv_graph(pads=[1, 1]), "node 'conv' (Conv): pads [1, 1]: a causal Conv1D needs"),
        (conv_graph(pads=[0, 0]), "node 'conv' (Conv): pads [0, 0]: a causal Conv1D needs "
                                  "(kernel - 1)·dilation = 2 zeros on the left"),
        (conv_graph(pads=[2, 0], group=2), "node 'conv' (Conv): group=2"),
        (conv_graph(attrs={"auto_pad": "SAME_UPPER"}), "node 'conv' (Conv): auto_pad='SAME_UPPER'"),
        (conv_graph(pad_node=[0, 0, 2, 0, 0, 1]), "node 'pad' (Pad): pads (begin, end)"),
        (conv_graph(pad_node=[0, 0, 1, 0, 0, 0]),
         "node 'conv' (Conv): pads [0, 0] after a Pad of 1: a causal Conv1D needs"),
        (conv_graph(pads=[2, 0], back=False), "a Conv's (N, C, T) output"),
        (conv_graph(pads=[2, 0], act="HardSigmoid"), "node 'act' (HardSigmoid) takes"),
    ]
    for model, message in cases:
        with pytest.raises(ConversionError) as e:
            convert(model)
        assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    # a Pad node before the Conv with its own pads summing to (k - 1)·d converts
    ok = conv_graph(pad_node=[0, 0, 1, 0, 0, 0], pads=[1, 0])
    xs = xs_for(4, seed=9)
    err = np.max(np.abs(convert(ok).load().run(xs) - ort_run(ok, xs[:, None])[:, 0]))
    assert err <= TOL
    # a 2-D convolution, and a Conv on features-last data
    conv2d = conv_graph(pads=[2, 0])
    w = numpy_helper.to_array(conv2d.graph.initializer[0])
    conv2d.graph.initializer[0].CopyFrom(numpy_helper.from_array(w[..., None], "Wc"))
    with pytest.raises(ConversionError, match=r"W has shape \(6, 4, 3, 1\), a 2-D convolution"):
        convert(conv2d)
    with pytest.raises(ConversionError, match="convolves 'xt' \\(shape \\[batch, time, 4\\]\\), "
                                              "which is not the features moved to axis 1"):
        convert(conv_graph(pads=[2, 0], perm_in=[1, 0, 2]))
    with pytest.raises(ConversionError, match="perm \\[2, 1, 0\\] moves the feature axis"):
        convert(conv_graph(pads=[2, 0], perm_in=[2, 1, 0]))
