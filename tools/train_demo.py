#!/usr/bin/env python3
"""Train the demo models shipped in examples/models/ (PyTorch, CPU, deterministic).

Two streaming classifiers, each input → nn.GRU → nn.Linear, read out the way the runtime streams:
the frames of a sequence go in one at a time from a zero state and the class is the argmax of the
Linear output at the LAST frame. Training takes exactly that output (index len-1 of each padded
sequence; the GRU is causal, so the padding after it cannot change it), with the training loop
that every tools/train_*.py shares (tools/_training.py: Adam, OneCycleLR, input noise, clipping).

* japanese_vowels: UEA JapaneseVowels (12 LPC cepstrum coefficients per frame, 7–29 frames,
  9 speakers; 270 train / 370 test) → GRU(48) → Linear(9). The model of `make demo`.
* basic_motions: UEA BasicMotions (3-axis accelerometer + gyroscope, 100 steps, 4 activities;
  40 train / 40 test) → GRU(24) → Linear(4). Used by the quantization accuracy tests.

The data is the copy in the aeon wheel (`make setup` installs it; examples/ts_datasets.py reads
it, aeon is never imported).
Inputs are normalized per channel with the mean/std of all train frames.

Writes, per model, into examples/models/ (or --out):
  <name>_gru.pt     torch.save(model.state_dict()): gru.weight_ih_l0, gru.weight_hh_l0,
                    gru.bias_ih_l0, gru.bias_hh_l0, fc.weight, fc.bias (nothing else)
  <name>_gru.npz    the same weights for gru_rt's NumPy importer (torch convention, keys
                    "0.W", "0.U", "0.b_i", "0.b_h", ..., then the Linear "<k>.W", "<k>.b"), so the
                    demo converts without torch
  <name>_norm.npz   mean, std (float32, shape (C,)), class_names (str array); feed
                    (x - mean) / std to the model
  <name>.json       what was trained, how, and the test accuracy PyTorch measured

    PYTHONPATH=. python tools/train_demo.py            # both models (~40 s on 2 cores)
    PYTHONPATH=. python tools/train_demo.py --only basic_motions
    PYTHONPATH=. python tools/train_demo.py --validate # hold out 20% of train, report only

--validate is how the hyper-parameters were chosen: it trains on 80% of the train split and reports
the accuracy on the other 20%, without reading the test split and without writing anything.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))  # ts_datasets
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _training
from _training import Config, fit, normalization, normalize, pad, predict  # noqa: E402
from ts_datasets import AEON_VERSION, dataset_path, load_ts_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "examples" / "models"


CONFIGS = {
    "japanese_vowels": Config(
        name="japanese_vowels", dataset="JapaneseVowels", hidden_size=48, num_layers=1,
        epochs=120, batch_size=32, lr=1e-2, weight_decay=1e-4, seed=20240601, noise_std=0.2,
        selection="5-fold stratified cross-validation on the train split (hidden 32/48, 1-2 "
                  "layers, noise 0-0.5, lr, weight decay, epochs); the test split was not used"),
    "basic_motions": Config(
        name="basic_motions", dataset="BasicMotions", hidden_size=24, num_layers=1,
        epochs=150, batch_size=8, lr=1e-2, weight_decay=1e-4, seed=20240602, noise_std=0.05,
        selection="first setting tried; 8/8 on a 20% hold-out of train (--validate); the test "
                  "split was not used"),
}


class StreamingGRU(nn.Module):
    """nn.GRU (batch_first) + nn.Linear; state dict keys gru.* and fc.* only."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, output_size: int):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, I) → (B, T, O): the output after every frame, as a stream produces it."""
        return self.fc(self.gru(x)[0])

    def last_frame_logits(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, I) zero-padded after each sequence's end, lengths (B,) → (B, O) at frame len-1."""
        out = self.gru(x)[0]
        last = out[torch.arange(out.shape[0]), lengths - 1]
        return self.fc(last)


