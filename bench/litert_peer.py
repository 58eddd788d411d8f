#!/usr/bin/env python3
"""LiteRT (ai-edge-litert, XNNPACK) as a peer of bench_suite.py: run by the suite in a child process
with the Python of a separate environment that has `tensorflow-cpu` and `ai-edge-litert` (neither is
a gru_rt dependency, nor a test one), e.g.

    python3 -m venv .venv-bench && .venv-bench/bin/pip install tensorflow-cpu ai-edge-litert
    python bench/bench_suite.py --litert-python .venv-bench/bin/python

It reads one GRU layer's weights (canonical r, z, n gate order, reset_after = 1, as torch) and the
input sequence from an .npz the suite wrote, builds two .tflite models with TensorFlow's converter —
one step (x, h) -> h' and the whole sequence xs -> ys (the input projection of all steps as one
product, then a while loop over the steps) — each in f32 and with dynamic-range int8 weights
(`tf.lite.Optimize.DEFAULT` without a representative dataset: int8 weights, activations quantized on
the fly), checks the f32 outputs against gru_rt's (passed in the .npz), and times them with the
LiteRT interpreter on one thread (its default XNNPACK delegate), printing one JSON object: µs per
step (median, min, max over rounds), the timings shaped like the suite's own. Sequences two ways:
"seq", the step model invoked for each step from Python (the faster here: XNNPACK runs the whole
step), and "while seq", the sequence model in one invoke (its WHILE loop runs in the interpreter).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from timing import timed  # noqa: E402  (the script's folder is on sys.path)


def gru_functions(w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray,
                  steps: int):  # type: ignore[no-untyped-def]
    """The step and sequence tf.functions of one GRU layer (torch's equations, gates r, z, n)."""
    import tensorflow as tf

    h_size, i_size = w_hh.shape[1], w_ih.shape[1]
    wi, wh = tf.constant(w_ih.T), tf.constant(w_hh.T)  # (I, 3H), (H, 3H): FULLY_CONNECTED
    bi, bh = tf.constant(b_ih), tf.constant(b_hh)

    def cell(gi: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
        gh = tf.matmul(h, wh) + bh
        ir, iz, in_ = tf.split(gi, 3, axis=1)
        hr, hz, hn = tf.split(gh, 3, axis=1)
        r, z = tf.sigmoid(ir + hr), tf.sigmoid(iz + hz)
        n = tf.tanh(in_ + r * hn)
        return n + z * (h - n)

    @tf.function(input_signature=[tf.TensorSpec([1, i_size], tf.float32),
                                  tf.TensorSpec([1, h_size], tf.float32)])
    def step(x: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
        return cell(tf.matmul(x, wi) + bi, h)

    @tf.function(input_signature=[tf.TensorSpec([steps, i_size], tf.float32)])
    def sequence(xs: tf.Tensor) -> tf.Tensor:
        gi = tf.matmul(xs, wi) + bi  # every step's input projection in one product
        ys = tf.TensorArray(tf.float32, size=steps)

        def body(t: tf.Tensor, h: tf.Tensor, ys: tf.TensorArray):  # type: ignore[no-untyped-def]
            h = cell(tf.reshape(gi[t], [1, 3 * h_size]), h)
            return t + 1, h, ys.write(t, h[0])

        _, _, ys = tf.while_loop(lambda t, h, ys: t < steps, body,
                                 (tf.constant(0), tf.zeros([1, h_size]), ys))
        return ys.stack()

    return step, sequence


def to_tflite(fn, int8: bool) -> bytes:  # type: ignore[no-untyped-def]
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    if int8:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights
    return conv.convert()


def interpreter(model: bytes):  # type: ignore[no-untyped-def]
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model, num_threads=1)
    it.allocate_tensors()
    return it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("npz", help="w_ih, w_hh, b_ih, b_hh, xs, ys (gru_rt f32's outputs)")
    ap.add_argument("--calls", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    args = ap.parse_args()
    data = np.load(args.npz)
    xs, expected = data["xs"], data["ys"]
    steps = xs.shape[0]
    step_fn, seq_fn = gru_functions(*(np.asarray(data[k], np.float32)
                                      for k in ("w_ih", "w_hh", "b_ih", "b_hh")), steps)
    import ai_edge_litert
    import tensorflow as tf

    out: dict = {"versions": f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}, "
                             f"tensorflow {tf.__version__}"}
    for name, int8 in (("LiteRT", False), ("LiteRT int8-dynamic", True)):
        it = interpreter(to_tflite(step_fn, int8))
        details = it.get_input_details()
        by_name = {d["name"].split(":")[0].rsplit("_", 1)[-1]: d["index"] for d in details}
        ix, ih = by_name.get("x"), by_name.get("h")
        if ix is None or ih is None:
            sys.exit(f"step model inputs not named x and h: {[d['name'] for d in details]}")
        io = it.get_output_details()[0]["index"]
        state = [np.zeros((1, expected.shape[1]), np.float32)]
        x1 = xs[:1].copy()

        def step(it=it, ix=ix, ih=ih, io=io, state=state, x1=x1) -> None:  # type: ignore[no-untyped-def]
            it.set_tensor(ix, x1)
            it.set_tensor(ih, state[0])
            it.invoke()
            state[0] = it.get_tensor(io)

        # The step model stepped over the first steps against gru_rt f32's outputs.
        h = np.zeros((1, expected.shape[1]), np.float32)
        worst = 0.0
        for t in range(min(steps, 20)):
            it.set_tensor(ix, xs[t:t + 1])
            it.set_tensor(ih, h)
            it.invoke()
            h = it.get_tensor(io)
            worst = max(worst, float(np.max(np.abs(h[0] - expected[t]))))
        if not int8 and worst > 1e-4:
            sys.exit(f"LiteRT f32 step disagrees with gru_rt f32 (max |diff| {worst:.3g})")
        out[f"{name} step"] = timed(step, args.calls, args.rounds)
        out[f"{name} step max_abs_diff"] = worst

        def stepped(it=it, ix=ix, ih=ih, io=io) -> None:  # type: ignore[no-untyped-def]
            h = np.zeros((1, expected.shape[1]), np.float32)
            for t in range(steps):
                it.set_tensor(ix, xs[t:t + 1])
                it.set_tensor(ih, h)
                it.invoke()
                h = it.get_tensor(io)

        t = timed(stepped, max(3, args.calls // steps), args.rounds)
        out[f"{name} seq"] = {k: v / steps for k, v in t.items()}

        seq = interpreter(to_tflite(seq_fn, int8))
        si, so = seq.get_input_details()[0]["index"], seq.get_output_details()[0]["index"]
        seq.set_tensor(si, xs)
        seq.invoke()
        worst = float(np.max(np.abs(seq.get_tensor(so).reshape(expected.shape) - expected)))
        if not int8 and worst > 1e-4:
            sys.exit(f"LiteRT f32 sequence disagrees with gru_rt f32 (max |diff| {worst:.3g})")

        def run(seq=seq, si=si) -> None:  # type: ignore[no-untyped-def]
            seq.set_tensor(si, xs)
            seq.invoke()

        t = timed(run, max(3, args.calls // steps), args.rounds)
        out[f"{name} while seq"] = {k: v / steps for k, v in t.items()}
        out[f"{name} while seq max_abs_diff"] = worst
    print(json.dumps(out))


if __name__ == "__main__":
    main()
