"""Dense activations in ONNX graphs as torch.onnx.export writes them (both exporters): one op
(LeakyRelu, Elu, Gelu at opset 20, Softplus, LogSoftmax) or spelled out in elementwise nodes (GELU's
erf and tanh forms below opset 20, SiLU as x*Sigmoid(x), the dynamo exporter's Softplus with
torch's threshold). Each export of GRU -> Linear -> activation is converted and compared with ONNX
Runtime on every step of 500; activations gru_rt has no counterpart of are refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError

from .test_import_onnx_exporters import cli_convert, quiet_export

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

TOL = 1e-5
T = 500
N_IN, H, N_OUT = 8, 16, 5

ACTIVATIONS: dict[str, tuple[Any, str]] = {  # torch module, gru_rt activation
    "leaky_relu": (lambda: torch.nn.LeakyReLU(0.1), "leaky_relu"),
    "elu": (lambda: torch.nn.ELU(0.7), "elu"),
    "gelu": (lambda: torch.nn.GELU(), "gelu"),
    "gelu_tanh": (lambda: torch.nn.GELU(approximate="tanh"), "gelu_tanh"),
    "silu": (lambda: torch.nn.SiLU(), "silu"),
    "softplus": (lambda: torch.nn.Softplus(), "softplus"),
    "log_softmax": (lambda: torch.nn.LogSoftmax(dim=-1), "log_softmax"),
}


class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self, act: Any):
        super().__init__()
        self.gru = torch.nn.GRU(N_IN, H, batch_first=True)
        self.fc = torch.nn.Linear(H, N_OUT)
        self.act = act

    def forward(self, x: Any) -> Any:
        out, _ = self.gru(x)
        return self.act(self.fc(out))


def export(name: str, path: Path, *, dynamo: bool, opset: int) -> None:
    torch.manual_seed(5)
    net = Net(ACTIVATIONS[name][0]()).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # logits of a few units: both branches of every activation are reached
    quiet_export(net, (torch.zeros(1, T, N_IN),), str(path), dynamo=dynamo, input_names=["x"],
                 output_names=["y"], opset_version=opset)


def max_error(path: Path, spec: Any) -> float:
    xs = np.random.default_rng(6).standard_normal((T, N_IN)).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"x": xs[None]})[0][0]
    got = spec.load().run(xs)
    assert got.shape == want.shape == (T, N_OUT)
    assert np.ptp(want) > 1.0  # not a saturated head
    return float(np.max(np.abs(got - want)))


# (activation, dynamo, opset): every activation from the TorchScript exporter at torch's default
# opset 20 (one op each, SiLU as Sigmoid*Mul); the dynamo exporter where it writes something else
# (Softplus as Where(x > 20, x, Softplus(x))) and for two of the same; GELU's erf and tanh formulas
# at opset 17 (Gelu is an opset-20 op), from both.
CASES = [(a, False, 20) for a in ACTIVATIONS] + [
    (a, True, 20) for a in ("leaky_relu", "silu", "softplus")] + [
    (a, d, 17) for a in ("gelu", "gelu_tanh") for d in (False, True)]


@pytest.mark.parametrize("case", CASES, ids=[f"{a}-{'dynamo' if d else 'torchscript'}-opset{o}"
                                             for a, d, o in CASES])
def test_activation_matches_onnxruntime(case: tuple[str, bool, int], tmp_path: Path) -> None:
    name, dynamo, opset = case
    if dynamo:
        pytest.importorskip("onnxscript")
    path = tmp_path / "net.onnx"
    export(name, path, dynamo=dynamo, opset=opset)
    spec = convert(path)
    head = spec.layers[-1]
    assert head.activation == ACTIVATIONS[name][1]
    if name in ("leaky_relu", "elu"):
        assert head.alpha == pytest.approx(0.1 if name == "leaky_relu" else 0.7, rel=1e-6)
    err = max_error(path, spec)
    print(f"{name} dynamo={dynamo} opset {opset}: max |gru_rt - onnxruntime| over {T} steps = "
          f"{err:.2e} ({spec.metadata['source.layers'].split(',')[-1]})")
    assert err <= TOL


def test_cli_converts_a_gelu_formula(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    export("gelu", path, dynamo=False, opset=17)
    convert(path).save(tmp_path / "api.grt")
    cli_convert(path, tmp_path / "cli.grt")
    assert (tmp_path / "cli.grt").read_bytes() == (tmp_path / "api.grt").read_bytes()


@pytest.mark.parametrize("dynamo", [False, True])
@pytest.mark.parametrize("module,found", [
    (lambda: torch.nn.Hardswish(), r"\(HardSwish\): the activation HardSwish has no counterpart"),
    (lambda: torch.nn.Mish(), r"\(Mish\): the activation Mish has no counterpart|\(Softplus\), "
                              r".*\(Tanh\), .*\(Mul\) compute an elementwise function"),
])
def test_unsupported_activation_is_refused_by_name(dynamo: bool, module: Any, found: str,
                                                   tmp_path: Path) -> None:
    if dynamo:
        pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    path = tmp_path / "net.onnx"
    quiet_export(Net(module()).eval(), (torch.zeros(1, 5, N_IN),), str(path), dynamo=dynamo,
                 input_names=["x"], output_names=["y"])
    with pytest.raises(ConversionError, match=found):
        convert(path, verify=False)


# ---- hand-built graphs: attributes and formulas torch does not write -------------------------

def dense_graph(tail: list[Any], inits: list[Any], opset: int = 20) -> Any:
    """GRU -> MatMul 'dense' (output 'z') -> the tail nodes (output 'out')."""
    rng = np.random.default_rng(7)
    arrays = {"W": (1, 12, 3), "R": (1, 12, 4), "B": (1, 24), "Wd": (4, 6)}
    weights = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k)
               for k, s in arrays.items()]
    nodes = [helper.make_node("GRU", ["X", "W", "R", "B"], ["Y"], name="gru", hidden_size=4),
             helper.make_node("Squeeze", ["Y", "one"], ["h"], name="squeeze"),
             helper.make_node("MatMul", ["h", "Wd"], ["z"], name="dense"), *tail]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["time", "batch", 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [*weights, numpy_helper.from_array(np.array([1], np.int64), "one"), *inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def scalar(name: str, value: float) -> Any:
    return numpy_helper.from_array(np.array(value, np.float32), name)


def test_hand_built_activations_match_onnxruntime() -> None:
    """Attribute defaults (LeakyRelu 0.01, Elu 1.0), Swish (opset 24) and a formula written in
    another order (x * Sigmoid(x) as Div(x, 1 + Exp(-x)))."""
    exp_form = [helper.make_node("Neg", ["z"], ["n"]), helper.make_node("Exp", ["n"], ["e"]),
                helper.make_node("Add", ["e", "c1"], ["d"]),
                helper.make_node("Div", ["z", "d"], ["out"])]
    cases = [([helper.make_node("LeakyRelu", ["z"], ["out"])], [], 20, "leaky_relu", 0.01),
             ([helper.make_node("Elu", ["z"], ["out"])], [], 20, "elu", 1.0),
             ([helper.make_node("Swish", ["z"], ["out"])], [], 24, "silu", None),
             (exp_form, [scalar("c1", 1.0)], 20, "silu", None)]
    xs = np.random.default_rng(8).standard_normal((T, 3)).astype(np.float32)
    for tail, inits, opset, act, alpha in cases:
        model = dense_graph(tail, inits, opset)
        spec = convert(model, verify=False)
        assert spec.layers[-1].activation == act
        assert spec.layers[-1].alpha == (None if alpha is None else float(np.float32(alpha)))
        try:
            want = ort.InferenceSession(model.SerializeToString()).run(None,
                                                                       {"X": xs[:, None]})[0]
        except Exception:  # an ONNX Runtime without the op (Swish is opset 24)
            from onnx.reference import ReferenceEvaluator
            want = ReferenceEvaluator(model).run(None, {"X": xs[:, None]})[0]
        got = spec.load().run(xs)
        assert float(np.max(np.abs(got - want.reshape(got.shape)))) <= TOL, act


@pytest.mark.parametrize("tail,inits,opset,found", [
    ([helper.make_node("Swish", ["z"], ["out"], name="sw", alpha=2.0)], [], 24,
     r"node 'sw' \(Swish\): Swish with alpha=2.0 \(x\*sigmoid\(alpha\*x\)\); gru_rt's silu is "
     r"alpha 1"),
    ([helper.make_node("LogSoftmax", ["z"], ["out"], name="ls", axis=0)], [], 20,
     r"node 'ls' \(LogSoftmax\): log_softmax over axis 0 of a rank-3 tensor; only the feature "
     r"\(last\) axis converts"),
    ([helper.make_node("Gelu", ["z"], ["out"], name="ge", approximate="erf")], [], 20,
     r"node 'ge' \(Gelu\): approximate='erf', expected 'none' or 'tanh'"),
    # x * sigmoid(2x): a swish of another slope
    ([helper.make_node("Mul", ["z", "two"], ["z2"], name="m2"),
      helper.make_node("Sigmoid", ["z2"], ["s"], name="sig"),
      helper.make_node("Mul", ["z", "s"], ["out"], name="mul")], [scalar("two", 2.0)], 20,
     r"node 'm2' \(Mul\), node 'sig' \(Sigmoid\), node 'mul' \(Mul\) compute an elementwise "
     r"function of 'z' that is none of the Dense activations gru_rt spells out from a formula "
     r"\(.*; the closest, \w+, differs by"),
    # gelu's erf formula with the wrong constant (x / 2 instead of x / sqrt 2)
    ([helper.make_node("Div", ["z", "two"], ["a"], name="div"),
      helper.make_node("Erf", ["a"], ["e"], name="erf"),
      helper.make_node("Add", ["e", "one_f"], ["b"], name="add"),
      helper.make_node("Mul", ["z", "b"], ["c"], name="mul"),
      helper.make_node("Mul", ["c", "half"], ["out"], name="half_mul")],
     [scalar("two", 2.0), scalar("one_f", 1.0), scalar("half", 0.5)], 20,
     r"node 'div' \(Div\), .* compute an elementwise function of 'z' that is none of"),
    ([helper.make_node("HardSwish", ["z"], ["out"], name="hs")], [], 20,
     r"node 'hs' \(HardSwish\): the activation HardSwish has no counterpart among gru_rt's "
     r"Dense activations"),
])
def test_activation_refusals_name_what_they_found(tail: list[Any], inits: list[Any], opset: int,
                                                   found: str) -> None:
    with pytest.raises(ConversionError, match=found):
        convert(dense_graph(tail, inits, opset), verify=False)


def test_formula_after_a_gru_is_refused() -> None:
    """SiLU spelled out on the GRU's output, with no Dense before it."""
    model = dense_graph([], [])
    graph = model.graph
    del graph.node[2:]
    graph.node.extend([helper.make_node("Sigmoid", ["h"], ["s"], name="sig"),
                       helper.make_node("Mul", ["h", "s"], ["out"], name="mul")])
    with pytest.raises(ConversionError, match=r"node 'sig' \(Sigmoid\), node 'mul' \(Mul\) "
                                              r"follows a GRU .*, not a Dense layer"):
        convert(model, verify=False)
