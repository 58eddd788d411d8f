"""A plain NumPy float64 reference of the canonical model (docs/FORMAT.md): the tests' oracle.

Written for clarity, not speed: one time step at a time, with the formulas of the format spec.
The weights are the ones the file holds: `spec.validated()` rounds them to float32, and the math
then runs in float64, so the runtime's float32 results differ from these only by float32 rounding.

State: one flat float64 vector, the hidden vectors of the GRU layers, the (h, c) pairs of the LSTM
layers and the input windows of the Conv1D layers concatenated in layer order (the same layout as
the runtime's `Stream.state`); its length is `state_size(spec)`. A model without such layers has a
state of length 0.
`state=None` means all zeros.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np

from .conv1d import full_weights, window_step
from .errors import InputError
from .spec import (
    Conv1DLayer,
    DenseLayer,
    EmbeddingLayer,
    GRULayer,
    Layer,
    LayerNormLayer,
    LSTMLayer,
    ModelSpec,
    layer_state_size,
    masked_steps,
)

__all__ = ["ACTIVATION_FUNCTIONS", "PARAM_ACTIVATION_FUNCTIONS", "reference_layer_outputs",
           "reference_layer_run", "reference_lstm_cells", "reference_run", "reference_step",
           "state_size"]


def _linear(a: np.ndarray) -> np.ndarray:
    return a


def _relu(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0.0)


def _tanh(a: np.ndarray) -> np.ndarray:
    return np.tanh(a)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # Written so that exp never overflows: exp of a non-positive number only.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - np.max(a, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _hard_sigmoid(a: np.ndarray) -> np.ndarray:
    return np.clip(a / 6.0 + 0.5, 0.0, 1.0)


def _hard_sigmoid_k2(a: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * a + 0.5, 0.0, 1.0)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _gelu(a: np.ndarray) -> np.ndarray:
    # x·Φ(x) = x/2·erfc(−x/√2): no cancellation for negative x.
    return 0.5 * a * _erfc(-np.asarray(a, np.float64) / math.sqrt(2.0))


def _gelu_tanh(a: np.ndarray) -> np.ndarray:
    return 0.5 * a * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a ** 3)))


def _silu(a: np.ndarray) -> np.ndarray:
    return a * _sigmoid(a)


def _softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a)


def _log_softmax(a: np.ndarray) -> np.ndarray:
    s = a - np.max(a, axis=-1, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True))


def _leaky_relu(a: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(a < 0, alpha * a, a)


def _elu(a: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0.0)))


# The activations with a parameter (a Dense layer's alpha).
PARAM_ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "leaky_relu": _leaky_relu,
    "elu": _elu,
}

ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": _linear,
    "relu": _relu,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "softmax": _softmax,
    "hard_sigmoid": _hard_sigmoid,
    "hard_sigmoid_k2": _hard_sigmoid_k2,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "silu": _silu,
    "softplus": _softplus,
    "log_softmax": _log_softmax,
}


def state_size(spec: ModelSpec) -> int:
    """Length of the flat state: H per GRU layer, 2H (h and c) per LSTM layer, a Conv1D layer's
    window of (k - 1)·d input frames."""
    return sum(layer_state_size(layer) for layer in spec.layers)


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _gru_step(layer: GRULayer, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    hs = layer.hidden_size
    sigma = ACTIVATION_FUNCTIONS[layer.gate_activation]
    phi = ACTIVATION_FUNCTIONS[layer.activation]
    w, u, b_i, b_h = layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh
    rows_r, rows_z, rows_n = slice(0, hs), slice(hs, 2 * hs), slice(2 * hs, 3 * hs)

    # x @ w.T: x is (I,) or a batch (N, I); everything else works along the last axis.
    r = sigma(x @ w[rows_r].T + b_i[rows_r] + h @ u[rows_r].T + b_h[rows_r])
    z = sigma(x @ w[rows_z].T + b_i[rows_z] + h @ u[rows_z].T + b_h[rows_z])
    if layer.reset_after:
        n = phi(x @ w[rows_n].T + b_i[rows_n] + r * (h @ u[rows_n].T + b_h[rows_n]))
    else:
        n = phi(x @ w[rows_n].T + b_i[rows_n] + (r * h) @ u[rows_n].T + b_h[rows_n])
    return (1.0 - z) * n + z * h


def _lstm_step(layer: LSTMLayer, x: np.ndarray, hc: np.ndarray) -> np.ndarray:
    """The new (h, c) of an LSTM (gates i, f, g, o) from x and the old (h, c), concatenated."""
    hs = layer.hidden_size
    sigma = ACTIVATION_FUNCTIONS[layer.gate_activation]
    phi = ACTIVATION_FUNCTIONS[layer.activation]
    h, c = hc[..., :hs], hc[..., hs:]
    a = x @ layer.w_ih.T + layer.b_ih + h @ layer.w_hh.T + layer.b_hh
    i, f = sigma(a[..., :hs]), sigma(a[..., hs:2 * hs])
    g, o = phi(a[..., 2 * hs:3 * hs]), sigma(a[..., 3 * hs:])
    c_new = f * c + i * g
    return np.concatenate([o * phi(c_new), c_new], axis=-1)


def reference_lstm_cells(layer: LSTMLayer, xs: np.ndarray,
                         hc: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The cell states (N, T, H) of a float LSTM layer over its inputs xs (N, T, I) from the (h, c)
    rows hc (N, 2H; None: zeros), and the last (h, c) rows: what the q15 quantizer calibrates the
    cell state's format on."""
    hs = layer.hidden_size
    state = np.zeros((xs.shape[0], 2 * hs)) if hc is None else hc
    cells = np.empty((xs.shape[0], xs.shape[1], hs))
    for step in range(xs.shape[1]):
        state = _lstm_step(layer, xs[:, step], state)
        cells[:, step] = state[:, hs:]
    return cells, state


