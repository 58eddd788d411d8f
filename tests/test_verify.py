"""The conversion check (gru_rt.verify): a source that can be run is run with the converted model;
the PyTorch modules that used to convert silently wrong are refused with the measured error, the
likely cause and how to state the model; stated correctly, they convert and match."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-5  # f32 parity with the framework over STEPS steps
STEPS = 500


def perturbed(module: Any, seed: int, scale: float = 0.5) -> Any:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return module.eval()


def xs_for(i: int, t: int = STEPS, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((t, i)).astype(np.float32)


def torch_out(module: Any, xs: np.ndarray) -> np.ndarray:
    """The module on one batch-first sequence (1, T, I); its first output tensor."""
    with torch.no_grad():
        out = module(torch.from_numpy(xs)[None])
    return (out[0] if isinstance(out, tuple) else out).numpy()


class Base(nn.Module):  # type: ignore[name-defined,misc]
    """GRU(8→16, batch first) → fc1(16→16) → fc2(16→4); subclasses change forward()."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 16, batch_first=True)
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x: Any) -> Any:
        return self.fc2(self.fc1(self.gru(x)[0]))


class ReluInForward(Base):
    def forward(self, x: Any) -> Any:
        return self.fc2(F.relu(self.fc1(self.gru(x)[0])))


class SoftmaxInForward(Base):
    def forward(self, x: Any) -> Any:
        return F.softmax(self.fc2(self.fc1(self.gru(x)[0])), dim=-1)


class MeanOverTime(Base):
    def forward(self, x: Any) -> Any:
        return self.fc2(self.fc1(self.gru(x)[0].mean(1)))


class SkipConnection(Base):
    def forward(self, x: Any) -> Any:
        out = self.gru(x)[0]
        return self.fc2(self.fc1(out) + out)


class OutOfOrder(nn.Module):  # type: ignore[name-defined,misc]
    """Registers fc2 before fc1; forward applies fc1 first."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 16, batch_first=True)
        self.fc2 = nn.Linear(16, 16)
        self.fc1 = nn.Linear(16, 16)

    def forward(self, x: Any) -> Any:
        return self.fc2(torch.tanh(self.fc1(self.gru(x)[0])))


class LastStep(Base):
    """fc(out[:, -1]): one output per sequence."""

    def forward(self, x: Any) -> Any:
        return self.fc2(torch.relu(self.fc1(self.gru(x)[0][:, -1])))


class LastHidden(nn.Module):  # type: ignore[name-defined,misc]
    """fc(h_n[-1]) over a 2-layer GRU, time first."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 12, num_layers=2)
        self.fc = nn.Linear(12, 3)

    def forward(self, x: Any) -> Any:
        return self.fc(self.gru(x)[1][-1])


REFUSED = re.compile(r"conversion check failed: the converted model differs from the source by "
                     r"up to [0-9.e+-]+ \(tolerance [0-9.e+-]+\).*Likely cause: .*F\.relu.*"
                     r"\.mean.*skip connection.*registered in another order.*layers=.*"
                     r"activations=.*verify=False")


@pytest.mark.parametrize("cls", [ReluInForward, SoftmaxInForward, SkipConnection, OutOfOrder])
def test_silently_wrong_modules_are_refused(cls: type) -> None:
    with pytest.raises(ConversionError, match=REFUSED):
        convert(perturbed(cls(), seed=1))


def test_a_reduction_over_time_is_refused() -> None:
    with pytest.raises(ConversionError, match=REFUSED) as e:
        convert(perturbed(MeanOverTime(), seed=1))
    assert "the last step of 100 steps" in str(e.value)


def test_the_error_reports_the_measured_error() -> None:
    module = perturbed(ReluInForward(), seed=1)
    with pytest.raises(ConversionError) as e:
        convert(module)
    err = float(re.search(r"by up to ([0-9.e+-]+)", str(e.value)).group(1))  # type: ignore[union-attr]
    xs = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
    wrong = convert(module, verify=False).load().run(xs)
    assert err == pytest.approx(float(np.max(np.abs(wrong - torch_out(module, xs)[0]))),
                                rel=1e-2)


