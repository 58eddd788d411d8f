"""The PyTorch importer: modules, state dicts and saved files; every refusal names what is wrong."""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError
from gru_rt.importers import torch_importer
from gru_rt.reference import reference_run
from gru_rt.spec import DenseLayer, GRULayer, SpecError

from .models import unverified_bytes

torch = pytest.importorskip("torch")
nn = torch.nn

TOL = 1e-5  # the bound on |gru_rt - torch| over 1,000-step sequences


def perturbed(module: Any, seed: int, scale: float = 0.6) -> Any:
    """Weights larger than the default init, so gates saturate and states use their range."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module.eval()


class Stack(nn.Module):  # type: ignore[name-defined,misc]
    def __init__(self, i: int, h: int, layers: int, o: int, **gru: Any):
        super().__init__()
        self.gru = nn.GRU(i, h, num_layers=layers, **gru)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(h, o)

    def forward(self, xs: Any) -> Any:  # xs (T, I)
        out = self.gru(xs[None] if self.gru.batch_first else xs[:, None])[0]
        return self.fc(self.drop(out[0] if self.gru.batch_first else out[:, 0]))


class Mixed(nn.Module):  # type: ignore[name-defined,misc]
    """Linear → Tanh → GRU → GRUCell → Linear → Softmax, stepped by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(3, 6)
        self.act = nn.Tanh()
        self.gru = nn.GRU(6, 5)
        self.cell = nn.GRUCell(5, 4)
        self.head = nn.Sequential(nn.Identity(), nn.Linear(4, 3), nn.Softmax(dim=-1))

    def forward(self, xs: Any) -> Any:
        a = self.act(self.inp(xs))
        b = self.gru(a[:, None])[0][:, 0]
        h = torch.zeros(1, 4)
        outs = []
        for t in range(b.shape[0]):
            h = self.cell(b[t:t + 1], h)
            outs.append(h)
        return self.head(torch.cat(outs))


def torch_out(module: Any, xs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(xs)).numpy()


