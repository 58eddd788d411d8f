#!/usr/bin/env python3
"""The benchmark suite: gru_rt f32 / q8 / q15 against PyTorch and ONNX Runtime, one thread each,
side by side in one process, on the same weights.

Per size I×H (one GRU layer, batch 1):
  - streaming step: gru_rt Stream.step(x, out=buf); torch.nn.GRUCell; torch's dynamic int8
    GRUCell (torch.ao.quantization.quantize_dynamic); ONNX Runtime's GRU node run with a
    sequence of 1 and the state fed back;
  - sequence of T steps, per step: gru_rt Model.run; torch.nn.GRU (float and dynamic int8);
    ONNX Runtime's GRU node over the whole sequence.
LiteRT (--litert-python: the Python of an environment with tensorflow-cpu and ai-edge-litert,
never a gru_rt or test dependency): bench/litert_peer.py in a child process makes the step and the
sequence GRU as .tflite files with TensorFlow's converter, f32 and dynamic-range int8, checks them
against gru_rt f32's outputs and times them with the LiteRT interpreter (XNNPACK, one thread).
Many streams (gru_rt only, --batch B streams, default 16): StreamBatch.step of B streams, per
stream, against a single Stream.step; and Model.run of B sequences of --many-seq-len steps, in
lockstep (the batched path), against the same B runs one after another (the old Model.run); each
pair timed with alternating rounds, so that both see the same load on a shared machine.
Each timing is `rounds` samples of `calls` calls; the table shows medians (µs per step) and the
ratio of each peer to gru_rt's f32 (>1: gru_rt is faster), all measured in this run. Writes JSON
and, if matplotlib is installed, a PNG plot (µs/step vs size, log scale).

    python bench/bench_suite.py                              # all sizes, bench/results/
    python bench/bench_suite.py --sizes 64x128 --rounds 3 --out /tmp/b
    python bench/bench_suite.py --sizes 16x32,64x128,256x512 --no-peers --batch 16
    python bench/bench_suite.py --sizes 64x128,128x256,256x512 --isa avx2   # + gru_rt at avx2
    python bench/bench_suite.py --litert-python .venv-bench/bin/python       # + LiteRT
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_step import cpu_name  # the script's folder is on sys.path
from timing import summary, timed

import gru_rt
from gru_rt import _core
from gru_rt.quantize import quantize
from gru_rt.spec import GRULayer, ModelSpec

DEFAULT_SIZES = "16x32,40x64,64x128,128x256,256x512,512x1024"
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_flags() -> str:
    """The SIMD flags of /proc/cpuinfo that decide gru_rt's kernel levels ("?" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return "?"
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni")
    return " ".join(f for f in wanted if f in flags) or "no AVX2"