def _dense_step(layer: DenseLayer | Conv1DLayer, x: np.ndarray) -> np.ndarray:
    """A Dense layer, or a Conv1D layer on its window rows (full_weights)."""
    w = layer.w
    if isinstance(layer, Conv1DLayer):
        w = full_weights(layer, w)
    a = x @ w.T + layer.b
    if layer.activation in PARAM_ACTIVATION_FUNCTIONS:
        assert layer.alpha is not None  # validated: set for leaky_relu and elu
        return PARAM_ACTIVATION_FUNCTIONS[layer.activation](a, layer.alpha)
    return ACTIVATION_FUNCTIONS[layer.activation](a)


def _layernorm_step(layer: LayerNormLayer, x: np.ndarray) -> np.ndarray:
    mean = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + layer.eps) * layer.gamma + layer.beta


def token_ids(layer: EmbeddingLayer, x: np.ndarray) -> np.ndarray:
    """The token ids of input rows x (..., 1) holding them (1.5), or InputError naming the first
    that is not an integer in [0, vocab)."""
    ids = np.asarray(x)[..., 0]
    bad = np.flatnonzero(~((ids >= 0) & (ids < layer.vocab_size) & (ids == np.floor(ids))))
    if bad.size:
        raise InputError(f"input {np.unravel_index(int(bad[0]), ids.shape)} is "
                         f"{ids.flat[bad[0]]!r}, expected a token id in 0 … {layer.vocab_size - 1}")
    return ids.astype(np.int64)


def _embedding_step(layer: EmbeddingLayer, x: np.ndarray) -> np.ndarray:
    return np.asarray(layer.table)[token_ids(layer, x)]


def _initial_state(spec: ModelSpec, state: object | None) -> np.ndarray:
    n = state_size(spec)
    if state is None:
        return np.zeros(n)
    s = np.array(state, dtype=np.float64)  # a copy: the caller's array is never changed
    if s.shape != (n,):
        raise InputError(f"state has shape {s.shape}, expected ({n},)")
    return s