def xs_for(i: int, t: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((t, i)).astype(np.float32)


# ---- matching PyTorch ----------------------------------------------------------------------------

@pytest.mark.parametrize("i,h,layers,o", [(1, 1, 1, 1), (3, 7, 2, 5), (6, 17, 3, 2)])
def test_module_matches_torch_over_1000_steps(i: int, h: int, layers: int, o: int) -> None:
    module = perturbed(Stack(i, h, layers, o), seed=h)
    xs = xs_for(i)
    spec = convert(module)
    ys, state = reference_run(spec, xs)
    assert np.max(np.abs(ys - torch_out(module, xs))) <= TOL
    assert [layer.kind for layer in spec.layers] == ["gru"] * layers + ["dense"]
    assert state.shape == (layers * h,)
    assert spec.metadata["source.layers"] == f"gru({','.join(f'l{k}' for k in range(layers))}),fc"


@pytest.mark.parametrize("options", [{"bias": False}, {"batch_first": True},
                                     {"dropout": 0.3, "num_layers": 2}])
def test_gru_options(options: dict[str, Any]) -> None:
    layers = options.pop("num_layers", 1)
    module = perturbed(Stack(4, 6, layers, 2, **options), seed=3)
    xs = xs_for(4, 300)
    spec = convert(module)
    assert np.max(np.abs(reference_run(spec, xs)[0] - torch_out(module, xs))) <= TOL
    if not options.get("bias", True):
        gru = spec.layers[0]
        assert isinstance(gru, GRULayer)
        assert not np.any(gru.b_ih) and not np.any(gru.b_hh)


def test_mixed_module_with_cell_and_activation_modules() -> None:
    module = perturbed(Mixed(), seed=4)
    xs = xs_for(3, 1000, seed=1)
    spec = convert(module)
    assert [(layer.kind, layer.activation) for layer in spec.layers] == [
        ("dense", "tanh"), ("gru", "tanh"), ("gru", "tanh"), ("dense", "softmax")]
    assert spec.metadata["source.layers"] == "inp,gru(l0),cell,head.1"
    assert np.max(np.abs(reference_run(spec, xs)[0] - torch_out(module, xs))) <= TOL


def test_bare_gru_and_cell() -> None:
    gru = perturbed(nn.GRU(3, 4, num_layers=2), seed=5)
    spec = convert(gru)
    assert [layer.name for layer in spec.layers] == ["l0", "l1"]
    xs = xs_for(3, 200)
    with torch.no_grad():
        expected = gru(torch.from_numpy(xs)[:, None])[0][:, 0].numpy()
    assert np.max(np.abs(reference_run(spec, xs)[0] - expected)) <= TOL
    cell_spec = convert(nn.GRUCell(2, 3))
    assert len(cell_spec.layers) == 1 and cell_spec.layers[0].name == "gru_cell"


def test_state_dict_and_file_equal_module(tmp_path: Path) -> None:
    module = perturbed(Stack(3, 5, 2, 4), seed=6)
    from_module = convert(module, head_activation="softmax")
    from_state = convert(module.state_dict(), head_activation="softmax")
    for suffix in (".pt", ".PTH"):
        path = tmp_path / f"model{suffix}"
        torch.save(module.state_dict(), path)
        from_file = convert(path, head_activation="softmax")
        assert from_file.to_bytes() == from_state.to_bytes()
    assert convert(str(path), head_activation="softmax").to_bytes() == from_state.to_bytes()
    assert unverified_bytes(from_state) == unverified_bytes(from_module)
    assert from_state.metadata["source.verified"] == "no (weights only)"
    assert from_module.metadata["source.verified"].endswith(
        "(head_activation softmax applied to the source's output))")
    xs = xs_for(3, 1000, seed=2)
    with torch.no_grad():
        expected = torch.softmax(module(torch.from_numpy(xs)), -1).numpy()
    assert np.max(np.abs(reference_run(from_file, xs)[0] - expected)) <= TOL


def test_metadata() -> None:
    spec = convert(Stack(2, 3, 1, 1), metadata={"author": "me", "source.layers": "custom"})
    assert spec.metadata == {
        "source.framework": "torch",
        "source.convention": "torch.nn.GRU: gates r,z,n; n = tanh(W_in x + b_in + r*(W_hn h + "
                             "b_hn)); h' = (1-z)*n + z*h",
        "source.transforms": "none",
        "source.layers": "custom",
        "author": "me",
        "source.verified": spec.metadata["source.verified"],
    }
    assert spec.metadata["source.verified"].startswith("yes (max err ")
    with pytest.raises(SpecError, match="NUL"):
        convert(Stack(2, 3, 1, 1), metadata={"k": "a\0b"})


def test_activations_by_prefix() -> None:
    class TwoHeads(nn.Module):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(2, 3)
            self.mid = nn.Linear(3, 4)
            self.out = nn.Linear(4, 2)

    spec = convert(TwoHeads().state_dict(), activations={"mid": "relu"}, head_activation="sigmoid")
    assert [getattr(layer, "activation", None) for layer in spec.layers] == \
        ["tanh", "relu", "sigmoid"]
    assert isinstance(spec.layers[1], DenseLayer)
    with pytest.raises(ConversionError, match="'fc' is not a layer.*'mid', 'out'"):
        convert(TwoHeads(), activations={"fc": "relu"})
    with pytest.raises(ConversionError, match="'gru' is nn.GRU 'gru', not an nn.Linear"):
        convert(TwoHeads(), activations={"gru": "relu"})
    with pytest.raises(ConversionError, match="head_activation.*already sets it to 'relu'"):
        convert(TwoHeads(), activations={"out": "relu"}, head_activation="softmax")
    with pytest.raises(SpecError, match="mish"):
        convert(TwoHeads(), head_activation="mish")
    with pytest.raises(ConversionError, match="head_activation: the last layer is nn.GRU"):
        convert(nn.GRU(2, 3), head_activation="softmax")


# ---- state-dict refusals -------------------------------------------------------------------------

def stack_state(**changes: Any) -> OrderedDict[str, Any]:
    state = Stack(3, 32, 2, 4).state_dict()
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


@pytest.mark.parametrize("changes,words", [
    ({"gru__weight_hh_l1": torch.zeros(96, 31)},
     "gru.weight_hh_l1 has shape (96, 31), expected (96, 32)"),
    ({"gru__weight_ih_l1": torch.zeros(96, 3)},
     "gru.weight_ih_l1 has shape (96, 3), expected (96, 32)"),
    ({"gru__weight_ih_l0": torch.zeros(95, 3)},
     "gru.weight_ih_l0 has shape (95, 3), expected (96, 3)"),
    ({"gru__bias_hh_l1": torch.zeros(95)}, "gru.bias_hh_l1 has shape (95,), expected (96,)"),
    ({"gru__bias_hh_l1": None}, "gru.bias_hh_l1 is missing (expected shape (96,))"),
    ({"gru__weight_hh_l1": None}, "gru.weight_hh_l1 is missing (expected shape (96, 32))"),
    ({"gru__weight_ih_l0": None}, "gru.weight_ih_l0 is missing (expected shape (96, input_size))"),
    ({"gru__weight_hh_l0": torch.zeros(160, 32)},
     "gru.weight_hh_l0 has shape (160, 32), expected (96, 32) (3·hidden_size rows for a GRU or "
     "4·hidden_size for an LSTM)"),
    ({"gru__weight_hh_l0": torch.zeros(96)},
     "gru.weight_hh_l0 has shape (96,), expected (3·H, H)"),
    ({"fc__weight": torch.zeros(4, 31)},
     "fc.weight expects inputs of size 31, but the previous layer nn.GRU 'gru' outputs size 32 "
     "(gru.weight_hh_l1)"),
    ({"fc__bias": torch.zeros(5)}, "fc.bias has shape (5,), expected (4,)"),
    ({"fc__scale": torch.zeros(4)}, "fc.scale: unexpected key next to the nn.Linear parameters"),
    ({"gru__weight_ih_l0_reverse": torch.zeros(96, 3)},  # bidirectional: the whole set needed
     "gru.weight_hh_l0_reverse is missing (expected shape (96, 32))"),
    ({"gru__extra": torch.zeros(3)},
     "gru.extra: unexpected key next to the nn.GRU/nn.LSTM parameters"),
    ({"gru__weight_hh_l0": torch.full((96, 32), float("nan"))}, "gru.weight_hh_l0 contains NaN"),
    ({"fc__weight": torch.zeros(4, 32, dtype=torch.int64)}, "fc.weight has dtype torch.int64"),
])
def test_state_dict_errors_name_the_key(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ConversionError) as info:
        convert(stack_state(**changes))
    assert words in str(info.value)


@pytest.mark.parametrize("module,words", [
    (nn.BatchNorm1d(4), "bn.running_mean: unexpected key next to the nn.LayerNorm parameters"),
    (nn.Conv2d(3, 8, 3), "bn.weight has shape (8, 3, 3, 3), not the 2-D weight of an nn.Linear"),
    (nn.LayerNorm(5), "bn.weight expects inputs of size 5, but the previous layer nn.GRU outputs "
                      "size 4"),
    (nn.RNN(4, 4), "bn.weight_hh_l0 has shape (4, 4), expected (12, 4) (3·hidden_size rows "
                   "for a GRU (r, z, n) or 4·hidden_size for an LSTM (i, f, g, o); is this an "
                   "nn.RNN?)"),
])
def test_foreign_layers_in_a_state_dict(module: Any, words: str) -> None:
    state = OrderedDict(nn.GRU(2, 4).state_dict())
    state.update({f"bn.{k}": v for k, v in module.state_dict().items()})
    with pytest.raises(ConversionError) as info:
        convert(state)
    assert words in str(info.value)


def test_other_state_dict_refusals() -> None:
    with pytest.raises(ConversionError, match="unknown parameter"):
        convert({"x.scale": torch.zeros(3)})
    with pytest.raises(ConversionError, match="running_mean: unknown parameter"):
        convert({"bn.running_mean": torch.zeros(3)})
    with pytest.raises(ValueError, match="empty"):
        convert({})
    with pytest.raises(ConversionError, match="is a list, expected a tensor"):
        torch_importer.import_state_dict({"fc.weight": [[1.0]]})


# ---- module refusals -----------------------------------------------------------------------------

def test_module_refusals() -> None:
    with pytest.raises(ConversionError, match=r"fc.weight expects inputs of size 3, but the "
                                              r"previous layer nn.GRU 'gru' outputs size 6"):
        convert(Stack(2, 3, 1, 1, bidirectional=True))  # a Linear sized for one direction
    with pytest.raises(ConversionError, match=r"module '1' \(BatchNorm1d\) cannot be converted"):
        convert(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))
    with pytest.raises(ConversionError, match=r"module '1' \(Mish\) cannot be converted"):
        convert(nn.Sequential(nn.Linear(2, 3), nn.Mish()))
    with pytest.raises(ConversionError, match=r"module 'act' \(ReLU\) follows GRU 'gru', not an"):
        convert(nn.ModuleDict({"gru": nn.GRU(2, 3), "act": nn.ReLU()}))
    with pytest.raises(ConversionError, match=r"module '0' \(Tanh\) follows the start"):
        convert(nn.Sequential(nn.Tanh(), nn.Linear(2, 3)))
    with pytest.raises(ConversionError, match=r"module '2' \(Sigmoid\) follows ReLU '1'"):
        convert(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sigmoid()))
    with pytest.raises(ConversionError, match="dim=0"):
        convert(nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=0)))
    conflict = r"activations\['0'\] sets .* but module '1' already sets it to 'tanh'"
    with pytest.raises(ConversionError, match=conflict):
        convert(nn.Sequential(nn.Linear(2, 3), nn.Tanh()), activations={"0": "relu"})
    with pytest.raises(SpecError, match="hard_sigmoid"):  # not a Dense activation in format 1.0
        convert(nn.Sequential(nn.Linear(2, 3), nn.Hardsigmoid()))

    class Scaled(nn.Module):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(2, 3)
            self.scale = nn.Parameter(torch.ones(3))

    with pytest.raises(ConversionError, match="scale: a parameter or buffer outside"):
        convert(Scaled())


