"""A GRU written as a `Loop` over the time steps (Keras 3's model.export(format="onnx") on the
TensorFlow backend; tf2onnx on a tf-keras GRU with reset_after=False), lowered to the ONNX `GRU`
operator before the importer walks the graph.

What is recognised, and how it is checked:

- the body reads the step's input with one `Gather(X, i)` on axis 0 of an outer tensor X (time
  first), where i counts the iterations from 0 (the iteration number, or a carried counter that
  starts at 0 and grows by 1), and carries one state that is also its one scan output (the
  per-step outputs, stacked by the Loop);
- the cell's weights are constants the Loop receives (carried unchanged, or read from the outer
  scope): a kernel (I, 3H), a recurrent kernel (H, 3H) and a bias (2, 3H) (reset_after=True) or
  (3H,) (reset_after=False), or none; gate blocks z, r, h as Keras stores them;
- every other carried value passes through unchanged; the trip count is X's time size (computed
  from X's shape), or absent with a condition that turns false at the last step; the condition
  stays true before it;
- the body computes that GRU cell: it is run (onnx's reference evaluator) on random inputs and
  states and compared with the cell of each candidate (reset_after, gate sigmoid or a hard
  sigmoid, candidate tanh or relu) as gru_rt's own conversion of these weights gives it
  (`import_gru` with the ONNX convention, `reference._gru_step`); the matching one is used.

The Loop then becomes `Unsqueeze(h0)` → `GRU` → `Squeeze` (the scan output [T, B, H]) and
`Squeeze` (the final state), under the Loop's output names. A Loop that is not such a GRU raises
ConversionError naming the Loop and what did not match.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConversionError
from ..reference import _gru_step
from .numpy_importer import Convention, import_gru
from .onnx_graph import Propagation, check_arity, node_attributes

__all__ = ["lower_gru_loops"]

# Ops a GRU cell's body is written with (bookkeeping of the counters and the condition included).
_BODY_OPS = ("MatMul", "Add", "Sub", "Mul", "Sigmoid", "Tanh", "Relu", "HardSigmoid", "Split",
             "Slice", "Squeeze", "Unsqueeze", "Gather", "Identity", "Cast", "Less", "Greater",
             "And", "Constant", "Clip", "Div", "Max", "Min")
# (ONNX activations attribute, alpha, beta, gru_rt name) of the gate and candidate activations.
_GATES = ((("Sigmoid",), (), "sigmoid"), (("HardSigmoid",), (0.2, 0.5), "hard_sigmoid_k2"),
          (("HardSigmoid",), (1 / 6, 0.5), "hard_sigmoid"))
_CANDIDATES = ("tanh", "relu")
_TOL = 1e-5  # float32 body against the float64 cell, relative to max(1, |h|)
_PROBE_T, _PROBE_B = 6, 3


def _label(node: Any) -> str:
    return f"node {node.name!r} (Loop)" if node.name else "a Loop node"


def _refuse(loop: Any, why: str) -> ConversionError:
    return ConversionError(
        f"{_label(loop)} is a Loop (a recurrence written as a loop over the time steps, as Keras "
        f"3's model.export(format='onnx') on the TensorFlow backend and tf2onnx write a GRU) "
        f"that gru_rt does not read as a GRU cell: {why}. Convert the Keras model itself "
        f"(gru_rt.convert(model)), or export a graph with the ONNX GRU operator")


def lower_gru_loops(model: Any, opset: int) -> Any:
    """The model with each Loop replaced by the GRU it runs (a copy; the model itself when it has
    no Loop)."""
    if not any(n.op_type == "Loop" for n in model.graph.node):
        return model
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    for node in graph.node:  # the propagation and the lowering index nodes' inputs and outputs
        check_arity(node, opset)
    while True:  # one Loop at a time: a later Loop's input shape comes from the earlier GRU's
        k = next((k for k, n in enumerate(graph.node) if n.op_type == "Loop"), None)
        if k is None:
            return out
        consts = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        prop = Propagation(graph, opset, consts, _input_dims(graph, consts), {})
        new_nodes, inits = _lower(graph.node[k], graph, prop, opset)
        nodes = list(graph.node[:k]) + new_nodes + list(graph.node[k + 1:])
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend(inits)


def _input_dims(graph: Any, consts: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """Each data input's shape, every size that is not fixed a symbol of its own."""
    dims = {}
    for vi in graph.input:
        if vi.name in consts or not vi.type.tensor_type.HasField("shape"):
            continue
        dims[vi.name] = [d.dim_value if d.HasField("dim_value") and k == len(
            vi.type.tensor_type.shape.dim) - 1 else (d.dim_param or f"{vi.name}.{k}")
                         for k, d in enumerate(vi.type.tensor_type.shape.dim)]
    return dims


