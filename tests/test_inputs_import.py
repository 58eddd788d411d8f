"""Multi-input models from the frameworks (format 1.4's named inputs): a PyTorch module taking one
tensor per input and torch.cat-ing them (convert(..., inputs=)), the ONNX export of that module
(several graph inputs joined by one Concat), and `gru-rt convert --input` / `gru-rt run` with a .npz
of one array per input name. Every framework comparison runs 500 steps, f32 within 1e-5."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.cli import main
from gru_rt.convert import convert
from gru_rt.errors import ArgumentError, ConversionError

from .models import random_spec, save_npz

torch = pytest.importorskip("torch")

T = 500
TOL = 1e-5
WIDTHS = {"acc": 3, "gyro": 2}


class Fused(torch.nn.Module):  # type: ignore[misc,name-defined]
    """forward(acc, gyro): torch.cat on the feature axis, a GRU, a per-step Linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.gru = torch.nn.GRU(5, 12, batch_first=True)
        self.fc = torch.nn.Linear(12, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.mul_(2.0)  # beyond the default init, so gates saturate

    def forward(self, acc: Any, gyro: Any) -> Any:
        out, _ = self.gru(torch.cat([acc, gyro], dim=-1))
        return self.fc(out)


def _sequences(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((T, 3)).astype(np.float32),
            rng.standard_normal((T, 2)).astype(np.float32))


def _torch_out(net: Any, acc: np.ndarray, gyro: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = net(torch.from_numpy(acc[None]), torch.from_numpy(gyro[None]))
    return np.asarray(out[0].numpy())


def test_torch_module_with_inputs_matches_torch() -> None:
    net = Fused().eval()
    spec = convert(net, inputs=WIDTHS)
    assert spec.inputs == (("acc", 3), ("gyro", 2))
    assert spec.metadata["source.verified"].startswith("yes")  # run as net(acc, gyro)
    acc, gyro = _sequences()
    m = spec.load()
    got = m.run({"acc": acc, "gyro": gyro})
    assert float(np.max(np.abs(got - _torch_out(net, acc, gyro)))) <= TOL
    s = m.stream()
    np.testing.assert_array_equal(np.stack([s.step({"acc": a, "gyro": g})
                                            for a, g in zip(acc, gyro)]), got)
    # the state dict alone converts too; the inputs are the caller's word
    weights = convert(net.state_dict(), inputs=WIDTHS)
    assert weights.inputs == spec.inputs
    np.testing.assert_array_equal(weights.load().run([acc, gyro]), got)


def test_inputs_argument_is_checked() -> None:
    net = Fused().eval()
    with pytest.raises(ConversionError, match="the input widths sum to 6, expected 5"):
        convert(net, inputs={"acc": 3, "gyro": 3}, verify=False)
    with pytest.raises(ConversionError, match="contains '='"):
        convert(net, inputs={"a=b": 3, "gyro": 2}, verify=False)


def _export(net: Any, path: Path, names: tuple[str, str] = ("acc", "gyro")) -> None:
    onnx = pytest.importorskip("onnx")  # noqa: F841
    args = (torch.zeros((1, 7, 3)), torch.zeros((1, 7, 2)))
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(net, args, str(path), input_names=list(names),
                              output_names=["y"], dynamo=False,
                              dynamic_axes={n: {0: "batch", 1: "time"} for n in names})
    finally:
        logging.disable(logging.NOTSET)


def test_onnx_concat_of_graph_inputs_matches_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    net = Fused().eval()
    _export(net, tmp_path / "fused.onnx")
    spec = convert(tmp_path / "fused.onnx")
    assert spec.inputs == (("acc", 3), ("gyro", 2))
    assert spec.metadata["source.verified"].startswith("yes")
    acc, gyro = _sequences(4)
    session = ort.InferenceSession(str(tmp_path / "fused.onnx"),
                                   providers=["CPUExecutionProvider"])
    expected = session.run(["y"], {"acc": acc[None], "gyro": gyro[None]})[0][0]
    got = spec.load().run({"acc": acc, "gyro": gyro})
    assert float(np.max(np.abs(got - expected))) <= TOL
    with pytest.raises(ArgumentError, match="the source names its inputs acc=3, gyro=2"):
        convert(tmp_path / "fused.onnx", inputs={"x": 5})


def test_onnx_inputs_joined_otherwise_are_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    def graph(axis: int, feeds: list[str], extra: list[Any]) -> Any:
        ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "T", w])
               for n, w in (("acc", 3), ("gyro", 3))]
        nodes = [helper.make_node("Concat", feeds, ["x"], axis=axis), *extra]
        out = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
        return helper.make_model(helper.make_graph(nodes, "g", ins, [out]),
                                 opset_imports=[helper.make_opsetid("", 17)])

    with pytest.raises(ConversionError, match="joins on axis 1, not the feature"):
        convert(graph(1, ["acc", "gyro"], []), verify=False)
    with pytest.raises(ConversionError, match="an input is joined twice"):
        convert(graph(2, ["acc", "gyro", "acc"], []), verify=False)
    with pytest.raises(ConversionError, match="input 'gyro' also feeds Relu"):
        convert(graph(-1, ["acc", "gyro"], [helper.make_node("Relu", ["gyro"], ["r"],
                                                             name="side")]), verify=False)
    assert onnx is not None


def test_cli_convert_inputs_and_run_npz_of_inputs(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    spec = random_spec([5, 8, 3], seed=4)
    save_npz(spec, tmp_path / "w.npz")
    model = tmp_path / "m.grt"
    assert main(["convert", str(tmp_path / "w.npz"), "-o", str(model), "--input", "acc=3",
                 "--input", "gyro=2"]) == 0
    acc, gyro = _sequences(5)
    np.savez(tmp_path / "in.npz", gyro=gyro, acc=acc)
    assert main(["run", str(model), str(tmp_path / "in.npz"), "-o", str(tmp_path / "y.npy")]) == 0
    import gru_rt

    m = gru_rt.load(model)
    assert [(i.name, i.width) for i in m.inputs] == [("acc", 3), ("gyro", 2)]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  m.run(np.concatenate([acc, gyro], axis=1)))
    capsys.readouterr()
    np.savez(tmp_path / "bad.npz", acc=acc, gyr0=gyro)
    assert main(["run", str(model), str(tmp_path / "bad.npz"), "-o", str(tmp_path / "z.npy")]) == 1
    err = capsys.readouterr().err
    assert "the model's inputs are acc, gyro (missing: gyro) (not an input: gyr0)" in err
    np.savez(tmp_path / "short.npz", acc=acc, gyro=gyro[:9])
    assert main(["run", str(model), str(tmp_path / "short.npz"),
                 "-o", str(tmp_path / "z.npy")]) == 1
    assert "input 'gyro' has shape (9, 2), expected (500, 2)" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "w.npz"), "-o", str(tmp_path / "n.grt"), "--input",
                 "acc=x"]) == 1
    assert "--input 'acc=x': the width 'x' is not a whole number" in capsys.readouterr().err