def _prepared(spec: ModelSpec) -> ModelSpec:
    """The validated spec (float32 weights, as in the file) with its arrays widened to float64."""
    layers: list[Layer] = []
    for layer in spec.validated().layers:
        if isinstance(layer, GRULayer):
            layers.append(_gru_f64(layer))
        elif isinstance(layer, LSTMLayer):
            layers.append(replace(layer, w_ih=_f64(layer.w_ih), w_hh=_f64(layer.w_hh),
                                  b_ih=_f64(layer.b_ih), b_hh=_f64(layer.b_hh)))
        elif isinstance(layer, LayerNormLayer):
            layers.append(replace(layer, gamma=_f64(layer.gamma), beta=_f64(layer.beta)))
        elif isinstance(layer, EmbeddingLayer):
            layers.append(replace(layer, table=_f64(layer.table)))
        else:  # Dense, Conv1D
            layers.append(replace(layer, w=_f64(layer.w), b=_f64(layer.b)))
    return ModelSpec(layers, dict(spec.metadata), spec.validated().input_mask)


def _gru_f64(layer: GRULayer) -> GRULayer:
    back = None if layer.backward is None else _gru_f64(layer.backward)
    return replace(layer, w_ih=_f64(layer.w_ih), w_hh=_f64(layer.w_hh), b_ih=_f64(layer.b_ih),
                   b_hh=_f64(layer.b_hh), backward=back)


def merge_directions(merge: str | None, outs: list[np.ndarray]) -> np.ndarray:
    """A layer's outputs from its directions' (..., H) outputs (docs/FORMAT.md, merge)."""
    if len(outs) == 1:
        return outs[0]
    a, b = outs
    if merge == "concat":
        return np.concatenate([a, b], axis=-1)
    return {"sum": a + b, "ave": (a + b) / 2, "mul": a * b}[str(merge)]


def _whole_sequences(spec: ModelSpec, xv: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Layer by layer over whole sequences xv (N, T, I), each from a zero state, as a model with a
    reverse or bidirectional layer runs: (every layer's (N, T, O_l) outputs, the final states (N,
    state_size): each direction's last state, i.e. a backward direction's after step 0)."""
    n, t = xv.shape[0], xv.shape[1]
    outs: list[np.ndarray] = []
    finals: list[np.ndarray] = []
    masked = masked_steps(spec.input_mask, xv)[..., None]  # a masked step keeps the state
    x = xv
    for layer in spec.layers:
        if isinstance(layer, GRULayer):
            per_dir = []
            for d, cell in enumerate(layer.directions):
                backwards = layer.direction == "reverse" or d == 1
                h = np.zeros((n, cell.hidden_size))
                y = np.zeros((n, t, cell.hidden_size))
                for step in (range(t - 1, -1, -1) if backwards else range(t)):
                    h = np.where(masked[:, step], h, _gru_step(cell, x[:, step], h))
                    y[:, step] = h
                per_dir.append(y)
                finals.append(h)
            x = merge_directions(layer.merge, per_dir)
        elif isinstance(layer, LSTMLayer):  # forward only
            hc = np.zeros((n, 2 * layer.hidden_size))
            y = np.zeros((n, t, layer.hidden_size))
            for step in range(t):
                hc = np.where(masked[:, step], hc, _lstm_step(layer, x[:, step], hc))
                y[:, step] = hc[:, :layer.hidden_size]
            finals.append(hc)
            x = y
        elif isinstance(layer, LayerNormLayer):
            x = _layernorm_step(layer, x)
        elif isinstance(layer, EmbeddingLayer):
            x = _embedding_step(layer, x)
        else:
            x = _dense_step(layer, x)
        outs.append(x)
    return outs, np.concatenate(finals, axis=1) if finals else np.zeros((n, 0))


def _step(spec: ModelSpec, x: np.ndarray, state: np.ndarray,
          trace: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One step of x (I,) or (N, I) from state (S,) or (N, S); trace collects each layer's
    output. A masked step (spec.input_mask) keeps each GRU's state and outputs it."""
    masked = masked_steps(spec.input_mask, x)[..., None]
    new_state = state.copy()
    offset = 0
    for layer in spec.layers:
        if isinstance(layer, GRULayer):
            hs = layer.hidden_size
            h = state[..., offset:offset + hs]
            x = np.where(masked, h, _gru_step(layer, x, h))
            new_state[..., offset:offset + hs] = x
            offset += hs
        elif isinstance(layer, LSTMLayer):
            hs = layer.hidden_size
            old = state[..., offset:offset + 2 * hs]
            hc = np.where(masked, old, _lstm_step(layer, x, old))
            new_state[..., offset:offset + 2 * hs] = hc
            x = hc[..., :hs]
            offset += 2 * hs
        elif isinstance(layer, LayerNormLayer):
            x = _layernorm_step(layer, x)
        elif isinstance(layer, EmbeddingLayer):
            x = _embedding_step(layer, x)
        elif isinstance(layer, Conv1DLayer):
            size = layer.window * layer.input_size
            window = state[..., offset:offset + size]
            frames = x.reshape(-1, layer.input_size)  # k = 1: an empty window, sized by x
            rows, nxt = window_step(layer, window.reshape(len(frames), size), frames)
            new_state[..., offset:offset + size] = nxt.reshape(window.shape)
            offset += size
            x = _dense_step(layer, rows.reshape(*x.shape[:-1], -1))
        else:
            x = _dense_step(layer, x)
        if trace is not None:
            trace.append(x)
    return x, new_state


