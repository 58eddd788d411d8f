#!/usr/bin/env python3
"""Ragged sequences: throughput (sequences/s) of scoring N recorded sequences of different lengths
with the classifier readout (each sequence's output at its own last step), gru_rt against PyTorch's
packed-sequence GRU and ONNX Runtime, one thread each, in one process, on the same weights and data.

  - gru_rt: Model.run(list_of_sequences, readout="last") in f32, q8 and q15, and the padded form
    Model.run(padded, lengths=..., readout="last") in f32;
  - PyTorch: pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False) then
    nn.GRU → h_n (the packing is part of the timed call, as in a user's code);
  - ONNX Runtime: one GRU node with sequence_lens over the time-major padded batch → Y_h.

The model is one GRU layer I → H (its last state is the readout); lengths are uniform in
[--min-len, --max-len] (seed 0). Each timing is `rounds` samples (medians shown, with min-max).

--bidirectional: one bidirectional GRU layer I → 2H (concat) instead, every step's output of every
sequence (the backward direction starts at each sequence's own last step): gru_rt Model.run(list)
(one grt_model_run per sequence) against PyTorch's packed bidirectional nn.GRU (packing and the
packed output, not unpacked) and ONNX Runtime's GRU direction="bidirectional" with sequence_lens
(Y, time-major).

    python bench/bench_ragged.py                                  # 40x128 and 64x256, N = 256
    python bench/bench_ragged.py --sizes 40x128 --n 512 --rounds 7
    python bench/bench_ragged.py --bidirectional
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
from bench_step import cpu_name  # the script's folder is on sys.path
from bench_suite import cpu_flags, random_gru
from timing import summary

import gru_rt
from gru_rt.quantize import quantize
from gru_rt.spec import GRULayer, ModelSpec


def seconds(fn: Callable[[], object], rounds: int) -> dict[str, float]:
    """Seconds per call: median, min and max over rounds (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return summary(samples)


def onnx_ragged_gru(spec: ModelSpec) -> bytes:
    """One ONNX GRU node with sequence_lens (gates z, r, h in ONNX order), time-major: Y_h, or for
    a bidirectional layer Y [T, 2, N, H]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layer = spec.layers[0]
    i, h = layer.input_size, layer.hidden_size
    cells = layer.directions
    bidir = len(cells) == 2

    def zrn(a: np.ndarray) -> np.ndarray:  # canonical r, z, n blocks -> ONNX z, r, h
        r, z, n = np.split(np.asarray(a, np.float32), 3, axis=0)
        return np.concatenate([z, r, n], axis=0)

    w = numpy_helper.from_array(np.stack([zrn(c.w_ih) for c in cells]), "W")
    r = numpy_helper.from_array(np.stack([zrn(c.w_hh) for c in cells]), "R")
    b = numpy_helper.from_array(np.stack([np.concatenate([zrn(c.b_ih), zrn(c.b_hh)])
                                          for c in cells]), "B")
    out, shape = ("Y", ["T", 2, "N", h]) if bidir else ("Y_h", [1, "N", h])
    node = helper.make_node("GRU", ["X", "W", "R", "B", "sequence_lens"],
                            ["Y", ""] if bidir else ["", "Y_h"], hidden_size=h,
                            linear_before_reset=1,
                            direction="bidirectional" if bidir else "forward")
    graph = helper.make_graph(
        [node], "gru", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", i]),
                        helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["N"])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, shape)], [w, r, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ragged_data(n: int, i: int, min_len: int, max_len: int
                ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """N sequences of uniform random lengths (seed 0): the list, the zero-padded (N, T, I) batch and
    the lengths."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(min_len, max_len + 1, n)
    seqs = [rng.standard_normal((int(t), i)).astype(np.float32) for t in lengths]
    padded = np.zeros((n, int(lengths.max()), i), np.float32)
    for k, x in enumerate(seqs):
        padded[k, :len(x)] = x
    return seqs, padded, lengths


def gru_rt_models(spec: ModelSpec, calibration: list[np.ndarray]) -> dict[str, gru_rt.Model]:
    """The spec as gru_rt f32, q8 and q15 models (quantized on the calibration sequences)."""
    models = {"gru_rt f32": gru_rt.load(spec.to_bytes())}
    for precision in ("q8", "q15"):
        models[f"gru_rt {precision}"] = gru_rt.load(
            quantize(spec, precision, calibration)[0].to_bytes())
    return models


def copy_into_torch(gru: object, cells: list[GRULayer], suffixes: tuple[str, ...]) -> None:
    """Copy each direction's weights (canonical r, z, n: PyTorch's order) into nn.GRU layer 0."""
    import torch

    with torch.no_grad():
        for suffix, cell in zip(suffixes, cells):
            for name, arr in (("weight_ih", cell.w_ih), ("weight_hh", cell.w_hh),
                              ("bias_ih", cell.b_ih), ("bias_hh", cell.b_hh)):
                getattr(gru, f"{name}_l0{suffix}").copy_(torch.from_numpy(
                    np.asarray(arr, np.float32)))


def onnxruntime_call(spec: ModelSpec, padded: np.ndarray, lengths: np.ndarray, output: str
                     ) -> Callable[[], np.ndarray]:
    """A call that runs onnx_ragged_gru(spec) on one ONNX Runtime thread and returns `output`."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_ragged_gru(spec), opts, providers=["CPUExecutionProvider"])
    feed = {"X": np.ascontiguousarray(padded.transpose(1, 0, 2)),
            "sequence_lens": lengths.astype(np.int32)}
    return lambda: sess.run([output], feed)[0]


def bench_size(i: int, h: int, n: int, min_len: int, max_len: int, rounds: int) -> dict:
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    spec = random_gru(i, h)
    seqs, padded, lengths = ragged_data(n, i, min_len, max_len)
    models = gru_rt_models(spec, seqs[:32])
    gru = torch.nn.GRU(i, h, batch_first=True)
    copy_into_torch(gru, [spec.layers[0]], ("",))
    x_t, len_t = torch.from_numpy(padded), torch.from_numpy(lengths)

    def torch_packed() -> np.ndarray:
        with torch.inference_mode():
            packed = pack_padded_sequence(x_t, len_t, batch_first=True, enforce_sorted=False)
            return gru(packed)[1][0].numpy()

    ort_y_h = onnxruntime_call(spec, padded, lengths, "Y_h")

    def onnxruntime() -> np.ndarray:
        return ort_y_h()[0]

    # The three compute the same readout (a check that the peers run the same GRU).
    ours = models["gru_rt f32"].run(seqs, readout="last")
    for name, theirs in (("PyTorch", torch_packed()), ("ONNX Runtime", onnxruntime())):
        assert np.max(np.abs(ours - theirs)) < 1e-4, f"{name} disagrees with gru_rt"
    assert np.array_equal(models["gru_rt f32"].run(padded, lengths=lengths, readout="last"), ours)

    runs: dict[str, Callable[[], object]] = {
        name: (lambda m=m: m.run(seqs, readout="last")) for name, m in models.items()}
    runs["gru_rt f32 padded+lengths"] = lambda: models["gru_rt f32"].run(
        padded, lengths=lengths, readout="last")
    runs["torch packed GRU"] = torch_packed
    runs["onnxruntime GRU"] = onnxruntime
    times = {name: seconds(fn, rounds) for name, fn in runs.items()}
    return {"size": f"{i}x{h}", "n": n, "steps": int(lengths.sum()), "times": times}


def bench_bidirectional(i: int, h: int, n: int, min_len: int, max_len: int,
                        rounds: int) -> dict:
    """One bidirectional GRU layer, every step's output of ragged sequences."""
    from dataclasses import replace

    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    fwd, back = random_gru(i, h).layers[0], random_gru(i, h, seed=1).layers[0]
    spec = ModelSpec([replace(fwd, direction="bidirectional", merge="concat", backward=back)])
    seqs, padded, lengths = ragged_data(n, i, min_len, max_len)
    models = gru_rt_models(spec, seqs[:32])
    gru = torch.nn.GRU(i, h, batch_first=True, bidirectional=True)
    copy_into_torch(gru, [fwd, back], ("", "_reverse"))
    x_t, len_t = torch.from_numpy(padded), torch.from_numpy(lengths)

    def torch_packed() -> object:
        with torch.inference_mode():
            return gru(pack_padded_sequence(x_t, len_t, batch_first=True,
                                            enforce_sorted=False))[0]

    onnxruntime = onnxruntime_call(spec, padded, lengths, "Y")

    # The three compute the same outputs at every real step.
    ours = models["gru_rt f32"].run(seqs)
    with torch.inference_mode():
        theirs_t = pad_packed_sequence(torch_packed(), batch_first=True)[0].numpy()
    y = onnxruntime()  # [T, 2, N, H]
    theirs_o = np.concatenate([y[:, 0], y[:, 1]], axis=-1).transpose(1, 0, 2)
    for k, n_k in enumerate(lengths):
        assert np.max(np.abs(ours[k] - theirs_t[k, :n_k])) < 1e-4, "PyTorch disagrees"
        assert np.max(np.abs(ours[k] - theirs_o[k, :n_k])) < 1e-4, "ONNX Runtime disagrees"

    runs: dict[str, Callable[[], object]] = {
        name: (lambda m=m: m.run(seqs)) for name, m in models.items()}
    runs["torch packed bidirectional GRU"] = torch_packed
    runs["onnxruntime bidirectional GRU"] = onnxruntime
    times = {name: seconds(fn, rounds) for name, fn in runs.items()}
    return {"size": f"{i}x2x{h}", "n": n, "steps": int(lengths.sum()), "times": times}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="40x128,64x256", help="IxH list (default %(default)s)")
    ap.add_argument("--n", type=int, default=256, help="sequences (default %(default)s)")
    ap.add_argument("--min-len", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bidirectional", action="store_true",
                    help="a bidirectional GRU layer, every step's output (see above)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"# {cpu_name()} ({cpu_flags()}), {platform.python_implementation()} "
          f"{platform.python_version()}, torch {torch.__version__}, gru_rt kernels "
          f"{gru_rt.cpu_info()['isa']}; one thread each")
    for size in args.sizes.split(","):
        i, h = (int(v) for v in size.split("x"))
        run = bench_bidirectional if args.bidirectional else bench_size
        r = run(i, h, args.n, args.min_len, args.max_len, args.rounds)
        base = r["n"] / r["times"]["gru_rt f32"]["median"]
        what = ("every step's output, bidirectional" if args.bidirectional
                else "readout at each one's last step")
        print(f"\n{r['size']}: {r['n']} sequences of {args.min_len}-{args.max_len} steps "
              f"({r['steps']} steps), {what}")
        print(f"| {'':28} | sequences/s (median) | min-max | vs gru_rt f32 |")
        print(f"|{'-' * 30}|---:|---:|---:|")
        for name, t in r["times"].items():
            rate = r["n"] / t["median"]
            print(f"| {name:28} | {rate:,.0f} | {r['n'] / t['max']:,.0f}-{r['n'] / t['min']:,.0f}"
                  f" | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
