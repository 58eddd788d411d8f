#!/usr/bin/env python3
"""Long-stream soak test: N steps through one Stream with step(x, out=buf), watching memory.

A small model (16 → GRU(32) → Dense(4)) is fed a fixed random block of 4096 frames, repeated, so
the inputs are deterministic and memory for them stays bounded. RSS is sampled every 1M steps. At
the end the state is compared with that of a second stream fed the same inputs through chunked
Stream.run(): the two must be bit-identical.

For q8 and q15 the whole stream is also checked bit for bit against the NumPy golden model: the
stream's state is saved every CHECKPOINT steps, and the golden model recomputes every segment
between two checkpoints from the first one's state (all segments at once, as one batch), so each
of the N steps is recomputed once and every checkpoint state must come out identical.

    python bench/long_stream.py                        # f32, 10,000,000 steps
    python bench/long_stream.py --precision q15        # q15: also bit-exact vs the golden model
    python bench/long_stream.py --steps 2000000
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

from gru_rt.golden import golden_run
from gru_rt.quantize import quantize
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

BLOCK = 4096  # frames in the repeated input block
SAMPLE_EVERY = 1_000_000
CHECKPOINT = 100_000  # steps between saved states (golden-model check)
GOLDEN_CHUNK = 2048  # steps per golden_run call (bounds its memory)


def rss_mib() -> float:
    """Current resident set size in MiB (from /proc/self/statm; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def small_model(seed: int = 0) -> ModelSpec:
    rng = np.random.default_rng(seed)
    i, h, o = 16, 32, 4
    return ModelSpec([
        GRULayer(rng.normal(0, 0.4, (3 * h, i)), rng.normal(0, 1 / np.sqrt(h), (3 * h, h)),
                 rng.normal(0, 0.2, 3 * h), rng.normal(0, 0.2, 3 * h)),
        DenseLayer(rng.normal(0, 0.4, (o, h)), rng.normal(0, 0.2, o), activation="softmax"),
    ])


def golden_check(spec: ModelSpec, block: np.ndarray, checkpoints: list[np.ndarray], n: int,
                 final_output: np.ndarray) -> bool:
    """Recompute every segment [k·CHECKPOINT, (k+1)·CHECKPOINT) from checkpoint k's state with the
    golden model, all segments as one batch; each must end at checkpoint k+1 (the last segment at
    the stream's final state and output)."""
    starts = np.arange(len(checkpoints) - 1) * CHECKPOINT
    state = np.stack(checkpoints[:-1])
    ends = np.minimum(starts + CHECKPOINT, n)
    last = np.zeros((len(starts), spec.output_size), np.float32)
    for j0 in range(0, CHECKPOINT, GOLDEN_CHUNK):
        take = min(GOLDEN_CHUNK, CHECKPOINT - j0)
        t = starts[:, None] + j0 + np.arange(take)[None, :]  # (segments, take) step numbers
        active = t < ends[:, None]
        if not active.any():
            break
        # Segments shorter than CHECKPOINT (the last one) are cut by masking their results.
        run = golden_run(spec, block[t % BLOCK], state)
        keep = active[:, -1]
        state = np.where(keep[:, None], run.state, state)
        for k in np.flatnonzero(active.any(axis=1) & ~keep):  # a segment ending inside the chunk
            steps = int(active[k].sum())
            part = golden_run(spec, block[t[k, :steps] % BLOCK], state[k])
            state[k], last[k] = part.state, part.outputs[-1]
        last[keep] = run.outputs[keep, -1]
    expected = np.stack(checkpoints[1:])
    ok = bool(np.array_equal(state, expected))
    ok = ok and bool(np.array_equal(last[-1], final_output))
    print(f"golden model: {len(starts)} segments of up to {CHECKPOINT:,} steps recomputed from the "
          f"saved states: every checkpoint state identical: {ok}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=("f32", "q8", "q15"), default="f32")
    args = ap.parse_args()
    n = args.steps
    if n < 1:
        ap.error("--steps must be >= 1")

    spec = small_model(args.seed)
    block = np.random.default_rng(args.seed + 1).standard_normal(
        (BLOCK, spec.input_size)).astype(np.float32)
    if args.precision != "f32":
        spec = quantize(spec, args.precision, block)[0]
    model = spec.load()
    checkpoints = [model.stream().state]
    stream = model.stream()
    out = np.empty(model.output_size, np.float32)
    step = stream.step

    print(f"model: {model!r}, precision {args.precision}")
    print(f"steps: {n:,}; input: a {BLOCK}-frame block repeated")
    samples = [(0, rss_mib())]
    print(f"  step {0:>12,}  RSS {samples[0][1]:8.2f} MiB")
    t0 = time.perf_counter()
    done = 0
    while done < n:
        take = min(BLOCK, n - done)
        for k in range(take):
            step(block[k], out=out)
            if (done + k + 1) % CHECKPOINT == 0:
                checkpoints.append(stream.state)
        before = done
        done += take
        if done // SAMPLE_EVERY != before // SAMPLE_EVERY or done == n:
            samples.append((done, rss_mib()))
            print(f"  step {done:>12,}  RSS {samples[-1][1]:8.2f} MiB", flush=True)
    elapsed = time.perf_counter() - t0
    stepped_state = stream.state
    finite = bool(np.isfinite(stepped_state).all())
    if n % CHECKPOINT:
        checkpoints.append(stepped_state)

    # the same inputs through chunked run(): BLOCK frames a call, the same work buffer reused
    t1 = time.perf_counter()
    ref = model.stream()
    ys = np.empty((BLOCK, model.output_size), np.float32)
    done = 0
    while done < n:
        take = min(BLOCK, n - done)
        ref.run(block[:take], out=ys[:take])
        done += take
    run_elapsed = time.perf_counter() - t1
    identical = bool(np.array_equal(stepped_state, ref.state))
    last_identical = bool(np.array_equal(out, ys[take - 1]))

    base = samples[1][1] if len(samples) > 2 else samples[0][1]  # after the first 1M: warmed up
    print(f"RSS: start {samples[0][1]:.2f} MiB, after first sample {base:.2f} MiB, "
          f"end {samples[-1][1]:.2f} MiB, max {max(r for _, r in samples):.2f} MiB; "
          f"growth after warm-up {samples[-1][1] - base:+.2f} MiB; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.2f} MiB")
    print(f"step(x, out=buf): {elapsed:.1f} s, {elapsed / n * 1e6:.3f} µs/step")
    print(f"chunked run():    {run_elapsed:.1f} s, {run_elapsed / n * 1e6:.3f} µs/step")
    print(f"final state finite: {finite}; state bit-identical to chunked run(): {identical}; "
          f"last output identical: {last_identical}")
    if not (identical and last_identical):
        raise SystemExit("MISMATCH between step() and run()")
    if args.precision != "f32":
        t2 = time.perf_counter()
        ok = golden_check(spec, block, checkpoints, n, out)
        print(f"golden check: {time.perf_counter() - t2:.1f} s")
        if not ok:
            raise SystemExit("MISMATCH between the C runtime and the golden model")


if __name__ == "__main__":
    main()
