"""The golden model of q8 and q15 inference: plain NumPy that repeats, operation by operation, the
arithmetic of docs/QUANTIZATION.md. The C core must equal it bit for bit (tests/test_golden.py).

Integer parts are exact int64 NumPy arithmetic (NumPy's `>>` on signed integers is the floor shift
RSHR needs). Float parts (q8 gates, the q15 boundary) are float32 NumPy operations in the C code's
order, which IEEE arithmetic makes exact replicas (NumPy >= 2 keeps Python float scalars float32).

Batched: every function takes N sequences at once, (N, T, I); each sequence is computed exactly as
the C core computes it alone (nothing mixes rows). Written for exactness, not speed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _q15_tables as tables
from .conv1d import column_groups, full_weights, window_step
from .errors import ArgumentError, InputError, InputTypeError
from .reference import token_ids
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
    output_scale,
)

__all__ = ["GoldenRun", "golden_run", "golden_run_int16", "q15_activation", "q15_quantize_input",
           "q8_quantize"]

F32 = np.float32
I64 = np.int64

# ---------------------------------------------------------------------------------------------
# float32 functions of csrc/kernels/portable/grt_math.c, repeated operation by operation


def _bits(x: object) -> np.ndarray:
    return np.asarray(x, F32).view(np.uint32)


def _from_bits(u: np.ndarray) -> np.ndarray:
    return np.asarray(u, np.uint32).view(F32)


_EXP_HI = F32(88.3762626647949)
_EXP_LO = F32(-87.3365478515625)
_LOG2E = F32(1.44269504088896341)
_LN2_HI = F32(0.693359375)
_LN2_LO = F32(-2.12194440e-4)
_ROUND_MAGIC = F32(12582912.0)
_EXP_POLY = [F32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                              1.6666665459e-1, 5.0000001201e-1)]
_TANH_POLY = [F32(c) for c in (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                               1.33314422036e-1, -3.33332819422e-1)]
_TANH_POLY_LIMIT = F32(0.625)
_ONE = F32(1.0)
_TWO = F32(2.0)
_ZERO = F32(0.0)


def f32_exp(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    x = np.where(x > _EXP_HI, _EXP_HI, x)
    x = np.where(x < _EXP_LO, _EXP_LO, x)
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = x * _LOG2E + _ROUND_MAGIC
        n = shifted - _ROUND_MAGIC
        n_int = _bits(shifted) - _bits(_ROUND_MAGIC)
        r = x - n * _LN2_HI
        r = r - n * _LN2_LO
        r2 = r * r
        p = _EXP_POLY[0]
        for c in _EXP_POLY[1:]:
            p = p * r + c
        p = p * r2 + r + _ONE
        return (p * _from_bits((n_int + np.uint32(127)) << np.uint32(23))).astype(F32)


def f32_sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (_ONE / (_ONE + f32_exp(-np.asarray(x, F32)))).astype(F32)


def f32_tanh(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    sign = _bits(x) & np.uint32(0x80000000)
    ax = _from_bits(_bits(x) & np.uint32(0x7FFFFFFF))
    with np.errstate(invalid="ignore", over="ignore"):
        z = x * x
        p = _TANH_POLY[0]
        for c in _TANH_POLY[1:]:
            p = p * z + c
        small = p * z * x + x
        big = _ONE - _TWO / (f32_exp(_TWO * ax) + _ONE)
    big = _from_bits(_bits(big) | sign)
    return np.where(ax < _TANH_POLY_LIMIT, small, big).astype(F32)


def _f32_clip01(t: np.ndarray) -> np.ndarray:
    t = np.where(t < _ZERO, _ZERO, t)
    return np.where(t > _ONE, _ONE, t).astype(F32)


def _max_exp_sum(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The softmax's parts over the last axis, as the C code computes them: the max m (a
    comparison chain in index order), e = exp(v − m), and the sum of e in index order."""
    m = v[..., 0].copy()
    for i in range(1, v.shape[-1]):
        m = np.where(v[..., i] > m, v[..., i], m)
    e = f32_exp(v - m[..., None])
    total = np.zeros(v.shape[:-1], F32)
    for i in range(v.shape[-1]):
        total = (total + e[..., i]).astype(F32)
    return m, e, total


