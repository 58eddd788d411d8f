"""Shape-and-constant propagation over an ONNX graph, for the ONNX importer.

Exporters surround a GRU with glue that computes shapes at run time (`Shape` → `Gather`/`Slice` →
`Concat` → `Reshape`, zero states from `ConstantOfShape`/`Expand`). One forward pass over the nodes
works out, for every tensor, what is known when converting:

- `const`: its value, when it depends on initializers and constants only (single nodes are
  evaluated with onnx's reference evaluator);
- `elems`: the entries of a small integer tensor that holds sizes, some of them symbols (the batch
  and time sizes of the graph inputs), e.g. `["time", "batch", 16]` from `Shape`;
- `dims`: the shape, with the same symbols where sizes are unknown (feature sizes are known);
- `fill`: the one value every element holds (a zero state built with `ConstantOfShape`/`Expand`);
- `data`: whether the value depends on a graph input's values (not only on its shape).

A size symbol is a string: a graph input's `dim_param`, or `"<input>.<axis>"` for a fixed size
(kept symbolic because the exporter fixed it to the example input; its size is in `hints`), or a
product of symbols written `"a*b"`. Nothing here decides what converts: the importer reads the
table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ..errors import ConversionError, printable

__all__ = ["Dim", "Info", "Propagation", "check_arity", "check_single_assignment",
           "check_strings", "dims_text", "node_attributes"]

Dim = Union[int, str]
# Ops whose output keeps the input's shape and (for a uniform tensor) its fill value.
_SAME_SHAPE = ("Identity", "Cast", "Dropout", "Relu", "Tanh", "Sigmoid", "Softmax", "LeakyRelu",
               "Elu", "Softplus", "HardSigmoid", "LogSoftmax", "Neg", "Abs", "Exp", "Log", "Erf",
               "Sqrt", "Reciprocal", "Gelu", "Swish", "HardSwish", "Mish", "Selu", "Celu",
               "Softsign", "LayerNormalization")
_ELEMENTWISE = ("Add", "Sub", "Mul", "Div")
# Ops whose output has the broadcast shape of their inputs.
_BROADCAST = (*_ELEMENTWISE, "Pow", "Greater", "Less", "Max", "Min", "Where")
_SUBGRAPH_OPS = ("Loop", "Scan", "If")


@dataclass
class Info:
    """What is known about one tensor when converting (see the module docstring)."""

    const: np.ndarray | None = None
    elems: list[Dim] | None = None
    dims: list[Dim] | None = None
    fill: float | None = None
    data: bool = False


def dims_text(dims: list[Dim] | None) -> str:
    return "[?]" if dims is None else "[" + ", ".join(str(d) for d in dims) + "]"


def _product(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 1:
        return b
    if b == 1:
        return a
    return f"{a}*{b}"  # in axis order: a reshape may split it back into the same axes only


def _as_elems(info: Info) -> list[Dim] | None:
    """The entries of a 0-D/1-D integer tensor, known or symbolic."""
    if info.elems is not None:
        return info.elems
    c = info.const
    if c is not None and c.ndim <= 1 and np.issubdtype(c.dtype, np.integer):
        return [int(v) for v in np.ravel(c)]
    return None


class Propagation:
    """Runs the pass over `graph` (an onnx GraphProto, nodes in topological order)."""

    def __init__(self, graph: Any, opset: int, consts: dict[str, np.ndarray],
                 input_dims: dict[str, list[Dim]], hints: dict[str, int]):
        self.opset = opset
        self.hints = hints
        self.table: dict[str, Info] = {name: Info(const=value, dims=list(value.shape))
                                       for name, value in consts.items()}
        for name, dims in input_dims.items():
            self.table[name] = Info(dims=list(dims), data=True)
        for node in graph.node:
            self._node(node)

    def info(self, name: str) -> Info:
        return self.table.get(name) or Info()

    # -- the pass
    def _node(self, node: Any) -> None:
        ins = [self.info(n) if n else None for n in node.input]
        present = [i for i in ins if i is not None]
        if node.op_type not in _SUBGRAPH_OPS and all(i.const is not None for i in present):
            outs = self._evaluate(node, ins)
        else:
            outs = self._symbolic(node, ins)
        data = any(i.data for i in present)
        for k, name in enumerate(node.output):
            if not name:
                continue
            info = outs[k] if k < len(outs) else Info()
            if node.op_type not in ("Shape", "Size"):
                info.data = info.data or data
            if info.const is not None and info.dims is None:
                info.dims = list(info.const.shape)
            self.table[name] = info

    def _evaluate(self, node: Any, ins: list[Info | None]) -> list[Info]:
        import onnx
        from onnx.reference import ReferenceEvaluator

        feeds = {n: i.const for n, i in zip(node.input, ins) if i is not None and n}
        inputs = [onnx.helper.make_tensor_value_info(
            n, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))  # type: ignore
            for n, v in feeds.items()]
        outputs = [onnx.helper.make_empty_tensor_value_info(n) for n in node.output if n]
        graph = onnx.helper.make_graph([node], "fold", inputs, outputs)
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("",
                                                                                      self.opset)])
        try:
            values = ReferenceEvaluator(model).run(None, feeds)
        except Exception as e:  # an op the evaluator lacks or a malformed node
            label = f"node {node.name!r} ({node.op_type})" if node.name else node.op_type
            raise ConversionError(f"{label}: its inputs are constants but it cannot be evaluated "
                                  f"({type(e).__name__}: {e})") from None
        return [Info(const=np.asarray(v)) for v in values]

    def _symbolic(self, node: Any, ins: list[Info | None]) -> list[Info]:
        op = node.op_type
        a = node_attributes(node)
        x = ins[0] if ins else None
        if op == "Shape" and x is not None and x.dims is not None:
            r = len(x.dims)
            start, end = int(a.get("start", 0)), int(a.get("end", r))
            return [_elems_info(x.dims[slice(start, end)])]
        if op == "Size" and x is not None and x.dims is not None:
            total: Dim = 1
            for d in x.dims:
                total = _product(total, d)
            return [_elems_info([total], scalar=True)]
        if op == "ConstantOfShape" and x is not None and _as_elems(x) is not None:
            value = a.get("value")
            fill = 0.0 if value is None else float(_to_array(value).ravel()[0])
            return [Info(dims=_as_elems(x), fill=fill)]
        if x is not None and _as_elems(x) is not None and not x.data and op in (
                "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze", "Cast", "Identity",
                "Reshape", *_ELEMENTWISE):
            out = self._elems_op(node, a, ins)
            if out is not None:
                return [out]
        if op in ("GRU", "LSTM"):
            return self._recurrent(a, ins, 3 if op == "LSTM" else 2)
        return [self._shape_op(node, a, ins)] + [Info()] * (len(node.output) - 1)

    # -- integer tensors holding sizes
    def _elems_op(self, node: Any, a: dict[str, Any], ins: list[Info | None]) -> Info | None:
        op = node.op_type
        lists = [_as_elems(i) if i is not None else None for i in ins]
        e = lists[0]
        assert e is not None
        if op in ("Cast", "Identity"):
            return _elems_info(e, scalar=_is_scalar(ins[0]))
        if op == "Gather":
            idx = self._const(ins, 1)
            if idx is None or int(a.get("axis", 0)) != 0:
                return None
            picked = [e[int(k)] for k in np.ravel(idx)]
            return _elems_info(picked, scalar=idx.ndim == 0)
        if op == "Slice":
            starts, ends, axes, steps = self._slice_args(node, a, ins)
            if starts is None or (axes is not None and list(axes) not in ([0], [-1])):
                return None
            step = int(steps[0]) if steps is not None else 1
            return _elems_info(e[slice(int(starts[0]), int(ends[0]), step)])
        if op == "Concat":
            if any(x is None for x in lists):
                return None
            return _elems_info([d for x in lists if x is not None for d in x])
        if op in ("Unsqueeze", "Squeeze", "Reshape"):
            return _elems_info(e, scalar=op == "Squeeze" and len(e) == 1)
        if op in _ELEMENTWISE and len(lists) == 2 and lists[1] is not None:
            l0, l1 = e, lists[1]
            n = max(len(l0), len(l1))
            if len(l0) not in (1, n) or len(l1) not in (1, n):
                return None
            out: list[Dim] = []
            for k in range(n):
                p, q = l0[k % len(l0)], l1[k % len(l1)]
                if isinstance(p, int) and isinstance(q, int):
                    out.append(_arith(op, p, q))
                elif op == "Mul":
                    out.append(_product(p, q))
                else:
                    return None
            return _elems_info(out, scalar=_is_scalar(ins[0]) and _is_scalar(ins[1]))
        return None

    def _const(self, ins: list[Info | None], k: int) -> np.ndarray | None:
        return ins[k].const if k < len(ins) and ins[k] is not None else None  # type: ignore

    def _slice_args(self, node: Any, a: dict[str, Any], ins: list[Info | None]) -> tuple[Any, ...]:
        if self.opset < 10:
            return (a.get("starts"), a.get("ends"), a.get("axes"), None)
        args = [self._const(ins, k) for k in range(1, 5)]
        if args[0] is None or args[1] is None or (len(node.input) > 3 and node.input[3]
                                                  and args[2] is None) \
                or (len(node.input) > 4 and node.input[4] and args[3] is None):
            return (None, None, None, None)
        return tuple(args)

    # -- shapes of tensors
    def _shape_op(self, node: Any, a: dict[str, Any], ins: list[Info | None]) -> Info:
        op = node.op_type
        x = ins[0] if ins else None
        d = x.dims if x is not None else None
        fill = x.fill if x is not None else None
        if d is None:
            return Info()
        if op in _SAME_SHAPE:
            return Info(dims=list(d), fill=fill if op in ("Identity", "Cast", "Dropout") else None)
        if op == "Transpose":
            perm = a.get("perm", list(range(len(d)))[::-1])
            if sorted(perm) != list(range(len(d))):
                return Info()
            return Info(dims=[d[p] for p in perm], fill=fill)
        if op in ("Squeeze", "Unsqueeze"):
            axes = a.get("axes")
            if axes is None and len(ins) > 1 and ins[1] is not None and ins[1].const is not None:
                axes = [int(v) for v in np.ravel(ins[1].const)]
            if op == "Squeeze":
                if axes is None:
                    return Info(dims=[v for v in d if v != 1], fill=fill)
                drop = {k % len(d) for k in axes}
                return Info(dims=[v for k, v in enumerate(d) if k not in drop], fill=fill)
            if axes is None:
                return Info()
            r = len(d) + len(axes)
            out: list[Dim | None] = [None] * r
            for k in axes:
                out[k % r] = 1
            rest = iter(d)
            return Info(dims=[v if v is not None else next(rest) for v in out], fill=fill)
        if op == "Flatten":
            axis = int(a.get("axis", 1)) % (len(d) + 1) if d else 0
            left: Dim = 1
            right: Dim = 1
            for v in d[:axis]:
                left = _product(left, v)
            for v in d[axis:]:
                right = _product(right, v)
            return Info(dims=[left, right], fill=fill)
        if op == "Reshape":
            target = _as_elems(ins[1]) if len(ins) > 1 and ins[1] is not None else None
            if target is None:
                return Info()
            dims = reshape_dims(d, target, bool(a.get("allowzero", 0)), self.hints)
            return Info(dims=dims, fill=fill)
        if op == "Expand":
            shape = _as_elems(ins[1]) if len(ins) > 1 and ins[1] is not None else None
            if shape is None:
                return Info()
            uniform = fill if fill is not None else _uniform(x)
            return Info(dims=_broadcast(list(d), shape), fill=uniform)
        if op == "Gather":
            idx = self._const(ins, 1)
            if idx is None:
                return Info()
            axis = int(a.get("axis", 0)) % len(d)
            return Info(dims=d[:axis] + list(idx.shape) + d[axis + 1:], fill=fill)
        if op == "Slice":
            return Info(dims=self._slice_dims(node, a, ins, d), fill=fill)
        if op == "Pad":
            return Info(dims=self._pad_dims(node, a, ins, d), fill=fill)
        if op == "Conv":
            return Info(dims=self._conv_dims(a, ins, d))
        if op == "MatMul" and len(ins) > 1 and ins[1] is not None and ins[1].dims is not None \
                and len(ins[1].dims) == 2:
            return Info(dims=d[:-1] + [ins[1].dims[1]])
        if op == "Gemm" and len(ins) > 1 and ins[1] is not None and ins[1].const is not None:
            n = ins[1].const.shape[0 if a.get("transB", 0) else 1]
            return Info(dims=[d[0], int(n)])
        if op == "ReduceMean" and int(a.get("keepdims", 1)):  # LayerNorm formulas (opset < 17)
            axes = a.get("axes") if "axes" in a else self._const(ins, 1)
            if axes is None:
                return Info()
            kept = {int(k) % len(d) for k in np.ravel(axes)}
            return Info(dims=[1 if k in kept else v for k, v in enumerate(d)])
        if op in _BROADCAST:
            wide: list[Dim] | None = list(d)
            for i in ins[1:]:
                wide = None if wide is None or i is None or i.dims is None \
                    else _broadcast(wide, i.dims)
            return Info(dims=wide)
        if op == "Concat":
            axis = int(a.get("axis", 0)) % len(d)
            parts = [i.dims if i is not None else None for i in ins]
            if any(p is None or len(p) != len(d) for p in parts):
                return Info()
            total: Dim = 0
            for p in parts:
                assert p is not None
                size = p[axis]
                total = total + size if isinstance(total, int) and isinstance(size, int) \
                    else f"{total}+{size}"
            return Info(dims=d[:axis] + [total] + d[axis + 1:])
        return Info()

    def pad_amounts(self, node: Any, a: dict[str, Any], ins: list[Info | None], rank: int
                    ) -> list[tuple[int, int]] | None:
        """(begin, end) per axis of a Pad node (pads as an attribute before opset 11, then an
        input, with the axes input from opset 18), or None when they are not constants."""
        if self.opset < 11:
            pads = a.get("pads")
            axes = None
        else:
            pads = self._const(ins, 1)
            axes = self._const(ins, 3)
        if pads is None or (len(node.input) > 3 and node.input[3] and axes is None) or any(
                np.asarray(v).dtype.kind not in "iu" for v in (pads, axes) if v is not None):
            return None
        pads = [int(v) for v in np.ravel(pads)]
        axes_list = list(range(rank)) if axes is None else [int(k) % rank
                                                              for k in np.ravel(axes)]
        if len(pads) != 2 * len(axes_list):
            return None
        out = [(0, 0)] * rank
        for n, k in enumerate(axes_list):
            out[k] = (pads[n], pads[n + len(axes_list)])
        return out

    def _pad_dims(self, node: Any, a: dict[str, Any], ins: list[Info | None], d: list[Dim]
                  ) -> list[Dim] | None:
        amounts = self.pad_amounts(node, a, ins, len(d))
        if amounts is None:
            return None
        return [plus(v, begin + end) for v, (begin, end) in zip(d, amounts)]

    def _conv_dims(self, a: dict[str, Any], ins: list[Info | None], d: list[Dim]
                   ) -> list[Dim] | None:
        """A 1-D Conv's output [N, O, T'] (stride 1): T' = T + pads - (k - 1)·dilation."""
        w = self._const(ins, 1)
        if w is None or w.ndim != 3 or len(d) != 3:
            return None
        k = int(w.shape[2])
        dilation = int((a.get("dilations") or [1])[0])
        pads = a.get("pads") or [0, 0]
        if list(a.get("strides") or [1]) != [1] or a.get("auto_pad", "NOTSET") not in (
                "NOTSET", "VALID") or len(pads) != 2:
            return [d[0], int(w.shape[0]), f"conv({d[2]})"]
        return [d[0], int(w.shape[0]), plus(d[2], int(pads[0]) + int(pads[1]) - (k - 1) * dilation)]

    def _slice_dims(self, node: Any, a: dict[str, Any], ins: list[Info | None],
                    d: list[Dim]) -> list[Dim] | None:
        starts, ends, axes, steps = self._slice_args(node, a, ins)
        if starts is None:
            return None
        axes = list(range(len(starts))) if axes is None else [int(k) % len(d) for k in axes]
        steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
        out = list(d)
        for k, s, e, st in zip(axes, starts, ends, steps):
            out[k] = slice_size(d[k], int(s), int(e), st, self.hints)
        return out

    def _recurrent(self, a: dict[str, Any], ins: list[Info | None], outputs: int) -> list[Info]:
        """A GRU's Y and Y_h, an LSTM's Y, Y_h and Y_c (Y_c has Y_h's shape)."""
        x = ins[0]
        h = int(a.get("hidden_size", 0)) or None
        nd = 2 if a.get("direction", "forward") == "bidirectional" else 1
        if x is None or x.dims is None or len(x.dims) != 3 or h is None:
            return [Info() for _ in range(outputs)]
        if int(a.get("layout", 0)):
            b, t = x.dims[0], x.dims[1]
            return [Info(dims=[b, t, nd, h])] + [Info(dims=[b, nd, h])
                                                  for _ in range(outputs - 1)]
        t, b = x.dims[0], x.dims[1]
        return [Info(dims=[t, nd, b, h])] + [Info(dims=[nd, b, h]) for _ in range(outputs - 1)]


