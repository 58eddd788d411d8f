#!/usr/bin/env python3
"""atheris fuzz target over the converters: gru_rt.convert on mutated source files (issue 13).

The first byte of an input picks the format (.npz, .safetensors, .keras, .h5, .onnx); the rest is
the file, written to a private temporary directory and converted with verify=False (the check
runs the source's framework, which is not what is fuzzed here). A conversion must either succeed
(the model is then written and loaded back through the C loader) or raise a GruRtError (a
ConversionError, UnsafeFileError, SpecError, ModelFormatError): any other exception, a crash, a
hang (-timeout) or an allocation beyond -rss_limit_mb is a finding. Only gru_rt's own modules are
instrumented; NumPy, h5py and onnx run uninstrumented.

    python tools/fuzz_convert.py --make-seeds build/convert_seeds       # valid files of each kind
    GRU_RT_FUZZ_FORMATS=npz,keras python tools/fuzz_convert.py ...     # only some formats
    python tools/fuzz_convert.py -max_total_time=60 -rss_limit_mb=2048 -timeout=20 \\
        build/convert_corpus build/convert_seeds
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["gru_rt"]):
    import gru_rt
    from gru_rt.errors import GruRtError

import h5py  # noqa: E402
import numpy as np  # noqa: E402

SUFFIXES = (".npz", ".safetensors", ".keras", ".h5", ".onnx")
# Each input is written to a file and converted from there: in memory (tmpfs) where there is one.
WORK = Path(tempfile.mkdtemp(prefix="gru_rt_fuzz_convert_",
                             dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
I, H, O = 3, 4, 2  # noqa: E741


def _weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(3 * H, I)).astype(np.float32),
            "U": rng.normal(size=(3 * H, H)).astype(np.float32),
            "b_ih": rng.normal(size=3 * H).astype(np.float32),
            "b_hh": rng.normal(size=3 * H).astype(np.float32),
            "Wd": rng.normal(size=(O, H)).astype(np.float32),
            "bd": rng.normal(size=O).astype(np.float32)}


def seed_npz() -> bytes:
    w, buf = _weights(), io.BytesIO()
    np.savez(buf, **{"0.W": w["W"], "0.U": w["U"], "0.b_i": w["b_ih"], "0.b_h": w["b_hh"],
                     "1.W": w["Wd"], "1.b": w["bd"]})
    return buf.getvalue()


def seed_safetensors() -> bytes:
    w = _weights()
    tensors = {"gru.weight_ih_l0": w["W"], "gru.weight_hh_l0": w["U"],
               "gru.bias_ih_l0": w["b_ih"], "gru.bias_hh_l0": w["b_hh"],
               "head.weight": w["Wd"], "head.bias": w["bd"]}
    header, data, offset = {}, b"", 0
    for name, arr in tensors.items():
        raw = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        data, offset = data + raw, offset + len(raw)
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def _keras_config() -> dict:
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "GRU", "config": {"name": "gru", "units": H, "activation": "tanh",
                                         "recurrent_activation": "sigmoid",
                                         "reset_after": True, "return_sequences": True}},
        {"class_name": "Dense", "config": {"name": "dense", "units": O,
                                           "activation": "softmax"}}]}}


def _h5_bytes(fill) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        fill(f)
    return buf.getvalue()


def seed_keras() -> bytes:
    w = _weights()

    def fill(f: h5py.File) -> None:
        v = f.create_group("layers/gru/cell/vars")
        v["0"], v["1"] = w["W"].T, w["U"].T
        v["2"] = np.stack([w["b_ih"], w["b_hh"]])
        d = f.create_group("layers/dense/vars")
        d["0"], d["1"] = w["Wd"].T, w["bd"]

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", json.dumps(_keras_config()))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("model.weights.h5", _h5_bytes(fill))
    return buf.getvalue()


def seed_h5() -> bytes:
    w = _weights()

    def fill(f: h5py.File) -> None:
        f.attrs["model_config"] = json.dumps(_keras_config())
        f.attrs["keras_version"] = "2.15.0"
        root = f.create_group("model_weights")
        gru = root.create_group("gru")
        gru.attrs["weight_names"] = [b"gru/kernel:0", b"gru/recurrent_kernel:0", b"gru/bias:0"]
        gru["gru/kernel:0"], gru["gru/recurrent_kernel:0"] = w["W"].T, w["U"].T
        gru["gru/bias:0"] = np.stack([w["b_ih"], w["b_hh"]])
        dense = root.create_group("dense")
        dense.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        dense["dense/kernel:0"], dense["dense/bias:0"] = w["Wd"].T, w["bd"]

    return _h5_bytes(fill)


def seed_onnx() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    w = _weights()
    inits = [numpy_helper.from_array(w["W"][None], "W"), numpy_helper.from_array(w["U"][None], "R"),
             numpy_helper.from_array(np.concatenate([w["b_ih"], w["b_hh"]])[None], "B"),
             numpy_helper.from_array(np.array([1], np.int64), "axes1"),
             numpy_helper.from_array(w["Wd"].T.copy(), "Wd"),
             numpy_helper.from_array(w["bd"], "bd")]
    nodes = [helper.make_node("GRU", ["X", "W", "R", "B"], ["Y", "Y_h"], name="gru", hidden_size=H,
                              linear_before_reset=1),
             helper.make_node("Squeeze", ["Y", "axes1"], ["Y2"], name="squeeze"),
             helper.make_node("MatMul", ["Y2", "Wd"], ["mm"], name="mm"),
             helper.make_node("Add", ["mm", "bd"], ["out"], name="add")]
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, I])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def seed_onnx_lstm() -> bytes:
    """x → LSTM (ONNX gate blocks i, o, f, c; zero P and initial states) → Squeeze → MatMul."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
             for n, s in (("W", (1, 4 * H, I)), ("R", (1, 4 * H, H)), ("B", (1, 8 * H)),
                          ("Wd", (H, O)))]
    inits += [numpy_helper.from_array(np.zeros((1, 3 * H), np.float32), "P"),
              numpy_helper.from_array(np.zeros((1, 1, H), np.float32), "h0"),
              numpy_helper.from_array(np.array([1], np.int64), "axes1")]
    nodes = [helper.make_node("LSTM", ["X", "W", "R", "B", "", "h0", "h0", "P"], ["Y", "Y_h"],
                              name="lstm", hidden_size=H),
             helper.make_node("Squeeze", ["Y", "axes1"], ["Y2"], name="squeeze"),
             helper.make_node("MatMul", ["Y2", "Wd"], ["out"], name="mm")]
    return _onnx_bytes(nodes, inits, ["T", 1, I])


