"""Conversion check: run the source and the converted model on the same input and compare.

A converter reads what a model registers (modules, layers, graph nodes); what a PyTorch forward()
does with them is not written anywhere it can read. A function call (F.relu, F.softmax), a
reduction (.mean), a skip connection (+ x) or modules registered in another order than forward()
applies them all convert without any error and give wrong outputs. So whenever the source can be
run (a torch.nn.Module, a Keras model, an ONNX model with onnxruntime installed), convert() runs it
and the converted float model (through the C runtime, Model.run) on the same input sequence and
refuses a mismatch.

What is compared: the source's output for random input (N(0, 1), seed 0; 100 steps, or the fixed
sequence length of an ONNX graph; or the caller's verify_input). If it holds one output per step
((1, T, O), (T, 1, O), (T, O) …) every step is compared with Model.run; if it holds one output per
sequence (a model that returns only the last step, fc(out[:, -1]) or fc(h_n[-1])) it is compared
with the last step of Model.run (step 0 when the converter recorded metadata `source.readout`
"first …": a Keras GRU(go_backwards=True)); any other size is refused. When forward() returns a
tuple, its first tensor is the output ((out, h_n) of nn.GRU); a bare nn.GRUCell is stepped over the
sequence. The input layout is not written anywhere either, so the sequence is given as (1, T, I)
(batch first), (T, 1, I) (time first) and (T, I) in turn (the most likely first: time first for a
module whose first nn.GRU is not batch_first; Keras: batch first only); the layouts the source
refuses are skipped, and the check passes if one layout matches (a wrong layout runs another
recurrence, never the same outputs). A head_activation stated by the caller may be applied by the
source or not (logits trained with a cross-entropy loss): both are accepted.

Tolerance: max |source − converted| ≤ 1e-4 · max(1, max |source|), over all compared values: f32
rounding over a recurrence stays far below it (about 1e-6), and any real difference in the
computation is far above it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConversionError, InputError
from .reference import ACTIVATION_FUNCTIONS
from .spec import DenseLayer, ModelSpec

__all__ = ["RTOL", "STEPS", "VerifyResult", "dropped_activation", "onnx_runnable",
           "verify_input_array", "verify_source"]

STEPS = 100  # length of the random input sequence (seed 0, N(0, 1))
RTOL = 1e-4  # tolerance relative to max(1, max |source output|)

_TORCH_CAUSES = (
    "forward() applies something the registered modules do not show: a function call such as "
    "F.relu or F.softmax, a reduction such as .mean(1), a skip connection (+ x), or modules "
    "registered in another order than forward() applies them")
_TORCH_FIX = (
    "State the model: layers=[...] (the modules in the order forward() applies them; "
    "--layers on the command line) and activations={'fc1': 'relu'} / head_activation='softmax' "
    "for functions applied after an nn.Linear; a reduction or a skip connection cannot be "
    "converted. verify=False (--no-verify) converts without this check")
_OTHER_CAUSES = ("an activation stated with activations= that the model does not apply, or a "
                 "conversion bug (please report it)")
_OTHER_FIX = "verify=False (--no-verify) converts without this check"


@dataclass(frozen=True)
class VerifyResult:
    """What the check measured: the metadata value source.verified and, when the source could
    not be run, why (then the caller warns)."""

    verified: str
    warning: str | None = None


def verify_input_array(value: object, input_size: int) -> np.ndarray:
    """The user's verify_input as a float32 (T, I) array, or ConversionError."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise ConversionError(f"verify_input has dtype {arr.dtype}, expected real numbers")
    if arr.ndim != 2 or arr.shape[1] != input_size or arr.shape[0] < 2:
        raise ConversionError(f"verify_input has shape {arr.shape}, expected (T, {input_size}) "
                              f"with T >= 2")
    out = arr.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise ConversionError("verify_input contains NaN or Inf")
    return out


@dataclass(frozen=True)
class _Attempt:
    """One way to feed the source: the array it gets and how its axes read (batch first,
    time first, or one unbatched (T, I) sequence)."""

    label: str
    x: np.ndarray  # what the source gets
    reading: str  # "batch_first", "time_first" or "unbatched"

    def sequences(self) -> np.ndarray:
        """The same input as (N, T, I) sequences for Model.run."""
        if self.reading == "time_first":
            return np.ascontiguousarray(self.x.transpose(1, 0, 2))
        return self.x if self.reading == "batch_first" else self.x[None]