def plus(n: Dim, k: int) -> Dim:
    """n + k for a size that may be a symbol: "T + 3" from ("T", 3), back to "T" with -3."""
    if isinstance(n, int):
        return n + k
    base, sep, offset = n.rpartition(" + ")
    if sep and offset.lstrip("-").isdigit():
        n, k = base, k + int(offset)
    return n if k == 0 else f"{n} + {k}"


def slice_size(n: Dim, start: int, end: int, step: int, hints: dict[str, int]) -> Dim:
    """The size of n[start:end:step]; a symbol stays symbolic unless the slice is the whole axis
    or a fixed count from one end (e.g. [-1:] is 1)."""
    big = 2 ** 31 - 1  # INT32_MAX, tf2onnx's "to the end": no axis is that long
    if isinstance(n, int):
        return len(range(n)[slice(start, end, step)])
    if step == 1 and start == 0 and end >= big:
        return n
    if step == 1 and start < 0 and end >= big:
        return -start if n not in hints else min(-start, hints[n])
    if step == -1 and start == -1 and end <= -big:
        return n
    return f"{n}[{start}:{end}:{step}]"


def reshape_dims(d: list[Dim], target: list[Dim], allowzero: bool,
                 hints: dict[str, int]) -> list[Dim]:
    """The output shape of Reshape(d → target), with each output axis that is an input axis kept
    (so a symbol follows its axis); an axis made of several input axes becomes their product."""
    out: list[Dim] = [d[k] if v == 0 and not allowzero and k < len(d) else v
                      for k, v in enumerate(target)]
    # Positional matching from both ends: equal entries, or a fixed size equal to a symbol's hint.
    src = [v for v in d if v != 1]
    keep = [k for k, v in enumerate(out) if v != 1]

    def same(p: Dim, q: Dim) -> bool:
        return p == q or (isinstance(q, int) and isinstance(p, str) and hints.get(p) == q)

    i, j = 0, 0
    while i < len(src) and j < len(keep) and same(src[i], out[keep[j]]):
        out[keep[j]] = src[i]
        i, j = i + 1, j + 1
    ie, je = len(src), len(keep)
    while ie > i and je > j and same(src[ie - 1], out[keep[je - 1]]):
        out[keep[je - 1]] = src[ie - 1]
        ie, je = ie - 1, je - 1
    middle_in = src[i:ie]
    middle_out = keep[j:je]
    merged: Dim = 1
    for v in middle_in:
        merged = _product(merged, v)
    if len(middle_out) == 1 and (out[middle_out[0]] == -1 or out[middle_out[0]] == merged
                                 or isinstance(merged, str)):
        out[middle_out[0]] = merged
    elif len(middle_in) == 1 and "*".join(str(out[k]) for k in middle_out) == middle_in[0]:
        pass  # merged axes split back into the same axes in the same order (a Tensordot's)
    elif middle_in or middle_out:
        for k in middle_out:  # a split or a regrouping: sizes no longer follow the input's axes
            out[k] = f"reshaped({out[k]})" if isinstance(out[k], int) and out[k] != -1 \
                else f"reshaped({dims_text(middle_in)})"
    return out