def seed_onnx_conv() -> bytes:
    """x [T, 1, I] → Transpose (N, C, T) → Pad (2, 0) on time → Conv k=2 d=2 → Relu → Transpose
    → GRU → Squeeze: a causal Conv1D as torch.onnx.export writes ConstantPad1d + Conv1d."""
    from onnx import helper, numpy_helper

    w, rng = _weights(), np.random.default_rng(2)
    inits = [numpy_helper.from_array(rng.normal(size=(I, I, 2)).astype(np.float32), "Wc"),
             numpy_helper.from_array(rng.normal(size=I).astype(np.float32), "Bc"),
             numpy_helper.from_array(np.array([0, 0, 2, 0, 0, 0], np.int64), "pads"),
             numpy_helper.from_array(w["W"][None], "W"), numpy_helper.from_array(w["U"][None], "R"),
             numpy_helper.from_array(np.array([1], np.int64), "axes1")]
    nodes = [helper.make_node("Transpose", ["X"], ["Xt"], name="to_nct", perm=[1, 2, 0]),
             helper.make_node("Pad", ["Xt", "pads"], ["Xp"], name="pad"),
             helper.make_node("Conv", ["Xp", "Wc", "Bc"], ["C"], name="conv", kernel_shape=[2],
                              dilations=[2]),
             helper.make_node("Relu", ["C"], ["Cr"], name="relu"),
             helper.make_node("Transpose", ["Cr"], ["Ct"], name="to_tnc", perm=[2, 0, 1]),
             helper.make_node("GRU", ["Ct", "W", "R"], ["Y"], name="gru", hidden_size=H),
             helper.make_node("Squeeze", ["Y", "axes1"], ["out"], name="squeeze")]
    return _onnx_bytes(nodes, inits, ["T", 1, I])


def _onnx_bytes(nodes: list, inits: list, shape: list) -> bytes:  # type: ignore[type-arg]
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                         shape)],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


SEEDS = (seed_npz, seed_safetensors, seed_keras, seed_h5, seed_onnx)
# More seeds of one format: (file name, format suffix, maker).
MORE_SEEDS = (("seed_lstm.onnx", ".onnx", seed_onnx_lstm), ("seed_conv.onnx", ".onnx",
                                                           seed_onnx_conv))


def make_seeds(directory: Path) -> None:
    """One valid file of each format, as fuzzer inputs (format byte + file); each must convert."""
    directory.mkdir(parents=True, exist_ok=True)
    for k, make in enumerate(SEEDS):
        data = bytes([k]) + make()
        (directory / f"seed{SUFFIXES[k]}").write_bytes(data)
        spec = convert_one(data)
        assert spec is not None, f"seed {SUFFIXES[k]} did not convert"
        print(f"{directory / ('seed' + SUFFIXES[k])}: {len(data)} bytes, "
              f"{[layer.kind for layer in spec.layers]}")
    for name, suffix, make in MORE_SEEDS:
        data = bytes([SUFFIXES.index(suffix)]) + make()
        (directory / name).write_bytes(data)
        spec = convert_one(data)
        assert spec is not None, f"seed {name} did not convert"
        print(f"{directory / name}: {len(data)} bytes, {[layer.kind for layer in spec.layers]}")


# GRU_RT_FUZZ_FORMATS=npz,safetensors,keras,h5 restricts the formats (inputs of others are skipped)
FORMATS = {f".{name}" for name in os.environ.get("GRU_RT_FUZZ_FORMATS", "").split(",") if name}


def convert_one(data: bytes) -> gru_rt.ModelSpec | None:
    if not data:
        return None
    suffix = SUFFIXES[data[0] % len(SUFFIXES)]
    if FORMATS and suffix not in FORMATS:
        return None
    path = WORK / f"source{suffix}"
    path.write_bytes(data[1:])
    try:
        spec = gru_rt.convert(path, verify=False)
    except GruRtError:
        return None
    finally:
        path.unlink()
    model = gru_rt.load(spec.to_bytes())  # a converted model always loads
    assert model.input_size == spec.layers[0].input_size
    return spec


def test_one_input(data: bytes) -> None:
    convert_one(data)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--make-seeds":
        make_seeds(Path(sys.argv[2]))
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
