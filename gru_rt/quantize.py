"""The quantizer: a float (f32) ModelSpec → q8 or q15, with calibration and an error report.

The arithmetic it targets is docs/QUANTIZATION.md; the golden model (gru_rt/golden.py) runs the
result, and the report compares it with the float64 reference on the calibration data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import ConversionError
from .format import Q15_FIXED_OUTPUT, QUANTIZED_PRECISIONS
from .golden import golden_run
from .reference import reference_layer_outputs
from .spec import GRULayer, Layer, ModelSpec

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


def load_calibration(source: object, input_size: int) -> np.ndarray:
    """Calibration sequences as float64 (N, T, I) from an array-like or a .npy path."""
    what = "calibration data"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        what = str(path)
        from .importers._untrusted import read_npy_file

        try:
            arr = read_npy_file(path, "calibration .npy file")
        except FileNotFoundError:
            raise ConversionError(f"{path}: no such calibration file") from None
        except (ConversionError, OSError) as e:
            raise ConversionError(f"{path}: not a readable .npy array ({e})") from None
    else:
        arr = np.asarray(source)
    if arr.dtype.kind not in "iuf":
        raise ConversionError(f"{what}: dtype {arr.dtype}, expected real numbers")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != input_size or arr.shape[0] * arr.shape[1] == 0:
        raise ConversionError(f"{what}: shape {arr.shape}, expected (T, {input_size}) or "
                              f"(N, T, {input_size}) with at least one step")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ConversionError(f"{what}: contains NaN or Inf")
    return out


def _synthetic(input_size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.standard_normal((*SYNTHETIC_SHAPE, input_size))


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


def _q8_layer(layer: Layer) -> Layer:
    if isinstance(layer, GRULayer):
        w_ih, s_ih = _q8_matrix(layer.w_ih.astype(np.float64))
        w_hh, s_hh = _q8_matrix(layer.w_hh.astype(np.float64))
        return replace(layer, w_ih=w_ih, w_hh=w_hh, w_ih_scale=s_ih, w_hh_scale=s_hh,
                       precision="q8")
    w, s = _q8_matrix(layer.w.astype(np.float64))
    return replace(layer, w=w, w_scale=s, precision="q8")


def _ranges(values: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    r = np.max(np.abs(values), axis=axis) * CALIBRATION_HEADROOM
    return np.where(r > 0, r, 1.0)


def _q15_layer(layer: Layer, in_scale: np.ndarray, out_range: np.ndarray | None,
               where: str) -> Layer:
    """in_scale: float32 real value of one input unit per feature; out_range: the calibrated |y|
    range of a Dense linear/relu layer's outputs (None for Q15-valued outputs)."""
    cols = in_scale.astype(np.float64)
    if isinstance(layer, GRULayer):
        if layer.activation != "tanh":
            raise ConversionError(f"{where}: q15 needs the tanh candidate activation (the state "
                                  f"must stay in [-1, 1]); this layer uses {layer.activation!r}")
        unit = np.full(3 * layer.hidden_size, 1.0 / Q16)
        w_ih, s_ih = _q15_matrix(layer.w_ih * cols, unit, f"{where}: w_ih")
        w_hh, s_hh = _q15_matrix(layer.w_hh * Q15_UNIT, unit, f"{where}: w_hh")
        out_scale = np.full(layer.hidden_size, Q15_UNIT, np.float32)
        return replace(layer, w_ih=w_ih, w_hh=w_hh, w_ih_scale=s_ih, w_hh_scale=s_hh,
                       b_ih=_bias_i32(layer.b_ih * Q16, f"{where}: b_ih"),
                       b_hh=_bias_i32(layer.b_hh * Q16, f"{where}: b_hh"),
                       in_scale=in_scale, out_scale=out_scale, precision="q15")
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
        unit = out_scale.astype(np.float64)
    wq, codes = _q15_matrix(w, unit, f"{where}: w")
    return replace(layer, w=wq, w_scale=codes, b=_bias_i32(layer.b / unit, f"{where}: b"),
                   in_scale=in_scale, out_scale=out_scale, precision="q15")


def _where(k: int, layer: Layer) -> str:
    return f"layer {k} ({layer.kind}{' ' + layer.name if layer.name else ''})"


def _q15_layers(spec: ModelSpec, data: np.ndarray, calibrated: bool,
                float_outputs: list[np.ndarray]) -> list[Layer]:
    if calibrated:
        in_range = _ranges(data, (0, 1))
    else:
        in_range = np.full(spec.input_size, DEFAULT_INPUT_RANGE)
    in_scale = (in_range / 32767.0).astype(np.float32)
    layers: list[Layer] = []
    for k, layer in enumerate(spec.layers):
        out_range = None
        if not isinstance(layer, GRULayer) and layer.activation not in Q15_FIXED_OUTPUT:
            out_range = _ranges(float_outputs[k], (0, 1))
        q = _q15_layer(layer, in_scale, out_range, _where(k, layer))
        assert q.out_scale is not None
        in_scale = q.out_scale
        layers.append(q)
    return layers


# ---------------------------------------------------------------------------------------------
# the report


def _errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = np.abs(a.astype(np.float64) - b)
    return float(np.max(d)), float(np.mean(d))


def _report(spec: ModelSpec, qspec: ModelSpec, precision: str, data: np.ndarray,
            float_outputs: list[np.ndarray], source: str) -> QuantReport:
    run = golden_run(qspec, data, layer_outputs=True)
    assert run.layer_outputs is not None
    report = QuantReport(precision, source, steps=data.shape[0] * data.shape[1])
    report.layers = [_errors(q, f) for q, f in zip(run.layer_outputs, float_outputs)]
    report.output = _errors(run.outputs, float_outputs[-1])
    last = spec.layers[-1]
    if not isinstance(last, GRULayer) and last.output_size >= 2:
        agree = np.argmax(run.outputs, axis=-1) == np.argmax(float_outputs[-1], axis=-1)
        report.argmax_agreement = float(np.mean(agree))
    return report


def quantize(spec: ModelSpec, precision: str,
             calibration: object | None = None) -> tuple[ModelSpec, QuantReport]:
    """The q8 or q15 version of a float model, and its error report (also in its metadata).

    calibration: the user's input sequences, (N, T, I) or (T, I) array-like or a .npy path. q15
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
    if calibration is None:
        data = _synthetic(checked.input_size)
        source = (f"synthetic: {SYNTHETIC_SHAPE[0]} sequences x {SYNTHETIC_SHAPE[1]} steps of "
                  f"N(0, 1), seed 0 (no calibration data)")
        if precision == "q15":
            source += f"; inputs assumed within +-{DEFAULT_INPUT_RANGE:g}"
    else:
        data = load_calibration(calibration, checked.input_size)
        name = str(calibration) if isinstance(calibration, (str, os.PathLike)) else "array"
        source = f"{name}: {data.shape[0]} sequences x {data.shape[1]} steps"
    float_outputs = reference_layer_outputs(checked, data)
    if precision == "q8":
        layers = [_q8_layer(layer) for layer in checked.layers]
    else:
        layers = _q15_layers(checked, data, calibration is not None, float_outputs)
    qspec = ModelSpec(layers, dict(checked.metadata)).validated()
    report = _report(checked, qspec, precision, data, float_outputs, source)
    qspec.metadata.update(report.metadata())
    return qspec, report