class _NotRunnable(Exception):
    """The source cannot be run: the check is skipped with a warning."""


def _attempts(x: np.ndarray, order: Sequence[str]) -> list[_Attempt]:
    """One (T, I) sequence laid out as each of `order`."""
    shapes = {"batch_first": ("(1, T, I)", x[None]), "time_first": ("(T, 1, I)", x[:, None]),
              "unbatched": ("(T, I)", x)}
    return [_Attempt(shapes[r][0], shapes[r][1], r) for r in order]


_ORDERS = ("batch_first", "time_first", "unbatched")


def _torch_order(module: Any) -> tuple[str, ...]:
    """A module whose first nn.GRU or nn.LSTM is not batch_first most likely takes (T, 1, I)."""
    nn = sys.modules["torch"].nn
    first = next((m for m in module.modules() if isinstance(m, (nn.GRU, nn.LSTM))), None)
    if first is not None and not first.batch_first:
        return ("time_first", "batch_first", "unbatched")
    return _ORDERS


def _onnx_attempts(model: Any, input_size: int, given: np.ndarray | None) -> list[_Attempt]:
    """An ONNX graph's input may have fixed dimensions (torch.onnx.export with fixed shapes):
    the random input takes them, and both readings of the two leading axes are tried."""
    inits = {t.name for t in model.graph.initializer}
    inp = next(i for i in model.graph.input if i.name not in inits)  # (named inputs: the first)
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inp.type.tensor_type.shape.dim]
    if len(dims) not in (2, 3):
        raise _NotRunnable(f"input {inp.name!r} has rank {len(dims)}, expected 2 or 3")
    if given is not None:
        return _attempts(given, ("unbatched",) if len(dims) == 2 else _ORDERS[:2])
    if len(dims) == 2:
        return _attempts(_random((dims[0] or STEPS, input_size)), ("unbatched",))
    if dims[0] is None and dims[1] is None:
        return _attempts(_random((STEPS, input_size)), _ORDERS[:2])
    x = _random((dims[0] or STEPS, dims[1] or STEPS, input_size))
    shape = f"({x.shape[0]}, {x.shape[1]}, I)"
    return [_Attempt(f"{shape} batch first", x, "batch_first"),
            _Attempt(f"{shape} time first", x, "time_first")]