@pytest.mark.parametrize("cls,options", [
    (ReluInForward, {"activations": {"fc1": "relu"}}),
    (SoftmaxInForward, {"head_activation": "softmax"}),
    (OutOfOrder, {"layers": ["gru", "fc1", "fc2"], "activations": {"fc1": "tanh"}}),
])
def test_stated_models_convert_and_match(cls: type, options: dict[str, Any]) -> None:
    module = perturbed(cls(), seed=2)
    spec = convert(module, **options)
    assert spec.metadata["source.verified"].startswith("yes (max err ")
    xs = xs_for(8)
    assert np.max(np.abs(spec.load().run(xs) - torch_out(module, xs)[0])) <= TOL


def test_a_correct_module_passes_and_records_the_error() -> None:
    spec = convert(perturbed(Base(), seed=4))
    m = re.fullmatch(r"yes \(max err ([0-9.e+-]+) over every step of 100 steps\)",
                     spec.metadata["source.verified"])
    assert m is not None and float(m.group(1)) <= TOL


@pytest.mark.parametrize("cls", [LastStep, LastHidden])
def test_last_step_modules_compare_the_last_step(cls: type) -> None:
    module = perturbed(cls(), seed=5)
    options = {"activations": {"fc1": "relu"}} if cls is LastStep else {}
    spec = convert(module, **options)
    assert spec.metadata["source.verified"].endswith("over the last step of 100 steps)")
    xs = xs_for(8)
    ys = spec.load().run(xs)
    with torch.no_grad():
        x = torch.from_numpy(xs)[None] if cls is LastStep else torch.from_numpy(xs)[:, None]
        expected = module(x).numpy()[0]
    assert np.max(np.abs(ys[-1] - expected)) <= TOL
    if cls is LastStep:  # without the stated relu it is refused
        with pytest.raises(ConversionError, match=REFUSED):
            convert(module)


def test_check_leaves_the_training_mode_alone() -> None:
    module = Base()
    module.train()
    module.fc1.eval()
    convert(module)
    assert module.training and module.gru.training and not module.fc1.training


def test_verify_false_and_verify_input() -> None:
    module = perturbed(ReluInForward(), seed=1)
    spec = convert(module, verify=False)
    assert spec.metadata["source.verified"] == "no (verify=False)"
    good = perturbed(Base(), seed=1)
    ok = convert(good, verify_input=xs_for(8, 7))
    assert ok.metadata["source.verified"].endswith("over every step of 7 steps)")
    with pytest.raises(ConversionError, match=r"verify_input has shape \(7, 3\), expected "
                                              r"\(T, 8\)"):
        convert(good, verify_input=np.zeros((7, 3)))
    with pytest.raises(ValueError, match="verify_input applies to a source that can be run"):
        convert(good.state_dict(), verify_input=xs_for(8, 7))


def test_quantized_conversion_verifies_the_float_model() -> None:
    with pytest.raises(ConversionError, match=REFUSED):
        convert(perturbed(ReluInForward(), seed=1), precision="q8")
    spec = convert(perturbed(Base(), seed=1), precision="q15")
    assert spec.metadata["source.verified"].startswith("yes (max err ")


def test_a_module_that_cannot_be_run_warns() -> None:
    class NeedsState(Base):
        def forward(self, x: Any, h: Any) -> Any:
            return self.fc2(self.fc1(self.gru(x, h)[0]))

    with pytest.warns(UserWarning, match=r"conversion not verified: the source could not be "
                                         r"run \(\(1, T, I\): TypeError"):
        spec = convert(NeedsState())
    assert spec.metadata["source.verified"].startswith("no (the source could not be run")


