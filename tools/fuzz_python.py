#!/usr/bin/env python3
"""atheris fuzz target over the Python API: gru_rt.load on arbitrary bytes, then a few steps.

Anything but a clean load or a ModelFormatError is a bug, and so is any exception from a model that
loaded. Seeds: the C fuzzer's corpus (csrc/fuzz/corpus). The C code is not instrumented here (the
libFuzzer target in csrc/fuzz covers it with coverage); this target guards the Cython layer.

    python tools/fuzz_python.py csrc/fuzz/corpus -max_total_time=60
    python tools/fuzz_python.py -runs=0 csrc/fuzz/corpus            # replay only
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    import gru_rt
    from gru_rt.errors import ArgumentError, InputError, ModelFormatError


def exercise_tokens(model: gru_rt.Model, fdp: atheris.FuzzedDataProvider) -> None:
    """A model whose first layer is an Embedding (format 1.5): its inputs are token ids; an id out
    of range is an InputError that changes nothing."""
    ids = np.full(5, fdp.ConsumeIntInRange(0, model.vocab_size - 1))
    assert model.run(ids).shape == (5, model.output_size)
    if model.precision == "q15":
        assert model.run_int16(ids[:, None].astype(np.int16)).shape == (5, model.output_size)
    try:
        stream = model.stream()
    except ArgumentError:  # a reverse or bidirectional layer: whole sequences only
        return
    for _ in range(3):
        y = stream.step(fdp.ConsumeIntInRange(0, model.vocab_size - 1))
        assert y.shape == (model.output_size,)
    before = stream.state
    try:
        stream.step(model.vocab_size)
        raise AssertionError("token id vocab_size was accepted")
    except InputError:  # bits compared: a fuzzed model's state may hold NaN
        assert stream.state.tobytes() == before.tobytes()


def exercise(model: gru_rt.Model, fdp: atheris.FuzzedDataProvider) -> None:
    model.summary()
    model.to_spec()
    if model.vocab_size:
        exercise_tokens(model, fdp)
        return
    xs = np.full((5, model.input_size), fdp.ConsumeFloat(), dtype=np.float32)
    ys = model.run(xs)
    assert ys.shape == (5, model.output_size)
    try:
        stream = model.stream()
    except ArgumentError:  # a reverse or bidirectional layer: whole sequences only, run() above
        return
    for _ in range(3):
        x = np.array(fdp.ConsumeFloatListInRange(model.input_size, -1e6, 1e6), dtype=np.float32)
        if x.shape != (model.input_size,):  # the provider ran out of bytes
            x = np.zeros(model.input_size, dtype=np.float32)
        y = stream.step(x)
        assert y.shape == (model.output_size,)
    if model.precision == "q15":  # the raw integer API too
        xq = np.full((5, model.input_size), fdp.ConsumeIntInRange(-32768, 32767), np.int16)
        assert model.run_int16(xq).shape == (5, model.output_size)
        assert stream.step_int16(xq[0]).dtype == np.int16
    stream.state = np.zeros_like(stream.state)  # float32, or int16 for q15


def test_one_input(data: bytes) -> None:
    for verify in (True, False):
        try:
            model = gru_rt.load(data, verify_checksum=verify)
        except ModelFormatError:
            continue
        exercise(model, atheris.FuzzedDataProvider(data))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
