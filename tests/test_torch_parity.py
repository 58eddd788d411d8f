"""The runtime against PyTorch itself: stacks of nn.GRU + nn.Linear (at every kernel level of the
CPU) and an nn.GRUCell, converted and stepped over 1,000-step sequences; the CLI on a state dict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gru_rt
from gru_rt.cli import main

torch = pytest.importorskip("torch")

TOL = 1e-5  # the bound on |gru_rt - torch| over 1,000-step sequences


class Stack(torch.nn.Module):
    """nn.GRU (num_layers) + nn.Linear: the shape of most streaming models."""

    def __init__(self, i: int, h: int, layers: int, o: int):
        super().__init__()
        self.gru = torch.nn.GRU(i, h, num_layers=layers)
        self.fc = torch.nn.Linear(h, o)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(xs)[0])


def torch_outputs(module: torch.nn.Module, xs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(xs)[:, None, :])[:, 0, :].numpy()


def perturbed(module: torch.nn.Module, seed: int, scale: float) -> torch.nn.Module:
    """Normal weights of std scale/sqrt(fan-in): larger than torch's default init (so gates use
    their range and saturate), but not so large that the recurrence becomes chaotic, where float
    rounding differences grow without bound in any two implementations."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            std = scale / p.shape[-1] ** 0.5 if p.ndim == 2 else 0.5  # biases: std 0.5
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


@pytest.mark.parametrize("i,h,layers,o", [(1, 1, 1, 1), (3, 7, 2, 5), (17, 33, 3, 2),
                                          (40, 64, 2, 10), (5, 129, 1, 3)])
def test_matches_torch_gru_linear_over_1000_steps(each_isa: str, i: int, h: int, layers: int,
                                                  o: int) -> None:
    torch.manual_seed(i * 1000 + h)
    module = perturbed(Stack(i, h, layers, o), seed=h, scale=1.5).eval()
    xs = np.random.default_rng(h).standard_normal((1000, i)).astype(np.float32)
    expected = torch_outputs(module, xs)

    model = gru_rt.convert(module).load()
    stream = model.stream()
    stepped = np.stack([stream.step(x) for x in xs])
    run = model.run(xs)

    assert np.max(np.abs(stepped - expected)) <= TOL
    assert np.array_equal(run, stepped), "run() must equal step() bit for bit"


def test_matches_torch_gru_cell_and_state() -> None:
    torch.manual_seed(1)
    cell = perturbed(torch.nn.GRUCell(6, 11), seed=3, scale=1.5)
    xs = np.random.default_rng(2).standard_normal((1000, 6)).astype(np.float32)
    h = torch.zeros(1, 11)
    expected = []
    with torch.no_grad():
        for x in xs:
            h = cell(torch.from_numpy(x)[None], h)
            expected.append(h[0].numpy())
    model = gru_rt.convert(cell).load()
    ys, state = model.run(xs, return_state=True)
    assert np.max(np.abs(ys - np.stack(expected))) <= TOL
    np.testing.assert_array_equal(state, ys[-1])


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = torch.nn.GRU(5, 24, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(24, 3)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.gru(xs)[0]), dim=-1)


def test_cli_convert_state_dict_then_run_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = Net().eval()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    done = subprocess.run([sys.executable, "-m", "gru_rt", "convert", str(tmp_path / "net.pt"),
                           "-o", str(tmp_path / "net.grt"), "--head-activation", "softmax"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    xs = np.random.default_rng(1).standard_normal((3, 1000, 5)).astype(np.float32)
    np.save(tmp_path / "in.npy", xs)
    assert main(["run", str(tmp_path / "net.grt"), str(tmp_path / "in.npy"), "-o",
                 str(tmp_path / "out.npy")]) == 0
    with torch.no_grad():
        expected = net(torch.from_numpy(xs)).numpy()
    assert np.max(np.abs(np.load(tmp_path / "out.npy") - expected)) <= TOL
