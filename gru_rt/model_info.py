"""Descriptions of a loaded model for people: LayerInfo and the summary `gru-rt info` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import printable

if TYPE_CHECKING:
    from ._core import Model


@dataclass(frozen=True)
class LayerInfo:
    """One layer of a loaded model, as the C loader validated it."""

    index: int
    kind: str  # "gru", "lstm", "dense", "layernorm", "conv1d" or "embedding"
    precision: str  # "f32", "q8" or "q15"
    weight_layout: str  # "row-major" or "panel8" (docs/FORMAT.md)
    input_size: int
    output_size: int  # hidden size for a GRU or LSTM
    activation: str  # GRU: candidate activation; LSTM: that of g and c; Dense: output activation
    gate_activation: str | None  # GRU and LSTM only
    reset_after: bool | None  # GRU only
    state_offset: int | None  # GRU, LSTM (h, then c), Conv1D (window): where it is in Stream.state
    weight_bytes: int  # bytes of its tensors in the file
    alpha: float | None = None  # Dense/Conv1D leaky_relu/elu: the activation's parameter (1.3)
    eps: float | None = None  # LayerNorm f32/q8 (1.4)
    eps_q: int | None = None  # LayerNorm q15: eps in units of in_scale² (1.4)
    kernel_size: int | None = None  # Conv1D only (1.4)
    dilation: int | None = None  # Conv1D only
    depthwise: bool | None = None  # Conv1D only: groups = input channels
    direction: str | None = None  # GRU: "forward", "reverse" or "bidirectional" (1.4)
    merge: str | None = None  # bidirectional GRU: "concat", "sum", "ave" or "mul" (1.4)
    vocab_size: int | None = None  # Embedding only: token ids 0 … vocab_size - 1 (1.5)
    cell_bits: int | None = None  # q15 LSTM: integer bits of the int16 cell state (1.5)

    def describe(self) -> str:
        if self.kind == "gru":
            return (f"GRU    {self.input_size:>5} → {self.output_size:<5} {self.precision:<4} "
                    f"φ={self.activation} σ={self.gate_activation} "
                    f"reset_after={int(bool(self.reset_after))}{self._way()}  "
                    f"{self.weight_bytes} B {self.weight_layout}")
        if self.kind == "layernorm":
            eps = f"eps={self.eps:g}" if self.eps is not None else f"eps_q={self.eps_q}"
            return (f"LayerNorm {self.input_size:>2} → {self.output_size:<5} {self.precision:<4} "
                    f"{eps}  {self.weight_bytes} B")
        if self.kind == "embedding":
            return (f"Embedding {self.vocab_size} tokens → {self.output_size:<5} "
                    f"{self.precision:<4} {self.weight_bytes} B")
        if self.kind == "lstm":
            return (f"LSTM   {self.input_size:>5} → {self.output_size:<5} {self.precision:<4} "
                    f"φ={self.activation} σ={self.gate_activation}{self._cell()}  "
                    f"{self.weight_bytes} B {self.weight_layout}")
        act = self.activation if self.alpha is None else f"{self.activation}(alpha={self.alpha:g})"
        if self.kind == "conv1d":
            return (f"Conv1D {self.input_size:>5} → {self.output_size:<5} {self.precision:<4} "
                    f"{act} k={self.kernel_size} dilation={self.dilation}"
                    f"{' depthwise' if self.depthwise else ''} causal  {self.weight_bytes} B "
                    f"{self.weight_layout}")
        return (f"Dense  {self.input_size:>5} → {self.output_size:<5} {self.precision:<4} "
                f"{act}  {self.weight_bytes} B {self.weight_layout}")

    def _cell(self) -> str:
        if self.cell_bits is None:
            return ""
        return f" cell Q{self.cell_bits}.{15 - self.cell_bits}"

    def _way(self) -> str:
        if self.direction in (None, "forward"):
            return ""
        return f" {self.direction}" + (f" ({self.merge})" if self.merge else "")


def format_summary(model: Model) -> str:
    """Layers, sizes, precision, bytes, checksum status and metadata, one fact per line."""
    major, minor = model.version
    check = "verified" if model.checksum_verified else "not verified (skipped)"
    q15 = model.precision == "q15"
    lines = [
        f"model: {printable(model.source or '<memory>')}",
        f"format: v{major}.{minor}, {model.nbytes} bytes, CRC-32 {model.checksum:08x} {check}",
        f"precision: {model.precision}"
        + (" (integer-only step; float only at the input/output boundary)" if q15 else ""),
        f"input {model.input_size} → output {model.output_size}; "
        f"state {model.state_size} {'int16 (Q15)' if q15 else 'float32'} values",
    ]
    if model.inputs:
        lines.append("named inputs: " + ", ".join(
            f"{printable(i.name)} [{i.offset}:{i.offset + i.width}]" for i in model.inputs))
    if model.input_mask is not None:
        lines.append(f"input mask: steps equal to {model.input_mask!r} in every feature keep the "
                     f"state (Keras Masking)")
    lines.append("layers:")
    lines += [f"  {info.index}: {info.describe()}" for info in model.layers]
    meta = model.metadata
    report = {k: v for k, v in meta.items() if k.startswith("quant.")}
    if report:
        lines.append("quantization error report (vs the float model):")
        lines += [f"  {printable(key[len('quant.'):])}: {printable(value)}"
                  for key, value in sorted(report.items())]
    rest = {k: v for k, v in meta.items() if not k.startswith("quant.")}
    if rest:
        lines.append("metadata:")
        # keys and values come from the file: control characters are shown escaped
        lines += [f"  {printable(key)}: {printable(value)}" for key, value in sorted(rest.items())]
    return "\n".join(lines)