def f32_softmax(v: np.ndarray) -> np.ndarray:
    """Over the last axis: the max subtracted, the sum in index order, then a division."""
    v = np.asarray(v, F32)
    _, e, total = _max_exp_sum(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (e / total[..., None]).astype(F32)


# The 1.3 Dense activations: csrc/kernels/portable/grt_math.c's scalar operations, in its order.
_SQRT2 = F32(1.41421356237)
_LOG_POLY = [F32(c) for c in (0.222222222222, 0.285714285714, 0.4, 0.666666666667)]
_ERF_P = F32(0.3275911)
_ERF_POLY = [F32(c) for c in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)]
_SQRT1_2 = F32(0.707106781187)
_GELU_K0 = F32(0.797884560803)
_GELU_K1 = F32(0.044715)
_EXPM1_POLY_LIMIT = F32(0.34657359)
_HALF = F32(0.5)


def _abs(x: np.ndarray) -> np.ndarray:
    return _from_bits(_bits(x) & np.uint32(0x7FFFFFFF))


def _f32_log_ge1(x: np.ndarray) -> np.ndarray:
    """ln x for x >= 1: x = 2^e·m, m in [√½, √2), ln m by the atanh series."""
    bits = _bits(x)
    e = (bits >> np.uint32(23)).astype(np.int64) - 127
    m = _from_bits((bits & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000))
    big = m > _SQRT2
    m = np.where(big, m * _HALF, m).astype(F32)
    e = e + big
    f = m - _ONE
    s = f / (_TWO + f)
    r = s * s
    p = np.full_like(r, _LOG_POLY[0])
    for c in _LOG_POLY[1:]:
        p = p * r + c
    ln_m = _TWO * s + s * (r * p)
    fe = e.astype(F32)
    return ((fe * _LN2_LO + ln_m) + fe * _LN2_HI).astype(F32)


