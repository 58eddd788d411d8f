"""Timing helpers shared by the benchmark scripts (standard library only, so that
bench/litert_peer.py can use it in its own environment without gru_rt)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def summary(samples: list[float]) -> dict[str, float]:
    """Median, min and max of a list of per-round figures."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def timed(fn: Callable[[], object], calls: int, rounds: int) -> dict[str, float]:
    """µs per call: median, min and max over rounds (after a warm-up)."""
    for _ in range(max(1, min(calls, 100))):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return summary(samples)
