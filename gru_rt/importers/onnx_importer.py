"""ONNX importer: a graph whose core is one or more `GRU` operators, followed by a Dense-like head.

Read with the `onnx` package (imported only here). The graph must be one chain from its single data
input to an output:

- `GRU`: direction "forward" (reverse and bidirectional are refused: a stream cannot run them),
  linear_before_reset 0 or 1 (canonical reset_after 0 or 1), layout 0 or 1, optional B, initial_h
  absent or zero (a zero initializer, or the zero state computed with ConstantOfShape as
  torch.onnx.export writes it), sequence_lens absent, clip absent; activations (f, g) = (Sigmoid or
  a HardSigmoid matching one of gru_rt's, Tanh or Relu). W [1, 3H, I], R [1, 3H, H] and B [1, 6H]
  (Wb then Rb) are constants (initializers or Constant nodes). The chain continues through Y, or
  through Y_h (then the graph's output is the last step's; a later GRU is refused);
- glue that keeps the features on the last axis: Squeeze, Unsqueeze, Reshape (to a constant
  shape ending in the feature size), Flatten (at the last axis), Transpose (last axis kept last),
  Identity, Dropout (inference);
- Dense: `MatMul` by a constant (I, O) matrix with an optional `Add` of a constant bias, or `Gemm`
  (transA 0, transB 0 or 1; alpha and beta are folded into the weights);
- `Relu`, `Tanh`, `Sigmoid`, `Softmax` over the last axis, right after a Dense.

Anything else gets an error naming the op type and node name. The GRU weights go through the NumPy
importer's `Convention` (gate order z, r, h; rows = outputs), so the convention arithmetic lives
in one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConversionError, printable
from ..fileio import read_regular
from ..spec import DenseLayer, GRULayer, Layer, ModelSpec
from ._lazy import require
from .numpy_importer import Convention, import_gru

__all__ = ["ONNX_CONVENTION", "import_file", "import_model"]

ONNX_CONVENTION = ("onnx GRU: gates z,r,h; W [1,3H,I], R [1,3H,H], B [1,6H] = Wb then Rb; "
                   "h' = (1-z)*hh + z*h; linear_before_reset=0: hh = g(Wh x + Rh (r*h) + Wbh + Rbh)"
                   " -> reset_after=0; linear_before_reset=1: hh = g(Wh x + Wbh + r*(Rh h + Rbh))"
                   " -> reset_after=1")

_GLUE = ("Squeeze", "Unsqueeze", "Reshape", "Flatten", "Transpose", "Identity", "Dropout")
_ACTS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softmax": "softmax"}
_SHAPE_OPS = ("Shape", "Size")
# Ops through which a zero tensor stays zero (for initial_h).
_ZERO_KEEPING = ("Slice", "Reshape", "Expand", "Squeeze", "Unsqueeze", "Identity", "Cast",
                 "Transpose", "Tile", "Concat")
_SUPPORTED = ("gru_rt converts GRU (forward), MatMul(+Add), Gemm, Relu, Tanh, Sigmoid, "
              "Softmax(last axis), and Squeeze/Unsqueeze/Reshape/Flatten/Transpose/Identity/"
              "Dropout glue that keeps the features on the last axis")


def _onnx() -> Any:
    return require("onnx", "reading an ONNX model")


def _attrs(node: Any) -> dict[str, Any]:
    onnx = _onnx()
    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list):
            value = [v.decode() if isinstance(v, bytes) else v for v in value]
        out[a.name] = value
    return out


def _label(node: Any) -> str:
    return f"node {node.name!r} ({node.op_type})" if node.name else f"a {node.op_type} node"


class _Graph:
    """The graph's constants, producers and consumers, and the nodes the conversion accounts for."""

    def __init__(self, model: Any):
        onnx = _onnx()
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          0)
        self.nodes = list(self.graph.node)
        self.consts: dict[str, np.ndarray] = {}
        for init in self.graph.initializer:
            self.consts[init.name] = onnx.numpy_helper.to_array(init)
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            if node.domain not in ("", "ai.onnx"):
                raise ConversionError(f"{_label(node)} is in the custom domain {node.domain!r}; "
                                      f"{_SUPPORTED}")
            for name in node.output:
                if name:
                    self.producer[name] = node
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        self.used: set[int] = set()  # id() of the nodes accounted for

    def const(self, name: str, what: str) -> np.ndarray:
        """The value of a constant tensor (initializer or Constant node), or an error."""
        if name in self.consts:
            return self.consts[name]
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            onnx = _onnx()
            self.used.add(id(node))
            for a in node.attribute:
                if a.name == "value":
                    value = onnx.numpy_helper.to_array(a.t)
                elif a.name in ("value_float", "value_int", "value_floats", "value_ints"):
                    value = np.asarray(onnx.helper.get_attribute_value(a))
                else:
                    raise ConversionError(f"{_label(node)}: attribute {a.name} is not supported")
                self.consts[name] = value
                return value
        if node is not None and node.op_type == "Identity" and node.input:
            self.used.add(id(node))
            return self.const(node.input[0], what)
        where = f"computed by {_label(node)}" if node is not None else "a graph input"
        raise ConversionError(f"{what} {name!r} is {where}, not a constant (initializer); "
                              f"gru_rt needs its value when converting")

    def is_zero(self, name: str) -> bool:
        """True if the tensor is all zeros whatever the input (a zero constant, ConstantOfShape(0),
        or such a tensor reshaped/sliced/expanded); marks the nodes that compute it as used."""
        if name in self.consts:
            return bool(np.all(self.consts[name] == 0))
        node = self.producer.get(name)
        if node is None:
            return False
        if node.op_type == "Constant":
            return bool(np.all(self.const(name, "initial_h") == 0))
        if node.op_type == "ConstantOfShape":
            value = _attrs(node).get("value")
            zero = value is None or bool(np.all(_onnx().numpy_helper.to_array(value) == 0))
            if zero:
                self.used.add(id(node))
                self.mark_ancestors(node)
            return zero
        if node.op_type in _ZERO_KEEPING and node.input:
            data = [node.input[0]] if node.op_type != "Concat" else list(node.input)
            if all(self.is_zero(n) for n in data if n):
                self.used.add(id(node))
                self.mark_ancestors(node)
                return True
        return False

    def mark_ancestors(self, node: Any) -> None:
        """Mark everything a node's inputs are computed from (shape arithmetic, constants)."""
        for name in node.input:
            parent = self.producer.get(name)
            if parent is not None and id(parent) not in self.used:
                self.used.add(id(parent))
                self.mark_ancestors(parent)

    def next_nodes(self, name: str) -> list[Any]:
        """The nodes consuming a tensor of the chain, except shape queries (marked used)."""
        out = []
        for node in self.consumers.get(name, []):
            if node.op_type in _SHAPE_OPS:
                continue  # only reads the shape: used if what it computes is used
            out.append(node)
        return out