def test_weights_only_dropped_activation_warns(tmp_path: Path) -> None:
    state = perturbed(ReluInForward(), seed=1).state_dict()
    with pytest.warns(UserWarning, match=r"layers 1 \(fc1\) and 2 are two Dense layers with no "
                                         r"activation between them"):
        spec = convert(state)
    assert spec.metadata["source.verified"] == "no (weights only)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stated = convert(state, activations={"fc1": "relu"})
        assert convert(state, verify=False).metadata["source.verified"] == "no (weights only)"
    assert stated.metadata["source.verified"] == "no (weights only)"
    path = tmp_path / "m.pt"
    torch.save(state, path)
    out = tmp_path / "m.grt"
    r = subprocess.run([sys.executable, "-m", "gru_rt", "convert", str(path), "-o", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("gru-rt: warning: layers 1 (fc1) and 2 are two Dense layers")
    assert "source.verified: no (weights only)" in r.stdout
    info = subprocess.run([sys.executable, "-m", "gru_rt", "info", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "source.verified: no (weights only)" in info.stdout
    quiet = subprocess.run([sys.executable, "-m", "gru_rt", "convert", str(path), "-o", str(out),
                            "--no-verify"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == ""


# ---- Keras ---------------------------------------------------------------------------------------

def test_keras_models_are_verified() -> None:
    keras = pytest.importorskip("keras")
    layers = keras.layers
    rng = np.random.default_rng(0)
    for seq in (True, False):
        model = keras.Sequential([keras.Input((None, 8)), layers.GRU(16, return_sequences=seq),
                                  layers.Dense(4, activation="tanh")])
        model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                           for w in model.get_weights()])
        spec = convert(model)
        step = "every step" if seq else "the last step"
        assert re.fullmatch(rf"yes \(max err [0-9.e+-]+ over {step} of 100 steps\)",
                            spec.metadata["source.verified"])


def test_cli_verify_input(tmp_path: Path, capsys: Any) -> None:
    """gru-rt convert --verify-input X.npy: the check runs on the user's sequence, which is read
    without pickle and refused by dtype, shape and values."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from gru_rt.cli import main

    rng = np.random.default_rng(9)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k)
             for k, s in (("W", (1, 12, 3)), ("R", (1, 12, 4)), ("B", (1, 24)))]
    graph = helper.make_graph(
        [helper.make_node("GRU", ["x", "W", "R", "B"], ["Y"], hidden_size=4),
         helper.make_node("Squeeze", ["Y", "one"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [*inits, numpy_helper.from_array(np.array([1], np.int64), "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    src, out = tmp_path / "m.onnx", str(tmp_path / "m.grt")
    onnx.save(model, str(src))

    def convert_with(xs: Any, *extra: str, name: str = "xs.npy") -> tuple[int, str]:
        path = tmp_path / name
        if isinstance(xs, bytes):
            path.write_bytes(xs)
        else:
            np.save(path, xs, allow_pickle=True)
        code = main(["convert", str(src), "-o", out, "--verify-input", str(path), *extra])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    code, text = convert_with(rng.standard_normal((37, 3)))  # float64 is taken as float32
    assert code == 0, text
    assert "source.verified: yes (max err" in text and "over every step of 37 steps)" in text
    for xs, found in [
            (rng.standard_normal((37, 5)), r"verify_input has shape \(37, 5\), expected \(T, 3\)"),
            (rng.standard_normal((2, 37, 3)), r"verify_input has shape \(2, 37, 3\)"),
            (np.full((9, 3), np.nan), "verify_input contains NaN or Inf"),
            (np.ones((9, 3), complex), "verify_input has dtype complex128, expected real"),
            (np.array([{"a": 1}] * 3, object), r"--verify-input: cannot read .*xs.npy as a plain "
                                               r"\.npy array"),
            (b"not an array", r"--verify-input: cannot read .*xs.npy as a plain \.npy array")]:
        code, text = convert_with(xs)
        assert code != 0 and re.search(found, text), text
    code, text = convert_with(rng.standard_normal((37, 3)), "--no-verify")
    assert code != 0 and "--verify-input is given with --no-verify" in text
    np.savez(tmp_path / "w.npz", **{"gru.weight_ih_l0": np.zeros((12, 3), np.float32),
                                    "gru.weight_hh_l0": np.zeros((12, 4), np.float32)})
    src = tmp_path / "w.npz"
    code, text = convert_with(rng.standard_normal((37, 3)))
    assert code != 0 and "verify_input applies to a source that can be run" in text
