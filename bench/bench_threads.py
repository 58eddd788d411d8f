#!/usr/bin/env python3
"""Two Python threads stepping separate streams of one model run in parallel: the GIL is released
around every C call. Times N steps on one thread, then N steps on each of two threads at once (one
shared model, a stream per thread); a speed-up near 2 means the threads did not serialise.

    python bench/bench_threads.py                       # 64x128, 128x256, 256x512; f32/q8/q15
    python bench/bench_threads.py --sizes 256x512 --steps 20000
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

import gru_rt
from gru_rt.quantize import quantize
from gru_rt.spec import GRULayer, ModelSpec


def random_gru(i: int, h: int) -> ModelSpec:
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(h)
    return ModelSpec([GRULayer(rng.uniform(-k, k, (3 * h, i)), rng.uniform(-k, k, (3 * h, h)),
                               rng.uniform(-k, k, 3 * h), rng.uniform(-k, k, 3 * h))])


def stepper(model: gru_rt.Model, steps: int, x: np.ndarray) -> None:
    stream = model.stream()
    out = np.empty(model.output_size, np.float32)
    step = stream.step
    for _ in range(steps):
        step(x, out=out)


def wall(threads: int, model: gru_rt.Model, steps: int, x: np.ndarray) -> float:
    workers = [threading.Thread(target=stepper, args=(model, steps, x)) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64x128,128x256,256x512")
    ap.add_argument("--steps", type=int, default=0, help="steps per thread (default: by size)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; gru_rt {gru_rt.__version__}, kernels {gru_rt.cpu_info()['isa']}")
    print("| I×H | precision | 1 thread, N steps | 2 threads, N steps each | speed-up |")
    print("|---|---|---|---|---|")
    for size in args.sizes.split(","):
        i, h = (int(v) for v in size.split("x"))
        spec = random_gru(i, h)
        steps = args.steps or max(2000, int(4e8 / (3 * h * (i + h) * 10)))
        x = np.random.default_rng(1).standard_normal(i).astype(np.float32)
        for precision in ("f32", "q8", "q15"):
            model = gru_rt.load((spec if precision == "f32" else
                                 quantize(spec, precision)[0]).to_bytes())
            wall(1, model, 200, x)  # warm-up
            one = min(wall(1, model, steps, x) for _ in range(args.rounds))
            two = min(wall(2, model, steps, x) for _ in range(args.rounds))
            print(f"| {size} | {precision} | {one * 1e3:.1f} ms | {two * 1e3:.1f} ms | "
                  f"{2 * one / two:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