def streamed_max_diff(model: StreamingGRU, series: list[np.ndarray], count: int) -> float:
    """Largest |logit| difference between the padded batch readout and a frame-by-frame stream
    (one frame per GRU call, state carried) over the first `count` sequences."""
    model.eval()
    worst = 0.0
    with torch.no_grad():
        x, lengths = pad(series[:count])
        batch = model.last_frame_logits(x, lengths)
        for k, s in enumerate(series[:count]):
            h = None
            y = torch.empty(0)
            for frame in torch.from_numpy(s):
                out, h = model.gru(frame[None, None, :], h)
                y = model.fc(out[0, 0])
            worst = max(worst, float((y - batch[k]).abs().max()))
    return worst


def stratified_split(labels: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    held: list[int] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        held.extend(idx[: max(1, round(fraction * len(idx)))].tolist())
    held_a = np.sort(np.array(held, dtype=np.int64))
    keep = np.setdiff1d(np.arange(len(labels)), held_a)
    return keep, held_a


def train(cfg: Config, series: list[np.ndarray], labels: np.ndarray,
          n_classes: int) -> StreamingGRU:
    return fit(lambda: StreamingGRU(series[0].shape[1], cfg.hidden_size, cfg.num_layers,
                                    n_classes), cfg, series, labels, progress=True)


def weights_as_arrays(state: dict[str, torch.Tensor], num_layers: int) -> dict[str, np.ndarray]:
    """The state dict in the NumPy importer's keys (torch convention: gates r,z,n, rows=outputs)."""
    arrays = {}
    for n in range(num_layers):
        for ours, theirs in (("W", "weight_ih"), ("U", "weight_hh"), ("b_i", "bias_ih"),
                             ("b_h", "bias_hh")):
            arrays[f"{n}.{ours}"] = state[f"gru.{theirs}_l{n}"].numpy()
    arrays[f"{num_layers}.W"] = state["fc.weight"].numpy()
    arrays[f"{num_layers}.b"] = state["fc.bias"].numpy()
    return arrays


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(cfg: Config, out_dir: Path, validate: bool) -> dict[str, object]:
    print(f"[{cfg.name}] {cfg.dataset}", flush=True)
    train_x, train_y, class_names = load_ts_dataset(cfg.dataset, "train")
    start = time.perf_counter()
    if validate:
        keep, held = stratified_split(train_y, 0.2, np.random.default_rng(cfg.seed + 1))
        fit_x = [train_x[i] for i in keep]
        mean, std = normalization(fit_x)
        model = train(cfg, normalize(fit_x, mean, std), train_y[keep], len(class_names))
        val_x = normalize([train_x[i] for i in held], mean, std)
        acc = float(np.mean(predict(model, val_x) == train_y[held]))
        print(f"  validation ({len(keep)} fit / {len(held)} held out of train): {acc:.2%}  "
              f"[{time.perf_counter() - start:.1f} s]")
        return {"validation_accuracy": acc}

    mean, std = normalization(train_x)
    norm_train = normalize(train_x, mean, std)
    model = train(cfg, norm_train, train_y, len(class_names))
    seconds = time.perf_counter() - start

    test_x, test_y, test_classes = load_ts_dataset(cfg.dataset, "test")
    if test_classes != class_names:
        raise SystemExit(f"{cfg.dataset}: train and test declare different classes")
    norm_test = normalize(test_x, mean, std)
    train_acc = float(np.mean(predict(model, norm_train) == train_y))
    test_pred = predict(model, norm_test)
    test_acc = float(np.mean(test_pred == test_y))
    n_correct = int((test_pred == test_y).sum())
    stream_diff = streamed_max_diff(model, norm_test, 25)
    print(f"  train acc {train_acc:.2%}  TEST ACC {test_acc:.2%} ({n_correct}/{len(test_y)})"
          f"  stream-vs-batch max |Δlogit| {stream_diff:.2e}  [{seconds:.1f} s]")

    out_dir.mkdir(parents=True, exist_ok=True)
    pt = out_dir / f"{cfg.name}_gru.pt"
    weights_npz = out_dir / f"{cfg.name}_gru.npz"
    npz = out_dir / f"{cfg.name}_norm.npz"
    record = out_dir / f"{cfg.name}.json"
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    expected_keys = {f"gru.{w}_l{n}" for n in range(cfg.num_layers)
                     for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    expected_keys |= {"fc.weight", "fc.bias"}
    if set(state) != expected_keys:
        raise SystemExit(f"unexpected state dict keys: {sorted(state)}")
    torch.save(state, pt)
    np.savez(weights_npz, **weights_as_arrays(state, cfg.num_layers))
    np.savez(npz, mean=mean, std=std, class_names=np.array(class_names, dtype=np.str_))

    # Check what was written reloads to the same predictions.
    reloaded = StreamingGRU(len(mean), cfg.hidden_size, cfg.num_layers, len(class_names))
    reloaded.load_state_dict(torch.load(pt, weights_only=True))
    with np.load(npz, allow_pickle=False) as z:
        same = np.array_equal(predict(reloaded, normalize(test_x, z["mean"], z["std"])), test_pred)
    if not same:
        raise SystemExit("the saved model does not reproduce the test predictions")

    info: dict[str, object] = {
        "name": cfg.name,
        "dataset": {
            "name": cfg.dataset,
            "source": f"aeon=={AEON_VERSION} wheel, aeon/datasets/data/{cfg.dataset}/"
                      f"{cfg.dataset}_{{TRAIN,TEST}}.ts (UEA/UCR archive)",
            "train_sha256": sha256(dataset_path(cfg.dataset, "train")),
            "test_sha256": sha256(dataset_path(cfg.dataset, "test")),
            "n_train": len(train_x),
            "n_test": len(test_x),
            "n_channels": int(train_x[0].shape[1]),
            "lengths_train": [int(min(map(len, train_x))), int(max(map(len, train_x)))],
            "lengths_test": [int(min(map(len, test_x))), int(max(map(len, test_x)))],
            "class_names": class_names,
        },
        "architecture": {
            "input_size": int(train_x[0].shape[1]),
            "layers": [
                {"type": "GRU", "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers,
                 "batch_first": True, "torch": "nn.GRU"},
                {"type": "Linear", "out_features": len(class_names), "torch": "nn.Linear",
                 "activation": "none (logits)"},
            ],
            "readout": "argmax of the Linear output at the last frame, streamed from a zero state",
            "parameters": int(sum(v.numel() for v in state.values())),
            "state_dict_keys": list(state),
        },
        "normalization": "x_norm = (x - mean) / std per channel, float32; mean/std over all "
                         f"train frames; in {npz.name}",
        "training": {**{k: v for k, v in asdict(cfg).items() if k not in ("name", "dataset")},
                     "optimizer": "Adam", "schedule": "OneCycleLR",
                     "loss": "cross-entropy on the last-frame logits",
                     "seeds": {"torch.manual_seed": cfg.seed, "numpy default_rng": cfg.seed},
                     "deterministic": True, "torch_threads": torch.get_num_threads(),
                     "seconds": round(seconds, 1)},
        "test_accuracy": test_acc,
        "test_correct": n_correct,
        "train_accuracy": train_acc,
        "stream_vs_batch_max_abs_logit_diff": stream_diff,
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "command": "PYTHONPATH=. python tools/train_demo.py",
        "files": {p.name: {"bytes": p.stat().st_size, "sha256": sha256(p)}
                  for p in (pt, weights_npz, npz)},
    }
    record.write_text(json.dumps(info, indent=2) + "\n")
    for p in (pt, weights_npz, npz, record):
        print(f"  wrote {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p} "
              f"({p.stat().st_size} bytes)")
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append",
                        help="train only this model (repeatable); default: all")
    parser.add_argument("--out", type=Path, default=MODELS, help="output folder")
    parser.add_argument("--validate", action="store_true",
                        help="hold out 20%% of train, report, write nothing, never read test")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    start = time.perf_counter()
    for name in args.only or list(CONFIGS):
        run(CONFIGS[name], args.out, args.validate)
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
