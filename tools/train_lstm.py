#!/usr/bin/env python3
"""Train small streaming LSTM classifiers on the demo's aeon data and measure them in gru_rt.

The LSTM counterparts of tools/train_demo.py's GRU models, with the same data, normalization,
readout (argmax of the Linear output at the last frame, streamed from a zero state), training
settings and seeds, trained by the shared loop (tools/_training.py): input → nn.LSTM(H) → nn.Linear.

* JapaneseVowels: 12 → LSTM(48) → Linear(9) (270 train / 370 test sequences of 7–29 frames);
* BasicMotions: 6 → LSTM(24) → Linear(4) (40 train / 40 test sequences of 100 frames).

Each trained module is converted (gru_rt.convert, which runs it against the conversion), then
quantized to q8 and q15 with the training frames as calibration, and every test sequence is
streamed through the f32, q8 and q15 models (Model.run over the test sequences, each from a zero
state: the same bits as Stream.step frame by frame). Printed: PyTorch's test accuracy, gru_rt's
f32, q8 and q15 accuracies, the largest |logit| difference f32 − PyTorch and q8/q15 − f32 at the
last frames, whether the q8/q15 outputs equal the golden model's, and the q15 LSTM's cell format
(cell_bits). Nothing is written unless --out is given (then <name>_lstm.pt, a torch.save state
dict, per model).

    PYTHONPATH=. python tools/train_lstm.py                  # both (~1-2 minutes on 2 cores)
    PYTHONPATH=. python tools/train_lstm.py --only basic_motions
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))  # ts_datasets
sys.path.insert(0, str(ROOT / "tools"))  # train_demo, _training
from _training import Config, fit, last_frame_logits, normalization, normalize  # noqa: E402
from train_demo import CONFIGS  # noqa: E402
from ts_datasets import load_ts_dataset  # noqa: E402

import gru_rt  # noqa: E402
from gru_rt.golden import golden_run  # noqa: E402
from gru_rt.quantize import quantize  # noqa: E402


class StreamingLSTM(nn.Module):
    """nn.LSTM (batch_first) + nn.Linear; what gru_rt converts to LSTM → Dense."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.lstm(x)[0])

    def last_frame_logits(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out = self.lstm(x)[0]
        return self.fc(out[torch.arange(out.shape[0]), lengths - 1])


def train(cfg: Config, series: list[np.ndarray], labels: np.ndarray,
          n_classes: int) -> StreamingLSTM:
    return fit(lambda: StreamingLSTM(series[0].shape[1], cfg.hidden_size, n_classes), cfg,
               series, labels)


def last_logits(model: gru_rt.Model, series: list[np.ndarray]) -> np.ndarray:
    """Each sequence streamed from a zero state: its output at its last frame."""
    return np.stack(model.run(series, readout="last"))


def run(name: str, out: Path | None) -> None:
    cfg = CONFIGS[name]
    train_x, train_y, classes = load_ts_dataset(cfg.dataset, "train")
    test_x, test_y, _ = load_ts_dataset(cfg.dataset, "test")
    mean, std = normalization(train_x)
    norm_train, norm_test = normalize(train_x, mean, std), normalize(test_x, mean, std)
    start = time.perf_counter()
    net = train(cfg, norm_train, train_y, len(classes))
    seconds = time.perf_counter() - start
    torch_logits = last_frame_logits(net, norm_test)
    spec = gru_rt.convert(net)
    qspec, _ = quantize(spec, "q8", norm_train)
    q15spec, _ = quantize(spec, "q15", norm_train)
    f32 = last_logits(spec.load(), norm_test)
    q8 = last_logits(qspec.load(), norm_test)
    q15 = last_logits(q15spec.load(), norm_test)
    golden = np.stack([golden_run(qspec, s).outputs[-1] for s in norm_test])
    golden15 = np.stack([golden_run(q15spec, s).outputs[-1] for s in norm_test])

    def acc(logits: np.ndarray) -> str:
        right = int(np.sum(np.argmax(logits, axis=1) == test_y))
        return f"{right / len(test_y):.2%} ({right}/{len(test_y)})"

    print(f"{cfg.dataset}: {len(mean)} → LSTM({cfg.hidden_size}) → Linear({len(classes)}), "
          f"trained in {seconds:.1f} s; {spec.metadata.get('source.verified', '?')}")
    print(f"  test accuracy: torch {acc(torch_logits)}, gru_rt f32 {acc(f32)}, q8 {acc(q8)}, "
          f"q15 {acc(q15)}")
    print(f"  last-frame logits (max |f32| {np.max(np.abs(f32)):.2f}): max |f32 - torch| "
          f"{np.max(np.abs(f32 - torch_logits)):.2e}, max |q8 - f32| "
          f"{np.max(np.abs(q8 - f32)):.2e} (mean {np.mean(np.abs(q8 - f32)):.2e}); q8 == golden: "
          f"{'yes' if np.array_equal(q8, golden) else 'NO'}")
    print(f"  q15: max |q15 - f32| {np.max(np.abs(q15 - f32)):.2e} (mean "
          f"{np.mean(np.abs(q15 - f32)):.2e}); q15 == golden: "
          f"{'yes' if np.array_equal(q15, golden15) else 'NO'}; LSTM cell_bits "
          f"{getattr(q15spec.layers[0], 'cell_bits', None)}")
    print(f"  file bytes: f32 {len(spec.to_bytes())}, q8 {len(qspec.to_bytes())}, "
          f"q15 {len(q15spec.to_bytes())}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), out / f"{name}_lstm.pt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append")
    parser.add_argument("--out", type=Path, help="also save each trained state dict here")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    for name in args.only or sorted(CONFIGS):
        run(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
