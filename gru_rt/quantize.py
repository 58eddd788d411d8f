"""The quantizer: a float (f32) ModelSpec → q8 or q15, with calibration and an error report.

The arithmetic it targets is docs/QUANTIZATION.md; the golden model (gru_rt/golden.py) runs the
result, and the report compares it with the float64 reference on the calibration data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .conv1d import column_groups
from .errors import ConversionError
from .format import (
    LSTM_MAX_CELL_BITS,
    Q15_DENSE_ACTIVATIONS,
    Q15_FIXED_OUTPUT,
    QUANTIZED_PRECISIONS,
)
from .golden import golden_run
from .reference import reference_layer_outputs, reference_layer_run, reference_lstm_cells
from .spec import (
    Conv1DLayer,
    DenseLayer,
    EmbeddingLayer,
    GRULayer,
    Layer,
    LayerNormLayer,
    LSTMLayer,
    ModelSpec,
    masked_steps,
    output_scale,
)

__all__ = ["CALIBRATION_HEADROOM", "DEFAULT_INPUT_RANGE", "QuantReport", "load_calibration",
           "quantize"]

CALIBRATION_HEADROOM = 1.25  # ranges seen in calibration data are widened by this factor
DEFAULT_INPUT_RANGE = 4.0  # no calibration data: inputs assumed standardized, |x| <= 4
SYNTHETIC_SHAPE = (32, 64)  # no calibration data: the report's N(0, 1) sequences (seed 0)
Q15_UNIT = 2.0 ** -15
Q16 = 2.0 ** 16
_MIN_MULTIPLIER = 2.0 ** -55  # below: the row is zero (the smallest bf16 code with sh <= 62)
_MAX_MULTIPLIER = 255.0  # 0xFF · 2^0: sh >= 0


@dataclass
class QuantReport:
    """Errors of the quantized model against the float64 reference on the calibration set."""

    precision: str
    calibration: str  # where the data came from
    layers: list[tuple[float, float]] = field(default_factory=list)  # (max abs, mean abs) per layer
    output: tuple[float, float] = (0.0, 0.0)
    argmax_agreement: float | None = None  # fraction of steps, for classifier heads
    steps: int = 0

    def metadata(self) -> dict[str, str]:
        meta = {"quant.precision": self.precision, "quant.calibration": self.calibration}
        for k, (mx, mean) in enumerate(self.layers):
            meta[f"quant.error.layer{k}"] = f"max_abs={mx:.3e} mean_abs={mean:.3e}"
        meta["quant.error.output"] = f"max_abs={self.output[0]:.3e} mean_abs={self.output[1]:.3e}"
        if self.argmax_agreement is not None:
            meta["quant.argmax_agreement"] = (f"{100 * self.argmax_agreement:.2f}% of "
                                              f"{self.steps} steps")
        return meta

    def lines(self) -> list[str]:
        return [f"{key}: {value}" for key, value in self.metadata().items()]


# ---------------------------------------------------------------------------------------------
# calibration data


def load_calibration(source: object, input_size: int,
                     lengths: object | None = None, vocab_size: int = 0) -> list[np.ndarray]:
    """Calibration sequences as float64 (T_k, I) arrays, from: an array-like (T, I) or (N, T, I),
    the latter zero-padded when `lengths` (N integers in [0, T]) is given; a list or tuple of
    (T_k, I) sequences of different lengths; or a .npy path (an array, as above). A token model
    (vocab_size > 0, 1.5) also takes integer ids shaped without the feature axis, (T,) or (N, T)
    or a list of (T_k,), and every id must be in 0 … vocab_size - 1."""
    what = "calibration data"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = str(path)
        from .importers._untrusted import read_npy_file

        try:
            arrays = [read_npy_file(path, "calibration .npy file")]
        except FileNotFoundError:
            raise ConversionError(f"{path}: no such calibration file") from None
        except (ConversionError, OSError) as e:
            raise ConversionError(f"{path}: not a readable .npy array ({e})") from None
    elif isinstance(source, (list, tuple)) and all(np.ndim(x) == 2 for x in source):
        if lengths is not None:
            raise ConversionError(f"{what}: calibration lengths go with a padded (N, T, I) "
                                  f"array; the sequences of a list have their own lengths")
        arrays = [np.asarray(x) for x in source]
    elif (vocab_size and isinstance(source, (list, tuple)) and len(source)
          and all(np.ndim(x) == 1 for x in source)):
        arrays = [np.asarray(x) for x in source]
    else:
        arrays = [np.asarray(source)]
    if vocab_size:  # integer ids without the feature axis
        arrays = [a[..., None] if a.dtype.kind in "iu" else a for a in arrays]
    for arr in arrays:
        if arr.dtype.kind not in "iuf":
            raise ConversionError(f"{what}: dtype {arr.dtype}, expected real numbers")
    if len(arrays) == 1 and arrays[0].ndim == 3:
        seqs = _unpadded(arrays[0], lengths, what, input_size)
    elif len(arrays) == 1 and arrays[0].ndim == 2 and lengths is None:
        seqs = arrays
    elif len(arrays) == 1 and not isinstance(source, (list, tuple)):
        raise ConversionError(f"{what}: shape {arrays[0].shape}, expected (T, {input_size}) or "
                              f"(N, T, {input_size})"
                              + (" (lengths go with (N, T, I))" if lengths is not None else ""))
    else:
        seqs = arrays
    for k, x in enumerate(seqs):
        if x.shape[1] != input_size:
            where = what if len(seqs) == 1 else f"{what}: sequence {k}"
            raise ConversionError(f"{where}: shape {x.shape}, expected (T, {input_size})")
    out = [x.astype(np.float64) for x in seqs]
    if sum(len(x) for x in out) == 0:
        raise ConversionError(f"{what}: no steps; expected (T, {input_size}) or "
                              f"(N, T, {input_size}) with at least one step")
    if not all(np.all(np.isfinite(x)) for x in out):
        raise ConversionError(f"{what}: contains NaN or Inf")
    for k, x in enumerate(out if vocab_size else []):
        bad = np.flatnonzero((x < 0) | (x >= vocab_size) | (x != np.floor(x)))
        if bad.size:
            raise ConversionError(f"{what}: sequence {k} step {int(bad[0])} is {x.flat[bad[0]]!r}, "
                                  f"expected a token id in 0 … {vocab_size - 1}")
    return out


def _unpadded(arr: np.ndarray, lengths: object | None, what: str,
              input_size: int) -> list[np.ndarray]:
    """The sequences of a padded (N, T, I) array: arr[k, :lengths[k]] (all of T without lengths)."""
    if arr.shape[2] != input_size:
        raise ConversionError(f"{what}: shape {arr.shape}, expected (N, T, {input_size})")
    n, t = arr.shape[0], arr.shape[1]
    if lengths is None:
        return [arr[k] for k in range(n)]
    lens = np.asarray(lengths)
    if lens.dtype.kind not in "iu" or lens.shape != (n,):
        raise ConversionError(f"calibration lengths: dtype {lens.dtype} shape {lens.shape}, "
                              f"expected {n} integers (one per sequence of {what})")
    bad = np.flatnonzero((lens < 0) | (lens > t))
    if bad.size:
        k = int(bad[0])
        raise ConversionError(f"calibration lengths[{k}] is {int(lens[k])}, expected 0 to {t} "
                              f"(the padded length of {what})")
    return [arr[k, :int(lens[k])] for k in range(n)]


def _synthetic(input_size: int, vocab_size: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    if vocab_size:  # a token model: uniform random ids
        return list(rng.integers(0, vocab_size, (*SYNTHETIC_SHAPE, 1)).astype(np.float64))
    return list(rng.standard_normal((*SYNTHETIC_SHAPE, input_size)))


def _vocab_size(spec: ModelSpec) -> int:
    """The vocabulary of a token model (layer 0 an Embedding), else 0."""
    first = spec.layers[0]
    return first.vocab_size if isinstance(first, EmbeddingLayer) else 0


# ---------------------------------------------------------------------------------------------
# running calibration sequences of different lengths

# One run of (A, t, I) inputs from states (A, S) (None: zeros) → (each layer's (A, t, O_l) outputs,
# the states after the last step).
_SegmentRun = Callable[[np.ndarray, "np.ndarray | None"], tuple[list[np.ndarray], np.ndarray]]


def _real_steps(run: _SegmentRun, seqs: list[np.ndarray]) -> list[np.ndarray]:
    """Every layer's outputs at the real steps of every sequence, (sum of T_k, O_l) per layer,
    sequence after sequence in order of decreasing length. The sequences run in lockstep, longest
    first: each segment of steps between two sequence ends runs only the sequences still going
    (a prefix, their states carried over), so no sequence is stepped past its end."""
    order = sorted(range(len(seqs)), key=lambda k: -len(seqs[k]))
    lens = [len(seqs[k]) for k in order]
    padded = np.zeros((len(seqs), lens[0], seqs[0].shape[1]))
    for row, k in enumerate(order):
        padded[row, :lens[row]] = seqs[k]
    full: list[np.ndarray] = []
    states: np.ndarray | None = None
    t = 0
    for end in sorted(set(lens) - {0}):
        active = sum(1 for n in lens if n >= end)
        outs, new = run(padded[:active, t:end], None if states is None else states[:active])
        if not full:
            full = [np.zeros((len(seqs), lens[0], o.shape[-1]), o.dtype) for o in outs]
        for f, o in zip(full, outs):
            f[:active, t:end] = o
        states = new
        t = end
    return [np.concatenate([f[row, :lens[row]] for row in range(len(seqs))]) for f in full]


def _whole_steps(spec: ModelSpec, seqs: list[np.ndarray], golden: bool) -> list[np.ndarray]:
    """_real_steps for a model with a reverse or bidirectional layer, which runs each sequence
    whole: every layer's outputs at the real steps, sequence after sequence."""
    runs: list[list[np.ndarray]] = []
    for x in seqs:
        if len(x) and golden:
            outs = golden_run(spec, x[None], layer_outputs=True).layer_outputs
            assert outs is not None
            runs.append(outs)
        elif len(x):
            runs.append(reference_layer_outputs(spec, x[None]))
    return [np.concatenate([run[k][0] for run in runs]) for k in range(len(spec.layers))]


