"""ONNX graphs with several inputs joined by one Concat (format 1.4's named inputs).

A multimodal model exported to ONNX (torch.cat of its inputs in forward(), Keras' Concatenate) has
one graph input per modality and a Concat of all of them on the feature axis before the first
layer. merge_concat_inputs rewrites such a graph to the one-input form the importer reads: the
Concat's output becomes the graph's single sequence input, and the inputs it joined become the
model's named inputs (name, width), in the Concat's order. Any other graph is returned unchanged
(the importer then names what it cannot convert).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConversionError, printable
from .onnx_graph import node_attributes

__all__ = ["merge_concat_inputs"]


def _width(vi: Any) -> int | None:
    """The fixed size of the last axis of a graph input of rank 2 or 3, else None."""
    dims = vi.type.tensor_type.shape.dim if vi.type.tensor_type.HasField("shape") else []
    if len(dims) not in (2, 3) or not dims[-1].HasField("dim_value") or dims[-1].dim_value < 1:
        return None
    return int(dims[-1].dim_value)


def merge_concat_inputs(model: Any) -> tuple[Any, tuple[tuple[str, int], ...]]:
    """(model, ()) for a graph that does not join several inputs; else a rewritten copy and the
    named inputs. ConversionError when a Concat joins several graph inputs in a way that cannot
    be one input vector (another axis, an input of unknown width, an input used elsewhere too)."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    data = {vi.name: vi for vi in graph.input if vi.name not in inits}
    if len(data) < 2:
        return model, ()
    joins = [n for n in graph.node if n.op_type == "Concat" and len(n.input) >= 2
             and len(n.output) == 1 and n.output[0] and all(name in data for name in n.input)]
    if len(joins) != 1:
        return model, ()
    concat = joins[0]
    names = list(concat.input)
    where = (f"Concat {printable(concat.name or concat.output[0])!r} of the graph inputs "
             f"{', '.join(repr(printable(n)) for n in names)}")
    if len(set(names)) != len(names):
        raise ConversionError(f"{where}: an input is joined twice; each input must appear once")
    widths = [_width(data[n]) for n in names]
    ranks = {len(data[n].type.tensor_type.shape.dim) for n in names}
    if None in widths or len(ranks) != 1:
        raise ConversionError(f"{where}: every joined input needs a typed shape of rank 2 or 3 "
                              f"(the same) with a fixed last axis (its width)")
    rank = ranks.pop()
    axis = node_attributes(concat).get("axis", 0)
    if not isinstance(axis, int) or axis not in (-1, rank - 1):
        raise ConversionError(f"{where}: joins on axis {axis}, not the feature (last) axis; "
                              f"only inputs joined feature by feature form one input vector")
    for node in graph.node:
        if node is not concat and node.op_type != "Shape" and set(node.input) & set(names):
            shared = printable(sorted(set(node.input) & set(names))[0])
            raise ConversionError(f"{where}: input {shared!r} also feeds "
                                  f"{printable(node.op_type)} {printable(node.name)!r}; the joined "
                                  f"inputs must reach the model only through the Concat")
    if set(data) - set(names):
        return model, ()  # more inputs than the Concat joins (state inputs): not this form
    return _rewritten(model, concat, names, sum(w for w in widths if w is not None)), \
        tuple((n, w) for n, w in zip(names, widths) if w is not None)


def _rewritten(model: Any, concat: Any, names: list[str], width: int) -> Any:
    """A copy of model whose only data input is the Concat's output, of the first joined input's
    shape with the total width; Shape nodes of the joined inputs read it instead."""
    out = type(model)()
    out.CopyFrom(model)
    graph = out.graph
    first = next(vi for vi in graph.input if vi.name == names[0])
    merged = type(first)()
    merged.CopyFrom(first)
    merged.name = concat.output[0]
    merged.type.tensor_type.shape.dim[-1].dim_value = width
    kept = [vi for vi in graph.input if vi.name not in names]
    del graph.input[:]
    graph.input.extend([merged, *kept])
    nodes = [n for n in graph.node if not (n.op_type == "Concat" and list(n.input) == names
                                            and n.output[0] == concat.output[0])]
    for node in nodes:
        if node.op_type == "Shape" and node.input[0] in names:
            node.input[0] = merged.name
    del graph.node[:]
    graph.node.extend(nodes)
    return out