def timed_pair(a: Callable[[], object], calls_a: int, b: Callable[[], object], calls_b: int,
               rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """timed() of a and of b with their rounds alternating, so that both see the same machine load
    (a fair ratio on a shared machine)."""
    pairs = ((a, calls_a), (b, calls_b))
    for fn, calls in pairs:
        for _ in range(max(1, min(calls, 100))):
            fn()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for k, (fn, calls) in enumerate(pairs):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[k].append((time.perf_counter() - start) / calls * 1e6)
    return summary(samples[0]), summary(samples[1])


def per_step(t: dict[str, float], steps: int) -> dict[str, float]:
    return {k: v / steps for k, v in t.items()}


def random_gru(i: int, h: int, seed: int = 0) -> ModelSpec:
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(h)
    return ModelSpec([GRULayer(rng.uniform(-k, k, (3 * h, i)), rng.uniform(-k, k, (3 * h, h)),
                               rng.uniform(-k, k, 3 * h), rng.uniform(-k, k, 3 * h))])


def calls_for(i: int, h: int, budget_us: float = 150_000) -> int:
    """Calls per round so that a round lasts roughly budget_us at ~1 ns per weight."""
    weights = 3 * h * (i + h)
    return int(max(20, min(5000, budget_us / max(0.5, weights / 1000))))


def bench_gru_rt(spec: ModelSpec, xs: np.ndarray, calls: int, rounds: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    x = xs[0]
    steps = xs.shape[0]
    seq_calls = max(3, calls // steps)
    for precision in ("f32", "q8", "q15"):
        q = spec if precision == "f32" else quantize(spec, precision)[0]
        model = gru_rt.load(q.to_bytes())
        stream = model.stream()
        buf = np.empty(model.output_size, np.float32)
        out[f"gru_rt {precision} step"] = timed(lambda s=stream, b=buf: s.step(x, out=b), calls,
                                                rounds)
        seq = model.stream()
        ys = np.empty((steps, model.output_size), np.float32)
        out[f"gru_rt {precision} seq"] = per_step(
            timed(lambda s=seq, y=ys: s.run(xs, out=y), seq_calls, rounds), steps)
    return out


def run_one_by_one(model: gru_rt.Model, x3: np.ndarray, ys: np.ndarray) -> None:
    """What Model.run did with (N, T, I) before it stepped the sequences in lockstep."""
    s = model.stream()
    for k in range(x3.shape[0]):
        s.reset()
        s.run(x3[k], out=ys[k])


def bench_many(spec: ModelSpec, batch: int, seq_len: int, calls: int,
               rounds: int) -> dict[str, dict]:
    """Per stream: a single step and a batch step of `batch` streams; per step of each sequence:
    `batch` sequences of seq_len steps one after another, and in lockstep (Model.run of (N, T, I));
    each pair timed with alternating rounds."""
    out: dict[str, dict] = {}
    rng = np.random.default_rng(2)
    for precision in ("f32", "q8", "q15"):
        q = spec if precision == "f32" else quantize(spec, precision)[0]
        model = gru_rt.load(q.to_bytes())
        stream, streams = model.stream(), model.stream_batch(batch)
        xs = rng.standard_normal((batch, model.input_size)).astype(np.float32)
        ys = np.empty((batch, model.output_size), np.float32)
        single, many = timed_pair(lambda s=stream, x=xs[0], y=ys[0]: s.step(x, out=y), calls,
                                  lambda b=streams, x=xs, y=ys: b.step(x, out=y),
                                  max(5, calls // batch), rounds)
        out[f"gru_rt {precision} single many"] = single
        out[f"gru_rt {precision} batch many"] = per_step(many, batch)
        x3 = rng.standard_normal((batch, seq_len, model.input_size)).astype(np.float32)
        y3 = np.empty((batch, seq_len, model.output_size), np.float32)
        seq_calls = max(2, calls // (batch * seq_len))
        one, lock = timed_pair(lambda m=model, x=x3, y=y3: run_one_by_one(m, x, y), seq_calls,
                               lambda m=model, x=x3: m.run(x), seq_calls, rounds)
        out[f"gru_rt {precision} one-by-one many"] = per_step(one, batch * seq_len)
        out[f"gru_rt {precision} lockstep many"] = per_step(lock, batch * seq_len)
        run_one_by_one(model, x3, y3)
        assert np.array_equal(model.run(x3), y3), "lockstep and one-by-one runs differ"
    return out


def many_table(results: dict) -> str:
    """Per size and precision: the single step, the batch step per stream, the lockstep run (µs,
    medians); speed-ups of the medians and, in brackets, of the fastest rounds (steadier when the
    machine is shared)."""
    b, t = results["batch"], results["many_seq_len"]
    lines = [f"| I×H | precision | step | batch of {b}, per stream | speed-up | {b} runs of {t} "
             "steps one by one, per step | in lockstep | speed-up |", "|" + "---|" * 8]

    def ratio(row: dict, slow: str, fast: str) -> str:
        return (f"{row[slow]['median'] / row[fast]['median']:.1f}× "
                f"({row[slow]['min'] / row[fast]['min']:.1f}×)")

    for size, row in results["sizes"].items():
        for p in ("f32", "q8", "q15"):
            if f"gru_rt {p} batch many" not in row:
                continue
            step, batch = f"gru_rt {p} single many", f"gru_rt {p} batch many"
            one, lock = f"gru_rt {p} one-by-one many", f"gru_rt {p} lockstep many"
            med = {k: row[k]["median"] for k in (step, batch, one, lock)}
            lines.append(f"| {size} | {p} | {med[step]:.2f} | {med[batch]:.2f} | "
                         f"{ratio(row, step, batch)} | {med[one]:.2f} | {med[lock]:.2f} | "
                         f"{ratio(row, one, lock)} |")
    return "\n".join(lines)


def bench_torch(spec: ModelSpec, xs: np.ndarray, calls: int, rounds: int) -> dict[str, dict]:
    import torch

    layer = spec.layers[0]
    i, h = layer.input_size, layer.hidden_size
    cell, gru = torch.nn.GRUCell(i, h), torch.nn.GRU(i, h)
    with torch.no_grad():
        for p, arr in ((cell.weight_ih, layer.w_ih), (cell.weight_hh, layer.w_hh),
                       (cell.bias_ih, layer.b_ih), (cell.bias_hh, layer.b_hh),
                       (gru.weight_ih_l0, layer.w_ih), (gru.weight_hh_l0, layer.w_hh),
                       (gru.bias_ih_l0, layer.b_ih), (gru.bias_hh_l0, layer.b_hh)):
            p.copy_(torch.from_numpy(np.asarray(arr, np.float32)))
    steps = xs.shape[0]
    seq_calls = max(3, calls // steps)
    xt = torch.from_numpy(xs[0]).reshape(1, i)
    xs_t = torch.from_numpy(xs).reshape(steps, 1, i)
    out: dict[str, dict] = {}
    variants = [("torch", cell, gru)]
    try:
        with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice
            warnings.simplefilter("ignore")
            qcell = torch.ao.quantization.quantize_dynamic(cell, {torch.nn.GRUCell},
                                                           dtype=torch.qint8)
            qgru = torch.ao.quantization.quantize_dynamic(gru, {torch.nn.GRU}, dtype=torch.qint8)
        variants.append(("torch int8-dynamic", qcell, qgru))
    except (RuntimeError, AttributeError) as e:  # no quantized engine in this build
        print(f"  torch dynamic quantization unavailable: {e}")
    with torch.inference_mode():
        for name, c, g in variants:
            state = [torch.zeros(1, h)]

            def step(c: torch.nn.Module = c, state: list = state) -> None:
                state[0] = c(xt, state[0])

            out[f"{name} step"] = timed(step, calls, rounds)
            out[f"{name} seq"] = per_step(timed(lambda g=g: g(xs_t), seq_calls, rounds), steps)
    return out


def onnx_gru(spec: ModelSpec) -> bytes:
    """One ONNX GRU node with the canonical weights (gates z, r, h in ONNX order)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    layer = spec.layers[0]
    i, h = layer.input_size, layer.hidden_size

    def zrn(a: np.ndarray) -> np.ndarray:  # canonical r, z, n blocks -> ONNX z, r, h
        r, z, n = np.split(np.asarray(a, np.float32), 3, axis=0)
        return np.concatenate([z, r, n], axis=0)

    w = numpy_helper.from_array(zrn(layer.w_ih)[None], "W")
    r = numpy_helper.from_array(zrn(layer.w_hh)[None], "R")
    b = numpy_helper.from_array(np.concatenate([zrn(layer.b_ih), zrn(layer.b_hh)])[None], "B")
    node = helper.make_node("GRU", ["X", "W", "R", "B", "", "H0"], ["Y", "Y_h"], hidden_size=h,
                            linear_before_reset=1)
    graph = helper.make_graph(
        [node], "gru", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, i]),
                        helper.make_tensor_value_info("H0", TensorProto.FLOAT, [1, 1, h])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, 1, h]),
         helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, 1, h])], [w, r, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def bench_ort(spec: ModelSpec, xs: np.ndarray, calls: int, rounds: int) -> dict[str, dict]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_gru(spec), opts, providers=["CPUExecutionProvider"])
    i, h = spec.input_size, spec.layers[0].hidden_size
    steps = xs.shape[0]
    x1 = xs[:1].reshape(1, 1, i)
    state = [np.zeros((1, 1, h), np.float32)]

    def step() -> None:
        state[0] = sess.run(["Y_h"], {"X": x1, "H0": state[0]})[0]

    x_seq = xs.reshape(steps, 1, i)
    h0 = np.zeros((1, 1, h), np.float32)
    # Same numbers as gru_rt f32 (a sanity check that the peer computes the same GRU).
    ours = gru_rt.load(spec.to_bytes()).run(xs)
    theirs = sess.run(["Y"], {"X": x_seq, "H0": h0})[0].reshape(steps, h)
    assert np.max(np.abs(ours - theirs)) < 1e-4, "ONNX Runtime disagrees with gru_rt"
    return {"onnxruntime step": timed(step, calls, rounds),
            "onnxruntime seq": per_step(
                timed(lambda: sess.run(["Y"], {"X": x_seq, "H0": h0}), max(3, calls // steps),
                      rounds), steps)}


def bench_litert(spec: ModelSpec, xs: np.ndarray, calls: int, rounds: int, python: str,
                 diffs: dict) -> dict[str, dict]:
    """LiteRT f32 and int8 dynamic-range, step and sequence (bench/litert_peer.py run by `python`);
    their largest differences from gru_rt f32's outputs go to diffs."""
    layer = spec.layers[0]
    ours = gru_rt.load(spec.to_bytes()).run(xs)
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "gru.npz"
        np.savez(npz, w_ih=layer.w_ih, w_hh=layer.w_hh, b_ih=layer.b_ih, b_hh=layer.b_hh, xs=xs,
                 ys=ours)
        done = subprocess.run([python, str(Path(__file__).with_name("litert_peer.py")), str(npz),
                               "--calls", str(calls), "--rounds", str(rounds)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"litert_peer.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    diffs["versions"] = got.pop("versions")
    diffs.update({k: got.pop(k) for k in list(got) if k.endswith("max_abs_diff")})
    return got


def plot(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = list(results["sizes"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, kind in zip(axes, ("step", "seq")):
        names = sorted({n for s in sizes for n in results["sizes"][s] if n.endswith(kind)})
        for name in names:
            ax.plot(sizes, [results["sizes"][s].get(name, {}).get("median", np.nan) for s in sizes],
                    marker="o", label=name[:-len(kind) - 1])
        ax.set_yscale("log")
        ax.set_xlabel("I×H")
        ax.set_ylabel("µs per step (median)")
        ax.set_title("streaming step (batch 1)" if kind == "step" else
                     f"sequence of {results['seq_len']} steps, per step")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(results["machine"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def table(results: dict, kind: str, stat: str = "median") -> str:
    sizes = list(results["sizes"])
    names = [n for n in results["order"] if n.endswith(kind)]
    base = f"gru_rt f32 {kind}"
    head = "| I×H | " + " | ".join(n[:-len(kind) - 1] for n in names) + " |"
    lines = [head, "|" + "---|" * (len(names) + 1)]
    for s in sizes:
        row = results["sizes"][s]
        cells = []
        for n in names:
            if n not in row:
                cells.append("—")
                continue
            m = row[n][stat]
            ratio = "" if n == base else f" ({m / row[base][stat]:.1f}×)"
            cells.append(f"{m:.2f}{ratio}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated IxH")
    ap.add_argument("--seq-len", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=str(RESULTS), help="directory for suite.json and suite.png")
    ap.add_argument("--no-peers", action="store_true", help="gru_rt only")
    ap.add_argument("--batch", type=int, default=16, help="streams of the many-streams figures "
                    "(0: skip them)")
    ap.add_argument("--many-seq-len", type=int, default=200,
                    help="steps of each sequence of the lockstep run figures")
    ap.add_argument("--isa", default="", help="comma-separated kernel levels to time gru_rt's "
                    "step and sequence at as well, e.g. avx2,scalar (the columns 'gru_rt q8 "
                    "[avx2]'); the other figures use the active level")
    ap.add_argument("--litert-python", default="", help="the Python of an environment with "
                    "tensorflow-cpu and ai-edge-litert: LiteRT f32 and int8 dynamic-range as peers")
    ap.add_argument("--round-us", type=float, default=150_000, help="about how long a round "
                    "lasts (µs); on a loaded machine rounds shorter than a scheduler slice (~2000) "
                    "with --min give the undisturbed figures")
    ap.add_argument("--min", action="store_true", help="also print the tables of the fastest "
                    "rounds (steadier than the medians on a loaded machine)")
    args = ap.parse_args()
    extra_isas = [name for name in args.isa.split(",") if name]
    active = gru_rt.cpu_info()["isa"]
    for name in extra_isas:  # fail early on a level this CPU lacks
        _core._select_isa(name)
    _core._select_isa(active)

    peers = []
    if not args.no_peers:
        import torch

        torch.set_num_threads(1)
        peers = [bench_torch, bench_ort]
    machine = (f"{cpu_name()} ({cpu_flags()}), {os.cpu_count()} cores; Python "
               f"{platform.python_version()}, gru_rt {gru_rt.__version__} (kernels {active})")
    if peers:
        import onnxruntime
        import torch

        machine += f", torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    results: dict = {"machine": machine, "seq_len": args.seq_len, "rounds": args.rounds,
                     "batch": args.batch, "many_seq_len": args.many_seq_len, "sizes": {},
                     "order": [], "litert": {}}
    print(machine)
    for size in args.sizes.split(","):
        i, h = (int(v) for v in size.lower().split("x"))
        spec = random_gru(i, h)
        xs = np.random.default_rng(1).standard_normal((args.seq_len, i)).astype(np.float32)
        calls = calls_for(i, h, args.round_us)
        row = bench_gru_rt(spec, xs, calls, args.rounds)
        for name in extra_isas:
            _core._select_isa(name)
            at = bench_gru_rt(spec, xs, calls, args.rounds)
            row.update({k.replace(" step", f" [{name}] step").replace(" seq", f" [{name}] seq"): v
                        for k, v in at.items()})
            _core._select_isa(active)
        if args.batch > 0:
            row.update(bench_many(spec, args.batch, args.many_seq_len, calls, args.rounds))
        for peer in peers:
            row.update(peer(spec, xs, calls, args.rounds))
        if args.litert_python:
            results["litert"][size] = {}
            row.update(bench_litert(spec, xs, calls, args.rounds, args.litert_python,
                                    results["litert"][size]))
        results["sizes"][size] = row
        for name in row:
            if name not in results["order"]:
                results["order"].append(name)
        print(f"{size}: " + ", ".join(f"{n} {v['median']:.2f}" for n, v in row.items()), flush=True)
    for size, notes in results["litert"].items():
        print(f"LiteRT at {size}: {notes}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.json").write_text(json.dumps(results, indent=2) + "\n")
    for stat in ("median", "min") if args.min else ("median",):
        print(f"\nstreaming step, µs per step ({stat}; in brackets: time / gru_rt f32):")
        print(table(results, "step", stat))
        print(f"\nsequence of {args.seq_len} steps, µs per step ({stat}; in brackets: "
              "/ gru_rt f32):")
        print(table(results, "seq", stat))
    if args.batch > 0:
        print("\nmany streams, µs (medians; speed-up: one stream's time / the batched one, of the "
              "medians and (of the fastest rounds)):")
        print(many_table(results))
    drew = plot(results, out / "suite.png")
    print(f"\nwrote {out / 'suite.json'}" + (f" and {out / 'suite.png'}" if drew else
                                              " (install matplotlib for the plot)"))


if __name__ == "__main__":
    main()