class _Walker:
    """Follows the chain from the data input, building layers."""

    def __init__(self, g: _Graph, x: str, rank: int | None, features: int | None):
        self.g = g
        self.cur = x
        self.rank = rank
        self.features = features
        self.layers: list[Layer] = []
        self.labels: list[str] = []
        self.last_step_from: Any = None  # the GRU whose Y_h the chain continues with
        self.dense_open = False  # the last layer is a Dense that may still take a bias/activation
        self.transforms = "none"
        self.notes: list[str] = []  # transformations of the Dense weights

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
        return self.rank

    def _feature_mismatch(self, node: Any, need: int) -> None:
        if self.features is not None and need != self.features:
            raise ConversionError(f"{_label(node)} expects {need} input features, but "
                                  f"{self.cur!r} has {self.features}")

    # -- ops
    def gru(self, node: Any) -> str | None:
        g = self.g
        a = _attrs(node)
        if self.last_step_from is not None:
            raise ConversionError(
                f"{_label(node)} reads the final state Y_h of {_label(self.last_step_from)} "
                f"(one vector per sequence), which a stream cannot run; feed it Y instead")
        direction = a.get("direction", "forward")
        if direction != "forward":
            raise ConversionError(f"{_label(node)}: direction={direction!r} is not supported: a "
                                  f"stream runs forward only (the reverse direction needs future "
                                  f"inputs)")
        if "clip" in a:
            raise ConversionError(f"{_label(node)}: the clip attribute ({a['clip']}) is not "
                                  f"supported")
        layout = int(a.get("layout", 0))
        if layout not in (0, 1):
            raise ConversionError(f"{_label(node)}: layout={layout}, expected 0 or 1")
        lbr = int(a.get("linear_before_reset", 0))
        if lbr not in (0, 1):
            raise ConversionError(f"{_label(node)}: linear_before_reset={lbr}, expected 0 or 1")
        gate, act = self._gru_activations(node, a)
        inputs = list(node.input) + [""] * (6 - len(node.input))
        if inputs[0] != self.cur:
            raise ConversionError(f"{_label(node)} takes {self.cur!r} as an input other than X")
        if self.rank is not None and self.rank != 3:
            raise ConversionError(f"{_label(node)}: its input X {self.cur!r} has rank "
                                  f"{self.rank}, expected 3")
        w = g.const(inputs[1], f"{_label(node)}: W")
        r = g.const(inputs[2], f"{_label(node)}: R")
        if r.ndim != 3 or r.shape[0] != 1 or r.shape[1] != 3 * r.shape[2] or r.shape[2] == 0:
            raise ConversionError(f"{_label(node)}: R has shape {r.shape}, expected "
                                  f"(1, 3*hidden_size, hidden_size)")
        h = int(r.shape[2])
        if int(a.get("hidden_size", h)) != h:
            raise ConversionError(f"{_label(node)}: hidden_size is {a['hidden_size']} but R has "
                                  f"shape {r.shape}")
        if w.ndim != 3 or w.shape[:2] != (1, 3 * h):
            raise ConversionError(f"{_label(node)}: W has shape {w.shape}, expected (1, {3 * h}, "
                                  f"input_size)")
        self._feature_mismatch(node, int(w.shape[2]))
        arrays = {"W": w[0], "U": r[0]}
        if inputs[3]:
            b = g.const(inputs[3], f"{_label(node)}: B")
            if b.shape != (1, 6 * h):
                raise ConversionError(f"{_label(node)}: B has shape {b.shape}, expected "
                                      f"(1, {6 * h})")
            arrays["b"] = b[0]
        if inputs[4]:
            raise ConversionError(f"{_label(node)}: sequence_lens {inputs[4]!r} is given; gru_rt "
                                  f"streams every step, so sequence_lens must be absent")
        if inputs[5] and not g.is_zero(inputs[5]):
            raise ConversionError(f"{_label(node)}: initial_h {inputs[5]!r} is not a zero "
                                  f"constant; a gru_rt stream starts from a zero state (set it "
                                  f"with Stream.state if needed)")
        conv = Convention(gate_order="zrn", layout="out_in", reset="after" if lbr else "before",
                          activation=act, gate_activation=gate)
        layer, self.transforms = import_gru(arrays, conv, node.name)
        self.layers.append(layer)
        self.labels.append(f"{node.name or 'GRU'}(GRU linear_before_reset={lbr},{gate},{act})")
        self.dense_open = False
        self.features = h
        outs = list(node.output) + [""] * (2 - len(node.output))
        y, y_h = outs[0], outs[1]
        y_next = g.next_nodes(y) if y else []
        yh_next = g.next_nodes(y_h) if y_h else []
        if y_next and yh_next:
            raise ConversionError(f"{_label(node)}: both Y {y!r} and Y_h {y_h!r} feed other "
                                  f"nodes; only a single chain can be converted")
        if yh_next or (not y_next and not self._is_output(y) and y_h):
            self.last_step_from = node
            self.rank = 3
            return y_h
        self.rank = 4
        return y

    def _is_output(self, name: str) -> bool:
        return bool(name) and any(o.name == name for o in self.g.graph.output)

    def _gru_activations(self, node: Any, a: dict[str, Any]) -> tuple[str, str]:
        acts = a.get("activations", ["Sigmoid", "Tanh"])
        if len(acts) != 2:
            raise ConversionError(f"{_label(node)}: activations {acts} lists {len(acts)} "
                                  f"functions, expected 2 (f, g) for a forward GRU")
        alphas = list(a.get("activation_alpha", []))
        betas = list(a.get("activation_beta", []))
        f, g = acts
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
        op, a = node.op_type, _attrs(node)
        rank = self.rank
        if op in ("Identity", "Dropout"):
            if op == "Dropout" and len(node.output) > 1 and node.output[1] \
                    and self.g.next_nodes(node.output[1]):
                raise ConversionError(f"{_label(node)}: its mask output is used")
            return node.output[0]
        if op == "Transpose":
            perm = a.get("perm")
            if perm is None or perm[-1] != len(perm) - 1:
                raise ConversionError(f"{_label(node)}: perm {perm} moves the feature axis "
                                      f"(the last); only a transpose that keeps it last converts")
            self.rank = len(perm)
            return node.output[0]
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
                    self.rank = None
                    return node.output[0]
                r = self._need_rank(node)
                norm = [self._axis(node, int(x), r) for x in axes]
                if r - 1 in norm:
                    raise ConversionError(f"{_label(node)}: squeezes the feature axis")
                self.rank = r - len(norm)
            else:
                if axes is None:
                    raise ConversionError(f"{_label(node)}: no axes given")
                r = self._need_rank(node) + len(axes)
                norm = [self._axis(node, int(x), r) for x in axes]
                if r - 1 in norm:
                    raise ConversionError(f"{_label(node)}: inserts an axis after the features")
                self.rank = r
            return node.output[0]
        if op == "Flatten":
            r = self._need_rank(node)
            axis = self._axis(node, int(a.get("axis", 1)), r)
            if axis != r - 1:
                raise ConversionError(f"{_label(node)}: axis {a.get('axis', 1)} merges the "
                                      f"features with other axes; only axis=-1 converts")
            self.rank = 2
            return node.output[0]
        assert op == "Reshape"
        shape = [int(v) for v in np.ravel(self.g.const(node.input[1], f"{_label(node)}: shape"))]
        last = shape[-1] if shape else None
        if last == 0 and not a.get("allowzero", 0) and rank == len(shape):
            last = self.features  # copies the input's last dimension
        if self.features is None or last != self.features:
            raise ConversionError(f"{_label(node)}: reshapes to {shape}; only a reshape whose "
                                  f"last dimension is the feature size "
                                  f"({self.features if self.features is not None else '?'}) "
                                  f"converts")
        self.rank = len(shape)
        return node.output[0]

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
        a = _attrs(node)
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
        self.features = int(w.shape[0])
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

    def activation(self, node: Any) -> str:
        act = _ACTS[node.op_type]
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, DenseLayer) or not self.dense_open:
            after = (f"a GRU ({self.labels[-1]})" if isinstance(last, GRULayer)
                     else "the graph input")
            raise ConversionError(f"{_label(node)} follows {after}, not a Dense layer "
                                  f"(MatMul/Gemm); an activation converts only right after one")
        if last.activation != "linear":
            raise ConversionError(f"{_label(node)}: the Dense layer before it already applies "
                                  f"{last.activation}")
        if node.op_type == "Softmax":
            r = self._need_rank(node)
            default = -1 if self.g.opset >= 13 else 1
            axis = self._axis(node, int(_attrs(node).get("axis", default)), r)
            if axis != r - 1:
                raise ConversionError(f"{_label(node)}: softmax over axis {axis} of a rank-{r} "
                                      f"tensor; only the feature (last) axis converts")
        last.activation = act
        self.labels[-1] = self.labels[-1][:-1] + f"+{node.op_type})"
        return node.output[0]

    def step(self, node: Any) -> str | None:
        self.g.used.add(id(node))
        op = node.op_type
        if op == "GRU":
            return self.gru(node)
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
        raise ConversionError(f"{_label(node)} cannot be converted: {_SUPPORTED}")