def _random(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def verify_source(kind: str, source: Any, spec: ModelSpec, xs: object | None,
                  head_activation: str | None = None) -> VerifyResult:
    """Run `source` ("torch", "keras" or "onnx") and spec's model on the same input.

    head_activation: the activation the caller stated for the last layer; the source's output
    passes through it too when the source does not apply it itself. Returns the
    source.verified value; raises ConversionError on a mismatch."""
    given = None if xs is None else verify_input_array(xs, spec.input_size)
    model = spec.load()
    try:
        if kind == "onnx":
            attempts = _onnx_attempts(source, spec.input_size, given)
        else:
            x = _random((STEPS, spec.input_size)) if given is None else given
            attempts = _attempts(x, _torch_order(source) if kind == "torch" else _ORDERS[:1])
        runner = {"torch": _torch_runner, "keras": _keras_runner, "onnx": _onnx_runner}[kind]
        outputs, failures = [], []
        with runner(source, spec.inputs) as run:
            for attempt in attempts:
                try:
                    outputs.append((attempt, run(attempt.x)))
                except Exception as e:  # the source refuses this layout: try the next one
                    failures.append(f"{attempt.label}: {type(e).__name__}: {_first_line(e)}")
        if not outputs:
            raise _NotRunnable("; ".join(failures))
    except _NotRunnable as e:
        why = f"the source could not be run ({e})"
        return VerifyResult(f"no ({why})", f"conversion not verified: {why}")
    compared = [(a, out, model.run(a.sequences()).astype(np.float64)) for a, out in outputs]
    first = str(spec.metadata.get("source.readout", "")).startswith("first")
    return _compare(kind, compared, model.output_size, head_activation, first)


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "(no message)"


def _reference(attempt: _Attempt, out: np.ndarray, n: int, t: int,
               o: int) -> tuple[np.ndarray, bool] | None:
    """The source's output as (N, T, O) (per step, True) or (N, O) (last step, False); None if
    its size is neither."""
    if out.size == n * t * o:
        if attempt.reading == "time_first":
            return out.reshape(t, n, o).transpose(1, 0, 2), True
        return out.reshape(n, t, o), True
    if out.size == n * o:
        return out.reshape(n, o), False
    return None


def _compare(kind: str, compared: list[tuple[_Attempt, np.ndarray, np.ndarray]], o: int,
             head_activation: str | None, first: bool = False) -> VerifyResult:
    """Pass if one attempt's output matches; else report the first attempt that gave a
    comparable output (the attempts are tried most likely first). first: the source's one
    output per sequence is the converted model's at step 0 (metadata source.readout 'first',
    a Keras GRU(go_backwards=True)), not at the last step."""
    results: list[tuple[float, float, str, str]] = []  # (error, tolerance, layout, what)
    sizes = []
    for attempt, out, converted in compared:
        n, t, _ = converted.shape
        found = _reference(attempt, out, n, t, o)
        if found is None:
            sizes.append(f"{attempt.label} input → output shape {tuple(out.shape)}")
            continue
        ref, per_step = found
        mine = converted if per_step else converted[:, 0 if first else -1]
        seqs = f" × {n} sequences" if n > 1 else ""
        what = f"every step of {t} steps{seqs}" if per_step else \
            f"the {'first' if first else 'last'} step of {t} steps{seqs}"
        results.append(_error(ref, mine, attempt.label, what))
        if head_activation not in (None, "linear"):  # stated on top of what the source returns
            applied = ACTIVATION_FUNCTIONS[str(head_activation)](ref)
            results.append(_error(applied, mine, attempt.label,
                                  f"{what} (head_activation {head_activation} applied to the "
                                  f"source's output)"))
    causes, fix = (_TORCH_CAUSES, _TORCH_FIX) if kind == "torch" else (_OTHER_CAUSES, _OTHER_FIX)
    if not results:
        raise ConversionError(
            f"conversion check failed: the source's output does not match the converted model's "
            f"{o} values per step ({'; '.join(sizes)}; expected one output per step or the last "
            f"step's). Likely cause: {causes}. {fix}")
    for err, tol, _, what in results:
        if err <= tol:
            return VerifyResult(f"yes (max err {err:.2g} over {what})")
    err, tol, layout, what = results[0]
    raise ConversionError(
        f"conversion check failed: the converted model differs from the source by up to "
        f"{err:.3g} (tolerance {tol:.3g}) on {what} of a random input sequence "
        f"(input {layout}). Likely cause: {causes}. {fix}")


def _error(ref: np.ndarray, mine: np.ndarray, layout: str,
           what: str) -> tuple[float, float, str, str]:
    """(max error, tolerance, layout, what was compared); NaN counts as an infinite error."""
    err = float(np.nan_to_num(np.max(np.abs(ref - mine)), nan=np.inf))
    return err, RTOL * max(1.0, float(np.max(np.abs(ref)))), layout, what


# ---- running each kind of source ---------------------------------------------------------------

Runner = Callable[[np.ndarray], np.ndarray]
Inputs = Sequence[tuple[str, int]]  # a model's named inputs (ModelSpec.inputs)


def _parts(x: np.ndarray, inputs: Inputs) -> dict[str, np.ndarray]:
    """x split along its last axis into the named inputs, in order (the source takes them apart)."""
    bounds = np.cumsum([0] + [width for _, width in inputs])
    return {name: np.ascontiguousarray(x[..., a:b])
            for (name, _), a, b in zip(inputs, bounds, bounds[1:])}


@contextmanager
def _torch_runner(module: Any, inputs: Inputs) -> Iterator[Runner]:
    """module in eval mode (Dropout off) for the check; each submodule's mode restored after.
    With named inputs, forward() gets one tensor per input, in order."""
    torch = sys.modules["torch"]
    param = next(iter(module.parameters()), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    modes = [(m, m.training) for m in module.modules()]
    module.eval()

    def run(x: np.ndarray) -> np.ndarray:
        xs = torch.from_numpy(x).to(dtype)
        with torch.no_grad():
            if isinstance(module, (torch.nn.GRUCell, torch.nn.LSTMCell)):  # stepped here
                if xs.ndim != 2:
                    raise InputError(f"an nn.{type(module).__name__} is stepped over (T, I) only")
                h, steps = None, []
                for t in range(xs.shape[0]):
                    h = module(xs[t:t + 1], h)  # an LSTMCell's state: (h, c)
                    steps.append(h[0] if isinstance(h, tuple) else h)
                out = torch.cat(steps)
            elif inputs:
                out = module(*(torch.from_numpy(p).to(dtype) for p in _parts(x, inputs).values()))
            else:
                out = module(xs)
        return _first_tensor(out, torch.Tensor).to(torch.float64).numpy()

    try:
        yield run
    finally:
        for m, training in modes:
            m.training = training


def _first_tensor(out: Any, tensor_type: type) -> Any:
    """The output itself, or the first tensor of a (nested) tuple or list: (out, h_n)."""
    if isinstance(out, tensor_type):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            found = _first_tensor(item, tensor_type)
            if found is not None:
                return found
    if isinstance(out, dict) or out is None or isinstance(out, (tuple, list)):
        raise ConversionError(f"forward() returned a {type(out).__name__} without a tensor")
    raise ConversionError(f"forward() returned a {type(out).__name__}, not a tensor")


@contextmanager
def _keras_runner(model: Any, inputs: Inputs) -> Iterator[Runner]:
    """With named inputs, the model gets {input name: array}."""
    from .importers._lazy import require

    keras = require("keras", "verifying a Keras model")

    def run(x: np.ndarray) -> np.ndarray:
        out = model(_parts(x, inputs) if inputs else x, training=False)
        if isinstance(out, (list, tuple)):
            out = out[0]
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)

    yield run


@contextmanager
def _onnx_runner(model: Any, inputs: Inputs) -> Iterator[Runner]:
    """A graph with several inputs (the model's named inputs) gets each part by name."""
    import onnxruntime

    data = model if isinstance(model, bytes) else model.SerializeToString()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings on stderr
    try:
        session = onnxruntime.InferenceSession(data, options,
                                               providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime does not run every valid graph (GRU layout=1)
        raise _NotRunnable(f"onnxruntime: {_first_line(e)}") from None
    graph_inputs = session.get_inputs()
    first_output = session.get_outputs()[0].name
    dtypes = {i.name: {"tensor(double)": np.float64, "tensor(float16)": np.float16}.get(
        i.type, np.float32) for i in graph_inputs}

    def run(x: np.ndarray) -> np.ndarray:
        feeds = _parts(x, inputs) if len(graph_inputs) > 1 else {graph_inputs[0].name: x}
        out = session.run([first_output], {k: v.astype(dtypes[k]) for k, v in feeds.items()})[0]
        return np.asarray(out, dtype=np.float64)

    yield run


def onnx_runnable(model: Any, n_inputs: int = 1) -> str | None:
    """None if onnxruntime can run the check on this model (with n_inputs data inputs: the named
    inputs of a multi-input graph), else why not."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed"
    inputs = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
    if len(inputs) not in (1, n_inputs):
        return (f"the graph has {len(inputs)} data inputs; only a one-input graph, or one whose "
                f"inputs are the model's named inputs, is run")
    return None


# ---- weights that cannot be run ----------------------------------------------------------------

def dropped_activation(spec: ModelSpec) -> str | None:
    """A warning when two linear Dense layers follow each other (likely a dropped activation)."""
    layers: Sequence[Any] = spec.layers
    for k, (a, b) in enumerate(zip(layers, layers[1:])):
        if isinstance(a, DenseLayer) and isinstance(b, DenseLayer) and a.activation == "linear":
            name = f" ({a.name})" if a.name else ""
            return (f"layers {k}{name} and {k + 1} are two Dense layers with no activation "
                    f"between them: if the model applies one in code (F.relu in forward), state "
                    f"it with activations= (--activation); weights alone cannot be checked")
    return None
