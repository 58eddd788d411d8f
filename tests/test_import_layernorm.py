"""LayerNorm from the frameworks (format 1.4): PyTorch nn.LayerNorm, Keras LayerNormalization and
ONNX LayerNormalization, before, between and after GRUs, matched against the framework's own
outputs over 600-step sequences (f32 within 1e-5; q8/q15 within their stated error, the q15
LayerNorm's in docs/QUANTIZATION.md), streaming equal to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError
from gru_rt.quantize import quantize
from gru_rt.spec import LayerNormLayer

T = 600
TOL = 1e-5
QUANT_TOL = 0.03  # q8/q15: of the largest output, on these random untrained models


def xs_for(i: int, seed: int = 0, t: int = T) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1.5, (t, i)).astype(np.float32)


def check_precisions(spec: Any, xs: np.ndarray, want: np.ndarray) -> None:
    """f32 ≤ 1e-5 against the framework, streaming == run; q8 and q15 close to it."""
    model = spec.load()
    got = model.run(xs)
    assert np.max(np.abs(got - want)) <= TOL
    stream = model.stream()
    assert np.array_equal(np.stack([stream.step(x) for x in xs[:50]]), got[:50])
    scale = float(np.max(np.abs(want)))
    for precision in ("q8", "q15"):
        q = quantize(spec, precision, xs[None])[0].load()
        err = float(np.max(np.abs(q.run(xs) - want)))
        print(f"{precision}: max error {err:.3g} = {err / scale:.2%} of max|y|")
        assert err <= QUANT_TOL * scale, precision


# ---- PyTorch -----------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
nn = torch.nn


class TorchNet(nn.Module):  # type: ignore[name-defined,misc]
    """LayerNorm → GRU → LayerNorm → Linear, the LayerNorms with and without affine parts."""

    def __init__(self, affine: bool, bias: bool, eps: float) -> None:
        super().__init__()
        self.norm_in = nn.LayerNorm(5, eps=eps, elementwise_affine=affine, bias=bias)
        self.gru = nn.GRU(5, 12)
        self.norm = nn.LayerNorm(12, eps=eps)
        self.head = nn.Linear(12, 3)

    def forward(self, xs: Any) -> Any:
        return self.head(self.norm(self.gru(self.norm_in(xs)[:, None])[0][:, 0]))


@pytest.mark.parametrize("affine,bias,eps", [(True, True, 1e-5), (False, False, 1e-3),
                                             (True, False, 1e-6)])
def test_torch_layernorm_matches_torch(affine: bool, bias: bool, eps: float) -> None:
    net = TorchNet(affine, bias, eps).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.6 + (1.0 if p.ndim == 1 and
                                                                   p.shape[0] in (5, 12) else 0))
    spec = convert(net)
    assert [layer.kind for layer in spec.layers] == ["layernorm", "gru", "layernorm", "dense"]
    norm = spec.layers[0]
    assert isinstance(norm, LayerNormLayer) and np.float32(norm.eps) == np.float32(eps)
    xs = xs_for(5)
    with torch.no_grad():
        want = net(torch.from_numpy(xs)).numpy()
    check_precisions(spec, xs, want)


def test_torch_state_dict_layernorm_and_refusals() -> None:
    net = nn.Sequential(nn.GRU(3, 4), nn.LayerNorm(4))
    with pytest.raises(ConversionError, match="1.weight: an nn.LayerNorm, whose eps a state dict "
                                              "does not record"):
        convert(net.state_dict())
    spec = convert(net.state_dict(), layernorm_eps=1e-5)
    assert spec.layers[1].kind == "layernorm" and spec.layers[1].eps == pytest.approx(1e-5)
    with pytest.raises(ConversionError, match=r"normalized_shape=\(2, 4\).*last dimension"):
        convert(nn.Sequential(nn.Linear(3, 8), nn.LayerNorm((2, 4))))


# ---- Keras -------------------------------------------------------------------------------------

def _keras() -> Any:
    return pytest.importorskip("keras")


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_keras_layernormalization_matches_keras(center: bool, scale: bool, tmp_path: Path) -> None:
    keras = _keras()
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((None, 5)), layers.LayerNormalization(epsilon=1e-4, center=center,
                                                          scale=scale),
        layers.GRU(12, return_sequences=True), layers.LayerNormalization(),
        layers.Dense(3)])
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(1.0 if w.ndim == 1 else 0.0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    path = tmp_path / "ln.keras"
    model.save(path)
    spec = convert(path)
    assert [layer.kind for layer in spec.layers] == ["layernorm", "gru", "layernorm", "dense"]
    assert spec.layers[2].eps == pytest.approx(1e-3)  # Keras' default epsilon
    xs = xs_for(5, seed=5)
    want = np.asarray(keras.ops.convert_to_numpy(model(xs[None], training=False)))[0]
    check_precisions(spec, xs, want)


def test_keras_layernormalization_refusals(tmp_path: Path) -> None:
    keras = _keras()
    layers = keras.layers
    rms = keras.Sequential([keras.Input((None, 4)), layers.LayerNormalization(rms_scaling=True),
                            layers.Dense(2)])
    rms.save(tmp_path / "rms.keras")
    with pytest.raises(ConversionError, match="rms_scaling"):
        convert(tmp_path / "rms.keras")
    folded = keras.Sequential([keras.Input((None, 4)), layers.BatchNormalization(),
                               layers.LayerNormalization(), layers.Dense(2)])
    folded.save(tmp_path / "bn.keras")
    with pytest.raises(ConversionError, match="cannot fold into a LayerNormalization"):
        convert(tmp_path / "bn.keras")


# ---- ONNX --------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset,affine", [(17, True), (16, True), (13, False)])
def test_onnx_layernormalization_matches_onnxruntime(opset: int, affine: bool,
                                                     tmp_path: Path) -> None:
    """Opset 17 has the LayerNormalization op; below it torch writes the ReduceMean/Sub/Pow/
    ReduceMean/Add/Sqrt/Div(/Mul/Add) formula, which converts as one LayerNorm layer."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = TorchNet(affine, affine, 1e-4).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    path = tmp_path / "ln.onnx"
    import contextlib
    import io
    import warnings
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(T, 5),), str(path), dynamo=False,
                          opset_version=opset, input_names=["x"], output_names=["y"])
    spec = convert(path)
    assert [layer.kind for layer in spec.layers] == ["layernorm", "gru", "layernorm", "dense"]
    assert all(np.float32(layer.eps) == np.float32(1e-4) for layer in spec.layers
               if isinstance(layer, LayerNormLayer))
    assert ("LayerNorm formula" in spec.metadata["source.layers"]) == (opset < 17)
    xs = xs_for(5, seed=6)
    want = ort.InferenceSession(str(path)).run(None, {"x": xs})[0]
    assert np.max(np.abs(spec.load().run(xs) - want)) <= TOL
