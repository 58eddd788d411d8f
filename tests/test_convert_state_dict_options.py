"""What a PyTorch state dict does not record, stated by the caller: convert(..., causal=) /
`--causal PREFIX=DILATION` for a causal nn.Conv1d (a module: the names forward() pads itself), and
convert(..., layernorm_eps=) / `--layernorm-eps` for nn.LayerNorm (refused without it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ArgumentError, ConversionError

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

ROOT = Path(__file__).resolve().parent.parent
T = 500


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gru_rt", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def xs_for(i: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((T, i)).astype(np.float32)


class PadNet(nn.Module):  # type: ignore[misc,name-defined]
    """Two convolutions that forward() makes causal with F.pad: a dilated one (relu) and a
    depthwise one, then a GRU and a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3, dilation=2)
        self.act = nn.ReLU()
        self.dw = nn.Conv1d(6, 6, 2, groups=6)
        self.gru = nn.GRU(6, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, x: Any) -> Any:
        y = self.act(self.conv(F.pad(x.transpose(1, 2), (4, 0))))
        y = self.dw(F.pad(y, (1, 0))).transpose(1, 2)
        return self.fc(self.gru(y)[0])


def pad_net() -> Any:
    torch.manual_seed(4)
    return PadNet().eval()


def torch_out(net: Any, xs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(xs)[None]).numpy()[0]


def test_module_causal_names() -> None:
    net = pad_net()
    with pytest.raises(ConversionError, match=r"name it in causal=\['conv'\]"):
        convert(net)
    spec = convert(net, causal=["conv", "dw"])
    assert spec.metadata["source.verified"].startswith("yes")
    conv, dw = spec.layers[0], spec.layers[1]
    assert (conv.dilation, conv.depthwise, conv.activation) == (2, False, "relu")
    assert (dw.kernel_size, dw.depthwise) == (2, True)
    xs = xs_for(3)
    assert np.max(np.abs(spec.load().run(xs) - torch_out(net, xs))) <= 1e-5
    with pytest.raises(ArgumentError, match="the module gives the dilation"):
        convert(net, causal={"conv": 2, "dw": 1})
    with pytest.raises(ConversionError, match="'nope' is not an nn.Conv1d"):
        convert(net, causal=["conv", "dw", "nope"])


def test_state_dict_causal_with_dilations(tmp_path: Path) -> None:
    net = pad_net()
    state = net.state_dict()
    with pytest.raises(ConversionError, match=r"causal=\{'conv': 1\}"):
        convert(state)
    with pytest.raises(ArgumentError, match="records neither the padding nor the dilation"):
        convert(state, causal=["conv", "dw"])
    with pytest.raises(ConversionError, match="'nope' is not an nn.Conv1d of the state dict"):
        convert(state, causal={"conv": 2, "dw": 1, "nope": 1})
    with pytest.raises(ConversionError, match=r"causal\['conv'\]: the dilation is 0"):
        convert(state, causal={"conv": 0, "dw": 1})
    spec = convert(state, causal={"conv": 2, "dw": 1}, activations={"conv": "relu"})
    assert spec.layers[1].depthwise  # (6, 1, 2) after 6 channels
    xs = xs_for(3, seed=1)
    want = torch_out(net, xs)
    assert np.max(np.abs(spec.load().run(xs) - want)) <= 1e-5
    wrong = convert(state, causal={"conv": 1, "dw": 1}, activations={"conv": "relu"})
    assert np.max(np.abs(wrong.load().run(xs) - want)) > 1e-2  # the dilation matters
    torch.save(state, tmp_path / "net.pt")
    done = cli("convert", str(tmp_path / "net.pt"), "-o", str(tmp_path / "m.grt"),
               "--causal", "conv=2", "--causal", "dw=1", "--activation", "conv=relu")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.grt").read_bytes() == spec.to_bytes()
    done = cli("convert", str(tmp_path / "net.pt"), "-o", str(tmp_path / "m2.grt"))
    assert done.returncode == 1 and "--causal conv=1" in done.stderr
    assert done.stderr.count("\n") == 1
    done = cli("convert", str(tmp_path / "net.pt"), "-o", str(tmp_path / "m2.grt"),
               "--causal", "conv=two")
    assert done.returncode != 0 and "not a whole number" in done.stderr
    assert not (tmp_path / "m2.grt").exists()


class NormNet(nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self, eps: float) -> None:
        super().__init__()
        self.gru = nn.GRU(3, 4)
        self.norm = nn.LayerNorm(4, eps=eps)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        return self.fc(self.norm(self.gru(x)[0]))


def norm_net(eps: float) -> Any:
    torch.manual_seed(2)
    net = NormNet(eps).eval()
    with torch.no_grad():
        net.gru.weight_hh_l0.mul_(0.05)  # small outputs: eps weighs in the normalisation
        net.gru.weight_ih_l0.mul_(0.05)
        net.gru.bias_ih_l0.zero_()
        net.gru.bias_hh_l0.zero_()
    return net


def test_state_dict_layernorm_needs_eps(tmp_path: Path) -> None:
    net = norm_net(eps=1e-2)
    xs = xs_for(3, seed=2)
    with torch.no_grad():
        want = net(torch.from_numpy(xs)[:, None]).numpy()[:, 0]
    state = net.state_dict()
    with pytest.raises(ConversionError, match=r"norm.weight: an nn.LayerNorm, whose eps a state "
                                              r"dict does not record.*layernorm_eps=1e-5"):
        convert(state)
    spec = convert(state, layernorm_eps=1e-2)
    assert spec.layers[1].eps == pytest.approx(1e-2)
    assert np.max(np.abs(spec.load().run(xs) - want)) <= 1e-5
    assumed = convert(state, layernorm_eps=1e-5)  # the old silent default: visibly wrong here
    assert np.max(np.abs(assumed.load().run(xs) - want)) > 1e-3
    module = convert(net)  # a module gives its own
    assert module.layers[1].eps == pytest.approx(1e-2)
    with pytest.raises(ArgumentError, match="layernorm_eps applies to PyTorch state dicts"):
        convert(net, layernorm_eps=1e-2)
    with pytest.raises(ConversionError, match="has no nn.LayerNorm"):
        convert(nn.GRU(3, 4).state_dict(), layernorm_eps=1e-5)
    torch.save(state, tmp_path / "norm.pt")
    done = cli("convert", str(tmp_path / "norm.pt"), "-o", str(tmp_path / "n.grt"))
    assert done.returncode == 1 and "--layernorm-eps" in done.stderr
    assert not (tmp_path / "n.grt").exists()
    done = cli("convert", str(tmp_path / "norm.pt"), "-o", str(tmp_path / "n.grt"),
               "--layernorm-eps", "0.01")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "n.grt").read_bytes() == spec.to_bytes()


def test_options_refused_for_other_sources(tmp_path: Path) -> None:
    arrays = {"0.W": np.zeros((6, 2)), "0.U": np.zeros((6, 2)), "0.b": np.zeros(6)}
    for option in ({"causal": {"conv": 1}}, {"layernorm_eps": 1e-5}):
        with pytest.raises(ArgumentError, match="applies to PyTorch sources"):
            convert(arrays, convention="gate_order=zrn", **option)  # type: ignore[arg-type]
