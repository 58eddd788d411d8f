"""The causal Conv1D layer kind (1.4): f32 against the float64 reference and PyTorch's own
nn.Conv1d (left-padded), q8/q15 bit for bit against the golden model at every ISA level, a step,
a run and a batch giving the same bits, the window state (reset, chunk edges), the spec's and the
loader's refusals."""

from __future__ import annotations

import numpy as np
import pytest

import gru_rt
from gru_rt.errors import ModelFormatError
from gru_rt.format import VERSION_MINOR
from gru_rt.golden import golden_run
from gru_rt.quantize import quantize
from gru_rt.reference import reference_run
from gru_rt.spec import Conv1DLayer, DenseLayer, GRULayer, ModelSpec, SpecError

from .grt_bytes import layer_field, put


def conv(i: int, o: int, k: int, d: int = 1, depthwise: bool = False, activation: str = "linear",
         seed: int = 0) -> Conv1DLayer:
    rng = np.random.default_rng(seed)
    cols = k if depthwise else k * i
    return Conv1DLayer(w=rng.normal(0, 1 / np.sqrt(cols), (o, cols)), b=rng.normal(0, 0.1, o),
                       in_channels=i, kernel_size=k, dilation=d, depthwise=depthwise,
                       activation=activation)


def crnn(seed: int = 0, depthwise: bool = False) -> ModelSpec:
    """Conv1D(3→6, k=3, d=2, relu) → Conv1D(6→8, k=2, d=4, depthwise or not) → GRU(8) → Dense."""
    rng = np.random.default_rng(seed)
    h = 8
    return ModelSpec([
        conv(3, 6, 3, 2, activation="relu", seed=seed),
        conv(6, 12 if depthwise else 8, 2, 4, depthwise=depthwise, activation="tanh",
             seed=seed + 1),
        GRULayer(rng.normal(0, 0.4, (3 * h, 12 if depthwise else 8)),
                 rng.normal(0, 0.4, (3 * h, h)), rng.normal(0, 0.1, 3 * h),
                 rng.normal(0, 0.1, 3 * h)),
        DenseLayer(rng.normal(0, 0.5, (4, h)), rng.normal(0, 0.1, 4), "softmax")])


def torch_causal(layer: Conv1DLayer, xs: np.ndarray) -> np.ndarray:
    """PyTorch's nn.Conv1d with the causal left padding, (T, I) → (T, O), before the activation."""
    torch = pytest.importorskip("torch")
    groups = layer.input_size if layer.depthwise else 1
    c = torch.nn.Conv1d(layer.input_size, layer.output_size, layer.kernel_size,
                        dilation=layer.dilation, groups=groups).double()
    with torch.no_grad():
        c.weight[:] = torch.from_numpy(layer.w.astype(np.float64).reshape(c.weight.shape))
        c.bias[:] = torch.from_numpy(layer.b.astype(np.float64))
        x = torch.nn.functional.pad(torch.from_numpy(xs.T.astype(np.float64))[None],
                                    (layer.window, 0))
        return c(x)[0].T.numpy()


@pytest.mark.parametrize("k,d,depthwise", [(1, 1, False), (3, 1, False), (3, 4, False),
                                           (5, 2, True), (2, 7, True)])
def test_f32_is_torch_causal_conv(k: int, d: int, depthwise: bool) -> None:
    layer = conv(4, 8, k, d, depthwise, seed=k + d)
    xs = np.random.default_rng(1).normal(size=(600, 4)).astype(np.float32)
    want = torch_causal(layer, xs)
    model = ModelSpec([layer]).load()
    assert np.max(np.abs(model.run(xs) - want)) <= 1e-5
    s = model.stream()
    steps = np.stack([s.step(x) for x in xs])
    np.testing.assert_array_equal(steps, model.run(xs))
    # the state is the last (k - 1)·d input frames, oldest first
    np.testing.assert_array_equal(s.state, xs[len(xs) - layer.window:].reshape(-1))


def test_f32_model_matches_reference_step_run_batch() -> None:
    for depthwise in (False, True):
        spec = crnn(depthwise=depthwise)
        model = spec.load()
        xs = np.random.default_rng(2).normal(size=(3, 700, 3)).astype(np.float32)
        ref = np.stack([reference_run(spec, x)[0] for x in xs])
        ys = model.run(xs)
        assert np.max(np.abs(ys - ref)) <= 1e-5
        s = model.stream()
        np.testing.assert_array_equal(np.stack([s.step(x) for x in xs[1]]), ys[1])
        np.testing.assert_allclose(s.state, reference_run(spec, xs[1])[1], atol=1e-5)
        batch = model.stream_batch(3)
        np.testing.assert_array_equal(np.stack([batch.step(xs[:, t]) for t in range(40)], axis=1),
                                      ys[:, :40])