def _outputs(spec: ModelSpec, seqs: list[np.ndarray], golden: bool) -> list[np.ndarray]:
    """Every layer's outputs at the real steps of the sequences (the float64 reference, or the
    golden model of a quantized spec)."""
    if spec.needs_future:
        return _whole_steps(spec, seqs, golden)
    return _real_steps(_golden_segment(spec) if golden else _reference_segment(spec), seqs)


def _reference_segment(spec: ModelSpec) -> _SegmentRun:
    """The float64 reference as a _SegmentRun."""
    def run(x3: np.ndarray, states: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray]:
        return reference_layer_run(spec, x3, states)
    return run


def _golden_segment(spec: ModelSpec) -> _SegmentRun:
    def run(x3: np.ndarray, states: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray]:
        done = golden_run(spec, x3, states, layer_outputs=True)
        assert done.layer_outputs is not None
        return done.layer_outputs, done.state
    return run


# ---------------------------------------------------------------------------------------------
# row scales


def _bf16_up(values: np.ndarray) -> np.ndarray:
    """The smallest bf16 codes whose values are >= values (>= 0, finite); 0 stays 0."""
    v = np.asarray(values, np.float64)
    f = v.astype(np.float32)
    f = np.where(f.astype(np.float64) < v, np.nextafter(f, np.float32(np.inf)), f)
    bits = f.view(np.uint32).astype(np.int64)
    code = (bits >> 16) + ((bits & 0xFFFF) != 0)
    return code.astype(np.uint16)


