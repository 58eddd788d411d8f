"""Accuracy, drift, size and speed of f32 / q8 / q15 on the project's trained models.

For each model of examples/models (JapaneseVowels speech, BasicMotions sensors): quantize with the
training split as calibration data, then on the test split measure
  - test accuracy (argmax of the last frame, each sequence streamed from a zero state), by the C
    runtime, whose outputs are checked bit for bit against the NumPy golden model;
  - the hidden-state error against the float64 reference over one long stream (the test sequences
    back to back, three times over), early steps vs late steps: growth would be drift;
  - file size and weight bytes per precision; Stream.step time per precision.

    python tools/quant_accuracy.py [--json out.json]

Needs the demo data (`make setup` installs it; examples/ts_datasets.py).
Results: docs/QUANTIZATION.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

import gru_rt
from gru_rt.golden import golden_run
from gru_rt.quantize import quantize
from gru_rt.reference import reference_layer_outputs

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"
sys.path.insert(0, str(MODELS.parent))  # ts_datasets
from ts_datasets import load_ts_dataset  # noqa: E402

DEMOS = {"japanese_vowels": "JapaneseVowels", "basic_motions": "BasicMotions"}
PRECISIONS = ("f32", "q8", "q15")
REPEATS = 3  # the long stream: the test set this many times over
WINDOW = 1000  # steps compared at the start and at the end of the long stream


def _normalized(dataset: str, split: str,
                norm: dict[str, np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    seqs, labels, _ = load_ts_dataset(dataset, split)
    return [np.ascontiguousarray((s - norm["mean"]) / norm["std"], dtype=np.float32)
            for s in seqs], np.asarray(labels)


def _weight_bytes(spec: gru_rt.ModelSpec) -> int:
    total = 0
    for layer in spec.layers:
        for attr in ("w_ih", "w_hh", "w", "w_ih_scale", "w_hh_scale", "w_scale"):
            value = getattr(layer, attr, None)
            if value is not None:
                total += np.asarray(value).nbytes
    return total


def _step_time(model: gru_rt.Model, seqs: list[np.ndarray], rounds: int = 5) -> float:
    """Median over rounds of the mean Stream.step time (µs) over the test frames."""
    stream = model.stream()
    out = np.empty(model.output_size, dtype=np.float32)
    frames = [f for s in seqs for f in s]
    times = []
    for _ in range(rounds):
        stream.reset()
        start = time.perf_counter()
        for f in frames:
            stream.step(f, out=out)
        times.append((time.perf_counter() - start) / len(frames) * 1e6)
    return float(np.median(times))


def _max_mean(err: np.ndarray) -> list[float]:
    return [float(np.max(err)), float(np.mean(err))]


def _fmt_err(e: list[float] | None) -> str:
    return "—" if e is None else f"{e[0]:.2e} / {e[1]:.2e}"


def evaluate(name: str) -> dict[str, object]:
    norm = dict(np.load(MODELS / f"{name}_norm.npz", allow_pickle=False))
    train, _ = _normalized(DEMOS[name], "train", norm)
    test, labels = _normalized(DEMOS[name], "test", norm)
    spec = gru_rt.convert(MODELS / f"{name}_gru.npz", head_activation="softmax")
    calibration = np.concatenate(train)  # (T, I): the training frames as one stream
    long_stream = np.concatenate(test * REPEATS)[None]
    ref_hidden = reference_layer_outputs(spec, long_stream)[0][0]
    f32_bytes = _weight_bytes(spec)
    result: dict[str, object] = {"dataset": DEMOS[name], "test_sequences": len(test),
                                 "long_stream_steps": int(long_stream.shape[1])}
    for precision in PRECISIONS:
        q = spec if precision == "f32" else quantize(spec, precision, calibration)[0]
        model = gru_rt.load(q.to_bytes())
        outputs = [model.run(s) for s in test]
        accuracy = float(np.mean([np.argmax(o[-1]) == y for o, y in zip(outputs, labels)]))
        row: dict[str, object] = {"accuracy": accuracy, "file_bytes": model.nbytes,
                                  "weight_bytes": _weight_bytes(q),
                                  "weight_ratio": _weight_bytes(q) / f32_bytes,
                                  "step_us": _step_time(model, test)}
        if precision != "f32":
            golden = golden_run(q, long_stream, layer_outputs=True)
            exact = all(np.array_equal(o, golden_run(q, s).outputs) for o, s in zip(outputs, test))
            c_long = model.run(long_stream[0])
            exact = exact and np.array_equal(c_long, golden.outputs[0])
            assert golden.layer_outputs is not None
            err = np.max(np.abs(golden.layer_outputs[0][0] - ref_hidden), axis=1)
            row.update({"bit_exact_vs_golden": bool(exact),
                        "hidden_err_first": _max_mean(err[:WINDOW]),
                        "hidden_err_last": _max_mean(err[-WINDOW:]),
                        "hidden_err_all": _max_mean(err)})
        result[precision] = row
    return result


def _table(results: dict[str, dict[str, object]]) -> str:
    lines = ["| model | precision | test accuracy | Δ vs f32 (points) | hidden-state error max / "
             "mean, first 1000 steps | last 1000 steps | file bytes | weight bytes (× f32) | "
             "step µs | bit-exact vs golden |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results.values():
        base = res["f32"]["accuracy"]  # type: ignore[index]
        for p in PRECISIONS:
            row = res[p]  # type: ignore[index]
            first = row.get("hidden_err_first")
            last = row.get("hidden_err_last")
            lines.append(
                f"| {res['dataset']} | {p} | {100 * row['accuracy']:.2f}% | "
                f"{100 * (row['accuracy'] - base):+.2f} | {_fmt_err(first)} | {_fmt_err(last)} | "
                f"{row['file_bytes']} | {row['weight_bytes']} ({row['weight_ratio']:.3f}) | "
                f"{row['step_us']:.2f} | {row.get('bit_exact_vs_golden', '—')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = {name: evaluate(name) for name in DEMOS}
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, gru_rt {gru_rt.__version__}, "
          f"kernels {gru_rt.cpu_info()['isa']}")
    print(_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    failed = [n for n, r in results.items() for p in ("q8", "q15")
              if not r[p]["bit_exact_vs_golden"]  # type: ignore[index]
              or r["f32"]["accuracy"] - r[p]["accuracy"] > 0.01]  # type: ignore[index, operator]
    if failed:
        print(f"FAILED: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