def _data_input(g: _Graph) -> tuple[str, int | None, int | None]:
    inputs = [i for i in g.graph.input if i.name not in g.consts]
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs) or "none"
        raise ConversionError(f"the graph has {len(inputs)} data inputs ({names}); gru_rt "
                              f"converts a graph with one input (the sequence) whose weights are "
                              f"initializers")
    x = inputs[0]
    ttype = x.type.tensor_type
    if ttype.elem_type not in (1, 10, 11):  # float, float16, double
        raise ConversionError(f"graph input {x.name!r} has element type {ttype.elem_type}, "
                              f"expected a float type")
    if not ttype.HasField("shape"):
        return x.name, None, None
    dims = ttype.shape.dim
    last = dims[-1].dim_value if dims and dims[-1].HasField("dim_value") else None
    return x.name, len(dims), last


def _walk(g: _Graph) -> tuple[_Walker, str]:
    x, rank, features = _data_input(g)
    w = _Walker(g, x, rank, features)
    while True:
        nxt = g.next_nodes(w.cur)
        if not nxt:
            break
        if len(nxt) > 1:
            raise ConversionError(f"tensor {w.cur!r} feeds {len(nxt)} nodes ("
                                  f"{', '.join(_label(n) for n in nxt)}); only a single chain "
                                  f"converts")
        out = w.step(nxt[0])
        if not out:
            break
        w.cur = out
    outputs = [o.name for o in g.graph.output]
    if w.cur not in outputs:
        raise ConversionError(f"the chain ends at {w.cur!r}, which is not a graph output "
                              f"(outputs: {', '.join(repr(o) for o in outputs)})")
    chain_tensors = {w.cur}
    for node in g.nodes:
        if id(node) in g.used:
            chain_tensors.update(node.output)
    for name in outputs:
        if name not in chain_tensors:
            node = g.producer.get(name)
            raise ConversionError(f"graph output {name!r} is not on the converted chain"
                                  + (f" (it is computed by {_label(node)})" if node else ""))
    for node in g.nodes:
        if id(node) in g.used or node.op_type == "Constant":
            continue
        if node.op_type in _SHAPE_OPS and not any(g.consumers.get(o) for o in node.output):
            continue
        raise ConversionError(f"{_label(node)} is not part of the converted chain; {_SUPPORTED}")
    return w, x