def _broadcast(a: list[Dim], b: list[Dim]) -> list[Dim]:
    n = max(len(a), len(b))
    ones: list[Dim] = [1] * n
    a = ones[:n - len(a)] + a
    b = ones[:n - len(b)] + b
    return [q if p == 1 else p for p, q in zip(a, b)]


def _uniform(info: Info | None) -> float | None:
    if info is None or info.const is None or info.const.size == 0:
        return None
    flat = np.ravel(info.const)
    return float(flat[0]) if np.all(flat == flat[0]) else None


def _is_scalar(info: Info | None) -> bool:
    if info is None:
        return False
    if info.const is not None:
        return info.const.ndim == 0
    return info.dims == []


def _elems_info(elems: list[Dim], scalar: bool = False) -> Info:
    if all(isinstance(v, int) for v in elems):
        arr = np.array(elems, np.int64)
        return Info(const=arr.reshape(()) if scalar and arr.size == 1 else arr)
    return Info(elems=list(elems), dims=[] if scalar else [len(elems)])


def _arith(op: str, p: int, q: int) -> int:
    if op == "Add":
        return p + q
    if op == "Sub":
        return p - q
    if op == "Mul":
        return p * q
    return int(math.trunc(p / q)) if q else 0


def _to_array(value: Any) -> np.ndarray:
    import onnx

    return np.asarray(onnx.numpy_helper.to_array(value))