def _lower(loop: Any, graph: Any, prop: Propagation, opset: int) -> tuple[list[Any], list[Any]]:
    import onnx

    body = node_attributes(loop).get("body")
    if body is None:
        raise _refuse(loop, "it has no body")
    others = sorted({n.op_type for n in body.node} - set(_BODY_OPS))
    if others:
        raise _refuse(loop, f"its body computes with {', '.join(others)}")
    for node in body.node:
        check_arity(node, opset)
    ins = list(loop.input)
    carried_in = [i.name for i in body.input][2:]
    n_carried = len(carried_in)
    body_out = [o.name for o in body.output]
    if len(body.input) < 2 or len(ins) != 2 + n_carried or len(loop.output) > len(body_out) - 1:
        raise _refuse(loop, f"its {len(ins)} inputs, {len(loop.output)} outputs and its body's "
                            f"{len(body.input)} inputs and {len(body_out)} outputs do not "
                            f"correspond")
    if len(body_out) != 1 + n_carried + 1:
        raise _refuse(loop, f"it has {len(body_out) - 1 - n_carried} scan outputs, expected one "
                            f"(the per-step state)")
    producer = {o: n for n in body.node for o in n.output}

    def source(name: str) -> str:  # through Identity nodes (a malformed body may loop them)
        for _ in range(len(body.node)):
            if name not in producer or producer[name].op_type != "Identity":
                break
            name = producer[name].input[0]
        return name

    scan = source(body_out[-1])
    states = [k for k in range(n_carried) if source(body_out[1 + k]) == scan]
    if len(states) != 1:
        raise _refuse(loop, "no carried value is also its per-step output (the GRU state)")
    k_state = states[0]
    inner = {i.name for i in body.input} | {t.name for t in body.initializer} | set(producer)
    gathers = [n for n in body.node if n.op_type == "Gather" and n.input[0] not in inner]
    if len(gathers) != 1 or int(node_attributes(gathers[0]).get("axis", 0)) != 0:
        raise _refuse(loop, "it does not read its input step by step (one Gather on axis 0 of an "
                            "outer tensor)")
    x_outer, index = gathers[0].input[0], gathers[0].input[1]
    counter = _counter(body, index, carried_in, body_out, loop, prop)
    for k, name in enumerate(carried_in):
        if k not in (k_state, counter) and source(body_out[1 + k]) != name:
            raise _refuse(loop, f"its carried value {name!r} changes from step to step (only the "
                                f"state and the step counter may)")
    x_dims = prop.info(x_outer).dims
    if x_dims is None or len(x_dims) != 3 or not isinstance(x_dims[-1], int):
        raise _refuse(loop, f"its input {x_outer!r} has no known shape [time, batch, features]")
    count = prop.info(ins[0])
    trips = count.elems if count.const is None else np.ravel(count.const).tolist()
    if ins[0] and trips != [x_dims[0]]:
        raise _refuse(loop, f"its trip count {ins[0]!r} is not the time size of {x_outer!r}")
    values = {name: prop.info(loop.input[2 + k]).const for k, name in enumerate(carried_in)}
    outer_refs = {n for node in body.node for n in node.input if n and n not in inner}
    values.update({n: prop.info(n).const for n in outer_refs if n != x_outer})
    values.update({t.name: onnx.numpy_helper.to_array(t) for t in body.initializer})
    weights = {n: v for n, v in values.items() if v is not None and v.dtype.kind == "f"
               and v.ndim in (1, 2) and v.size > 1}
    for name in outer_refs - {x_outer}:  # sizes read from the outer scope (the condition's)
        if values[name] is None and prop.info(name).elems == [x_dims[0]]:
            values[name] = np.array(_PROBE_T, np.int64)
    cell = _match_cell(loop, body, weights, int(x_dims[-1]), carried_in, k_state, counter,
                       x_outer, values, opset, bool(ins[0]))
    return _gru_nodes(loop, cell, x_outer, loop.input[2 + k_state], n_carried, k_state, graph,
                      opset, onnx)


