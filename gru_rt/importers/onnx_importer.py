"""ONNX importer: a graph whose core is one or more `GRU` or `LSTM` operators, optionally after
causal 1-D `Conv`s, followed by a Dense-like head.

Read with the `onnx` package (imported only here). The graph must be one chain from its single data
input to an output:

- `GRU`: direction "forward", "reverse" or "bidirectional" (format 1.4: the model then runs whole
  sequences with Model.run; a bidirectional Y [T, 2, B, H] must be joined into [T, B, 2H] by the
  Transpose(0, 2, 1, 3) + Reshape torch.onnx.export writes, the concat of the two directions),
  linear_before_reset 0 or 1 (canonical reset_after 0 or 1), layout 0 or 1, optional B, initial_h
  absent or zero (a zero initializer, or the zero state computed with ConstantOfShape as
  torch.onnx.export writes it), sequence_lens absent, clip absent; activations (f, g) = (Sigmoid or
  a HardSigmoid matching one of gru_rt's, Tanh or Relu). W [1, 3H, I], R [1, 3H, H] and B [1, 6H]
  (Wb then Rb) are constants (initializers or Constant nodes). The chain continues through Y, or
  through Y_h (then the graph's output is the last step's; a later GRU is refused);
- `LSTM` (forward): gate blocks i, o, f, c reordered to the canonical i, f, g, o, B = Wb then Rb;
  activations (f, g, h) with g = h; P absent or zero; initial_h/initial_c absent or zero;
  input_forget 0, no clip or sequence_lens; readouts as a GRU's, Y_c unused;
- `Conv` (1-D, W [O, C/group, k]) between a Transpose that moves the features to axis 1 of a
  rank-3 tensor ((N, C, T)) and one that moves them back: a causal Conv1D layer when its left
  padding (its pads, plus a `Pad` of zeros before the time axis before it) is (k - 1)·dilation
  and nothing pads the right; stride 1, group 1 or depthwise; an activation node after it;
- glue that keeps the features on the last axis: Squeeze, Unsqueeze, Reshape (to a constant
  shape ending in the feature size), Flatten (at the last axis), Transpose (last axis kept last),
  Identity, Dropout (inference);
- Dense: `MatMul` by a constant (I, O) matrix with an optional `Add` of a constant bias, or `Gemm`
  (transA 0, transB 0 or 1; alpha and beta are folded into the weights);
- right after a Dense: `Relu`, `Tanh`, `Sigmoid`, `Softmax`/`LogSoftmax` over the last axis,
  `LeakyRelu`, `Elu`, `Gelu`, `Softplus`, `Swish` (alpha 1), or an activation spelled out in
  elementwise nodes (GELU's erf and tanh formulas, x*Sigmoid(x) ...): such a group is run on probe
  points and taken as the activation it equals (`_formula_activation`).

- readouts of the last step: Y_h, torch's h_n[-1] (Concat of the layers' Y_h, Gather of the last)
  and Gather/Slice at -1 on the time axis (`Model.run(x)[-1]` is then the graph's output);
- step graphs: state inputs feeding the GRUs' initial_h, outputs returning the new states.
- a GRU written as a `Loop` (Keras 3's export, tf2onnx's reset_after=False): lowered to the `GRU`
  operator first when its body is a GRU cell (`onnx_loop.py`), else refused naming the Loop.

Shape bookkeeping (Shape/Gather/Concat/… feeding Reshape targets and zero states) is resolved by the
propagation in `onnx_graph.py`. Anything else gets an error naming the op type and node name.
The GRU weights go through the NumPy importer's `Convention` (gate order z, r, h; rows = outputs),
so the convention arithmetic lives in one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConversionError, printable
from ..fileio import read_regular
from ..format import DENSE_ACTIVATIONS, INPUTS_KEY
from ..inputs import source_record
from ..reference import ACTIVATION_FUNCTIONS
from ..spec import Conv1DLayer, DenseLayer, GRULayer, Layer, LayerNormLayer, LSTMLayer, ModelSpec
from ._lazy import require
from .numpy_importer import Convention, import_gru
from .onnx_graph import (
    Dim,
    Info,
    Propagation,
    check_arity,
    check_single_assignment,
    check_strings,
    dims_text,
    node_attributes,
)
from .onnx_inputs import merge_concat_inputs
from .onnx_loop import lower_gru_loops
from .torch_importer import _NOT_STREAMABLE

__all__ = ["ONNX_CONVENTION", "import_file", "import_model"]

ONNX_CONVENTION = ("onnx GRU: gates z,r,h; W [1,3H,I], R [1,3H,H], B [1,6H] = Wb then Rb; "
                   "h' = (1-z)*hh + z*h; linear_before_reset=0: hh = g(Wh x + Rh (r*h) + Wbh + Rbh)"
                   " -> reset_after=0; linear_before_reset=1: hh = g(Wh x + Wbh + r*(Rh h + Rbh))"
                   " -> reset_after=1")

_GLUE = ("Squeeze", "Unsqueeze", "Reshape", "Flatten", "Transpose", "Identity", "Dropout")
_ACTS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softmax": "softmax",
         "LeakyRelu": "leaky_relu", "Elu": "elu", "Gelu": "gelu", "Softplus": "softplus",
         "LogSoftmax": "log_softmax", "Swish": "silu"}
# Activation ops with no counterpart among the Dense activations: refused by name.
_OTHER_ACTS = ("HardSwish", "HardSigmoid", "Selu", "Celu", "Mish", "PRelu", "ThresholdedRelu",
               "Softsign", "Hardmax", "Clip", "Shrink")
# Elementwise ops an exporter spells an activation out with (GELU as x*0.5*(1+Erf(x/sqrt 2)) or
# its tanh form, SiLU as x*Sigmoid(x), Softplus with torch's threshold as Where(x > 20, x,
# Softplus(x)) ...); their other inputs must be scalar constants.
_FORMULA_OPS = ("Add", "Sub", "Mul", "Div", "Pow", "Neg", "Erf", "Tanh", "Sigmoid", "Exp", "Log",
                "Sqrt", "Reciprocal", "Softplus", "Relu", "Abs", "Greater", "Less", "Where", "Max",
                "Min")
# What such a formula may compute (a parameterless Dense activation), and its tolerance against
# the float64 function over _PROBE: float32 rounding of the formula's constants and steps stays
# below it, and the closest two (gelu and gelu_tanh) differ by 4.7e-4.
_FORMULA_ACTS = ("relu", "tanh", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus")
_FORMULA_TOL = 1e-5
_PROBE = np.concatenate([np.linspace(-30.0, 30.0, 6001), np.linspace(-1e-3, 1e-3, 201)])
_SHAPE_OPS = ("Shape", "Size")
_LOOPS = {
    "Scan": ("{label} is a Scan: a recurrence written as a scan over the time steps; gru_rt "
             "converts the ONNX GRU operator only"),
    "If": "{label} is an If (a branch on a computed condition); a stream cannot run it",
}
_SUPPORTED = ("gru_rt converts GRU, LSTM (forward), a causal 1-D Conv (between Transposes to and "
              "from (N, C, T), optionally after a Pad of the time axis on the left), "
              "MatMul(+Add), Gemm, LayerNormalization (last axis; "
              "also as the ReduceMean/Sub/Pow/Sqrt/Div formula of opsets below 17), "
              "the activations Relu, Tanh, "
              "Sigmoid, Softmax and LogSoftmax (last axis), LeakyRelu, Elu, Gelu, Softplus, "
              "Swish (alpha 1) and the GELU/SiLU formulas exporters write, and "
              "Squeeze/Unsqueeze/Reshape/Flatten/Transpose/Identity/Dropout glue that keeps the "
              "features on the last axis")


def _onnx() -> Any:
    return require("onnx", "reading an ONNX model")


def _label(node: Any) -> str:
    return f"node {node.name!r} ({node.op_type})" if node.name else f"a {node.op_type} node"


class _Graph:
    """The graph's producers and consumers, what the propagation knows of every tensor, and the
    nodes the conversion accounts for."""

    def __init__(self, model: Any):
        onnx = _onnx()
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          0)
        self.nodes = list(self.graph.node)
        consts: dict[str, np.ndarray] = {}
        for init in self.graph.initializer:
            consts[init.name] = onnx.numpy_helper.to_array(init)
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            if node.domain not in ("", "ai.onnx"):
                raise ConversionError(f"{_label(node)} is in the custom domain {node.domain!r}; "
                                      f"{_SUPPORTED}")
            if node.op_type in _LOOPS:
                raise ConversionError(_LOOPS[node.op_type].format(label=_label(node)))
            check_arity(node, self.opset)
            for name in node.output:
                if name:
                    self.producer[name] = node
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        self.x, self.state_inputs = _graph_inputs(self, consts)
        input_dims, hints = _input_dims(self.graph, self.x, self.state_inputs, consts)
        self.prop = Propagation(self.graph, self.opset, consts, input_dims, hints)
        self.hints = hints
        self.used: set[int] = set()  # id() of the nodes accounted for

    def info(self, name: str) -> Info:
        return self.prop.info(name)

    def dims(self, name: str) -> list[Dim] | None:
        return self.prop.info(name).dims

    def const(self, name: str, what: str) -> np.ndarray:
        """The value of a constant tensor (initializer, Constant node or folded glue), or an
        error."""
        value = self.info(name).const
        if value is not None:
            return value
        node = self.producer.get(name)
        where = f"computed by {_label(node)}" if node is not None else "a graph input"
        raise ConversionError(f"{what} {name!r} is {where}, not a constant (initializer); "
                              f"gru_rt needs its value when converting")

    def is_zero(self, name: str) -> bool:
        """True if the tensor is all zeros whatever the input (a zero constant, or zeros built
        with ConstantOfShape/Expand and reshaped or sliced)."""
        info = self.info(name)
        if info.const is not None:
            return bool(np.all(info.const == 0))
        return info.fill == 0.0

    def next_nodes(self, name: str) -> list[Any]:
        """The nodes consuming a tensor of the chain, except shape queries (and nodes whose
        outputs only shape queries read: torch.onnx.export's batch size of a GRU's zero state
        taken from a Transpose of the input that feeds nothing else)."""
        return [node for node in self.consumers.get(name, []) if not self.shape_only(node)]

    def shape_only(self, node: Any) -> bool:
        """A shape query, or a node whose outputs only shape queries read (at any depth)."""
        if node.op_type in _SHAPE_OPS:
            return True
        outputs = {o.name for o in self.graph.output}
        return all(o and o not in outputs and self.consumers.get(o) and all(
            self.shape_only(n) for n in self.consumers[o]) for o in node.output)


_GLUE_THROUGH = ("Slice", "Gather", "Squeeze", "Unsqueeze", "Reshape", "Identity", "Cast")


def _trace_to_input(g: _Graph, name: str) -> tuple[str, list[Any]] | None:
    """The graph input a tensor is cut from through Slice/Gather/Squeeze/… (first inputs only),
    with the nodes on the way; None if it comes from elsewhere."""
    path = []
    inputs = {i.name for i in g.graph.input}
    while name not in inputs:
        node = g.producer.get(name)
        if node is None or node.op_type not in _GLUE_THROUGH:
            return None
        path.append(node)
        name = node.input[0]
    return name, path


def _graph_inputs(g: _Graph, consts: Mapping[str, np.ndarray]) -> tuple[str, list[str]]:
    """The sequence input and the state inputs (those that feed a GRU's initial_h)."""
    inputs = [i.name for i in g.graph.input if i.name not in consts]
    state = []
    for node in g.nodes:
        if node.op_type == "GRU" and len(node.input) > 5 and node.input[5]:
            traced = _trace_to_input(g, node.input[5])
            if traced is not None and traced[0] not in state:
                state.append(traced[0])
        for k, what in ((5, "initial_h"), (6, "initial_c")):
            traced = _trace_to_input(g, node.input[k]) if node.op_type == "LSTM" \
                and len(node.input) > k and node.input[k] else None
            if traced is not None and traced[0] not in consts:
                raise ConversionError(f"{_label(node)}: {what} comes from the graph input "
                                      f"{traced[0]!r}; gru_rt converts an LSTM whose initial "
                                      f"states are zero (a stream starts from a zero state; set "
                                      f"it with Stream.state if needed)")
    data = [name for name in inputs if name not in state]
    if len(data) != 1:
        names = ", ".join(repr(n) for n in inputs) or "none"
        extra = (f" (state inputs, feeding a GRU's initial_h: "
                 f"{', '.join(map(repr, state))})" if state else "")
        raise ConversionError(f"the graph has {len(inputs)} data inputs ({names}){extra}; gru_rt "
                              f"converts a graph with one sequence input whose weights are "
                              f"initializers, plus optional state inputs that feed the GRUs' "
                              f"initial_h")
    return data[0], [n for n in inputs if n in state]


def _input_dims(graph: Any, x: str, state: list[str], consts: Mapping[str, np.ndarray]
                ) -> tuple[dict[str, list[Dim]], dict[str, int]]:
    """Each data input's shape with symbols for the sizes that may vary: every axis of the sequence
    input but the last (the batch and time sizes, even where the exporter fixed them to the
    example's: their sizes go to `hints`), and the unnamed or named sizes of the state inputs."""
    dims: dict[str, list[Dim]] = {}
    hints: dict[str, int] = {}
    for vi in graph.input:
        if vi.name not in (x, *state):
            continue
        ttype = vi.type.tensor_type
        if ttype.elem_type not in (1, 10, 11):  # float, float16, double
            raise ConversionError(f"graph input {vi.name!r} has element type {ttype.elem_type}, "
                                  f"expected a float type")
        if not ttype.HasField("shape"):
            continue
        shape: list[Dim] = []
        n = len(ttype.shape.dim)
        for k, d in enumerate(ttype.shape.dim):
            fixed = d.dim_value if d.HasField("dim_value") else None
            if fixed is not None and (vi.name != x or k == n - 1):
                shape.append(int(fixed))
                continue
            sym = d.dim_param if d.HasField("dim_param") and d.dim_param else f"{vi.name}.{k}"
            if fixed is not None:
                hints[sym] = int(fixed)
            shape.append(sym)
        dims[vi.name] = shape
    return dims, hints


class _Walker:
    """Follows the chain from the sequence input, building layers."""

    def __init__(self, g: _Graph):
        self.g = g
        self.cur = g.x
        self.layers: list[Layer] = []
        self.labels: list[str] = []
        self.grus: list[Any] = []  # the GRU and LSTM nodes, in layer order
        # GRU node id -> (state input, initial_h tensor, the nodes cutting it from the input)
        self.state_from: dict[int, tuple[str, str, list[Any]]] = {}
        self.time: Dim | None = None  # the time axis' size symbol, from the first GRU's X
        self.readout = ""  # how the graph's output picks the last step, if it does
        self.directions_axis = False  # a bidirectional GRU's Y: its direction axis still apart
        self.channels_first = False  # between the Transposes around Conv: (N, C, T)
        self.left_pad: tuple[Any, int] | None = None  # a Pad node's left padding of the time axis
        self.dense_open = False  # the last layer is a Dense that may still take a bias/activation
        self.transforms = "none"
        self.notes: list[str] = []  # transformations of the Dense weights
        self.state_text = ""  # a step graph's state mapping (metadata source.state)

    @property
    def dims(self) -> list[Dim] | None:
        return self.g.dims(self.cur)

    @property
    def rank(self) -> int | None:
        d = self.dims
        return None if d is None else len(d)

    @property
    def features(self) -> int | None:
        d = self.dims
        f = d[1 if self.channels_first else -1] if d and len(d) > 1 else None
        return f if isinstance(f, int) else None

    # -- helpers
    def _axis(self, node: Any, axis: int, rank: int | None) -> int:
        if axis >= 0:
            return axis
        if rank is None:
            raise ConversionError(f"{_label(node)}: the rank of {self.cur!r} is unknown, so axis "
                                  f"{axis} cannot be checked; give the graph input a shape")
        return axis + rank

    def _need_rank(self, node: Any) -> int:
        if self.rank is None:
            raise ConversionError(f"{_label(node)}: the rank of {self.cur!r} is unknown; give the "
                                  f"graph input a typed shape")
        return self.rank  # type: ignore[return-value]

    def _feature_mismatch(self, node: Any, need: int) -> None:
        if self.features is not None and need != self.features:
            raise ConversionError(f"{_label(node)} expects {need} input features, but "
                                  f"{self.cur!r} has {self.features}")

    def _is_time(self, d: Dim) -> bool:
        return self.time is not None and d == self.time

    # -- ops
    def gru(self, node: Any) -> str | None:
        g = self.g
        a = node_attributes(node)
        if self.readout:
            raise ConversionError(
                f"{_label(node)} reads {self.readout} (one vector per sequence), which a stream "
                f"cannot run; feed it Y instead")
        direction = a.get("direction", "forward")
        if isinstance(direction, bytes):
            direction = direction.decode()
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ConversionError(f"{_label(node)}: direction={direction!r}, expected forward, "
                                  f"reverse or bidirectional")
        nd = 2 if direction == "bidirectional" else 1
        lbr = int(a.get("linear_before_reset", 0))
        if lbr not in (0, 1):
            raise ConversionError(f"{_label(node)}: linear_before_reset={lbr}, expected 0 or 1")
        gate, act = self._recurrent_activations(node, a, 2)
        inputs = list(node.input) + [""] * (6 - len(node.input))
        w, r, b = self._recurrent_tensors(node, a, inputs, 3, nd)
        sets: list[dict[str, np.ndarray]] = [{"W": w[k], "U": r[k]} for k in range(nd)]
        if b is not None:
            for k in range(nd):
                sets[k]["b"] = b[k]
        self._initial_state(node, inputs[5])
        conv = Convention(gate_order="zrn", layout="out_in", reset="after" if lbr else "before",
                          activation=act, gate_activation=gate)
        layer, self.transforms = import_gru(sets[0], conv, node.name)
        if direction == "reverse":
            layer = replace(layer, direction="reverse")
        elif direction == "bidirectional":  # Y [T, 2, B, H]: the exporter's Transpose and
            back, _ = import_gru(sets[1], conv, node.name)  # Reshape make it [T, B, 2H]
            layer = replace(layer, direction="bidirectional", merge="concat", backward=back)
            self.directions_axis = True
        self.layers.append(layer)
        self.grus.append(node)
        way = "" if direction == "forward" else f",{direction}"
        self.labels.append(f"{node.name or 'GRU'}(GRU linear_before_reset={lbr},{gate},{act}"
                           f"{way})")
        self.dense_open = False
        outs = list(node.output) + [""] * (2 - len(node.output))
        return self._chain_output(g, node, outs[0], outs[1], direction)

    def _recurrent_tensors(self, node: Any, a: dict[str, Any], inputs: list[str], gates: int,
                           nd: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The checks a GRU (gates 3) and an LSTM (gates 4) share: clip, layout, X the chain's
        rank-3 tensor on the first GRU's time axis, no sequence_lens; W [nd, gates·H, I],
        R [nd, gates·H, H] and B [nd, 2·gates·H] (or None) constants of matching shapes."""
        g = self.g
        if "clip" in a:
            raise ConversionError(f"{_label(node)}: the clip attribute ({a['clip']}) is not "
                                  f"supported")
        layout = int(a.get("layout", 0))
        if layout not in (0, 1):
            raise ConversionError(f"{_label(node)}: layout={layout}, expected 0 or 1")
        if inputs[0] != self.cur:
            raise ConversionError(f"{_label(node)} takes {self.cur!r} as an input other than X")
        if self.rank is not None and self.rank != 3:
            raise ConversionError(f"{_label(node)}: its input X {self.cur!r} has rank "
                                  f"{self.rank}, expected 3")
        self._time_axis(node, layout)
        w = g.const(inputs[1], f"{_label(node)}: W")
        r = g.const(inputs[2], f"{_label(node)}: R")
        if r.ndim != 3 or r.shape[0] != nd or r.shape[1] != gates * r.shape[2] \
                or r.shape[2] == 0:
            raise ConversionError(f"{_label(node)}: R has shape {r.shape}, expected "
                                  f"({nd}, {gates}*hidden_size, hidden_size)")
        h = int(r.shape[2])
        if int(a.get("hidden_size", h)) != h:
            raise ConversionError(f"{_label(node)}: hidden_size is {a['hidden_size']} but R has "
                                  f"shape {r.shape}")
        if w.ndim != 3 or w.shape[:2] != (nd, gates * h):
            raise ConversionError(f"{_label(node)}: W has shape {w.shape}, expected ({nd}, "
                                  f"{gates * h}, input_size)")
        self._feature_mismatch(node, int(w.shape[2]))
        b = None
        if inputs[3]:
            b = g.const(inputs[3], f"{_label(node)}: B")
            if b.shape != (nd, 2 * gates * h):
                raise ConversionError(f"{_label(node)}: B has shape {b.shape}, expected "
                                      f"({nd}, {2 * gates * h})")
        if inputs[4]:
            raise ConversionError(f"{_label(node)}: sequence_lens {inputs[4]!r} is given; gru_rt "
                                  f"streams every step, so sequence_lens must be absent")
        return w, r, b

    def lstm(self, node: Any) -> str | None:
        """An ONNX LSTM (forward, no peepholes, zero initial states) as a canonical LSTM layer:
        ONNX's gate blocks i, o, f, c become i, f, g, o; B holds Wb then Rb."""
        g = self.g
        a = node_attributes(node)
        if self.readout:
            raise ConversionError(
                f"{_label(node)} reads {self.readout} (one vector per sequence), which a stream "
                f"cannot run; feed it Y instead")
        direction = a.get("direction", "forward")
        if direction != "forward":
            raise ConversionError(f"{_label(node)}: direction={direction!r}; gru_rt's LSTM layers "
                                  f"run forward only")
        if int(a.get("input_forget", 0)):
            raise ConversionError(f"{_label(node)}: input_forget={a['input_forget']} (the forget "
                                  f"gate coupled to the input gate) is not supported")
        gate, act = self._recurrent_activations(node, a, 3)
        inputs = list(node.input) + [""] * (8 - len(node.input))
        w, r, b = self._recurrent_tensors(node, a, inputs, 4, 1)
        h = r.shape[2]
        for k, what in ((5, "initial_h"), (6, "initial_c")):
            if inputs[k] and not g.is_zero(inputs[k]):
                raise ConversionError(f"{_label(node)}: {what} {inputs[k]!r} is not a zero "
                                      f"constant; a gru_rt stream starts from a zero state (set "
                                      f"it with Stream.state if needed)")
        if inputs[7]:
            p = g.const(inputs[7], f"{_label(node)}: P")
            if np.any(p != 0):
                raise ConversionError(f"{_label(node)}: P {inputs[7]!r} holds peephole weights "
                                      f"(non-zero); gru_rt's LSTM has no peepholes")
        order = np.concatenate([np.arange(k * h, (k + 1) * h) for k in (0, 2, 3, 1)])  # i,f,c,o
        b = np.zeros((1, 8 * h)) if b is None else b
        layer = LSTMLayer(w_ih=np.asarray(w[0][order], np.float64),
                          w_hh=np.asarray(r[0][order], np.float64),
                          b_ih=np.asarray(b[0, :4 * h][order], np.float64),
                          b_hh=np.asarray(b[0, 4 * h:][order], np.float64),
                          activation=act, gate_activation=gate, name=node.name)
        self.layers.append(layer)
        self.grus.append(node)
        self.labels.append(f"{node.name or 'LSTM'}(LSTM {gate},{act})")
        self._note("LSTM gate blocks i,o,f,c reordered to i,f,g,o")
        self.dense_open = False
        outs = list(node.output) + [""] * (3 - len(node.output))
        y, y_h, y_c = outs
        if y_c and (g.next_nodes(y_c) or self._is_output(y_c)):
            raise ConversionError(f"{_label(node)}: its final cell state Y_c {y_c!r} is used; "
                                  f"gru_rt converts Y or Y_h (the hidden state)")
        return self._chain_output(g, node, y, y_h, "forward")

    def _chain_output(self, g: Any, node: Any, y: str, y_h: str, direction: str) -> str:
        """The output of a GRU or LSTM node the chain continues with: Y (every step's output), or
        Y_h (the final state, which is the last step's output only for a forward layer)."""
        y_next = g.next_nodes(y) if y else []
        yh_next = g.next_nodes(y_h) if y_h else []
        stacked = all(n.op_type == "Concat" for n in yh_next)  # the layers' final states
        if y_next and yh_next and not stacked:
            raise ConversionError(f"{_label(node)}: both Y {y!r} and Y_h {y_h!r} feed other "
                                  f"nodes; only a single chain can be converted")
        if y_next or self._is_output(y) or not y_h:
            return y
        if direction != "forward":
            raise ConversionError(f"{_label(node)}: the chain continues through Y_h, the final "
                                  f"state of its {direction} direction(s), which is no step's "
                                  f"output; feed Y on instead (Model.run(..., readout='last') "
                                  f"reads the last step's)")
        self.readout = f"the final state Y_h of {_label(node)}"
        return y_h

    def _time_axis(self, node: Any, layout: int) -> None:
        """X's time axis must be the first GRU's: glue that moved or merged it changes the order
        in which steps reach the GRU."""
        d = self.dims
        if d is None:
            return
        t, b = (d[1], d[0]) if layout else (d[0], d[1])
        axis = 1 if layout else 0
        if self.time is None:
            if isinstance(t, str) and ("*" in t or "reshaped" in t or "[" in t):
                raise ConversionError(f"{_label(node)}: the time axis {axis} of X {self.cur!r} "
                                      f"(shape {dims_text(d)}) does not follow one axis of the "
                                      f"graph input {self.g.x!r}")
            self.time = t
            return
        if t != self.time and not (t == 1 and self.g.hints.get(str(self.time)) == 1):
            raise ConversionError(f"{_label(node)}: X {self.cur!r} has shape {dims_text(d)}, "
                                  f"whose time axis {axis} holds {t}, but the first GRU's time "
                                  f"axis holds {self.time}; the glue between them moved or "
                                  f"merged the time axis (a size the exporter fixed to the "
                                  f"example input's can do this)")
        if isinstance(b, str) and isinstance(self.time, str) and self.time in b.split("*"):
            raise ConversionError(f"{_label(node)}: the batch axis of X {self.cur!r} (shape "
                                  f"{dims_text(d)}) holds the time size {self.time}")

    def _initial_state(self, node: Any, name: str) -> None:
        """initial_h absent, zero, or cut from a state input (a streaming step graph)."""
        g = self.g
        if not name or g.is_zero(name):
            if g.state_inputs:
                raise ConversionError(f"{_label(node)} starts from a zero state while other GRUs "
                                      f"take theirs from the state inputs "
                                      f"({', '.join(map(repr, g.state_inputs))}); a step graph "
                                      f"must take every GRU's state from an input")
            return
        traced = _trace_to_input(g, name)
        if traced is None or traced[0] not in g.state_inputs:
            raise ConversionError(f"{_label(node)}: initial_h {name!r} is not a zero constant; "
                                  f"a gru_rt stream starts from a zero state (set it with "
                                  f"Stream.state if needed)")
        for step in traced[1]:
            g.used.add(id(step))
        self.state_from[id(node)] = (traced[0], name, traced[1])

    def _is_output(self, name: str) -> bool:
        return bool(name) and any(o.name == name for o in self.g.graph.output)

    def _recurrent_activations(self, node: Any, a: dict[str, Any], n: int) -> tuple[str, str]:
        """(gate activation, activation) from a GRU's (f, g) (n = 2) or an LSTM's (f, g, h)
        (n = 3: g and h must be the same, gru_rt's LSTM applies one to the candidate and the
        cell)."""
        names = "(f, g)" if n == 2 else "(f, g, h)"
        acts = a.get("activations", ["Sigmoid", "Tanh", "Tanh"][:n])
        acts = [x.decode() if isinstance(x, bytes) else x for x in acts]
        if len(acts) == 2 * n and acts[:n] == acts[n:] and \
                a.get("direction") in ("bidirectional", b"bidirectional"):
            acts = acts[:n]  # both directions' (f, g), the same
            half = len(a.get("activation_alpha", [])) // 2
            a = {**a, "activation_alpha": list(a.get("activation_alpha", []))[:half],
                 "activation_beta": list(a.get("activation_beta", []))[:len(
                     a.get("activation_beta", [])) // 2]}
        if len(acts) != n:
            raise ConversionError(f"{_label(node)}: activations {acts} lists {len(acts)} "
                                  f"functions, expected {n} {names} per direction, the same in "
                                  f"both")
        if n == 3 and acts[1] != acts[2]:
            raise ConversionError(f"{_label(node)}: activations g={acts[1]!r} and h={acts[2]!r} "
                                  f"differ; gru_rt's LSTM applies one activation to the "
                                  f"candidate and to the cell state (Tanh or Relu)")
        alphas = list(a.get("activation_alpha", []))
        betas = list(a.get("activation_beta", []))
        f, g = acts[:2]
        if f == "Sigmoid":
            gate = "sigmoid"
        elif f == "HardSigmoid":
            alpha = float(alphas.pop(0)) if alphas else 0.2
            beta = float(betas.pop(0)) if betas else 0.5
            if math.isclose(alpha, 0.2, rel_tol=1e-6) and math.isclose(beta, 0.5, rel_tol=1e-6):
                gate = "hard_sigmoid_k2"
            elif math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5,
                                                                          rel_tol=1e-6):
                gate = "hard_sigmoid"
            else:
                raise ConversionError(f"{_label(node)}: HardSigmoid with alpha={alpha}, "
                                      f"beta={beta} is not supported (alpha 0.2 or 1/6 with beta "
                                      f"0.5)")
        else:
            raise ConversionError(f"{_label(node)}: gate activation f={f!r} is not supported "
                                  f"(Sigmoid, HardSigmoid)")
        if g not in ("Tanh", "Relu"):
            raise ConversionError(f"{_label(node)}: candidate activation g={g!r} is not "
                                  f"supported (Tanh, Relu)")
        if alphas or betas:
            raise ConversionError(f"{_label(node)}: activation_alpha/activation_beta hold values "
                                  f"that no activation of {acts} uses")
        return gate, g.lower()

    def glue(self, node: Any) -> str:
        op, a = node.op_type, node_attributes(node)
        if op in ("Identity", "Dropout"):
            if op == "Dropout" and len(node.output) > 1 and node.output[1] \
                    and self.g.next_nodes(node.output[1]):
                raise ConversionError(f"{_label(node)}: its mask output is used")
            return node.output[0]
        if op == "Transpose":
            return self.transpose(node, a.get("perm"))
        if op in ("Squeeze", "Unsqueeze"):
            axes = a.get("axes")
            if axes is None and len(node.input) > 1 and node.input[1]:
                axes = [int(v) for v in np.ravel(self.g.const(node.input[1], f"{_label(node)}: "
                                                                             f"axes"))]
            if op == "Squeeze":
                if axes is None:
                    if self.features == 1:
                        raise ConversionError(f"{_label(node)}: squeezes every size-1 axis, which "
                                              f"would remove the single feature axis")
                    return node.output[0]
                r = self._need_rank(node)
                norm = [self._axis(node, int(x), r) for x in axes]
                if r - 1 in norm:
                    raise ConversionError(f"{_label(node)}: squeezes the feature axis")
            else:
                if axes is None:
                    raise ConversionError(f"{_label(node)}: no axes given")
                r = self._need_rank(node) + len(axes)
                norm = [self._axis(node, int(x), r) for x in axes]
                if r - 1 in norm:
                    raise ConversionError(f"{_label(node)}: inserts an axis after the features")
            return node.output[0]
        if op == "Flatten":
            r = self._need_rank(node)
            axis = self._axis(node, int(a.get("axis", 1)), r)
            if axis != r - 1:
                raise ConversionError(f"{_label(node)}: axis {a.get('axis', 1)} merges the "
                                      f"features with other axes; only axis=-1 converts")
            return node.output[0]
        assert op == "Reshape"
        if self.directions_axis:
            return self._merge_directions(node)
        target = self.g.info(node.input[1])
        shape = (target.const.ravel().tolist() if target.const is not None else target.elems)
        if shape is None:
            raise ConversionError(f"{_label(node)}: its target shape {node.input[1]!r} is "
                                  f"neither a constant nor computed from the input's shape")
        out = self.g.dims(node.output[0]) or []
        if self.features is None or not out or out[-1] != self.features:
            raise ConversionError(f"{_label(node)}: reshapes to {shape}; only a reshape whose "
                                  f"last dimension is the feature size "
                                  f"({self.features if self.features is not None else '?'}) "
                                  f"converts")
        if any(isinstance(d, str) and "reshaped" in d for d in out):
            raise ConversionError(
                f"{_label(node)}: reshapes {dims_text(self.dims)} to {dims_text(shape)}, which "
                f"does not keep the batch and time axes apart (a size the exporter fixed to the "
                f"example input's where the input's axis is {self.g.x!r}'s varying size, or "
                f"axes regrouped); only reshapes that keep, merge or drop size-1 axes convert")
        return node.output[0]

    def transpose(self, node: Any, perm: list[int] | None) -> str:
        """A Transpose that keeps the features last, or one into or out of the (N, C, T) layout
        of ONNX's Conv (the features moved to axis 1 of a rank-3 tensor, and back last)."""
        if perm is not None and self.channels_first and len(perm) == 3 and perm[2] == 1:
            self.channels_first = False
            return node.output[0]
        if perm is not None and not self.channels_first and len(perm) == 3 and perm[1] == 2 \
                and self.rank == 3 and not self.readout:
            d = self.g.dims(node.output[0]) or []
            t = d[2] if len(d) == 3 else None
            if isinstance(t, str) and ("*" in t or "reshaped" in t or "[" in t):
                raise ConversionError(f"{_label(node)}: moves {dims_text(self.dims)} to "
                                      f"{dims_text(d)}, whose last axis does not follow one axis "
                                      f"of the graph input {self.g.x!r} (a Conv's time axis)")
            if self.time is None:
                self.time = t
            elif t != self.time:
                raise ConversionError(f"{_label(node)}: puts {t} last for a Conv, but the time "
                                      f"axis holds {self.time}")
            self.channels_first = True
            return node.output[0]
        if perm is None or perm[-1] != len(perm) - 1 or self.channels_first:
            raise ConversionError(f"{_label(node)}: perm {perm} moves the feature axis "
                                  f"{'(1 of the Conv layout (N, C, T))' if self.channels_first else '(the last)'}; "  # noqa: E501
                                  f"only a transpose that keeps it last, or moves a rank-3 "
                                  f"tensor to a Conv's (N, C, T) and back, converts")
        return node.output[0]

    def pad(self, node: Any) -> str:
        """Zeros before the time axis of a Conv's input (what torch.onnx.export writes for
        ConstantPad1d((p, 0)) or F.pad(x, (p, 0))): the Conv that must follow is causal."""
        a = node_attributes(node)
        ins = [self.g.info(n) if n else None for n in node.input]
        mode = a.get("mode", "constant")
        value = self.g.info(node.input[2]).const if len(node.input) > 2 and node.input[2] \
            else np.asarray(a.get("value", 0.0))
        if node.input[0] != self.cur or not self.channels_first:
            raise ConversionError(f"{_label(node)} pads {self.cur!r} outside a Conv's (N, C, T) "
                                  f"input; gru_rt converts a Pad only right before a Conv")
        if mode != "constant" or value is None or np.any(value != 0):
            raise ConversionError(f"{_label(node)}: pads with mode={mode!r}, value "
                                  f"{'?' if value is None else np.ravel(value).tolist()}; a "
                                  f"causal Conv pads with zeros")
        amounts = self.g.prop.pad_amounts(node, a, ins, 3)
        if amounts is None:
            raise ConversionError(f"{_label(node)}: its pads are not constants")
        if amounts[0] != (0, 0) or amounts[1] != (0, 0) or amounts[2][1] != 0 \
                or amounts[2][0] < 0:
            raise ConversionError(f"{_label(node)}: pads (begin, end) {amounts} of (N, C, T); "
                                  f"only zeros before the time axis make a Conv causal: "
                                  f"{_NOT_STREAMABLE}")
        nxt = self.g.next_nodes(node.output[0])
        if len(nxt) != 1 or nxt[0].op_type != "Conv":
            raise ConversionError(f"{_label(node)} pads the time axis, but "
                                  f"{', '.join(_label(n) for n in nxt) or 'nothing'} follows "
                                  f"it, not a Conv")
        self.left_pad = (node, amounts[2][0])
        return node.output[0]

    def conv(self, node: Any) -> str:
        """A 1-D Conv (W [O, C/group, k]) on the (N, C, T) tensor as a causal Conv1D layer: its
        left padding (its pads, plus a Pad before it) must be (k - 1)·dilation and nothing on the
        right, stride 1, group 1 or depthwise (group = C)."""
        a = node_attributes(node)
        left = self.left_pad[1] if self.left_pad is not None else 0
        self.left_pad = None
        if node.input[0] != self.cur:
            raise ConversionError(f"{_label(node)} takes {self.cur!r} as its W or B input")
        w = np.asarray(self.g.const(node.input[1], f"{_label(node)}: W"), np.float64)
        if w.ndim == 3 and 0 in w.shape:
            raise ConversionError(f"{_label(node)}: W has shape {w.shape}, with no weights")
        if w.ndim != 3:
            raise ConversionError(f"{_label(node)}: W has shape {w.shape}, a {w.ndim - 2}-D "
                                  f"convolution; gru_rt converts 1-D convolutions over time "
                                  f"(W [out, in/group, kernel])")
        if not self.channels_first:
            raise ConversionError(f"{_label(node)} convolves {self.cur!r} (shape "
                                  f"{dims_text(self.dims)}), which is not the features moved to "
                                  f"axis 1 by a Transpose; gru_rt converts a Conv between "
                                  f"Transposes from and back to features-last")
        o, per_group, k = (int(n) for n in w.shape)
        dilation = int((a.get("dilations") or [1])[0])
        strides = list(a.get("strides") or [1])
        group = int(a.get("group", 1))
        channels = self.features
        if strides != [1]:
            raise ConversionError(f"{_label(node)}: strides {strides}: {_NOT_STREAMABLE}")
        if list(a.get("kernel_shape", [k])) != [k] or dilation < 1:
            raise ConversionError(f"{_label(node)}: kernel_shape {a.get('kernel_shape')}, "
                                  f"dilations {a.get('dilations')} do not fit W {w.shape}")
        depthwise = group > 1
        if channels is None or per_group * group != channels or (
                depthwise and (group != channels or o % channels)):
            raise ConversionError(f"{_label(node)}: group={group} with W {w.shape} on "
                                  f"{channels} channels; gru_rt converts group 1 and depthwise "
                                  f"(group = in channels, out channels a multiple of it)")
        auto_pad = a.get("auto_pad", "NOTSET")
        if auto_pad not in ("NOTSET", "VALID"):
            raise ConversionError(f"{_label(node)}: auto_pad={auto_pad!r} pads both ends: "
                                  f"{_NOT_STREAMABLE}")
        pads = [int(v) for v in a.get("pads", [0, 0])] if auto_pad == "NOTSET" else [0, 0]
        need = (k - 1) * dilation
        if len(pads) != 2 or pads[1] != 0 or left + pads[0] != need:
            raise ConversionError(
                f"{_label(node)}: pads {pads}{f' after a Pad of {left}' if left else ''}: a "
                f"causal Conv1D needs (kernel - 1)·dilation = {need} zeros on the left and none "
                f"on the right; {_NOT_STREAMABLE}")
        b = np.zeros(o)
        if len(node.input) > 2 and node.input[2]:
            b = self._bias(node, np.asarray(self.g.const(node.input[2], f"{_label(node)}: B"),
                                            np.float64), o)
        self.layers.append(Conv1DLayer(w=w.reshape(o, -1), b=b, in_channels=channels,
                                       kernel_size=k, dilation=dilation, depthwise=depthwise,
                                       name=node.name))
        self.labels.append(f"{node.name or 'Conv'}(Conv k={k} d={dilation}"
                           f"{' depthwise' if depthwise else ''})")
        self.dense_open = True
        return node.output[0]

    def _merge_directions(self, node: Any) -> str:
        """A bidirectional GRU's Y, transposed to [..., 2, H]: a Reshape that joins the last two
        axes into 2H is the concat of the forward and backward outputs (torch.onnx.export's
        [T, 2, B, H] → Transpose(0, 2, 1, 3) → Reshape(T, B, 2H))."""
        d, out = self.dims, self.g.dims(node.output[0])
        gru = self.layers[-1]
        assert isinstance(gru, GRULayer)
        h = gru.hidden_size
        if d is None or out is None or len(d) != 4 or d[-2] != 2 or d[-1] != h \
                or len(out) != 3 or out[-1] != 2 * h or list(out[:2]) != list(d[:2]):
            raise ConversionError(
                f"{_label(node)}: reshapes the bidirectional GRU output {self.cur!r} (shape "
                f"{dims_text(d)}) to {dims_text(out)}; only a reshape of [time, batch, 2, {h}] "
                f"(or batch, time) to [time, batch, {2 * h}] converts (forward then backward, as "
                f"torch.onnx.export writes it)")
        self.directions_axis = False
        return node.output[0]

    def gather(self, node: Any) -> str:
        """Gather at one index: the last time step (a readout), the last layer's final state of a
        stack, or the only entry of a size-1 axis (a squeeze)."""
        d = self._need_dims(node)
        axis = int(node_attributes(node).get("axis", 0))
        axis = axis + len(d) if axis < 0 else axis
        idx = self.g.const(node.input[1], f"{_label(node)}: indices")
        if node.input[0] != self.cur or idx.ndim != 0:
            raise ConversionError(f"{_label(node)}: gathers {node.input[1]!r} of shape "
                                  f"{idx.shape} from {node.input[0]!r}; only one scalar index of "
                                  f"the chain's tensor {self.cur!r} converts")
        if axis == len(d) - 1:
            raise ConversionError(f"{_label(node)}: gathers on the feature axis")
        k = int(idx)
        if self._is_time(d[axis]) and not self.readout:
            if k != -1 and k != self.g.hints.get(str(d[axis]), 0) - 1:
                raise ConversionError(f"{_label(node)}: picks time step {k} of {self.cur!r} "
                                      f"(shape {dims_text(d)}); a stream converts only the last "
                                      f"step (index -1)")
            self.readout = f"the last time step (Gather index {k} on axis {axis})"
            return node.output[0]
        if d[axis] == 1 and k in (0, -1):
            return node.output[0]
        raise ConversionError(f"{_label(node)}: gathers index {k} on axis {axis} of "
                              f"{self.cur!r} (shape {dims_text(d)}), which is neither the time "
                              f"axis ({self.time}) nor an axis of size 1")

    def slice(self, node: Any) -> str:
        """Slice [-1:] on the time axis (the last step, kept as an axis of size 1), or a slice
        that keeps every axis whole."""
        d = self._need_dims(node)
        out = self.g.dims(node.output[0])
        if out is None or node.input[0] != self.cur:
            raise ConversionError(f"{_label(node)}: its starts/ends/axes are not constants")
        changed = [k for k in range(len(d)) if d[k] != out[k]]
        if not changed:
            return node.output[0]
        if len(changed) == 1 and self._is_time(d[changed[0]]) and out[changed[0]] == 1 \
                and not self.readout:
            starts, ends = (self.g.info(n).const for n in node.input[1:3])
            if starts is not None and int(np.ravel(starts)[0]) == -1:
                self.readout = f"the last time step (Slice [-1:] on axis {changed[0]})"
                return node.output[0]
        raise ConversionError(f"{_label(node)}: slices {self.cur!r} from {dims_text(d)} to "
                              f"{dims_text(out)}; only the last time step ([-1:] on the time "
                              f"axis {self.time}) converts")

    def concat(self, node: Any) -> str:
        """The layers' final states stacked (torch's h_n), read by a Gather/Slice of the last
        layer's: the chain continues with the last layer's final state."""
        a = node_attributes(node)
        parts = list(node.input)
        mine = [id(n) for n in self.grus]
        sources = [self.g.producer.get(p) for p in parts]
        if not self.readout.startswith("the final state") or any(
                src is None or src.op_type not in ("GRU", "LSTM") or id(src) not in mine
                or len(src.output) < 2 or src.output[1] != p for src, p in zip(sources, parts)):
            raise ConversionError(f"{_label(node)}: concatenates {', '.join(map(repr, parts))}; "
                                  f"only the final states Y_h of the chain's GRUs (torch's h_n) "
                                  f"can be concatenated")
        if int(a.get("axis", 0)) != 0 or parts[-1] != self.cur:
            raise ConversionError(f"{_label(node)}: stacks the final states on axis "
                                  f"{a.get('axis', 0)} with {self.cur!r} at position "
                                  f"{parts.index(self.cur)}; only axis 0 with the last layer's "
                                  f"last converts")
        pick = self.g.next_nodes(node.output[0])
        n = len(parts)
        if len(pick) == 1 and pick[0].op_type == "Gather" \
                and int(node_attributes(pick[0]).get("axis", 0)) == 0:
            k = self.g.const(pick[0].input[1], f"{_label(pick[0])}: indices")
            if k.ndim == 0 and int(k) in (-1, n - 1):
                self.g.used.add(id(pick[0]))
                self.readout = f"the last layer's final state (h_n[-1], {_label(pick[0])})"
                return pick[0].output[0]
            what = f"index {k.tolist()}"
        else:
            what = ", ".join(_label(p) for p in pick) or "nothing"
        raise ConversionError(f"{_label(node)} stacks the final states of {n} GRUs; it must be "
                              f"read by a Gather of the last one (index -1 on axis 0), found "
                              f"{what}")

    def _need_dims(self, node: Any) -> list[Dim]:
        d = self.dims
        if d is None:
            raise ConversionError(f"{_label(node)}: the shape of {self.cur!r} is unknown; give "
                                  f"the graph input a typed shape")
        return d

    def matmul(self, node: Any) -> str:
        if node.input[0] != self.cur:
            raise ConversionError(f"{_label(node)} multiplies by {self.cur!r} from the left; "
                                  f"only x @ W (a Dense layer) converts")
        w = self.g.const(node.input[1], f"{_label(node)}: B")
        if w.ndim != 2:
            raise ConversionError(f"{_label(node)}: B has shape {w.shape}, expected a 2-D "
                                  f"(in, out) matrix")
        self._feature_mismatch(node, int(w.shape[0]))
        self._dense(node, np.asarray(w, np.float64).T, np.zeros(w.shape[1]), "MatMul")
        self._note("MatMul weights transposed (in,out)->(out,in)")
        return node.output[0]

    def gemm(self, node: Any) -> str:
        a = node_attributes(node)
        if node.input[0] != self.cur:
            raise ConversionError(f"{_label(node)} takes {self.cur!r} as its B input; only A "
                                  f"(the features) can be the chain's tensor")
        if int(a.get("transA", 0)):
            raise ConversionError(f"{_label(node)}: transA=1 is not supported")
        if self.rank is not None and self.rank != 2:
            raise ConversionError(f"{_label(node)}: its input has rank {self.rank}, expected 2")
        w = np.asarray(self.g.const(node.input[1], f"{_label(node)}: B"), np.float64)
        if w.ndim != 2:
            raise ConversionError(f"{_label(node)}: B has shape {w.shape}, expected 2-D")
        if not int(a.get("transB", 0)):
            w = w.T  # now (out, in)
            self._note("Gemm transB=0 weights transposed")
        if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
            self._note("Gemm alpha/beta folded into weights/bias")
        w = w * float(a.get("alpha", 1.0))
        self._feature_mismatch(node, int(w.shape[1]))
        o = w.shape[0]
        b = np.zeros(o)
        if len(node.input) > 2 and node.input[2]:
            c = np.asarray(self.g.const(node.input[2], f"{_label(node)}: C"), np.float64)
            b = self._bias(node, c, o) * float(a.get("beta", 1.0))
        self._dense(node, w, b, "Gemm")
        return node.output[0]

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _bias(self, node: Any, c: np.ndarray, o: int) -> np.ndarray:
        if c.size == 1:
            return np.full(o, float(c.ravel()[0]))
        if c.shape[-1] != o or c.size != o:
            raise ConversionError(f"{_label(node)}: bias has shape {c.shape}, expected ({o},) "
                                  f"(or leading axes of size 1)")
        return c.reshape(o)

    def _dense(self, node: Any, w: np.ndarray, b: np.ndarray, label: str) -> None:
        self.layers.append(DenseLayer(w=w, b=b, name=node.name))
        self.labels.append(f"{node.name or label}({label})")
        self.dense_open = True

    def add(self, node: Any) -> str:
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, DenseLayer) or not self.dense_open \
                or last.activation != "linear" or np.any(last.b != 0):
            raise ConversionError(f"{_label(node)}: an Add converts only as the bias right after "
                                  f"a MatMul/Gemm")
        other = [n for n in node.input if n != self.cur]
        if len(other) != 1:
            raise ConversionError(f"{_label(node)}: adds {self.cur!r} to itself")
        c = np.asarray(self.g.const(other[0], f"{_label(node)}: bias"), np.float64)
        last.b = self._bias(node, c, last.output_size)
        self.labels[-1] = self.labels[-1][:-1] + "+Add)"
        return node.output[0]

    def _open_dense(self, what: str) -> DenseLayer | Conv1DLayer:
        """The Dense (or Conv) layer an activation applies to: the chain's last layer, with no
        activation yet."""
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, (DenseLayer, Conv1DLayer)) or not self.dense_open:
            after = (f"a GRU ({self.labels[-1]})" if isinstance(last, GRULayer)
                     else "the graph input")
            raise ConversionError(f"{what} follows {after}, not a Dense layer (MatMul/Gemm); an "
                                  f"activation converts only right after one")
        if last.activation != "linear":
            raise ConversionError(f"{what}: the Dense layer before it already applies "
                                  f"{last.activation}")
        return last

    def activation(self, node: Any) -> str:
        op, a = node.op_type, node_attributes(node)
        last = self._open_dense(_label(node))
        act, alpha = _ACTS[op], None
        if op in ("Softmax", "LogSoftmax"):
            r = self._need_rank(node)
            default = -1 if self.g.opset >= 13 else 1
            axis = self._axis(node, int(a.get("axis", default)), r)
            if axis != (1 if self.channels_first else r - 1):
                raise ConversionError(f"{_label(node)}: {act} over axis {axis} of a rank-{r} "
                                      f"tensor; only the feature (last) axis converts")
        elif op in ("LeakyRelu", "Elu"):
            alpha = float(a.get("alpha", 0.01 if op == "LeakyRelu" else 1.0))
        elif op == "Gelu":
            approximate = a.get("approximate", "none")
            if approximate not in ("none", "tanh"):
                raise ConversionError(f"{_label(node)}: approximate={approximate!r}, expected "
                                      f"'none' or 'tanh'")
            act = "gelu" if approximate == "none" else "gelu_tanh"
        elif op == "Swish" and float(a.get("alpha", 1.0)) != 1.0:
            raise ConversionError(f"{_label(node)}: Swish with alpha={a['alpha']} (x*sigmoid"
                                  f"(alpha*x)); gru_rt's silu is alpha 1")
        last.activation, last.alpha = act, alpha
        self.labels[-1] = self.labels[-1][:-1] + f"+{op})"
        return node.output[0]

    def formula(self, nodes: list[Any], out: str) -> str:
        """An activation spelled out in elementwise nodes (`_formula_region`): the one of
        _FORMULA_ACTS it computes, or an error naming the nodes."""
        names = ", ".join(_label(n) for n in nodes)
        last = self._open_dense(names)
        act, err = _formula_activation(self.g, self.cur, nodes, out)
        if act is None:
            raise ConversionError(
                f"{names} compute an elementwise function of {self.cur!r} that is none of the "
                f"Dense activations gru_rt spells out from a formula ({', '.join(_FORMULA_ACTS)};"
                f" the closest, {err[0]}, differs by {err[1]:.2g}); state it as one ONNX "
                f"activation op")
        for node in nodes:
            self.g.used.add(id(node))
        last.activation = act
        self.labels[-1] = self.labels[-1][:-1] + f"+{act} formula: " + "/".join(
            n.op_type for n in nodes) + ")"
        return out

    def layernorm(self, node: Any) -> str:
        """LayerNormalization (opset 17) over the last axis: Scale and B constants of the feature
        size; the Mean and InvStdDev outputs must be unused."""
        a = node_attributes(node)
        r = self._need_rank(node)
        if self._axis(node, int(a.get("axis", -1)), r) != r - 1:
            raise ConversionError(f"{_label(node)}: normalises from axis {a.get('axis')} of a "
                                  f"rank-{r} tensor; only the feature (last) axis converts")
        if any(o and self.g.next_nodes(o) for o in node.output[1:]):
            raise ConversionError(f"{_label(node)}: its Mean/InvStdDev outputs are used; only Y "
                                  f"converts")
        gamma = np.asarray(self.g.const(node.input[1], f"{_label(node)}: Scale"), np.float64)
        d = self.features if self.features is not None else gamma.size
        gamma = self._bias(node, gamma, d)
        beta = np.zeros(d)
        if len(node.input) > 2 and node.input[2]:
            beta = self._bias(node, np.asarray(self.g.const(node.input[2], f"{_label(node)}: B"),
                                               np.float64), d)
        self.layers.append(LayerNormLayer(gamma=gamma, beta=beta,
                                          eps=float(a.get("epsilon", 1e-5)), name=node.name))
        self.labels.append(f"{node.name or 'LayerNormalization'}(LayerNormalization)")
        self.dense_open = False
        return node.output[0]

    def decomposed_layernorm(self, nodes: list[Any], out: str, eps: float, gamma: str | None,
                             beta: str | None) -> str:
        """The LayerNorm of `_decomposed_layernorm`'s nodes, as one layer."""
        for node in nodes:
            self.g.used.add(id(node))
        d = self.features
        if d is None:
            raise ConversionError(f"{_label(nodes[0])}: the feature size of {self.cur!r} is "
                                  f"unknown; give the graph input a typed shape")
        scale = np.ones(d) if gamma is None else self._bias(
            nodes[7], np.asarray(self.g.const(gamma, "LayerNorm scale"), np.float64), d)
        shift = np.zeros(d) if beta is None else self._bias(
            nodes[-1], np.asarray(self.g.const(beta, "LayerNorm bias"), np.float64), d)
        self.layers.append(LayerNormLayer(gamma=scale, beta=shift, eps=eps, name=nodes[0].name))
        self.labels.append(f"{nodes[0].name or 'LayerNorm'}(LayerNorm formula: "
                           + "/".join(n.op_type for n in nodes) + ")")
        self.dense_open = False
        return out

    def step(self, node: Any) -> str | None:
        self.g.used.add(id(node))
        op = node.op_type
        if self.directions_axis and op not in ("Transpose", "Reshape", "Identity"):
            raise ConversionError(f"{_label(node)} takes the bidirectional GRU output "
                                  f"{self.cur!r} (shape {dims_text(self.dims)}) with its "
                                  f"direction axis apart; gru_rt converts the exporters' "
                                  f"Transpose to [time, batch, 2, H] and Reshape to 2H")
        if self.channels_first and op not in ("Pad", "Conv", "Transpose", "Identity", "Dropout",
                                              *_ACTS):
            raise ConversionError(f"{_label(node)} takes {self.cur!r} (shape "
                                  f"{dims_text(self.dims)}), a Conv's (N, C, T) layout; gru_rt "
                                  f"converts Pad, Conv and an activation there, then a Transpose "
                                  f"back to features-last")
        if op == "Pad":
            return self.pad(node)
        if op == "Conv":
            return self.conv(node)
        if op == "GRU":
            return self.gru(node)
        if op == "LSTM":
            return self.lstm(node)
        if op == "LayerNormalization":
            return self.layernorm(node)
        if op in _GLUE:
            return self.glue(node)
        if op == "MatMul":
            return self.matmul(node)
        if op == "Gemm":
            return self.gemm(node)
        if op == "Add":
            return self.add(node)
        if op in _ACTS:
            return self.activation(node)
        if op == "Gather":
            return self.gather(node)
        if op == "Slice":
            return self.slice(node)
        if op == "Concat":
            return self.concat(node)
        if op in _OTHER_ACTS:
            raise ConversionError(f"{_label(node)}: the activation {op} has no counterpart among "
                                  f"gru_rt's Dense activations ({', '.join(DENSE_ACTIVATIONS)})")
        raise ConversionError(f"{_label(node)} cannot be converted: {_SUPPORTED}")


def _walk(g: _Graph) -> _Walker:
    w = _Walker(g)
    while True:
        nxt = g.next_nodes(w.cur)
        if not nxt:
            break
        norm = _decomposed_layernorm(g, w.cur, w.rank)
        if norm is not None:
            w.cur = w.decomposed_layernorm(*norm)
            continue
        region = _formula_region(g, w.cur) if len(nxt) > 1 or nxt[0].op_type not in (
            *_ACTS, "Add") else None
        if region is not None:
            w.cur = w.formula(*region)
            continue
        if len(nxt) > 1:
            raise ConversionError(f"tensor {w.cur!r} feeds {len(nxt)} nodes ("
                                  f"{', '.join(_label(n) for n in nxt)}); only a single chain "
                                  f"converts")
        out = w.step(nxt[0])
        if not out:
            break
        w.cur = out
    outputs = [o.name for o in g.graph.output]
    if w.directions_axis:
        raise ConversionError(f"the chain ends at {w.cur!r} (shape {dims_text(w.dims)}), a "
                              f"bidirectional GRU output with its direction axis apart; gru_rt "
                              f"converts the exporters' Transpose to [time, batch, 2, H] and "
                              f"Reshape to 2H (the concat of the two directions)")
    if w.channels_first:
        raise ConversionError(f"the chain ends at {w.cur!r} (shape {dims_text(w.dims)}), a Conv's "
                              f"(N, C, T) output; gru_rt's outputs are features-last: the "
                              f"graph must Transpose it back")
    if w.cur not in outputs:
        raise ConversionError(f"the chain ends at {w.cur!r}, which is not a graph output "
                              f"(outputs: {', '.join(repr(o) for o in outputs)})")
    state_outputs = _state_outputs(g, w, [o for o in outputs if o != w.cur])
    chain_tensors = {w.cur}
    for node in g.nodes:
        if id(node) in g.used:
            chain_tensors.update(node.output)
    for name in outputs:
        if name not in chain_tensors and name not in state_outputs:
            node = g.producer.get(name)
            raise ConversionError(f"graph output {name!r} is not on the converted chain"
                                  + (f" (it is computed by {_label(node)})" if node else ""))
    for node in g.nodes:
        if id(node) in g.used or not any(g.info(o).data for o in node.output if o) \
                or g.shape_only(node):
            continue  # on the chain, or constants and shape bookkeeping
        raise ConversionError(f"{_label(node)} is not part of the converted chain; {_SUPPORTED}")
    w.state_text = _state_text(g, w, state_outputs)
    return w


def _only_reader(g: _Graph, name: str, op: str) -> Any | None:
    """The one node reading tensor `name`, if it is an `op`; else None."""
    nxt = g.next_nodes(name)
    return nxt[0] if len(nxt) == 1 and nxt[0].op_type == op else None


def _reduces_last_axis(g: _Graph, node: Any, rank: int | None) -> bool:
    """A ReduceMean over the last axis only, keeping it (axes as attribute before opset 18, as an
    input from 18 on)."""
    a = node_attributes(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = g.info(node.input[1]).const
    if axes is None or not int(a.get("keepdims", 1)):
        return False
    axes = [int(v) for v in np.asarray(axes).ravel()]
    return len(axes) == 1 and (axes[0] == -1 or (rank is not None and axes[0] == rank - 1))


def _decomposed_layernorm(g: _Graph, x: str, rank: int | None
                          ) -> tuple[list[Any], str, float, str | None, str | None] | None:
    """LayerNorm as exporters write it below opset 17: m = ReduceMean(x); d = Sub(x, m);
    v = ReduceMean(Pow(d, 2)); Div(d, Sqrt(Add(v, eps))), then optionally Mul by gamma and Add of
    beta (constants). Returns (nodes, output, eps, gamma name, beta name), or None if x does not
    start exactly this pattern."""
    nxt = g.next_nodes(x)
    mean = next((n for n in nxt if n.op_type == "ReduceMean"), None)
    sub = next((n for n in nxt if n.op_type == "Sub"), None)
    if len(nxt) != 2 or mean is None or sub is None or not _reduces_last_axis(g, mean, rank):
        return None
    if list(sub.input) != [x, mean.output[0]] or g.next_nodes(mean.output[0]) != [sub]:
        return None
    d = sub.output[0]
    readers = g.next_nodes(d)
    pow_ = next((n for n in readers if n.op_type == "Pow"), None)
    div = next((n for n in readers if n.op_type == "Div"), None)
    if len(readers) != 2 or pow_ is None or div is None or div.input[0] != d:
        return None
    two = g.info(pow_.input[1]).const
    if two is None or two.size != 1 or float(two.ravel()[0]) != 2.0:
        return None
    var = _only_reader(g, pow_.output[0], "ReduceMean")
    if var is None or not _reduces_last_axis(g, var, rank):
        return None
    add = _only_reader(g, var.output[0], "Add")
    if add is None:
        return None
    eps_name = add.input[1] if add.input[0] == var.output[0] else add.input[0]
    eps = g.info(eps_name).const
    sqrt = _only_reader(g, add.output[0], "Sqrt")
    if eps is None or eps.size != 1 or sqrt is None or list(div.input) != [d, sqrt.output[0]]:
        return None
    nodes, out = [mean, sub, pow_, var, add, sqrt, div], div.output[0]
    gamma = beta = None
    mul = _only_reader(g, out, "Mul")
    if mul is not None and out in mul.input:
        gamma = mul.input[1] if mul.input[0] == out else mul.input[0]
        if g.info(gamma).const is None:
            return None
        nodes.append(mul)
        out = mul.output[0]
    bias = _only_reader(g, out, "Add")
    if bias is not None and out in bias.input:
        beta = bias.input[1] if bias.input[0] == out else bias.input[0]
        if g.info(beta).const is not None:
            nodes.append(bias)
            out = bias.output[0]
        else:
            beta = None
    return nodes, out, float(eps.ravel()[0]), gamma, beta


def _formula_region(g: _Graph, x: str) -> tuple[list[Any], str] | None:
    """The elementwise nodes (_FORMULA_OPS, other inputs scalar constants) that compute a function
    of tensor x and end in one tensor the rest of the graph reads, with that tensor; None if x
    does not start such a region."""
    tensors, nodes = {x}, []
    for node in g.nodes:  # in topological order
        ins = [n for n in node.input if n]
        if node.op_type in _FORMULA_OPS and any(n in tensors for n in ins) and all(
                n in tensors or _is_scalar_const(g, n) for n in ins):
            nodes.append(node)
            tensors.update(o for o in node.output if o)
    outputs = {o.name for o in g.graph.output}
    inside = {id(n) for n in nodes}
    exits = [t for t in tensors if t in outputs or any(
        id(n) not in inside for n in g.next_nodes(t))]
    if len(exits) != 1 or exits[0] == x:
        return None
    needed, wanted = [], {exits[0]}
    for node in reversed(nodes):  # the nodes the exit depends on: all of them
        if wanted.intersection(node.output):
            needed.append(node)
            wanted.update(node.input)
    if len(needed) != len(nodes):  # a branch that ends elsewhere: not one function of x
        return None
    return nodes, exits[0]


def _is_scalar_const(g: _Graph, name: str) -> bool:
    value = g.info(name).const
    return value is not None and value.size == 1


def _formula_activation(g: _Graph, x: str, nodes: list[Any], out: str
                        ) -> tuple[str | None, tuple[str, float]]:
    """Which of _FORMULA_ACTS the nodes compute from x, by running them (onnx's reference
    evaluator) on _PROBE; also the closest activation and its largest difference."""
    onnx = _onnx()
    from onnx.reference import ReferenceEvaluator

    inside = {o for node in nodes for o in node.output}
    consts = {n for node in nodes for n in node.input if n and n != x and n not in inside}
    graph = onnx.helper.make_graph(
        nodes, "formula", [onnx.helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT,
                                                              [len(_PROBE)])],
        [onnx.helper.make_empty_tensor_value_info(out)],
        [onnx.numpy_helper.from_array(np.asarray(g.info(n).const), n) for n in sorted(consts)])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", g.opset)])
    try:
        got = np.asarray(list(ReferenceEvaluator(model).run(None, {x: _PROBE.astype(
            np.float32)}))[0], np.float64).reshape(-1)
    except Exception as e:  # a malformed node
        raise ConversionError(f"{', '.join(_label(n) for n in nodes)}: cannot be evaluated "
                              f"({type(e).__name__}: {e})") from None
    if got.shape != _PROBE.shape:
        return None, ("?", math.inf)
    errors = {}
    for act in _FORMULA_ACTS:
        want = ACTIVATION_FUNCTIONS[act](_PROBE)
        with np.errstate(invalid="ignore"):
            diff = np.abs(got - want) / np.maximum(1.0, np.abs(want))
        errors[act] = float(np.max(diff)) if np.all(np.isfinite(diff)) else math.inf
    best = min(errors, key=lambda k: errors[k])
    return (best if errors[best] <= _FORMULA_TOL else None), (best, errors[best])


def _stacked_states(g: _Graph, name: str) -> list[Any] | None:
    """The GRUs whose final states Y_h a tensor stacks (Y_h itself, or a Concat on axis 0 of
    Y_h's), with the nodes on the way marked used; None if it is something else."""
    node = g.producer.get(name)
    if node is None:
        return None
    if node.op_type == "GRU":
        return [node] if len(node.output) > 1 and node.output[1] == name else None
    if node.op_type == "Identity":
        found = _stacked_states(g, node.input[0])
    elif node.op_type == "Concat" and int(node_attributes(node).get("axis", 0)) == 0:
        parts = [_stacked_states(g, n) for n in node.input]
        found = None if any(p is None for p in parts) else [x for p in parts if p for x in p]
    else:
        return None
    if found is not None:
        g.used.add(id(node))
    return found


def _state_outputs(g: _Graph, w: _Walker, others: list[str]) -> dict[str, list[Any]]:
    """For a step graph (state inputs feeding initial_h), the outputs holding the new states,
    each paired with the state input at the same position; every state input needs one."""
    if not g.state_inputs:
        return {}
    fed: dict[str, list[Any]] = {name: [] for name in g.state_inputs}
    for node in w.grus:
        fed[w.state_from[id(node)][0]].append(node)
    found = {name: grus for name in others if (grus := _stacked_states(g, name)) is not None}
    for name in g.state_inputs:
        match = [o for o, grus in found.items() if [id(n) for n in grus] == [id(n) for n in
                                                                          fed[name]]]
        if not match:
            layers = ", ".join(_label(n) for n in fed[name])
            raise ConversionError(f"state input {name!r} feeds the initial state of {layers}, "
                                  f"but no graph output returns their new states (Y_h, or a "
                                  f"Concat on axis 0 of them in the same order); outputs: "
                                  f"{', '.join(map(repr, [o.name for o in g.graph.output]))}")
    return found


def _state_text(g: _Graph, w: _Walker, state_outputs: dict[str, list[Any]]) -> str:
    """How the stream's state (the layers' states in layer order) maps to the graph's state
    inputs and outputs; an error if the state inputs do not hold the layers in that order."""
    if not g.state_inputs:
        return ""
    order = [w.state_from[id(n)][0] for n in w.grus]
    expected = [name for name in g.state_inputs for _ in range(order.count(name))]
    positions = [_state_positions(g, *w.state_from[id(n)]) for n in w.grus]
    for name in g.state_inputs:
        got = [p for n, pos in zip(order, positions) if n == name for p in pos]
        if order != expected or got != list(range(len(got))):
            raise ConversionError(
                f"the state inputs feed the GRUs out of order ({', '.join(f'{_label(n)} <- {i!r}' for n, i in zip(w.grus, order))}); "  # noqa: E501
                f"gru_rt's stream state is the layers' states in layer order, so the state "
                f"inputs must hold them in that order")
    outs = {id(grus[0]): o for o, grus in state_outputs.items()}
    pairs = [f"{name!r} -> {outs.get(id(next(n for n in w.grus if w.state_from[id(n)][0] == name)), '?')!r}"  # noqa: E501
             for name in g.state_inputs]
    return (f"Stream.state = the state inputs {', '.join(map(repr, g.state_inputs))} (batch "
            f"element 0) flattened and concatenated, layer after layer; new state outputs: "
            f"{', '.join(pairs)}")


def _state_positions(g: _Graph, name: str, h0: str, path: list[Any]) -> list[int]:
    """Which entries of the state input (one batch element, flattened) a GRU's initial_h takes:
    the path from the input is run on the entries' own indices."""
    onnx = _onnx()
    from onnx.reference import ReferenceEvaluator

    dims = [d if isinstance(d, int) else 1 for d in g.dims(name) or []]
    feeds = {name: np.arange(int(np.prod(dims)), dtype=np.float32).reshape(dims)}
    needed = {i for node in path for i in node.input if i and i != name}
    inits = [onnx.numpy_helper.from_array(g.const(i, f"{_label(path[0])}: input"), i)
             for i in needed]
    graph = onnx.helper.make_graph(
        list(reversed(path)), "state",
        [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)],
        [onnx.helper.make_empty_tensor_value_info(h0)], inits)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", g.opset)])
    out = np.asarray(list(ReferenceEvaluator(model).run(None, feeds))[0])
    return [int(v) for v in out.reshape(-1)]