def _no_state(state: object | None) -> None:
    if state is not None:
        raise InputError("a model with a reverse or bidirectional layer runs whole sequences from "
                         "a zero state: state must be None")


def reference_step(spec: ModelSpec, x: object,
                   state: object | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One time step: (y, new_state), float64. x has shape (I,); state is the flat state or None."""
    checked = _prepared(spec)
    if checked.needs_future:
        raise InputError("a model with a reverse or bidirectional layer has no single step: "
                         "use reference_run on the whole sequence")
    xv = np.asarray(x, dtype=np.float64)
    if xv.shape != (checked.input_size,):
        raise InputError(f"x has shape {xv.shape}, expected ({checked.input_size},)")
    return _step(checked, xv, _initial_state(checked, state))


def reference_run(spec: ModelSpec, xs: object,
                  state: object | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A whole sequence: (ys (T, O), final_state), float64. xs has shape (T, I)."""
    checked = _prepared(spec)
    xv = np.asarray(xs, dtype=np.float64)
    if xv.ndim != 2 or xv.shape[1] != checked.input_size:
        raise InputError(f"xs has shape {xv.shape}, expected (T, {checked.input_size})")
    if checked.needs_future:
        _no_state(state)
        outs, finals = _whole_sequences(checked, xv[None])
        return outs[-1][0], finals[0]
    s = _initial_state(checked, state)
    ys = np.zeros((xv.shape[0], checked.output_size))
    for t in range(xv.shape[0]):
        ys[t], s = _step(checked, xv[t], s)
    return ys, s


def reference_layer_outputs(spec: ModelSpec, xs: object,
                            states: object | None = None) -> list[np.ndarray]:
    """Every layer's outputs for N sequences at once, each from a zero state (or from states, (N,
    state_size)): xs (N, T, I) → [(N, T, O_l) for each layer], float64."""
    return reference_layer_run(spec, xs, states)[0]


def reference_layer_run(spec: ModelSpec, xs: object,
                        states: object | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """reference_layer_outputs and the final states (N, state_size)."""
    checked = _prepared(spec)
    xv = np.asarray(xs, dtype=np.float64)
    if xv.ndim != 3 or xv.shape[2] != checked.input_size:
        raise InputError(f"xs has shape {xv.shape}, expected (N, T, {checked.input_size})")
    n, t = xv.shape[0], xv.shape[1]
    if checked.needs_future:
        _no_state(states)
        return _whole_sequences(checked, xv)
    outs = [np.zeros((n, t, layer.output_size)) for layer in checked.layers]
    s = np.zeros((n, state_size(checked)))
    if states is not None:
        s = np.array(states, dtype=np.float64)  # a copy: the caller's array is never changed
        if s.shape != (n, state_size(checked)):
            raise InputError(f"states has shape {s.shape}, expected ({n}, {state_size(checked)})")
    for step in range(t):
        trace: list[np.ndarray] = []
        _, s = _step(checked, xv[:, step], s, trace)
        for k, y in enumerate(trace):
            outs[k][:, step] = y
    return outs, s