def _counter(body: Any, index: str, carried_in: list[str], body_out: list[str], loop: Any,
             prop: Propagation) -> int | None:
    """Which carried value the Gather's index is (None: the iteration number); it must start at 0
    and grow by 1 each iteration."""
    if index == body.input[0].name:
        return None
    if index not in carried_in:
        raise _refuse(loop, f"its Gather index {index!r} is neither the iteration number nor a "
                            f"carried counter")
    k = carried_in.index(index)
    start = prop.info(loop.input[2 + k]).const
    if start is None or np.ravel(start).tolist() != [0]:
        raise _refuse(loop, f"its step counter {index!r} does not start at 0")
    return k


def _match_cell(loop: Any, body: Any, weights: dict[str, np.ndarray], n_in: int,
                carried_in: list[str], k_state: int, counter: int | None, x_outer: str,
                values: dict[str, Any], opset: int, has_trip_count: bool) -> tuple[Any, ...]:
    """The (W, R, B, reset_after, gate, candidate) the body computes, found by running it."""
    rec = [n for n, v in weights.items() if v.ndim == 2 and v.shape[1] == 3 * v.shape[0]]
    results = []
    for r_name in rec:
        h = weights[r_name].shape[0]
        kernels = [n for n, v in weights.items() if n != r_name and v.shape == (n_in, 3 * h)]
        biases = [n for n, v in weights.items() if v.shape in ((2, 3 * h), (3 * h,))] + [None]
        for k_name in kernels:
            for b_name in biases:
                bias = None if b_name is None else weights[b_name]
                for reset_after in ((bias.ndim == 2,) if bias is not None else (True, False)):
                    results.append((k_name, r_name, bias, reset_after))
    if not results:
        raise _refuse(loop, f"no constants of the shapes of a GRU cell's kernel ({n_in}, 3H), "
                            f"recurrent kernel (H, 3H) and bias")
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((_PROBE_T, _PROBE_B, n_in)).astype(np.float32)
    best = (np.inf, "")
    runs: dict[int, np.ndarray] = {}
    for k_name, r_name, bias, reset_after in results:
        kernel, recurrent = weights[k_name], weights[r_name]
        h = recurrent.shape[0]
        h0 = np.random.default_rng(h).standard_normal((_PROBE_B, h)).astype(np.float32)
        if h not in runs:  # the body at two steps: the same cell at each, the condition true
            outs = [_run_body(body, carried_in, k_state, counter, x_outer, values, xs, h0, step,
                              loop, opset) for step in (1, _PROBE_T - 2)]
            if not all(cond for _, cond in outs):
                raise _refuse(loop, f"its condition is false before the last of {_PROBE_T} steps")
            if not has_trip_count and _run_body(body, carried_in, k_state, counter, x_outer,
                                                values, xs, h0, _PROBE_T - 1, loop, opset)[1]:
                raise _refuse(loop, f"it has no trip count, and its condition is still true at "
                                    f"the last step ({_PROBE_T} steps)")
            runs[h] = np.stack([got for got, _ in outs])
        got = runs[h]
        w = kernel.T[None]
        r = recurrent.T[None]
        if bias is None:
            b = np.zeros((1, 6 * h), np.float32)
        elif bias.ndim == 2:
            b = bias.reshape(1, 6 * h)
        else:
            b = np.concatenate([bias, np.zeros(3 * h, bias.dtype)])[None]
        for acts, params, gate in _GATES:
            for cand in _CANDIDATES:
                layer, _ = import_gru({"W": w[0], "U": r[0], "b": b[0]}, Convention(
                    gate_order="zrn", layout="out_in", reset="after" if reset_after else "before",
                    activation=cand, gate_activation=gate), "loop")
                want = np.stack([_gru_step(layer, xs[step].astype(np.float64),
                                           h0.astype(np.float64)) for step in (1, _PROBE_T - 2)])
                err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
                if err <= _TOL:
                    return (w, r, b, reset_after, acts + ("Tanh" if cand == "tanh" else "Relu",),
                            params, h)
                if err < best[0]:
                    best = (err, f"reset_after={reset_after}, {gate}, {cand}")
    raise _refuse(loop, f"its body computes no Keras GRU cell of its constants (the closest, "
                        f"{best[1]}, differs by {best[0]:.2g})")