def test_module_activation_equivalent_to_option() -> None:
    a = convert(nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1)))
    b = convert(nn.Sequential(nn.Linear(2, 3)), head_activation="softmax")
    assert a.layers[0].activation == b.layers[0].activation == "softmax"  # type: ignore[union-attr]
    same = convert(nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=-1)), head_activation="softmax")
    assert same.layers[0].activation == "softmax"  # type: ignore[union-attr]


# ---- containers: checkpoints, .npz, TorchScript ------------------------------------------------

@pytest.mark.parametrize("key", ["model_state_dict", "state_dict", "model", "net", "ema_weights"])
def test_training_checkpoints(tmp_path: Path, key: str) -> None:
    module = perturbed(Stack(3, 6, 2, 4), seed=8)
    checkpoint = {"epoch": 7, key: module.state_dict(), "optimizer_state_dict":
                  torch.optim.Adam(module.parameters()).state_dict(), "loss": 0.25}
    path = tmp_path / "ckpt.pt"
    torch.save(checkpoint, path)
    want = unverified_bytes(convert(module.state_dict()))
    for spec in (convert(path), convert(checkpoint)):
        assert spec.metadata["source.checkpoint_key"] == key
        meta = {k: v for k, v in spec.metadata.items() if k != "source.checkpoint_key"}
        assert unverified_bytes(type(spec)(spec.layers, meta)) == want
    xs = xs_for(3, 500)
    assert np.max(np.abs(convert(path).load().run(xs) - torch_out(module, xs))) <= TOL


