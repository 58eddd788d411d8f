#!/usr/bin/env python3
"""What releasing the GIL costs a small step: Stream.step(x, out=) with the GIL kept against
released, on the same model in one process, rounds alternating (the best round of each). Stream.step
keeps the GIL for models under gru_rt._core._NOGIL_MIN_MACS multiply-adds per step; this sets that
internal threshold before making each stream to get one of each.

    python bench/bench_gil.py                      # 1x1, 16x32, 40x64 (f32)
    python bench/bench_gil.py --sizes 16x32 --rounds 60
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gru_rt
from gru_rt import _core
from gru_rt.spec import GRULayer, ModelSpec


def random_gru(i: int, h: int) -> ModelSpec:
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(h)
    return ModelSpec([GRULayer(rng.uniform(-k, k, (3 * h, i)), rng.uniform(-k, k, (3 * h, h)),
                               rng.uniform(-k, k, 3 * h), rng.uniform(-k, k, 3 * h))])


def stream_with(model: gru_rt.Model, release_gil: bool) -> gru_rt.Stream:
    saved = _core._NOGIL_MIN_MACS
    _core._NOGIL_MIN_MACS = 0 if release_gil else 2**62
    try:
        return model.stream()
    finally:
        _core._NOGIL_MIN_MACS = saved


def best_us(stream: gru_rt.Stream, x: np.ndarray, out: np.ndarray, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        stream.step(x, out=out)
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1x1,16x32,40x64", help="comma-separated IxH")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=5000, help="steps per round")
    args = parser.parse_args()
    print(f"gru_rt {gru_rt.__version__}, kernels {gru_rt.cpu_info()['isa']}; best of "
          f"{args.rounds} alternating rounds of {args.calls} steps, µs per Stream.step(x, out=)")
    print("| I×H | GIL kept | GIL released | difference |")
    print("|---|---|---|---|")
    for size in args.sizes.split(","):
        i, h = (int(v) for v in size.lower().split("x"))
        model = random_gru(i, h).load()
        kept, released = stream_with(model, False), stream_with(model, True)
        x = np.random.default_rng(1).standard_normal(i).astype(np.float32)
        out = np.empty(model.output_size, np.float32)
        best = {"kept": float("inf"), "released": float("inf")}
        for _ in range(args.rounds):
            best["kept"] = min(best["kept"], best_us(kept, x, out, args.calls))
            best["released"] = min(best["released"], best_us(released, x, out, args.calls))
        print(f"| {i}×{h} | {best['kept']:.3f} | {best['released']:.3f} | "
              f"{(best['released'] - best['kept']) * 1000:.0f} ns |")


if __name__ == "__main__":
    main()
