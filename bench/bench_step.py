#!/usr/bin/env python3
"""Per-step latency of gru_rt Stream.step against torch.nn.GRUCell, side by side in one process.

Batch 1, state carried from step to step, one thread for torch. Prints the median µs per step of
each and their ratio, and the step of the same model quantized to q8 and q15. Also times Model.run
over a sequence (per step) and torch.nn.GRU on the same sequence.

    python bench/bench_step.py                 # default sizes
    python bench/bench_step.py --sizes 64x128 --steps 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Callable

import numpy as np

import gru_rt
from gru_rt.quantize import quantize
from gru_rt.spec import GRULayer, ModelSpec


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def median_us_per_call(fn: Callable[[], object], calls: int, repeats: int = 7) -> float:
    """Median over `repeats` runs of the mean time of one call, in µs."""
    for _ in range(min(calls, 200)):  # warm-up
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def random_gru(i: int, h: int, rng: np.random.Generator) -> ModelSpec:
    k = 1 / np.sqrt(h)
    return ModelSpec([GRULayer(rng.uniform(-k, k, (3 * h, i)), rng.uniform(-k, k, (3 * h, h)),
                               rng.uniform(-k, k, 3 * h), rng.uniform(-k, k, 3 * h))])


def bench_size(i: int, h: int, steps: int, seq_len: int) -> dict[str, float]:
    import torch

    rng = np.random.default_rng(0)
    spec = random_gru(i, h, rng)
    model = spec.load()
    stream = model.stream()
    x = rng.standard_normal(i).astype(np.float32)
    out = np.empty(h, dtype=np.float32)
    res = {"gru_rt_step": median_us_per_call(lambda: stream.step(x, out=out), steps)}
    for precision in ("q8", "q15"):
        qstream = gru_rt.load(quantize(spec, precision)[0].to_bytes()).stream()
        res[f"{precision}_step"] = median_us_per_call(lambda s=qstream: s.step(x, out=out), steps)

    layer = spec.layers[0]
    cell = torch.nn.GRUCell(i, h)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(layer.w_ih))
        cell.weight_hh.copy_(torch.from_numpy(layer.w_hh))
        cell.bias_ih.copy_(torch.from_numpy(layer.b_ih))
        cell.bias_hh.copy_(torch.from_numpy(layer.b_hh))
    xt = torch.from_numpy(x).reshape(1, i)
    state = [torch.zeros(1, h)]

    def torch_step() -> None:
        state[0] = cell(xt, state[0])

    with torch.inference_mode():
        res["torch_gru_cell_step"] = median_us_per_call(torch_step, steps)

    xs = rng.standard_normal((seq_len, i)).astype(np.float32)
    runs = max(3, steps // seq_len)
    res["gru_rt_run_per_step"] = median_us_per_call(lambda: model.run(xs), runs) / seq_len
    gru = torch.nn.GRU(i, h)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(cell.weight_ih)
        gru.weight_hh_l0.copy_(cell.weight_hh)
        gru.bias_ih_l0.copy_(cell.bias_ih)
        gru.bias_hh_l0.copy_(cell.bias_hh)
    xs_t = torch.from_numpy(xs).reshape(seq_len, 1, i)
    with torch.inference_mode():
        res["torch_gru_seq_per_step"] = median_us_per_call(lambda: gru(xs_t), runs) / seq_len
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16x32,40x64,64x128,128x256,256x512",
                        help="comma-separated IxH")
    parser.add_argument("--steps", type=int, default=5000, help="calls per timing sample")
    parser.add_argument("--seq-len", type=int, default=1000, help="T for the sequence timings")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_name()}; "
          f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} "
          f"(1 thread), gru_rt {gru_rt.__version__} "
          f"(kernels: {gru_rt.cpu_info()['isa']})")
    print(f"{'I×H':>9} | {'gru_rt step':>11} | {'GRUCell':>9} | {'ratio':>6} | "
          f"{'gru_rt run/step':>15} | {'nn.GRU/step':>11} | {'ratio':>6} | {'q8 step':>9} | "
          f"{'q15 step':>9}")
    for size in args.sizes.split(","):
        i, h = (int(v) for v in size.lower().split("x"))
        r = bench_size(i, h, args.steps, args.seq_len)
        print(f"{size:>9} | {r['gru_rt_step']:>8.2f} µs | {r['torch_gru_cell_step']:>6.2f} µs | "
              f"{r['torch_gru_cell_step'] / r['gru_rt_step']:>5.1f}× | "
              f"{r['gru_rt_run_per_step']:>12.2f} µs | {r['torch_gru_seq_per_step']:>8.2f} µs | "
              f"{r['torch_gru_seq_per_step'] / r['gru_rt_run_per_step']:>5.1f}× | "
              f"{r['q8_step']:>6.2f} µs | {r['q15_step']:>6.2f} µs")


if __name__ == "__main__":
    main()