# The type of each attribute the importers read (onnx.AttributeProto's type names): a name has the
# same type in every operator they handle. Attributes named elsewhere are decoded by their own type.
_ATTRIBUTE_TYPES = {
    "axis": "INT", "start": "INT", "end": "INT", "allowzero": "INT", "transA": "INT",
    "transB": "INT", "hidden_size": "INT", "layout": "INT", "linear_before_reset": "INT",
    "input_forget": "INT", "group": "INT", "auto_pad": "STRING", "mode": "STRING",
    "dilations": "INTS", "strides": "INTS", "pads": "INTS", "kernel_shape": "INTS",
    "alpha": "FLOAT", "beta": "FLOAT", "clip": "FLOAT",
    "axes": "INTS", "perm": "INTS", "starts": "INTS", "ends": "INTS",
    "direction": "STRING", "activations": "STRINGS",
    "activation_alpha": "FLOATS", "activation_beta": "FLOATS", "value": "TENSOR",
}


def node_attributes(node: Any) -> dict[str, Any]:
    """A node's attributes by name, strings decoded (the importers' one reader). Each attribute
    the importers read must have its type (_ATTRIBUTE_TYPES); ConversionError naming the node, the
    attribute, the type expected and the type found otherwise, or for an attribute that cannot be
    decoded (a reference to a function's attribute, no type, strings that are not UTF-8)."""
    import onnx

    kinds = onnx.AttributeProto.AttributeType
    out = {}
    for a in node.attribute:
        where = (f"node {printable(node.name)!r} ({printable(node.op_type)}): attribute "
                 f"{printable(a.name)!r}")
        found = kinds.Name(a.type) if a.type in kinds.values() else f"type {a.type}"
        expected = _ATTRIBUTE_TYPES.get(a.name)
        if expected is not None and found != expected:
            raise ConversionError(f"{where} is {found}, expected {expected}")
        if a.ref_attr_name or a.type == onnx.AttributeProto.UNDEFINED or found.startswith("type"):
            raise ConversionError(f"{where} has no value of its own ({found}"
                                  f"{', a reference' if a.ref_attr_name else ''})")
        value = onnx.helper.get_attribute_value(a)
        try:
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, list):
                value = [v.decode() if isinstance(v, bytes) else v for v in value]
        except UnicodeDecodeError as e:
            raise ConversionError(f"{where}: a string that is not UTF-8 ({e.reason} at byte "
                                  f"{e.start})") from None
        out[a.name] = value
    return out


