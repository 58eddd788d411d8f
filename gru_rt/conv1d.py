"""The causal Conv1D layer's data movement, shared by the float64 reference, the golden model and
the quantizer (the C cells are csrc/kernels/portable/grt_cell_conv.c; docs/FORMAT.md, "Conv1D").

A Conv1D layer's state is its window: the last (k - 1)·dilation input frames, oldest first, flat
in the stream's state (frame f at f·I). At each step the window rows (k·I values, channel-major:
element i·k + j is tap j of channel i, tap 0 the oldest) meet the weights like a Dense layer's
input.
"""

from __future__ import annotations

import numpy as np

from .spec import Conv1DLayer

__all__ = ["column_groups", "full_weights", "window_step"]


def window_step(layer: Conv1DLayer, window: np.ndarray, x: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """One step of N streams: window (N, (k-1)·d·I) flat, x (N, I) → (window rows (N, k·I), the
    next window (N, (k-1)·d·I)), in the dtype of the inputs."""
    n, i, k, d, w = x.shape[0], layer.input_size, layer.kernel_size, layer.dilation, layer.window
    frames = np.concatenate([window.reshape(n, w, i), x[:, None, :]], axis=1)  # (N, W + 1, I)
    taps = frames[:, [w - (k - 1 - j) * d for j in range(k)], :]  # (N, k, I), oldest tap first
    rows = taps.transpose(0, 2, 1).reshape(n, k * i)
    return rows, frames[:, 1:, :].reshape(n, w * i)


def column_groups(layer: Conv1DLayer) -> list[tuple[slice, slice]]:
    """The products of a layer as (weight rows, window-row columns): one for groups 1; per channel
    for a depthwise layer (its m rows over its k taps)."""
    o, k = layer.output_size, layer.kernel_size
    if not layer.depthwise:
        return [(slice(0, o), slice(0, k * layer.input_size))]
    m = o // layer.input_size
    return [(slice(c * m, (c + 1) * m), slice(c * k, (c + 1) * k))
            for c in range(layer.input_size)]


def full_weights(layer: Conv1DLayer, w: np.ndarray) -> np.ndarray:
    """w as an (O, k·I) matrix over the whole window row (a depthwise layer's zeros filled in)."""
    if not layer.depthwise:
        return w
    full = np.zeros((layer.output_size, layer.kernel_size * layer.input_size), w.dtype)
    for rows, cols in column_groups(layer):
        full[rows, cols] = w[rows]
    return full