def test_npz_of_a_state_dict(tmp_path: Path) -> None:
    module = perturbed(Stack(3, 6, 2, 4), seed=9)
    path = tmp_path / "sd.npz"
    np.savez(path, **{k: v.numpy() for k, v in module.state_dict().items()})
    spec = convert(path, head_activation="tanh")
    assert spec.metadata["source.keys"] == "PyTorch state-dict names"
    assert spec.metadata["source.layers"] == "gru(l0,l1),fc"
    xs = xs_for(3, 500)
    with torch.no_grad():
        expected = torch.tanh(module(torch.from_numpy(xs))).numpy()
    assert np.max(np.abs(spec.load().run(xs) - expected)) <= TOL
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    state["gru.weight_hh_l1"] = state["gru.weight_hh_l1"][:, :5]
    np.savez(path, **state)
    with pytest.raises(ConversionError, match=r"gru.weight_hh_l1 has shape \(18, 5\), expected "
                                              r"\(18, 6\) \(keys read as PyTorch state-dict "
                                              r"names\)"):
        convert(path)
    with pytest.raises(ValueError, match="convention applies to NumPy sources"):
        convert(path, convention="keras")


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_is_refused_with_the_way_out(tmp_path: Path) -> None:
    module = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 4))
    scripted = torch.jit.script(module)
    with pytest.raises(ConversionError, match=r"TorchScript module \(RecursiveScriptModule.*"
                                              r"torch.jit.load\(path\).state_dict\(\)"):
        convert(scripted)
    path = tmp_path / "scripted.pt"
    torch.jit.save(scripted, str(path))
    with pytest.raises(ConversionError, match=r"scripted.pt is a TorchScript archive "
                                              r"\(torch.jit.save\).*state_dict\(\) is an "
                                              r"ordinary state dict"):
        convert(path)
    stated = {"activations": {"0": "tanh"}}
    assert unverified_bytes(convert(scripted.state_dict(), **stated)) == \
        unverified_bytes(convert(module.state_dict(), **stated))