def test_window_across_chunks_and_reset() -> None:
    """Runs cut at every length (the window crosses chunk edges, longer or shorter than a chunk)
    continue exactly; reset clears the window."""
    model = ModelSpec([conv(2, 3, 4, 3)]).load()  # window of 9 frames
    xs = np.random.default_rng(3).normal(size=(40, 2)).astype(np.float32)
    whole = model.run(xs)
    for cut in (1, 5, 9, 10, 33):
        s = model.stream()
        np.testing.assert_array_equal(np.concatenate([s.run(xs[:cut]), s.run(xs[cut:])]), whole)
    s = model.stream()
    s.run(xs)
    s.reset()
    assert not np.any(s.state)
    np.testing.assert_array_equal(s.run(xs), whole)


@pytest.mark.parametrize("precision", ["q8", "q15"])
@pytest.mark.parametrize("depthwise", [False, True])
def test_quantized_bit_exact_with_golden(each_isa: str, precision: str, depthwise: bool) -> None:
    spec = crnn(seed=4, depthwise=depthwise)
    cal = np.random.default_rng(5).normal(size=(4, 100, 3))
    qspec, _ = quantize(spec, precision, calibration=cal)
    model = qspec.load()
    xs = np.random.default_rng(6).normal(size=(2, 90, 3)).astype(np.float32)
    gold = golden_run(qspec, xs)
    np.testing.assert_array_equal(model.run(xs), gold.outputs)
    s = model.stream()
    np.testing.assert_array_equal(np.stack([s.step(x) for x in xs[0]]), gold.outputs[0])
    np.testing.assert_array_equal(s.state, gold.state[0])


@pytest.mark.parametrize("precision", ["q8", "q15"])
def test_quantized_error_over_long_sequences(precision: str) -> None:
    spec = crnn(seed=4)
    cal = np.random.default_rng(5).normal(size=(4, 200, 3))
    qspec, report = quantize(spec, precision, calibration=cal)
    xs = np.random.default_rng(6).normal(size=(600, 3)).astype(np.float32)
    ys = qspec.load().run(xs)
    np.testing.assert_array_equal(ys, golden_run(qspec, xs).outputs)
    # the documented error of these softmax outputs (docs/QUANTIZATION.md, "Conv1D")
    assert np.max(np.abs(ys - reference_run(spec, xs)[0])) < 0.03
    assert report.argmax_agreement is not None and report.argmax_agreement > 0.95


def test_q15_int16_api_is_golden() -> None:
    qspec, _ = quantize(crnn(seed=7), "q15")
    xq = np.random.default_rng(8).integers(-30000, 30000, (300, 3)).astype(np.int16)
    s = qspec.load().stream()
    want = gru_rt.golden.golden_run_int16(qspec, xq)
    np.testing.assert_array_equal(np.stack([s.step_int16(x) for x in xq]), want.outputs)


def test_round_trip_and_info() -> None:
    spec = ModelSpec([conv(3, 6, 3, 2, depthwise=True, activation="leaky_relu(alpha=0.1)")])
    model = spec.load()
    assert model.to_spec().to_bytes() == model.to_bytes()
    info = model.layers[0]
    assert (info.kind, info.kernel_size, info.dilation, info.depthwise, info.alpha,
            info.state_offset) == ("conv1d", 3, 2, True, pytest.approx(0.1), 0)
    assert model.state_size == 4 * 3
    assert "Conv1D" in model.summary() and "k=3 dilation=2 depthwise" in model.summary()
    assert model.version == (1, VERSION_MINOR)


@pytest.mark.parametrize("change,match", [
    (dict(kernel_size=0), "kernel_size is 0"),
    (dict(dilation=70000), "dilation is 70000"),
    (dict(in_channels=2), "w_ih|w has shape"),
    (dict(depthwise=True, in_channels=4), "not a multiple of its 4 input channels"),
    (dict(kernel_size=1024, dilation=1024), "window"),
    (dict(activation="softsign"), "activation"),
])
def test_spec_refuses(change: dict, match: str) -> None:
    from dataclasses import replace
    layer = replace(conv(3, 6, 3), **change)
    with pytest.raises(SpecError, match=match):
        ModelSpec([layer]).to_bytes()


def test_q15_refuses_float_only_activation() -> None:
    with pytest.raises(gru_rt.ConversionError, match="q15 has no fixed-point 'gelu'"):
        quantize(ModelSpec([conv(2, 3, 2, activation="gelu")]), "q15")


def _load_error(data: bytearray) -> ModelFormatError:
    with pytest.raises(ModelFormatError) as info:
        gru_rt.load(bytes(data))
    return info.value


