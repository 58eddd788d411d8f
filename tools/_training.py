"""The training loop and data helpers shared by tools/train_*.py (PyTorch, CPU, deterministic).

Every example model is a streaming classifier read out the way the runtime streams: the frames of
a sequence go in one at a time from a zero state and the class is the argmax of the output at the
LAST frame. A model here is an nn.Module with `last_frame_logits(x, lengths)`: (B, T, I) inputs,
zero-padded after each sequence's end, and lengths (B,) → (B, classes) at frame len-1 (the
models are causal, so the padding after a sequence cannot change it).

`fit` is the one training loop: Adam, OneCycleLR, Gaussian input noise, gradient clipping,
cross-entropy on the last-frame logits, everything seeded from the Config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class Config:
    """Everything that defines one trained model."""

    name: str
    dataset: str
    hidden_size: int
    num_layers: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int
    grad_clip: float = 1.0
    noise_std: float = 0.0  # Gaussian noise added to the normalized train inputs
    selection: str = ""  # how the hyper-parameters were chosen (never on the test split)


def pad(series: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences of different lengths as one zero-padded (B, T, I) batch and their lengths."""
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    batch = np.zeros((len(series), int(lengths.max()), series[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(series):
        batch[i, : len(s)] = s
    return torch.from_numpy(batch), torch.from_numpy(lengths)


def normalization(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean/std over every frame of every sequence (float64 sums, float32 result)."""
    frames = np.concatenate(series, axis=0).astype(np.float64)
    mean = frames.mean(axis=0)
    std = frames.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(series: list[np.ndarray], mean: np.ndarray, std: np.ndarray) -> list[np.ndarray]:
    # The same float32 expression as examples/stream_demo.py, so both see identical inputs.
    return [np.ascontiguousarray((s - mean) / std, dtype=np.float32) for s in series]


def last_frame_logits(model: nn.Module, series: list[np.ndarray]) -> np.ndarray:
    """(N, classes): each sequence's output at its last frame, in eval mode."""
    model.eval()
    with torch.no_grad():
        x, lengths = pad(series)
        return model.last_frame_logits(x, lengths).numpy()  # type: ignore[operator]


def predict(model: nn.Module, series: list[np.ndarray]) -> np.ndarray:
    return last_frame_logits(model, series).argmax(axis=1)


def fit(build: Callable[[], M], cfg: Config, series: list[np.ndarray], labels: np.ndarray,
        progress: bool = False) -> M:
    """Seed everything from cfg.seed, build the model (its initial weights come from that seed)
    and train it on the last-frame logits; progress prints the loss and train accuracy every 25
    epochs. Returns the model in eval mode."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = -(-len(series) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=cfg.epochs,
                                                steps_per_epoch=steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    y_all = torch.from_numpy(labels)
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(series))
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size: (b + 1) * cfg.batch_size]
            x, lengths = pad([series[i] for i in idx])
            if cfg.noise_std > 0:
                x = x + cfg.noise_std * torch.randn(x.shape, generator=gen)
            loss = loss_fn(model.last_frame_logits(x, lengths), y_all[idx])  # type: ignore[operator]
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if progress and ((epoch + 1) % 25 == 0 or epoch == cfg.epochs - 1):
            acc = float(np.mean(predict(model, series) == labels))
            print(f"  epoch {epoch + 1:4d}  loss {total / len(series):.4f}  train acc {acc:.2%}",
                  flush=True)
    model.eval()
    return model