# ---- file refusals -------------------------------------------------------------------------------

def test_file_refusals(tmp_path: Path) -> None:
    module = Stack(2, 3, 1, 1)
    whole = tmp_path / "whole.pt"
    torch.save(module, whole)
    with pytest.raises(ConversionError) as info:
        convert(whole)
    assert "model.state_dict()" in str(info.value) and "Stack" in str(info.value)

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ConversionError, match="cannot read .*junk.pth as a PyTorch file"):
        convert(junk)

    ckpt = tmp_path / "ckpt.pt"
    torch.save({"generator": module.state_dict(), "critic": module.state_dict(), "epoch": 3},
               ckpt)
    with pytest.raises(ConversionError, match=r"training checkpoint \(keys 'generator', "
                                              r"'critic', 'epoch'\) with several state dicts"):
        convert(ckpt)
    torch.save({"optimizer": {"state": {}, "param_groups": []}, "epoch": 3}, ckpt)
    with pytest.raises(ConversionError, match="key 'optimizer' holds a dict that is not a state "
                                              "dict, and no key .*model_state_dict"):
        convert(ckpt)

    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(ConversionError, match="holds a list, expected a state dict"):
        convert(listed)

    mixed = tmp_path / "mixed.pt"
    torch.save({"fc.weight": torch.zeros(2, 2), "step": 3}, mixed)
    with pytest.raises(ConversionError, match="key 'step' holds a int, not a tensor"):
        convert(mixed)

    with pytest.raises(FileNotFoundError, match="missing.pt"):
        convert(tmp_path / "missing.pt")


def test_convert_dispatch_refusals(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot convert a int: expected a torch.nn.Module"):
        convert(3)
    with pytest.raises(ValueError, match="unsupported file type '.tflite'"):
        convert(tmp_path / "model.tflite")
    with pytest.raises(ValueError, match="convention applies to NumPy sources"):
        convert(Stack(2, 3, 1, 1), convention="gate_order=zrn")
    with pytest.raises(ValueError, match="convention applies to NumPy sources"):
        convert(Stack(2, 3, 1, 1).state_dict(), convention="gate_order=zrn")


def test_missing_torch_says_what_to_install(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.pt"
    torch.save(Stack(2, 3, 1, 1).state_dict(), path)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match="pip install torch"):
        convert(path)


# ---- an explicit stack (layers=), when registration order is not forward order -------------------

class Reordered(nn.Module):  # type: ignore[name-defined,misc]
    """Registers head and its activation before the GRU but applies the GRU first."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(6, 3), nn.Softmax(dim=-1))
        self.inp = nn.Linear(2, 4)
        self.gru = nn.GRU(4, 6)

    def forward(self, xs: Any) -> Any:
        return self.head(self.gru(self.inp(xs)[:, None])[0][:, 0])


def test_explicit_stack_when_registration_order_is_not_forward_order() -> None:
    module = perturbed(Reordered(), seed=8)
    with pytest.raises(ConversionError, match="expects inputs of size"):
        convert(module)  # registration order: head, inp, gru: the sizes do not chain
    xs = xs_for(2, 500)
    for stack in (["inp", "gru", "head"], [module.inp, module.gru, module.head],
                  ["inp", "gru", "head.0", "head.1"]):
        spec = convert(module, layers=stack)
        assert [(x.kind, x.activation) for x in spec.layers] == [
            ("dense", "linear"), ("gru", "tanh"), ("dense", "softmax")]
        assert np.max(np.abs(reference_run(spec, xs)[0] - torch_out(module, xs))) <= TOL


def test_explicit_stack_refusals() -> None:
    module = Reordered()
    with pytest.raises(ConversionError, match="layers: 'fc' is not a submodule of the model"):
        convert(module, layers=["inp", "gru", "fc"])
    with pytest.raises(ConversionError, match="layers: module 'gru' is listed twice"):
        convert(module, layers=["inp", "gru", "gru", "head"])
    with pytest.raises(ConversionError, match="head.0.weight: a parameter or buffer outside .* "
                                              "outside the listed modules"):
        convert(module, layers=["inp", "gru"])
    with pytest.raises(ConversionError, match="a Linear that is not a submodule"):
        convert(module, layers=["inp", nn.Linear(6, 3)])
    with pytest.raises(ValueError, match="layers applies to a torch.nn.Module"):
        convert(module.state_dict(), layers=["inp"])