def _run_body(body: Any, carried_in: list[str], k_state: int, counter: int | None, x_outer: str,
              values: dict[str, Any], xs: np.ndarray, h0: np.ndarray, step: int,
              loop: Any, opset: int) -> tuple[np.ndarray, bool]:
    """The body's new state and condition at iteration `step`, from state h0 and inputs xs."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    inner = {i.name for i in body.input} | {t.name for t in body.initializer} | {
        o for n in body.node for o in n.output}
    outer = sorted({n for node in body.node for n in node.input if n and n not in inner})
    feeds: dict[str, np.ndarray] = {body.input[0].name: np.array(step, np.int64),
                                    body.input[1].name: np.array(True)}
    for k, name in enumerate(carried_in):
        elem = body.input[2 + k].type.tensor_type.elem_type
        dtype = onnx.helper.tensor_dtype_to_np_dtype(elem) if elem else np.dtype(np.float32)
        if k == k_state:
            feeds[name] = h0
        elif k == counter:
            feeds[name] = np.array(step, dtype)
        elif values.get(name) is not None:
            feeds[name] = np.asarray(values[name])
        else:  # a size carried along (the trip count, for the condition)
            feeds[name] = np.array(_PROBE_T, dtype)
    for name in outer:
        if name != x_outer and values.get(name) is None:
            raise _refuse(loop, f"its body reads {name!r} from outside, which is neither a "
                                f"constant nor the time size")
        feeds[name] = xs if name == x_outer else np.asarray(values[name])
    inputs = [onnx.helper.make_tensor_value_info(
        n, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))  # type: ignore[arg-type]
        for n, v in feeds.items()]
    graph = onnx.helper.make_graph(list(body.node), "body", inputs, list(body.output),
                                   list(body.initializer))
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    try:
        out = list(ReferenceEvaluator(model).run(None, feeds))
    except Exception as e:  # a body the evaluator cannot run
        raise _refuse(loop, f"its body cannot be run ({type(e).__name__}: {e})") from None
    if counter is not None and np.ravel(out[1 + counter]).tolist() != [step + 1]:
        raise _refuse(loop, f"its step counter {carried_in[counter]!r} does not grow by 1")
    return np.asarray(out[1 + k_state], np.float64), bool(np.all(out[0]))


def _gru_nodes(loop: Any, cell: tuple[Any, ...], x: str, h0: str, n_carried: int, k_state: int,
               graph: Any, opset: int, onnx: Any) -> tuple[list[Any], list[Any]]:
    w, r, b, reset_after, acts, params, h = cell
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for k, name in enumerate(loop.output[:n_carried]):
        if k != k_state and name in used:
            raise _refuse(loop, f"its output {name!r} (a carried value other than the state) is "
                                f"used")
    p = (loop.name or "loop") + "/gru_rt_"
    inits = [onnx.numpy_helper.from_array(np.asarray(a, np.float32), p + n)
             for a, n in ((w, "W"), (r, "R"), (b, "B"))]
    inits += [onnx.numpy_helper.from_array(np.array([k], np.int64), p + f"axis{k}")
              for k in (0, 1)]
    attrs: dict[str, Any] = {"hidden_size": h, "linear_before_reset": int(reset_after),
                             "activations": list(acts)}
    if params:
        attrs["activation_alpha"], attrs["activation_beta"] = [params[0]], [params[1]]
    state_out = loop.output[k_state] if k_state < len(loop.output) else ""
    state_out = state_out if state_out in used else ""  # else Y_h would feed a dead end
    scan_out = loop.output[n_carried] if n_carried < len(loop.output) else ""
    nodes = [onnx.helper.make_node("Unsqueeze", [h0, p + "axis0"], [p + "h0"], name=p + "h0"),
             onnx.helper.make_node("GRU", [x, p + "W", p + "R", p + "B", "", p + "h0"],
                                   [p + "Y" if scan_out else "", p + "Y_h" if state_out else ""],
                                   name=loop.name or "loop", **attrs)]
    if scan_out:
        nodes.append(onnx.helper.make_node("Squeeze", [p + "Y", p + "axis1"], [scan_out],
                                           name=p + "Y_squeeze"))
    if state_out:
        nodes.append(onnx.helper.make_node("Squeeze", [p + "Y_h", p + "axis0"], [state_out],
                                           name=p + "Y_h_squeeze"))
    return nodes, inits