def check_arity(node: Any, opset: int) -> None:
    """Refuse a node with no output, or with fewer or more inputs or outputs than its operator's
    schema (at the model's opset, else the latest) allows: the importers index them. Operators
    ONNX does not define are left to the importer, which refuses them."""
    import onnx

    label = f"node {printable(node.name)!r} ({printable(node.op_type)})"
    if not node.output:
        raise ConversionError(f"{label} has no output")
    try:
        schema = onnx.defs.get_schema(node.op_type, max(opset, 1), node.domain)
    except onnx.defs.SchemaError:
        try:
            schema = onnx.defs.get_schema(node.op_type, node.domain)
        except onnx.defs.SchemaError:
            return
    for kind, have, low, high in (("inputs", len(node.input), schema.min_input, schema.max_input),
                                  ("outputs", len(node.output), schema.min_output,
                                   schema.max_output)):
        if not low <= have <= high:
            expected = f"{low}" if low == high else f"{low} to {high}"
            raise ConversionError(f"{label} has {have} {kind}, expected {expected}")


def check_single_assignment(graph: Any) -> None:
    """Refuse a graph that is not in ONNX's required form: each value named once (a graph input,
    an initializer or one node's output) and defined before a node reads it. A node whose output
    renames its own input, or reads a later node's output, makes a cycle that the walk from the
    input to the outputs would follow for ever."""
    defined = {t.name for t in graph.initializer} | {i.name for i in graph.input}
    for node in graph.node:
        label = f"node {node.name!r} ({node.op_type})" if node.name else f"a {node.op_type} node"
        for name in node.input:
            if name and name not in defined:
                raise ConversionError(f"{label} reads {printable(name)!r}, which no graph input, "
                                      f"initializer or earlier node defines (ONNX nodes are in "
                                      f"topological order)")
        for name in node.output:
            if name in defined:
                raise ConversionError(f"{label} writes {printable(name)!r}, which is already "
                                      f"defined (ONNX names each value once)")
            if name:
                defined.add(name)


def check_strings(model: Any, where: str) -> None:
    """Refuse a model whose text fields (names, op types, attribute strings …) are not UTF-8:
    protobuf hands such a field over as bytes, which no name comparison or message expects."""
    from google.protobuf.descriptor import FieldDescriptor

    stack = [(model, "model")]
    while stack:
        message, path = stack.pop()
        for field, value in message.ListFields():
            if field.type not in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_STRING):
                continue  # numbers and bytes (tensor data): nothing to decode
            # protobuf >= 5 says is_repeated; older versions only the label
            repeated = (field.is_repeated if hasattr(field, "is_repeated")
                        else field.label == field.LABEL_REPEATED)
            named = [(f"{path}.{field.name}[{k}]" if repeated else f"{path}.{field.name}", item)
                     for k, item in enumerate(value if repeated else [value])]
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend((item, name) for name, item in named)
                continue
            for name, item in named:
                if isinstance(item, bytes):
                    raise ConversionError(f"{where}: {name} is not UTF-8 text "
                                          f"({printable(repr(item)[:60])})")