def _f32_expm1(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    p = np.full_like(x, _EXP_POLY[0])
    for c in _EXP_POLY[1:]:
        p = p * x + c
    small = p * (x * x) + x
    with np.errstate(invalid="ignore"):
        return np.where(_abs(x) < _EXPM1_POLY_LIMIT, small, f32_exp(x) - _ONE).astype(F32)


def f32_leaky_relu(x: np.ndarray, alpha: float) -> np.ndarray:
    x = np.asarray(x, F32)
    return np.where(x < _ZERO, F32(alpha) * x, x).astype(F32)


def f32_elu(x: np.ndarray, alpha: float) -> np.ndarray:
    x = np.asarray(x, F32)
    with np.errstate(invalid="ignore", over="ignore"):
        neg = F32(alpha) * _f32_expm1(x)
    return np.where((x > _ZERO) | np.isnan(x), x, neg).astype(F32)


def f32_gelu(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    with np.errstate(invalid="ignore", over="ignore"):
        y = _abs(x) * _SQRT1_2
        t = _ONE / (_ONE + _ERF_P * y)
        p = np.full_like(t, _ERF_POLY[0])
        for c in _ERF_POLY[1:]:
            p = p * t + c
        q = p * t * f32_exp(-(y * y))
        half = _HALF * x * q
        return np.where(x < _ZERO, half, x - half).astype(F32)


def f32_gelu_tanh(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    with np.errstate(invalid="ignore", over="ignore"):
        u = _GELU_K0 * (x + _GELU_K1 * (x * x * x))
        return (_HALF * x * (_ONE + f32_tanh(u))).astype(F32)


def f32_silu(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    with np.errstate(invalid="ignore"):
        return (x / (_ONE + f32_exp(-x))).astype(F32)


def f32_softplus(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F32)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = f32_exp(-_abs(x))
        w = _ONE + u
        log1p_u = np.where(w == _ONE, u, _f32_log_ge1(w) * (u / (w - _ONE)))
        out = np.where(x > _ZERO, x, _ZERO) + log1p_u
    return np.where(np.isnan(x), x, out).astype(F32)


def f32_log_softmax(v: np.ndarray) -> np.ndarray:
    """Over the last axis: the softmax's max and sum, then (v − max) − ln(sum)."""
    v = np.asarray(v, F32)
    m, _, total = _max_exp_sum(v)
    with np.errstate(invalid="ignore"):
        ls = np.where(np.isnan(total), total, _f32_log_ge1(total))
        return ((v - m[..., None]) - ls[..., None]).astype(F32)


def f32_dense_activation(layer: DenseLayer | Conv1DLayer, v: np.ndarray) -> np.ndarray:
    """A Dense layer's float activation, with its alpha for leaky_relu/elu."""
    if layer.activation == "leaky_relu":
        assert layer.alpha is not None
        return f32_leaky_relu(v, layer.alpha)
    if layer.activation == "elu":
        return f32_elu(v, 1.0 if layer.alpha is None else layer.alpha)
    return F32_ACTIVATIONS[layer.activation](v)


F32_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda v: np.asarray(v, F32),
    "relu": lambda v: np.where(v < _ZERO, _ZERO, v).astype(F32),
    "tanh": f32_tanh,
    "sigmoid": f32_sigmoid,
    "softmax": f32_softmax,
    "hard_sigmoid": lambda v: _f32_clip01(np.asarray(v, F32) / F32(6.0) + F32(0.5)),
    "hard_sigmoid_k2": lambda v: _f32_clip01(F32(0.2) * np.asarray(v, F32) + F32(0.5)),
    "gelu": f32_gelu,
    "gelu_tanh": f32_gelu_tanh,
    "silu": f32_silu,
    "softplus": f32_softplus,
    "log_softmax": f32_log_softmax,
}


# ---------------------------------------------------------------------------------------------
# shared helpers


def _round_away(v: np.ndarray) -> np.ndarray:
    """Round half away from zero of float32 values with |v| < 2^23, as the C code does it."""
    t = np.trunc(v).astype(F32)
    d = (v - t).astype(F32)
    return (t + (d >= F32(0.5)) - (d <= F32(-0.5))).astype(F32)


def _clamp_nan0(v: np.ndarray, limit: float) -> np.ndarray:
    v = np.where(np.isnan(v), _ZERO, v)
    return np.clip(v, F32(-limit), F32(limit)).astype(F32)


def bf16_value(codes: np.ndarray) -> np.ndarray:
    """q8: the float32 row scales the bf16 codes stand for."""
    return (np.asarray(codes, np.uint32) << np.uint32(16)).view(F32)


def bf16_multiplier(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q15: (M, sh) of each bf16 code, integers only: m = M * 2^-sh; code 0 gives (0, 0)."""
    c = np.asarray(codes, I64)
    e = (c >> 7) & 255
    m = np.where(c == 0, 0, 128 + (c & 127))
    sh = np.where(c == 0, 0, 134 - e)
    return m.astype(I64), sh.astype(I64)


# ---------------------------------------------------------------------------------------------
# q8


def q8_quantize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of x (..., n): (xq int64 in [-127, 127], sx float32) with x ≈ xq * sx."""
    x = np.asarray(x, F32)
    with np.errstate(invalid="ignore"):
        m = np.max(np.abs(x), axis=-1)
        m = np.where(np.any(np.isnan(x), axis=-1), F32(np.nan), m).astype(F32)
        pos = m > _ZERO
        safe = np.where(pos, m, _ONE)
        inv = np.where(pos, F32(127.0) / safe, _ZERO).astype(F32)
        sx = np.where(pos, m / F32(127.0), m).astype(F32)
        v = (x * inv[..., None]).astype(F32)
    return _round_away(_clamp_nan0(v, 127.0)).astype(I64), sx


def _q8_matvec(wq: np.ndarray, codes: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """b + ((float)acc * s) * sx for each row of x (N, cols)."""
    xq, sx = q8_quantize(x)
    acc = (xq @ wq.astype(I64).T).astype(np.int32)
    with np.errstate(invalid="ignore", over="ignore"):
        t = (acc.astype(F32) * bf16_value(codes)).astype(F32) * sx[:, None]
        return (b + t.astype(F32)).astype(F32)


def _q8_gru(layer: GRULayer, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    hs = layer.hidden_size
    assert layer.w_ih_scale is not None and layer.w_hh_scale is not None
    sigma, phi = F32_ACTIVATIONS[layer.gate_activation], F32_ACTIVATIONS[layer.activation]
    gx = _q8_matvec(layer.w_ih, layer.w_ih_scale, layer.b_ih, x)
    with np.errstate(invalid="ignore", over="ignore"):
        if layer.reset_after:
            gh = _q8_matvec(layer.w_hh, layer.w_hh_scale, layer.b_hh, h)
            rz = sigma((gx[:, :2 * hs] + gh[:, :2 * hs]).astype(F32))
            n = (gx[:, 2 * hs:] + (rz[:, :hs] * gh[:, 2 * hs:]).astype(F32)).astype(F32)
        else:
            gh = _q8_matvec(layer.w_hh[:2 * hs], layer.w_hh_scale[:2 * hs], layer.b_hh[:2 * hs], h)
            rz = sigma((gx[:, :2 * hs] + gh).astype(F32))
            rh = (rz[:, :hs] * h).astype(F32)
            n_rows = slice(2 * hs, 3 * hs)
            ghn = _q8_matvec(layer.w_hh[n_rows], layer.w_hh_scale[n_rows], layer.b_hh[n_rows], rh)
            n = (gx[:, 2 * hs:] + ghn).astype(F32)
        n = phi(n)
        z = rz[:, hs:]
        return (n + (z * (h - n).astype(F32)).astype(F32)).astype(F32)


def _q8_lstm(layer: LSTMLayer, x: np.ndarray, hc: np.ndarray) -> np.ndarray:
    """grt_cell_lstm.c: the new (h, c) rows from x and the old (h, c) rows."""
    hs = layer.hidden_size
    assert layer.w_ih_scale is not None and layer.w_hh_scale is not None
    sigma, phi = F32_ACTIVATIONS[layer.gate_activation], F32_ACTIVATIONS[layer.activation]
    h, c = hc[:, :hs], hc[:, hs:]
    with np.errstate(invalid="ignore", over="ignore"):
        a = (_q8_matvec(layer.w_ih, layer.w_ih_scale, layer.b_ih, x)
             + _q8_matvec(layer.w_hh, layer.w_hh_scale, layer.b_hh, h)).astype(F32)
        i, f = sigma(a[:, :hs]), sigma(a[:, hs:2 * hs])
        g, o = phi(a[:, 2 * hs:3 * hs]), sigma(a[:, 3 * hs:])
        c_new = ((f * c).astype(F32) + (i * g).astype(F32)).astype(F32)
        h_new = (o * phi(c_new)).astype(F32)
    return np.concatenate([h_new, c_new], axis=1)


def _q8_dense(layer: DenseLayer, x: np.ndarray) -> np.ndarray:
    assert layer.w_scale is not None
    return f32_dense_activation(layer, _q8_matvec(layer.w, layer.w_scale, layer.b, x))


def f32_rsqrt(v: np.ndarray) -> np.ndarray:
    """grt_cell_norm.c's 1/sqrt(v): the bit estimate, then three Newton steps."""
    v = np.asarray(v, F32)
    half = (F32(0.5) * v).astype(F32)
    y = _from_bits(np.uint32(0x5F3759DF) - (_bits(v) >> np.uint32(1)))
    with np.errstate(invalid="ignore", over="ignore"):
        for _ in range(3):
            y = (y * (F32(1.5) - ((half * y).astype(F32) * y).astype(F32))).astype(F32)
    return y


def _float_layernorm(layer: LayerNormLayer, x: np.ndarray) -> np.ndarray:
    """f32/q8 LayerNorm rows, float32 operations in grt_cell_norm.c's order."""
    x = np.asarray(x, F32)
    d_count = F32(x.shape[-1])
    with np.errstate(invalid="ignore", over="ignore"):
        total = np.zeros(x.shape[:-1], F32)
        for i in range(x.shape[-1]):
            total = (total + x[..., i]).astype(F32)
        mean = (total / d_count).astype(F32)
        dev = (x - mean[..., None]).astype(F32)
        ss = np.zeros(x.shape[:-1], F32)
        for i in range(x.shape[-1]):
            ss = (ss + (dev[..., i] * dev[..., i]).astype(F32)).astype(F32)
        r = f32_rsqrt(((ss / d_count).astype(F32) + F32(layer.eps)).astype(F32))
        y = ((dev * r[..., None]).astype(F32) * layer.gamma).astype(F32)
        return (y + layer.beta).astype(F32)
def _q8_conv(layer: Conv1DLayer, rows: np.ndarray) -> np.ndarray:
    """A Conv1D layer on its window rows: one product per group, each quantizing its own columns
    (a depthwise layer's channel taps get a scale each), then the Dense activation."""
    assert layer.w_scale is not None
    y = np.empty((rows.shape[0], layer.output_size), F32)
    for out, cols in column_groups(layer):
        y[:, out] = _q8_matvec(layer.w[out], layer.w_scale[out], layer.b[out], rows[:, cols])
    return f32_dense_activation(layer, y)


# ---------------------------------------------------------------------------------------------
# q15


def _rshr(v: np.ndarray, s: np.ndarray | int) -> np.ndarray:
    """floor((v + 2^(s-1)) / 2^s), v for s = 0 (int64)."""
    v = np.asarray(v, I64)
    s = np.asarray(s, I64)
    half = np.where(s > 0, np.left_shift(I64(1), np.maximum(s - 1, 0)), 0)
    return (v + half) >> s


_INT32_MAX = 2**31 - 1


def _sat32(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -_INT32_MAX, _INT32_MAX).astype(I64)


def _sat16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -32768, 32767).astype(I64)


_SIGMOID = np.array(tables.SIGMOID, I64)
_TANH = np.array(tables.TANH, I64)
_EXP = np.array(tables.EXP, I64)


def _interp(table: np.ndarray, a: np.ndarray, frac_bits: int) -> np.ndarray:
    """Linear interpolation of a table at a >= 0 (Q16, step 2^frac_bits), past the end: the last
    entry. Non-negative integers only, as in C."""
    i = a >> frac_bits
    f = a & ((1 << frac_bits) - 1)
    last = len(table) - 1
    j = np.minimum(i, last - 1)
    lo, hi = table[j], table[j + 1]
    inside = np.where(hi >= lo, lo + (((hi - lo) * f + (1 << (frac_bits - 1))) >> frac_bits),
                      lo - (((lo - hi) * f + (1 << (frac_bits - 1))) >> frac_bits))
    return np.where(i >= last, table[last], inside)


def q15_sigmoid(v: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(v, I64))
    s = _interp(_SIGMOID, a, 11)
    return np.where(np.asarray(v) >= 0, s, 32768 - s)


def q15_tanh(v: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(v, I64))
    t = _interp(_TANH, a, 10)
    return np.where(np.asarray(v) >= 0, t, -t)


def q15_exp_neg(a: np.ndarray) -> np.ndarray:
    """e^-a for a >= 0 in Q16 → Q15; 0 from a = 16 on."""
    a = np.asarray(a, I64)
    e = _interp(_EXP, a, 10)
    return np.where((a >> 10) >= len(_EXP) - 1, 0, e)


def _q15_hard(v: np.ndarray, mult: int) -> np.ndarray:
    return np.clip(_rshr(np.asarray(v, I64) * mult, 16) + 16384, 0, 32768)


def q15_softmax(g: np.ndarray) -> np.ndarray:
    g = np.asarray(g, I64)
    d = np.minimum(np.max(g, axis=-1, keepdims=True) - g, _INT32_MAX)
    e = q15_exp_neg(d)
    total = np.sum(e, axis=-1, keepdims=True)
    return np.minimum((e * 32768 + total // 2) // total, 32767)


Q15_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": q15_sigmoid,
    "tanh": q15_tanh,
    "hard_sigmoid": lambda v: _q15_hard(v, 5461),
    "hard_sigmoid_k2": lambda v: _q15_hard(v, 6554),
    "softmax": q15_softmax,
}


def q15_activation(name: str, v: np.ndarray) -> np.ndarray:
    """A q15 activation of Q16 int32 values (int64 array in, Q15 int64 out)."""
    return Q15_ACTIVATIONS[name](v)


def _q15_product(wq: np.ndarray, codes: np.ndarray, b: np.ndarray, v: np.ndarray) -> np.ndarray:
    """g = sat32(RSHR(acc * M, sh) + b) for each row of v (N, cols) int16 values."""
    acc = v.astype(I64) @ wq.astype(I64).T
    m, sh = bf16_multiplier(codes)
    return _sat32(_rshr(acc * m, sh) + b.astype(I64))


def _q15_gru(layer: GRULayer, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    hs = layer.hidden_size
    assert layer.w_ih_scale is not None and layer.w_hh_scale is not None
    sigma = Q15_ACTIVATIONS[layer.gate_activation]
    gi = _q15_product(layer.w_ih, layer.w_ih_scale, layer.b_ih, x)
    if layer.reset_after:
        gh = _q15_product(layer.w_hh, layer.w_hh_scale, layer.b_hh, h)
        rz = sigma(_sat32(gi[:, :2 * hs] + gh[:, :2 * hs]))
        r = rz[:, :hs]
        n = q15_tanh(_sat32(gi[:, 2 * hs:] + _rshr(r * gh[:, 2 * hs:], 15)))
    else:
        gh = _q15_product(layer.w_hh[:2 * hs], layer.w_hh_scale[:2 * hs], layer.b_hh[:2 * hs], h)
        rz = sigma(_sat32(gi[:, :2 * hs] + gh))
        rh = _sat16(_rshr(rz[:, :hs] * h, 15))
        ghn = _q15_product(layer.w_hh[2 * hs:], layer.w_hh_scale[2 * hs:], layer.b_hh[2 * hs:], rh)
        n = q15_tanh(_sat32(gi[:, 2 * hs:] + ghn))
    z = rz[:, hs:]
    return _sat16(n + _rshr(z * (h - n), 15))


def _q15_lstm(layer: LSTMLayer, x: np.ndarray, hc: np.ndarray) -> np.ndarray:
    """grt_cell_lstm_q15.c: the new (h, c) rows; h Q15, c with 15 - cell_bits fraction bits."""
    hs, p = layer.hidden_size, layer.cell_bits
    assert layer.w_ih_scale is not None and layer.w_hh_scale is not None
    sigma = Q15_ACTIVATIONS[layer.gate_activation]
    h, c = hc[:, :hs], hc[:, hs:]
    a = _sat32(_q15_product(layer.w_ih, layer.w_ih_scale, layer.b_ih, x)
               + _q15_product(layer.w_hh, layer.w_hh_scale, layer.b_hh, h))
    i, f = sigma(a[:, :hs]), sigma(a[:, hs:2 * hs])
    g, o = q15_tanh(a[:, 2 * hs:3 * hs]), sigma(a[:, 3 * hs:])
    c_new = _sat16(_rshr(f * c * (1 << p) + i * g, 15 + p))
    h_new = _sat16(_rshr(o * q15_tanh(c_new * (1 << (p + 1))), 15))
    return np.concatenate([h_new, c_new], axis=1)


def _q15_dense(layer: DenseLayer | Conv1DLayer, x: np.ndarray) -> np.ndarray:
    """A Dense layer, or a Conv1D layer on its window rows (the integer sums are exact, so the
    zeros full_weights fills in for a depthwise layer change nothing)."""
    assert layer.w_scale is not None
    w = full_weights(layer, layer.w) if isinstance(layer, Conv1DLayer) else layer.w
    g = _q15_product(w, layer.w_scale, layer.b, x)
    if layer.activation == "linear":
        return _sat16(g)
    if layer.activation == "relu":
        return _sat16(np.maximum(g, 0))
    return np.minimum(Q15_ACTIVATIONS[layer.activation](g), 32767)


def _isqrt(w: np.ndarray) -> np.ndarray:
    """floor(sqrt(w)) of int64 values in [0, 2^62): a float estimate, corrected exactly."""
    r = np.sqrt(w.astype(np.float64)).astype(I64)
    for _ in range(2):
        r = np.where(r * r > w, r - 1, r)
        r = np.where((r + 1) * (r + 1) <= w, r + 1, r)
    return r


def _q15_layernorm(layer: LayerNormLayer, x: np.ndarray) -> np.ndarray:
    """grt_cell_norm_q15.c: integer mean and variance, an integer square root, Q16 x̂."""
    assert layer.eps_q is not None
    q = np.asarray(x, I64)
    d_count = q.shape[-1]
    s = np.sum(q, axis=-1)
    w = d_count * np.sum(q * q, axis=-1) - s * s + d_count * d_count * layer.eps_q
    t = np.zeros_like(w)
    for _ in range(31):  # scale by 4^t into [2^60, 2^62)
        low = (w != 0) & (w < 2**60)
        w = np.where(low, w * 4, w)
        t = t + low
    r = _isqrt(w)
    inv = np.where(w != 0, (2**54 + r // 2) // np.maximum(r, 1), 0)
    d = d_count * q - s[..., None]
    xhat = _rshr(d * (I64(1) << t)[..., None] * inv[..., None], 38)
    return _sat16(_rshr(xhat * layer.gamma.astype(I64), 31) + layer.beta.astype(I64))


def q15_quantize_input(x: np.ndarray, in_scale: np.ndarray) -> np.ndarray:
    """The float boundary: round_away(clamp(x / in_scale, ±32767)), NaN → 0; int16."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        v = (np.asarray(x, F32) / np.asarray(in_scale, F32)).astype(F32)
    return _round_away(_clamp_nan0(v, 32767.0)).astype(np.int16)


def q15_dequantize_output(yq: np.ndarray, out_scale: np.ndarray) -> np.ndarray:
    return (np.asarray(yq).astype(F32) * np.asarray(out_scale, F32)).astype(F32)


# ---------------------------------------------------------------------------------------------
# whole models


@dataclass
class GoldenRun:
    """What golden_run returns: outputs (N, T, O) float32, the final states (N, state_size) —
    float32 for q8 models, int16 for q15 — and, when asked for, every layer's outputs (N, T, O_l)
    as float32 real values (q15 values times their out_scale)."""

    outputs: np.ndarray
    state: np.ndarray
    layer_outputs: list[np.ndarray] | None = None


def _precision(spec: ModelSpec) -> str:
    kinds = {layer.precision for layer in spec.layers}
    if kinds == {"q8"} or kinds == {"q15"}:
        return kinds.pop()
    raise ArgumentError(f"the golden model covers all-q8 or all-q15 models, not layers of "
                        f"{sorted(kinds)}")


def _batched(xs: object, width: int) -> tuple[np.ndarray, bool]:
    arr = np.asarray(xs)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != width:
        raise InputError(f"xs has shape {np.asarray(xs).shape}, expected (T, {width}) or "
                         f"(N, T, {width})")
    return arr, single


def _embedding(layer: EmbeddingLayer, precision: str, x: np.ndarray) -> np.ndarray:
    """grt_cell_embed.c / grt_cell_embed_q15.c: row id of the table; q8 (float)q · scale(code),
    one float32 product; q15 the int16 row as it is."""
    ids = token_ids(layer, x)
    if precision == "q15":
        return np.asarray(layer.table)[ids].astype(I64)
    assert layer.table_scale is not None
    scale = _from_bits(np.asarray(layer.table_scale)[ids].astype(np.uint32) << 16)
    return (np.asarray(layer.table)[ids].astype(F32) * scale[..., None]).astype(F32)


def _layer_step(layer: Layer, precision: str, x: np.ndarray, h: np.ndarray | None) -> np.ndarray:
    if isinstance(layer, EmbeddingLayer):
        return _embedding(layer, precision, x)
    if isinstance(layer, LayerNormLayer):
        return _float_layernorm(layer, x) if precision == "q8" else _q15_layernorm(layer, x)
    if isinstance(layer, LSTMLayer):
        assert h is not None
        return _q8_lstm(layer, x, h) if precision == "q8" else _q15_lstm(layer, x, h)
    if isinstance(layer, Conv1DLayer):  # x: the window rows
        return _q8_conv(layer, x) if precision == "q8" else _q15_dense(layer, x)
    if precision == "q8":
        return _q8_gru(layer, x, h) if isinstance(layer, GRULayer) else _q8_dense(layer, x)  # type: ignore[arg-type]
    return _q15_gru(layer, x, h) if isinstance(layer, GRULayer) else _q15_dense(layer, x)  # type: ignore[arg-type]


def _masked(spec: ModelSpec, xs: np.ndarray, precision: str) -> np.ndarray:
    """Which steps of xs (N, T, I) — float for q8, int16 for q15 — are masked (grt_mask.c): a q8
    model compares the float inputs with the mask value, a q15 model its int16 inputs with the
    mask value quantized by the boundary, per feature."""
    if spec.input_mask is None or precision == "q8":
        return masked_steps(spec.input_mask, xs)
    first = spec.layers[0]
    vq = q15_quantize_input(np.full(spec.input_size, spec.input_mask, F32), first.in_scale)  # type: ignore[arg-type]
    return np.all(xs == vq, axis=-1)
def _merge(merge: str | None, precision: str, outs: list[np.ndarray]) -> np.ndarray:
    """A bidirectional layer's outputs from its two directions' (grt_stream.c, merge_step):
    float32 in q8; q15 ave sat16(RSHR(a + b, 1)) and mul sat16(RSHR(a·b, 15)) (no q15 sum)."""
    if len(outs) == 1:
        return outs[0]
    a, b = outs
    if merge == "concat":
        return np.concatenate([a, b], axis=-1)
    if precision == "q15":
        return _sat16(_rshr(a + b, 1) if merge == "ave" else _rshr(a * b, 15))
    if merge == "sum":
        return (a + b).astype(F32)
    if merge == "ave":
        return ((a + b).astype(F32) * F32(0.5)).astype(F32)
    return (a * b).astype(F32)


def _run_whole(spec: ModelSpec, xs: np.ndarray, precision: str,
               keep_layers: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A model with a reverse or bidirectional layer: layer by layer over the whole sequences, each
    direction from a zero state (grt_model_run). The states returned are each direction's last
    (a backward direction's after step 0)."""
    n, t = xs.shape[0], xs.shape[1]
    sdtype = F32 if precision == "q8" else I64
    masked = _masked(spec, xs, precision)[..., None]  # (N, T, 1): keep the state, output it
    x = xs
    per_layer, finals = [], []
    for layer in spec.layers:
        if isinstance(layer, (GRULayer, LSTMLayer)):
            outs = []
            cells: list[GRULayer | LSTMLayer] = (list(layer.directions)
                                                 if isinstance(layer, GRULayer) else [layer])
            for d, cell in enumerate(cells):
                backwards = getattr(layer, "direction", "forward") == "reverse" or d == 1
                width = 2 * cell.hidden_size if isinstance(cell, LSTMLayer) else cell.hidden_size
                h = np.zeros((n, width), sdtype)  # one direction's state (an LSTM's h then c)
                y = np.empty((n, t, cell.hidden_size), sdtype)
                for step in (range(t - 1, -1, -1) if backwards else range(t)):
                    h = np.where(masked[:, step], h, _layer_step(cell, precision, x[:, step], h))
                    y[:, step] = h[:, :cell.hidden_size]
                outs.append(y)
                finals.append(h)
            x = _merge(getattr(layer, "merge", None), precision, outs)
        else:
            x = np.stack([_layer_step(layer, precision, x[:, step], None) for step in range(t)],
                         axis=1) if t else np.empty((n, 0, layer.output_size), sdtype)
        per_layer.append(x)
    s = np.concatenate(finals, axis=1) if finals else np.zeros((n, 0), sdtype)
    return x, s, per_layer if keep_layers else []


def _run(spec: ModelSpec, xs: np.ndarray, state: np.ndarray | None, precision: str,
         keep_layers: bool) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    if spec.needs_future:
        if state is not None:
            raise InputError("a model with a reverse or bidirectional layer runs whole sequences "
                             "from a zero state: state must be None")
        return _run_whole(spec, xs, precision, keep_layers)
    n, t = xs.shape[0], xs.shape[1]
    masked = _masked(spec, xs, precision)[..., None]  # (N, T, 1)
    sizes = [layer_state_size(layer) for layer in spec.layers]
    sdtype = F32 if precision == "q8" else I64
    s = np.zeros((n, sum(sizes)), sdtype) if state is None else np.array(state, sdtype)
    ys = np.empty((n, t, spec.output_size), sdtype)
    per_layer = [np.empty((n, t, layer.output_size), sdtype)
                 for layer in (spec.layers if keep_layers else [])]
    for step in range(t):
        x = xs[:, step]
        offset = 0
        for k, layer in enumerate(spec.layers):
            if isinstance(layer, (GRULayer, LSTMLayer)):
                n_state, hs = layer_state_size(layer), layer.hidden_size
                old = s[:, offset:offset + n_state]
                new = np.where(masked[:, step], old, _layer_step(layer, precision, x, old))
                s[:, offset:offset + n_state] = new
                x = new[:, :hs]
                offset += n_state
            elif isinstance(layer, Conv1DLayer):  # never with a mask (spec.py refuses it)
                size = layer_state_size(layer)
                rows, s[:, offset:offset + size] = window_step(layer, s[:, offset:offset + size], x)
                offset += size
                x = _layer_step(layer, precision, rows, None)
            else:
                x = _layer_step(layer, precision, x, None)
            if keep_layers:
                per_layer[k][:, step] = x
        ys[:, step] = x
    return ys, s, per_layer


def golden_run(spec: ModelSpec, xs: object, state: object | None = None, *,
               layer_outputs: bool = False) -> GoldenRun:
    """Run float inputs (T, I) or (N, T, I) through a q8 or q15 model from `state` (default zeros;
    (state_size,) or (N, state_size)). Shapes of the result follow xs."""
    checked = spec.validated()
    precision = _precision(checked)
    x3, single = _batched(xs, checked.input_size)
    st = None if state is None else np.atleast_2d(np.asarray(state))
    if precision == "q8":
        ys, s, per = _run(checked, np.asarray(x3, F32), st, "q8", layer_outputs)
        outs = [p.astype(F32) for p in per]
        out = GoldenRun(ys, s.astype(F32), outs if layer_outputs else None)
    else:
        first, last = checked.layers[0], checked.layers[-1]
        xq = q15_quantize_input(x3, first.in_scale)  # type: ignore[arg-type]
        ys, s, per = _run(checked, xq, st, "q15", layer_outputs)
        outs = [q15_dequantize_output(p, output_scale(layer))  # type: ignore[arg-type]
                for p, layer in zip(per, checked.layers)]
        out = GoldenRun(q15_dequantize_output(ys, output_scale(last)),  # type: ignore[arg-type]
                        s.astype(np.int16), outs if layer_outputs else None)
    if single:
        out.outputs, out.state = out.outputs[0], out.state[0]
        if out.layer_outputs is not None:
            out.layer_outputs = [p[0] for p in out.layer_outputs]
    return out


def golden_run_int16(spec: ModelSpec, xq: object, state: object | None = None) -> GoldenRun:
    """A q15 model on raw int16 inputs (T, I) or (N, T, I): int16 outputs and states."""
    checked = spec.validated()
    if _precision(checked) != "q15":
        raise InputError("int16 inputs need a q15 model")
    arr = np.asarray(xq)
    if arr.dtype != np.int16:
        raise InputTypeError(f"xq has dtype {arr.dtype}, expected int16")
    x3, single = _batched(arr, checked.input_size)
    st = None if state is None else np.atleast_2d(np.asarray(state))
    ys, s, _ = _run(checked, x3, st, "q15", False)
    out = GoldenRun(ys.astype(np.int16), s.astype(np.int16))
    if single:
        out.outputs, out.state = out.outputs[0], out.state[0]
    return out