def import_model(model: Any, *, activations: Mapping[str, str] | None = None,
                 head_activation: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A ModelSpec from an onnx.ModelProto (see the module docstring for what converts)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    check_single_assignment(model.graph)
    model, named_inputs = merge_concat_inputs(model)  # several inputs joined by one Concat
    g = _Graph(lower_gru_loops(model, opset))
    w = _walk(g)
    if not w.layers:
        raise ConversionError("the graph has no GRU or Dense layer")
    if not any(isinstance(x_, (GRULayer, LSTMLayer)) for x_ in w.layers):
        raise ConversionError("the graph has no GRU or LSTM operator")
    by_name = {layer.name: layer for layer in w.layers if isinstance(layer, DenseLayer)}
    for name, act in (activations or {}).items():
        if name not in by_name:
            raise ConversionError(f"activations: {name!r} is not a Dense node of the graph "
                                  f"(MatMul/Gemm nodes: {', '.join(map(repr, by_name)) or 'none'})")
        by_name[name].activation = act
    if head_activation is not None:
        last = w.layers[-1]
        if not isinstance(last, DenseLayer):
            raise ConversionError("head_activation: the graph ends with a GRU, not a Dense layer")
        if last.activation not in ("linear", head_activation):
            raise ConversionError(f"head_activation {head_activation!r} conflicts with the "
                                  f"graph's {last.activation}")
        last.activation = head_activation
    meta = {
        "source.framework": "onnx",
        "source.convention": ONNX_CONVENTION,
        "source.transforms": "; ".join([w.transforms, *w.notes]),
        "source.layers": ",".join(w.labels),
        "source.input": f"{g.x} {dims_text(g.dims(g.x))}"
                        + (f", time axis {g.dims(g.x).index(w.time)}"  # type: ignore[union-attr]
                           if w.time in (g.dims(g.x) or []) else ""),
        "source.output": w.cur + (f" (the last step's: {w.readout}; Model.run(x)[-1] is "
                                  f"the graph's output)" if w.readout else ""),
        "source.opset": str(g.opset),
    }
    if w.state_text:
        meta["source.state"] = w.state_text
    if named_inputs:
        meta["source.input"] += " (the Concat of the named inputs)"
        meta[INPUTS_KEY] = source_record(named_inputs, "the graph")
    meta.update(metadata or {})
    return ModelSpec(w.layers, meta).validated()


def _check_tensors(onnx: Any, graph: Any, path: Path) -> None:
    """Before any tensor is decoded: refuse tensors stored outside the .onnx file (in this graph or
    any subgraph; reading them would open other files, chosen by the file) and tensors whose data
    does not match their declared shape and type."""
    graphs = [graph]
    while graphs:
        g = graphs.pop()
        tensors = list(g.initializer)
        for node in g.node:
            for a in node.attribute:
                tensors += ([a.t] if a.HasField("t") else []) + list(a.tensors)
                graphs += ([a.g] if a.HasField("g") else []) + list(a.graphs)
        for t in tensors + [s.values for s in g.sparse_initializer]:
            name = printable(t.name)
            if t.data_location == onnx.TensorProto.EXTERNAL:
                where = next((e.value for e in t.external_data if e.key == "location"), "?")
                raise ConversionError(f"{path}: tensor {name} stores its data in an external "
                                      f"file ({printable(where)}); external data is not read: "
                                      f"save the model with its weights inside")
        for t in tensors:
            _check_tensor_size(onnx, t, path)


# The tensor types gru_rt reads (weights, shapes, constants), each with the typed field that
# holds its values when there is no raw_data (one value per element).
_READ_TYPES = ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16", "INT8", "INT16", "INT32", "INT64",
               "UINT8", "UINT16", "UINT32", "UINT64", "BOOL")