def import_model(model: Any, *, activations: Mapping[str, str] | None = None,
                 head_activation: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> ModelSpec:
    """A ModelSpec from an onnx.ModelProto (see the module docstring for what converts)."""
    g = _Graph(model)
    w, x = _walk(g)
    if not w.layers:
        raise ConversionError("the graph has no GRU or Dense layer")
    if not any(isinstance(x_, GRULayer) for x_ in w.layers):
        raise ConversionError("the graph has no GRU operator")
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
        "source.input": x,
        "source.output": w.cur + (" (the last step's: Y_h)" if w.last_step_from is not None
                                  else ""),
        "source.opset": str(g.opset),
    }
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


def _check_tensor_size(onnx: Any, t: Any, path: Path) -> None:
    name, dims = printable(t.name), list(t.dims)
    try:
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        raise ConversionError(f"{path}: tensor {name} has data type {t.data_type}, which gru_rt "
                              f"does not read") from None
    if any(n < 0 for n in dims):
        raise ConversionError(f"{path}: tensor {name} has negative dimensions {dims}")
    count = math.prod(dims)
    if t.HasField("raw_data"):
        have, need, unit = len(t.raw_data), count * itemsize, "bytes"
    else:
        fields = (t.float_data, t.int32_data, t.int64_data, t.double_data, t.uint64_data,
                  t.string_data)
        have, need, unit = sum(len(f) for f in fields), count, "values"
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
    _check_tensors(onnx, model.graph, path)
    return import_model(model, activations=activations, head_activation=head_activation,
                        metadata=metadata)