@pytest.mark.parametrize("offset,fmt,value,status,field", [
    (28, "H", 0, "GRT_E_LAYER_FIELD", "layer.kernel_size"),
    (30, "H", 0, "GRT_E_LAYER_FIELD", "layer.dilation"),
    (30, "H", 40000, "GRT_E_LAYER_FIELD", "layer.dilation"),  # window 2·40000·16 > 2^20 values
    (28, "H", 1025, "GRT_E_DIMS", "layer.kernel_size"),  # k·I = 1025·16 > 16384
    (4, "B", 2, "GRT_E_LAYER_FIELD", "layer.depthwise"),
    (3, "B", 3, "GRT_E_LAYER_FIELD", "layer.gate_activation"),
    (5, "B", 1, "GRT_E_LAYER_FIELD", "layer.weight_layout"),  # panel8: not for Conv1D
    (0, "B", 2, "GRT_E_LAYER_FIELD", "layer.reserved"),  # as a Dense layer: kernel and dilation set
])
def test_loader_refuses(offset: int, fmt: str, value: int, status: str, field: str) -> None:
    data = bytearray(ModelSpec([conv(16, 6, 3, 2)]).to_bytes())
    e = _load_error(put(data, fmt, layer_field(0, offset), value))
    assert (e.status, e.field) == (status, field)


def test_loader_refuses_depthwise_output_not_multiple() -> None:
    data = bytearray(ModelSpec([conv(3, 5, 3)]).to_bytes())
    e = _load_error(put(data, "B", layer_field(0, 4), 1))  # depthwise with 5 outputs of 3 channels
    assert (e.status, e.field) == ("GRT_E_DIMS", "layer.output_size")


def test_old_kinds_keep_their_reserved_field() -> None:
    """A Dense layer with the Conv1D field set is refused (the field is Conv1D's only)."""
    data = bytearray(ModelSpec([DenseLayer(np.ones((2, 3)), np.zeros(2))]).to_bytes())
    e = _load_error(put(data, "I", layer_field(0, 28), 3))
    assert (e.status, e.field) == ("GRT_E_LAYER_FIELD", "layer.reserved")


# ---- PyTorch importer ------------------------------------------------------------------------