_MAX_RANK = 8  # the importer reads tensors of rank 3 at most (GRU, LSTM and Conv weights)


def _check_tensor_size(onnx: Any, t: Any, path: Path) -> None:
    name, dims = printable(t.name), list(t.dims)
    types = {getattr(onnx.TensorProto, n): n for n in _READ_TYPES}
    if t.data_type not in types:
        kind = onnx.TensorProto.DataType.Name(t.data_type) \
            if t.data_type in onnx.TensorProto.DataType.values() else str(t.data_type)
        raise ConversionError(f"{path}: tensor {name} has data type {kind}, which gru_rt does "
                              f"not read (expected one of {', '.join(_READ_TYPES)})")
    if len(dims) > _MAX_RANK:  # numpy cannot even hold more than 64 (a converter fuzz finding)
        raise ConversionError(f"{path}: tensor {name} has {len(dims)} dimensions; gru_rt reads "
                              f"tensors of at most {_MAX_RANK}")
    if any(n < 0 for n in dims):
        raise ConversionError(f"{path}: tensor {name} has negative dimensions {dims}")
    count = math.prod(dims)
    if t.HasField("raw_data"):
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        have, need, unit = len(t.raw_data), count * itemsize, "bytes"
    else:  # the values must be in the field the type reads: any other field is ignored by onnx
        field = onnx.helper.tensor_dtype_to_field(t.data_type)
        have, need, unit = len(getattr(t, field)), count, f"values in {field}"
    if have != need:
        raise ConversionError(f"{path}: tensor {name} declares shape {dims} ({need} {unit}) but "
                              f"holds {have}")


def import_file(path: str | Path, *, activations: Mapping[str, str] | None = None,
                head_activation: str | None = None,
                metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A ModelSpec from a .onnx file."""
    onnx = _onnx()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    data = read_regular(path, 2**31 - 1, "ONNX file")  # protobuf's own limit
    try:  # from the bytes: external data files are never opened
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError and others for a foreign file
        raise ConversionError(f"cannot read {path} as an ONNX model ({type(e).__name__}: "
                              f"{e})") from None
    check_strings(model, str(path))
    _check_tensors(onnx, model.graph, path)
    return import_model(model, activations=activations, head_activation=head_activation,
                        metadata=metadata)
