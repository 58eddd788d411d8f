"""gru_rt: an embedded GRU inference runtime.

    model = gru_rt.load("model.grt")       # validated by the C loader
    stream = model.stream()                # the state of one live sequence
    y = stream.step(x)                     # one time step
    batch = model.stream_batch(16)         # 16 live sequences stepped together
    ys = batch.step(xs)                    # (16, I) -> (16, O), one row per stream
    ys = model.run(xs)                     # a whole (T, I) sequence

    gru_rt.convert("state_dict.pt", head_activation="softmax").save("model.grt")

The kernels pick the best instruction set of the CPU at run time (gru_rt.cpu_info()); set the
environment variable GRU_RT_ISA=scalar|avx2|avxvnni|avx512vnni|neon|neon_dot before import to force
one (avx2, avxvnni and avx512vnni on x86-64, neon and neon_dot on AArch64).
"""

from __future__ import annotations

import os

try:
    from ._core import Model, Stream, StreamBatch, cpu_info
except ModuleNotFoundError as e:  # the unbuilt source tree: say so (gru_rt._unbuilt)
    from ._unbuilt import no_core

    no_core(e)
from ._version import __version__
from .convert import convert
from .errors import (
    ArgumentError,
    ConversionError,
    CoreError,
    GruRtError,
    InputError,
    InputTypeError,
    MissingDependencyError,
    ModelFormatError,
)
from .model_info import LayerInfo
from .spec import DenseLayer, GRULayer, LSTMLayer, ModelSpec, SpecError

__all__ = [
    "ArgumentError", "ConversionError", "CoreError", "DenseLayer", "GRULayer", "GruRtError",
    "InputError", "InputTypeError", "LSTMLayer", "LayerInfo", "MissingDependencyError", "Model",
    "ModelFormatError", "ModelSpec", "SpecError", "Stream", "StreamBatch", "__version__", "convert",
    "cpu_info", "load",
]


def load(source: str | os.PathLike | bytes | bytearray | memoryview, *,
         verify_checksum: bool = True) -> Model:
    """Load a model from a .grt path or from bytes. The C loader validates everything and a bad file
    raises ModelFormatError naming the broken field. verify_checksum=False skips only the CRC."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Model.from_buffer(source, verify_checksum=verify_checksum)
    if isinstance(source, (str, os.PathLike)):
        return Model.from_file(os.fspath(source), verify_checksum=verify_checksum)
    raise TypeError(f"load() takes a path or bytes, got {type(source).__name__}")