def _torch_crnn():  # type: ignore[no-untyped-def]
    """The forms people write: a left pad module before a Conv1d, a depthwise Conv1d whose
    forward() slices off the right padding, (N, C, T) ↔ (N, T, C) transposes in forward()."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class CRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pad = nn.ConstantPad1d((4, 0), 0.0)
            self.conv = nn.Conv1d(3, 8, 3, dilation=2)
            self.act = nn.ReLU()
            self.dw = nn.Conv1d(8, 16, 2, dilation=3, groups=8, padding=3)
            self.gru = nn.GRU(16, 12, batch_first=True)
            self.head = nn.Linear(12, 4)

        def forward(self, x):  # type: ignore[no-untyped-def]
            y = self.act(self.conv(self.pad(x.transpose(1, 2))))
            y = self.dw(y)[..., :-3]
            y, _ = self.gru(y.transpose(1, 2))
            return self.head(y)

    torch.manual_seed(0)
    return torch, CRNN().eval()


def test_torch_crnn_parity() -> None:
    from gru_rt.importers.torch_importer import import_module

    torch, module = _torch_crnn()
    x = torch.randn(2, 600, 3)
    with torch.no_grad():
        want = module(x).numpy()
    spec = import_module(module, causal=["dw"])
    assert [layer.kind for layer in spec.layers] == ["conv1d", "conv1d", "gru", "dense"]
    assert spec.layers[0].activation == "relu" and spec.layers[1].depthwise
    model = spec.load()
    assert np.max(np.abs(model.run(x.numpy()) - want)) <= 1e-5
    s = model.stream()
    np.testing.assert_array_equal(np.stack([s.step(v) for v in x.numpy()[0]]),
                                  model.run(x.numpy()[0]))


@pytest.mark.parametrize("build,match", [
    (lambda nn: nn.Sequential(nn.Conv1d(2, 3, 3)), "name it in causal=\\['0'\\]"),
    (lambda nn: nn.Sequential(nn.Conv1d(2, 3, 3, padding=1)), "needs padding 0 or 2"),
    (lambda nn: nn.Sequential(nn.ZeroPad1d((2, 0)), nn.Conv1d(2, 3, 3, stride=2)), "stride 2"),
    (lambda nn: nn.Sequential(nn.ConstantPad1d((1, 0), 0.0), nn.Conv1d(2, 3, 3)),
     "left padding of \\(kernel_size - 1\\)·dilation = 2"),
    (lambda nn: nn.Sequential(nn.ConstantPad1d((1, 1), 0.0), nn.Conv1d(2, 3, 2)),
     "only zeros on the left"),
    (lambda nn: nn.Sequential(nn.ZeroPad1d((2, 0)), nn.Conv1d(4, 4, 3, groups=2)), "groups=2"),
    (lambda nn: nn.Sequential(nn.ZeroPad1d((2, 0)), nn.Conv1d(2, 3, 3, padding_mode="zeros"),
                              nn.MaxPool1d(2)), "MaxPool1d.*changes the time rate"),
    (lambda nn: nn.Sequential(nn.ZeroPad1d((2, 0)), nn.Linear(2, 3)), "not an nn.Conv1d"),
])
def test_torch_refuses_what_cannot_stream(build, match: str) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    from gru_rt.importers.torch_importer import import_module

    with pytest.raises(gru_rt.ConversionError, match=match):
        import_module(build(torch.nn))


def test_torch_state_dict_of_a_conv_is_refused() -> None:
    torch = pytest.importorskip("torch")
    from gru_rt.importers.torch_importer import import_state_dict

    with pytest.raises(gru_rt.ConversionError, match="convert the nn.Module itself"):
        import_state_dict(torch.nn.Conv1d(2, 3, 3).state_dict())


# ---- Keras importer ----------------------------------------------------------------------------

def _keras_crnn():  # type: ignore[no-untyped-def]
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((None, 3)),
        layers.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu"),
        layers.Conv1D(16, 2, padding="causal", dilation_rate=3, groups=8),  # depthwise, m = 2
        layers.BatchNormalization(),  # folds into the Conv1D's outputs
        layers.Activation("tanh"),
        layers.GRU(12, return_sequences=True),
        layers.Dense(4, activation="softmax")])
    rng = np.random.default_rng(1)
    model.layers[2].set_weights([rng.uniform(0.5, 1.5, 16), rng.normal(size=16),
                                 rng.normal(size=16), rng.uniform(0.5, 1.5, 16)])
    return keras, model


def test_keras_crnn_parity(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gru_rt.importers.keras_importer import import_file, import_model

    keras, model = _keras_crnn()
    x = np.random.default_rng(2).normal(size=(2, 600, 3)).astype(np.float32)
    want = np.asarray(model(x, training=False).detach().cpu())
    spec = import_model(model)
    assert [layer.kind for layer in spec.layers] == ["conv1d", "conv1d", "gru", "dense"]
    assert spec.layers[1].depthwise and spec.layers[1].activation == "tanh"
    assert np.max(np.abs(spec.load().run(x) - want)) <= 1e-5
    path = tmp_path / "crnn.keras"
    model.save(path)
    assert import_file(path).to_bytes() == spec.to_bytes()


@pytest.mark.parametrize("build,match", [
    (lambda L: [L.Conv1D(4, 3)], "padding='valid'.*use padding='causal'"),
    (lambda L: [L.Conv1D(4, 3, padding="same")], "padding='same'"),
    (lambda L: [L.Conv1D(4, 3, padding="causal", strides=2)], "strides=2"),
    (lambda L: [L.Conv1D(4, 1), L.MaxPooling1D(2)], "MaxPooling1D.*changes the time rate"),
    (lambda L: [L.BatchNormalization(), L.Conv1D(4, 2, padding="causal")],
     "cannot fold into a causal Conv1D"),
])
def test_keras_refuses_what_cannot_stream(build, match: str) -> None:  # type: ignore[no-untyped-def]
    keras = pytest.importorskip("keras")
    from gru_rt.importers.keras_importer import import_model

    model = keras.Sequential([keras.Input((None, 3)), *build(keras.layers)])
    with pytest.raises(gru_rt.ConversionError, match=match):
        import_model(model)


def test_cli_info_and_export_c(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from gru_rt.cli import main

    path = tmp_path / "conv.grt"
    crnn(depthwise=True).save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Conv1D     3 → 6" in out and "k=2 dilation=4 depthwise causal" in out
    assert main(["export-c", str(path), "-o", str(tmp_path / "conv_model")]) == 0
    assert (tmp_path / "conv_model.c").read_text().count("0x") > 100


@pytest.mark.parametrize("where,fmt,value,why", [
    (24, "I", 1, "an input mask"),  # header flags bit 0 (mask value 0.0 at offset 60)
    (None, "B", 1, "a reverse or bidirectional layer"),  # the GRU's direction byte: reverse
])
def test_loader_refuses_conv_where_it_cannot_run(where: int | None, fmt: str, value: int,
                                                 why: str) -> None:
    """A Conv1D runs only in streams: with a reverse GRU (whole sequences only) the model could
    not run at all, and with an input mask its window would take in the masked frames."""
    data = bytearray(crnn().to_bytes())
    e = _load_error(put(data, fmt, layer_field(2, 6) if where is None else where, value))
    assert (e.status, e.field, e.index) == ("GRT_E_LAYER_KIND",
                                            f"layer.kind (Conv1D in a model with {why})", 0)