def _bf16_float(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _int8_rows(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    safe = np.where(scale > 0, scale, 1.0)
    q = np.rint(w / safe[:, None])
    return np.clip(np.where(scale[:, None] > 0, q, 0), -127, 127).astype(np.int8)


def _q8_matrix(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and their bf16 scale codes (each scale >= max|row| / 127)."""
    codes = _bf16_up(np.max(np.abs(w), axis=1) / 127.0)
    return _int8_rows(w, _bf16_float(codes)), codes


def _q15_matrix(w: np.ndarray, unit: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of w' = w·diag(in_scale) as int8 plus multiplier codes m = s·2^16 / unit, where unit is
    the real value of one unit of the result (2^-16 for Q16 results; out_scale otherwise)."""
    s0 = np.max(np.abs(w), axis=1) / 127.0
    m0 = s0 / unit
    if np.any(m0 > _MAX_MULTIPLIER):
        j = int(np.argmax(m0))
        raise ConversionError(f"{where}: row {j} needs a multiplier of {m0[j]:.4g} > 255: its "
                              f"weights times the input range are too large for q15")
    m0 = np.where(m0 < _MIN_MULTIPLIER, 0.0, m0)
    codes = _bf16_up(m0)
    scale = _bf16_float(codes) * unit  # the real weight of one int8 step, exact with the code
    return _int8_rows(w, scale), codes


def _bias_i32(values: np.ndarray, where: str) -> np.ndarray:
    q = np.rint(values)
    if np.any(np.abs(q) > 2**31 - 1):
        raise ConversionError(f"{where}: a bias does not fit int32 in its fixed-point unit")
    return q.astype(np.int32)


# ---------------------------------------------------------------------------------------------
# layers


def _q8_gru(layer: GRULayer) -> GRULayer:
    q = _q8_layer(layer)
    assert isinstance(q, GRULayer)
    return q


def _q8_layer(layer: Layer) -> Layer:
    if isinstance(layer, LayerNormLayer):  # no weight matrix: q8 runs its float math
        return replace(layer, precision="q8")
    if isinstance(layer, EmbeddingLayer):  # int8 rows, a scale per row (token)
        table, codes = _q8_matrix(layer.table.astype(np.float64))
        return replace(layer, table=table, table_scale=codes, precision="q8")
    if isinstance(layer, (GRULayer, LSTMLayer)):
        w_ih, s_ih = _q8_matrix(layer.w_ih.astype(np.float64))
        w_hh, s_hh = _q8_matrix(layer.w_hh.astype(np.float64))
        q = replace(layer, w_ih=w_ih, w_hh=w_hh, w_ih_scale=s_ih, w_hh_scale=s_hh,
                    precision="q8")
        if isinstance(q, GRULayer) and q.backward is not None:
            q = replace(q, backward=_q8_gru(q.backward))
        return q
    w, s = _q8_matrix(layer.w.astype(np.float64))
    return replace(layer, w=w, w_scale=s, precision="q8")


def _ranges(values: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    r = np.max(np.abs(values), axis=axis) * CALIBRATION_HEADROOM
    return np.where(r > 0, r, 1.0)


def _q15_layernorm(layer: LayerNormLayer, in_scale: np.ndarray, out_range: np.ndarray,
                   where: str, uniform_out: bool) -> LayerNormLayer:
    """eps in units of in_scale² (uniform: the loader's rule), gamma/out_scale in Q15 and
    beta/out_scale as int32 (docs/QUANTIZATION.md, "q15 LayerNorm")."""
    unit = float(in_scale[0])
    eps_q = round(layer.eps / (unit * unit))
    if eps_q > 0xFFFFFFFF:
        raise ConversionError(f"{where}: eps = {layer.eps:g} is {eps_q} units of in_scale², more "
                              f"than the 32 bits q15 stores; its input range is too small")
    gamma = layer.gamma.astype(np.float64)
    out_scale = (out_range / 32767.0).astype(np.float32)
    # gamma/out_scale·2^15 must fit int32: widen a range too small for its gamma.
    need = (np.abs(gamma) * 2.0 ** 15 / (2**31 - 1)).astype(np.float32)
    out_scale = np.maximum(out_scale, np.nextafter(need, np.float32(np.inf)))
    if uniform_out:  # a LayerNorm follows: one unit for every output
        out_scale = np.full_like(out_scale, np.max(out_scale))
    scale = out_scale.astype(np.float64)
    return replace(layer, gamma=_bias_i32(gamma / scale * 2.0 ** 15, f"{where}: gamma"),
                   beta=_bias_i32(layer.beta / scale, f"{where}: beta"), eps_q=eps_q,
                   in_scale=in_scale, out_scale=out_scale, precision="q15")


def _q15_embedding(layer: EmbeddingLayer, uniform_out: bool) -> EmbeddingLayer:
    """int16 rows in units of out_scale, each feature's unit its largest |value| / 32767 (the
    table is the whole range: no calibration, no saturation); in_scale 1 (the id itself)."""
    table = layer.table.astype(np.float64)
    peak = np.max(np.abs(table), axis=0)
    out_scale = (np.where(peak > 0, peak, 1.0) / 32767.0).astype(np.float32)
    if uniform_out:  # a LayerNorm follows: one unit for every output
        out_scale = np.full_like(out_scale, np.max(out_scale))
    q = np.clip(np.rint(table / out_scale.astype(np.float64)), -32767, 32767).astype(np.int16)
    return replace(layer, table=q, in_scale=np.ones(1, np.float32), out_scale=out_scale,
                   precision="q15")


def _cell_bits(cell_range: float) -> int:
    """The integer bits p of a q15 LSTM's int16 cell state (|c| < 2^p) for a calibrated |c| range
    (headroom included): the fewest that hold it, at most LSTM_MAX_CELL_BITS (larger cells
    saturate)."""
    p = 0
    while p < LSTM_MAX_CELL_BITS and 2.0 ** p < cell_range:
        p += 1
    return p


def _q15_recurrent_tensors(layer: GRULayer | LSTMLayer, cols: np.ndarray, where: str) -> dict:
    """A GRU's or LSTM's q15 weights: x's input scales folded into w_ih, Q15 h into w_hh, every
    gate row's result in Q16 (biases too); the outputs h are Q15."""
    unit = np.full(layer.w_ih.shape[0], 1.0 / Q16)
    w_ih, s_ih = _q15_matrix(layer.w_ih * cols, unit, f"{where}: w_ih")
    w_hh, s_hh = _q15_matrix(layer.w_hh * Q15_UNIT, unit, f"{where}: w_hh")
    return dict(w_ih=w_ih, w_hh=w_hh, w_ih_scale=s_ih, w_hh_scale=s_hh,
                b_ih=_bias_i32(layer.b_ih * Q16, f"{where}: b_ih"),
                b_hh=_bias_i32(layer.b_hh * Q16, f"{where}: b_hh"),
                out_scale=np.full(layer.hidden_size, Q15_UNIT, np.float32), precision="q15")


def _q15_lstm(layer: LSTMLayer, in_scale: np.ndarray, cell_range: float, where: str) -> LSTMLayer:
    if layer.activation != "tanh":
        raise ConversionError(f"{where}: q15 needs the tanh activation (h must stay in [-1, 1]); "
                              f"this layer uses {layer.activation!r}")
    return replace(layer, in_scale=in_scale, cell_bits=_cell_bits(cell_range),
                   **_q15_recurrent_tensors(layer, in_scale.astype(np.float64), where))


def _q15_layer(layer: Layer, in_scale: np.ndarray, out_range: np.ndarray | None,
               where: str, uniform_out: bool = False) -> Layer:
    """in_scale: float32 real value of one input unit per feature; out_range: the calibrated |y|
    range of a Dense linear/relu layer's outputs, or of a LSTM's cell state (one value; None for
    the other Q15-valued outputs)."""
    if isinstance(layer, EmbeddingLayer):
        return _q15_embedding(layer, uniform_out)
    cols = in_scale.astype(np.float64)
    if isinstance(layer, LSTMLayer):
        assert out_range is not None
        return _q15_lstm(layer, in_scale, float(np.max(out_range)), where)
    if isinstance(layer, LayerNormLayer):
        assert out_range is not None
        return _q15_layernorm(layer, in_scale, out_range, where, uniform_out)
    if isinstance(layer, GRULayer):
        if layer.activation != "tanh":
            raise ConversionError(f"{where}: q15 needs the tanh candidate activation (the state "
                                  f"must stay in [-1, 1]); this layer uses {layer.activation!r}")
        back: GRULayer | None = None
        if layer.backward is not None:
            q = _q15_layer(layer.backward, in_scale, None, f"{where} backward")
            assert isinstance(q, GRULayer)
            back = q
        return replace(layer, in_scale=in_scale, backward=back,
                       **_q15_recurrent_tensors(layer, cols, where))
    if layer.activation not in Q15_DENSE_ACTIVATIONS:
        raise ConversionError(f"{where}: q15 has no fixed-point {layer.activation!r} (q15 Dense "
                              f"layers take {', '.join(Q15_DENSE_ACTIVATIONS)}); quantize this "
                              f"model to q8, whose Dense activations are float, or keep f32")
    if isinstance(layer, Conv1DLayer):  # a window row's column i·k + j holds input channel i
        w = layer.w.astype(np.float64).copy()
        for rows, window_cols in column_groups(layer):
            channels = np.arange(layer.input_size).repeat(layer.kernel_size)[window_cols]
            w[rows] *= cols[channels]
    else:
        w = layer.w.astype(np.float64) * cols
    if layer.activation in Q15_FIXED_OUTPUT:
        unit = np.full(layer.output_size, 1.0 / Q16)
        out_scale = np.full(layer.output_size, Q15_UNIT, np.float32)
    else:
        assert out_range is not None
        out_scale = (out_range / 32767.0).astype(np.float32)
        # A multiplier above 255 (an output range tiny next to its weights): widen that range.
        need = (np.max(np.abs(w), axis=1) / 127.0 / _MAX_MULTIPLIER).astype(np.float32)
        out_scale = np.maximum(out_scale, np.nextafter(need, np.float32(np.inf)))
        if uniform_out:  # a LayerNorm follows: one unit for every output
            out_scale = np.full_like(out_scale, np.max(out_scale))
        unit = out_scale.astype(np.float64)
    wq, codes = _q15_matrix(w, unit, f"{where}: w")
    return replace(layer, w=wq, w_scale=codes, b=_bias_i32(layer.b / unit, f"{where}: b"),
                   in_scale=in_scale, out_scale=out_scale, precision="q15")


def _where(k: int, layer: Layer) -> str:
    return f"layer {k} ({layer.kind}{' ' + layer.name if layer.name else ''})"


def _twice_the_input(layer: Layer, where: str) -> Layer:
    """The layer reading 2·x as it read x: input weights ×2 (both directions of a bidirectional
    GRU), or a LayerNorm's eps/4 (LN of 2a with eps is LN of a with eps/4). Exact in float."""
    if isinstance(layer, LayerNormLayer):
        return replace(layer, eps=layer.eps / 4.0)
    if isinstance(layer, (DenseLayer, Conv1DLayer)):
        return replace(layer, w=np.asarray(layer.w, np.float64) * 2.0)
    if isinstance(layer, (GRULayer, LSTMLayer)):
        doubled = replace(layer, w_ih=np.asarray(layer.w_ih, np.float64) * 2.0)
        if isinstance(doubled, GRULayer) and doubled.backward is not None:
            back = _twice_the_input(doubled.backward, where)
            assert isinstance(back, GRULayer)
            doubled = replace(doubled, backward=back)
        return doubled
    raise ConversionError(f"{where} cannot read twice its input (a q15 bidirectional sum before "
                          f"it is converted as ave)")


def _sum_as_ave(spec: ModelSpec) -> ModelSpec:
    """q15 has no bidirectional merge 'sum' (its Q15 result could leave [-1, 1]): the same float
    model with each sum layer merging 'ave' (half the sum) and the next layer reading twice its
    input (_twice_the_input); a sum as the last layer has no such reader (a GRU's Q15 output unit
    is fixed at 2^-15), so it is refused."""
    layers = list(spec.layers)
    for k, layer in enumerate(layers):
        if not isinstance(layer, GRULayer) or layer.merge != "sum":
            continue
        if k + 1 == len(layers):
            raise ConversionError(f"{_where(k, layer)}: q15 has no bidirectional merge 'sum' on "
                                  f"the last layer (its Q15 outputs could leave [-1, 1]; it is "
                                  f"converted as 'ave' with the next layer reading twice its "
                                  f"input, and there is none); add a layer after it, or "
                                  f"quantize this model to q8 or keep f32")
        layers[k] = replace(layer, merge="ave")
        layers[k + 1] = _twice_the_input(layers[k + 1], _where(k + 1, layers[k + 1]))
    return ModelSpec(layers, dict(spec.metadata), spec.input_mask)


def _cell_range(spec: ModelSpec, k: int, data: list[np.ndarray],
                float_outputs: list[np.ndarray]) -> np.ndarray:
    """The calibrated |c| range of LSTM layer k (one value, headroom included): the float64 layer
    over its float inputs, each sequence from a zero state (the order _outputs gives them in)."""
    layer = spec.layers[k]
    assert isinstance(layer, LSTMLayer)
    lens = [len(x) for x in data]
    if not spec.needs_future:
        lens.sort(reverse=True)
    inputs = data if k == 0 else np.split(float_outputs[k - 1], np.cumsum(lens)[:-1])
    seqs = [x for x in inputs if len(x)]

    def run(x3: np.ndarray, states: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray]:
        cells, last = reference_lstm_cells(layer, x3, states)
        return [cells], last
    return _ranges(_real_steps(run, seqs)[0], (0, 1))


def _q15_layers(spec: ModelSpec, data: list[np.ndarray], calibrated: bool,
                float_outputs: list[np.ndarray]) -> list[Layer]:
    if calibrated:
        in_range = _ranges(np.concatenate(data), (0,))
    else:
        in_range = np.full(spec.input_size, DEFAULT_INPUT_RANGE)
    # A LayerNorm's inputs share one unit (they are averaged): the widest range of its features.
    norm_next = [isinstance(layer, LayerNormLayer) for layer in spec.layers[1:]] + [False]
    if isinstance(spec.layers[0], LayerNormLayer):
        in_range = np.full_like(in_range, np.max(in_range))
    in_scale = (in_range / 32767.0).astype(np.float32)
    layers: list[Layer] = []
    for k, layer in enumerate(spec.layers):
        out_range = None
        if isinstance(layer, LayerNormLayer) or (isinstance(layer, (DenseLayer, Conv1DLayer))
                                                 and layer.activation not in Q15_FIXED_OUTPUT):
            out_range = _ranges(float_outputs[k], (0,))
        elif isinstance(layer, LSTMLayer):
            out_range = _cell_range(spec, k, data, float_outputs)
        q = _q15_layer(layer, in_scale, out_range, _where(k, layer), norm_next[k])
        out_scale = output_scale(q)
        assert out_scale is not None
        in_scale = out_scale
        layers.append(q)
    return layers


# ---------------------------------------------------------------------------------------------
# the report


def _errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = np.abs(a.astype(np.float64) - b)
    return float(np.max(d)), float(np.mean(d))


def _report(spec: ModelSpec, qspec: ModelSpec, precision: str, data: list[np.ndarray],
            float_outputs: list[np.ndarray], source: str) -> QuantReport:
    quantized = _outputs(qspec, data, golden=True)
    report = QuantReport(precision, source, steps=sum(len(x) for x in data))
    report.layers = [_errors(q, f) for q, f in zip(quantized, float_outputs)]
    report.output = _errors(quantized[-1], float_outputs[-1])
    last = spec.layers[-1]
    if isinstance(last, DenseLayer) and last.output_size >= 2:
        agree = np.argmax(quantized[-1], axis=-1) == np.argmax(float_outputs[-1], axis=-1)
        report.argmax_agreement = float(np.mean(agree))
    return report


def _unmasked(spec: ModelSpec, data: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """The calibration sequences without their masked steps, and how many were left out. A
    masked step keeps every state, so the real steps see the same states without them: they are
    no calibration data, and their outputs (a repeat) are not counted."""
    if spec.input_mask is None:
        return data, 0
    kept = [x[~masked_steps(spec.input_mask, x)] for x in data]
    dropped = sum(len(x) for x in data) - sum(len(x) for x in kept)
    kept = [x for x in kept if len(x) > 0]
    if not kept:
        raise ConversionError(f"calibration: every step is masked (equal to the input mask "
                              f"value {spec.input_mask!r} in every feature): nothing to "
                              f"calibrate on")
    return kept, dropped


def quantize(spec: ModelSpec, precision: str, calibration: object | None = None,
             calibration_lengths: object | None = None) -> tuple[ModelSpec, QuantReport]:
    """The q8 or q15 version of a float model, and its error report (also in its metadata).

    calibration: the user's input sequences, (N, T, I) or (T, I) array-like or a .npy path, or a
    list of (T_k, I) sequences of different lengths; calibration_lengths: with a zero-padded
    (N, T, I), each sequence's length (load_calibration). Every sequence runs from a zero state
    and only its real steps count (ranges, errors, steps in the report). q15
    takes its input ranges (per feature) and Dense linear/relu output ranges from it, with 25%
    headroom; without it inputs are assumed standardized (|x| <= 4) and the report runs on
    synthetic N(0, 1) sequences. q8 needs no ranges (it scales each vector on the fly), so
    calibration only feeds its report."""
    if precision not in QUANTIZED_PRECISIONS:
        raise ConversionError(f"precision {precision!r}: expected one of "
                              f"{', '.join(QUANTIZED_PRECISIONS)}")
    checked = spec.validated()
    done = sorted({layer.precision for layer in checked.layers} - {"f32"})
    if done:
        raise ConversionError(f"the model is already quantized ({', '.join(done)}); convert "
                              f"from the float model")
    if calibration is None and calibration_lengths is not None:
        raise ConversionError("calibration_lengths given without calibration data")
    if calibration is None:
        data = _synthetic(checked.input_size, _vocab_size(checked))
        source = (f"synthetic: {SYNTHETIC_SHAPE[0]} sequences x {SYNTHETIC_SHAPE[1]} steps of "
                  f"{'uniform token ids' if _vocab_size(checked) else 'N(0, 1)'}, seed 0 (no "
                  f"calibration data)")
        if precision == "q15" and not _vocab_size(checked):
            source += f"; inputs assumed within +-{DEFAULT_INPUT_RANGE:g}"
    else:
        data = load_calibration(calibration, checked.input_size, calibration_lengths,
                                _vocab_size(checked))
        data, dropped = _unmasked(checked, data)
        name = str(calibration) if isinstance(calibration, (str, os.PathLike)) else "array"
        lens = {len(x) for x in data}
        source = (f"{name}: {len(data)} sequences x {lens.pop()} steps" if len(lens) == 1 else
                  f"{name}: {len(data)} sequences of {min(lens)} to {max(lens)} steps, "
                  f"{sum(len(x) for x in data)} in all")
        if dropped:
            source += f" ({dropped} masked steps left out)"
    if precision == "q15":
        checked = _sum_as_ave(checked)
    float_outputs = _outputs(checked, data, golden=False)
    if precision == "q8":
        layers = [_q8_layer(layer) for layer in checked.layers]
    else:
        layers = _q15_layers(checked, data, calibration is not None, float_outputs)
    qspec = ModelSpec(layers, dict(checked.metadata), checked.input_mask).validated()
    report = _report(checked, qspec, precision, data, float_outputs, source)
    qspec.metadata.update(report.metadata())
    return qspec, report
