"""The LSTM layer kind (format 1.4): f32 against the float64 reference, q8 bit for bit against the
golden model at every ISA level, streaming = run, state layout (h then c), spec and loader rules,
and PyTorch's nn.LSTM / nn.LSTMCell as the framework oracle."""

from __future__ import annotations

import numpy as np
import pytest

import gru_rt
from gru_rt import format as fmt
from gru_rt.errors import ConversionError, ModelFormatError
from gru_rt.golden import golden_run
from gru_rt.quantize import quantize
from gru_rt.reference import reference_run, state_size
from gru_rt.spec import LSTMLayer, ModelSpec, SpecError
from tests.models import random_spec

T_LONG = 600  # the issue's >= 500-step parity sequences


def _xs(t: int, i: int, seed: int = 1, n: int | None = None) -> np.ndarray:
    shape = (t, i) if n is None else (n, t, i)
    return np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)


def _mixed(precision: str = "f32", **kw: object) -> ModelSpec:
    """LSTM → GRU → LSTM → Dense: the kinds mix in one stack."""
    return random_spec([5, 16, 9, 12, 4], precision, kinds=["lstm", "gru", "lstm"], **kw)  # type: ignore[arg-type]


# ---- f32 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("act,gate", [("tanh", "sigmoid"), ("relu", "hard_sigmoid"),
                                      ("tanh", "hard_sigmoid_k2")])
def test_f32_matches_reference(each_isa: str, act: str, gate: str) -> None:
    spec = _mixed(act=act, gate=gate, seed=3)
    xs = _xs(T_LONG, 5)
    want, want_state = reference_run(spec, xs)
    model = spec.load()
    ys, state = model.run(xs, return_state=True)
    assert np.max(np.abs(ys - want)) <= 1e-5
    assert np.max(np.abs(state - want_state)) <= 1e-4  # c is not bounded by 1 (relu)
    # row-major and panel8 (H = 16: whole panels) run the same model
    assert model.layers[0].weight_layout == "panel8"
    ys_rm = spec.load("row-major").run(xs)
    assert np.max(np.abs(ys_rm - want)) <= 1e-5


def test_state_is_h_then_c() -> None:
    spec = random_spec([3, 6, 2], kinds="lstm", seed=4)
    model = spec.load()
    assert model.state_size == state_size(spec) == 12
    assert model.layers[0].kind == "lstm" and model.layers[0].state_offset == 0
    s = model.stream()
    xs = _xs(20, 3)
    for x in xs:
        s.step(x)
    _, want_state = reference_run(spec, xs)
    assert np.max(np.abs(s.state - want_state)) <= 1e-5
    # h (the first 6) is the LSTM's output: the Dense head applied to it gives the model's output
    dense = spec.layers[1]
    y = s.step(xs[0])
    h = s.state[:6].astype(np.float64)
    assert np.max(np.abs(y - (dense.w.astype(np.float64) @ h + dense.b))) <= 1e-5
    # a state set from outside continues like the reference from that state
    start = np.random.default_rng(5).normal(0, 0.5, 12).astype(np.float32)
    s.state = start
    ys = model.run(xs, state=start)
    assert np.max(np.abs(ys - reference_run(spec, xs, start)[0])) <= 1e-5


@pytest.mark.parametrize("precision", ["f32", "q8"])
def test_stream_equals_run_bit_for_bit(each_isa: str, precision: str) -> None:
    spec = _mixed(precision, seed=6)
    model = spec.load()
    xs = _xs(300, 5, seed=7)
    ys = model.run(xs)
    s = model.stream()
    stepped = np.stack([s.step(x) for x in xs])
    assert np.array_equal(ys, stepped)
    # many sequences in lockstep, and ragged ones, are each the run of that sequence alone
    many = _xs(40, 5, seed=8, n=5)
    batch = model.run(many)
    for k in range(5):
        assert np.array_equal(batch[k], model.run(many[k]))
    ragged = model.run([many[0, :40], many[1, :7], many[2, :23]])
    assert np.array_equal(ragged[1], model.run(many[1, :7]))


# ---- q8 ---------------------------------------------------------------------------------------


def test_q8_equals_golden(each_isa: str) -> None:
    spec = _mixed("q8", seed=9)
    xs = _xs(T_LONG, 5, seed=10)
    model = spec.load()
    ys, state = model.run(xs, return_state=True)
    gold = golden_run(spec, xs)
    assert np.array_equal(ys, gold.outputs)
    assert np.array_equal(state, gold.state)
    # relu/hard_sigmoid LSTMs too
    spec2 = random_spec([4, 24, 3], "q8", kinds="lstm", act="relu", gate="hard_sigmoid", seed=11)
    xs2 = _xs(200, 4, seed=12, n=3)
    assert np.array_equal(spec2.load().run(xs2), golden_run(spec2, xs2).outputs)


def test_q8_error_against_float() -> None:
    spec = _mixed(seed=13)
    qspec, report = quantize(spec, "q8", _xs(100, 5, seed=14, n=4))
    xs = _xs(T_LONG, 5, seed=15)
    err = np.abs(qspec.load().run(xs) - spec.load().run(xs))
    # docs/QUANTIZATION.md: this random model's q8 outputs are within 0.06 of f32, 0.005 on average
    assert np.max(err) < 0.1 and np.mean(err) < 0.01, (np.max(err), np.mean(err))
    assert qspec.metadata["quant.precision"] == "q8"
    assert len(report.layers) == 4 and report.output[0] < 0.1 and report.output[1] < 0.01


# ---- spec, file, loader -----------------------------------------------------------------------


def test_spec_checks() -> None:
    rng = np.random.default_rng(0)
    good = dict(w_ih=rng.normal(size=(8, 3)), w_hh=rng.normal(size=(8, 2)),
                b_ih=np.zeros(8), b_hh=np.zeros(8))
    ModelSpec([LSTMLayer(**good)]).validated()
    with pytest.raises(SpecError, match=r"layer 0 \(lstm\): w_ih has shape \(6, 3\), expected "
                                        r"\(8, 3\)"):
        ModelSpec([LSTMLayer(**{**good, "w_ih": rng.normal(size=(6, 3))})]).validated()
    with pytest.raises(SpecError, match="activation is 'sigmoid', expected one of tanh, relu"):
        ModelSpec([LSTMLayer(**good, activation="sigmoid")]).validated()
    with pytest.raises(SpecError, match="gate_activation is 'tanh'"):
        ModelSpec([LSTMLayer(**good, gate_activation="tanh")]).validated()


def test_file_round_trip_and_info() -> None:
    spec = _mixed("q8", seed=17)
    blob = spec.to_bytes()
    model = gru_rt.load(blob)
    assert model.version == (fmt.VERSION_MAJOR, fmt.VERSION_MINOR)
    back = model.to_spec()
    assert [layer.kind for layer in back.layers] == ["lstm", "gru", "lstm", "dense"]
    assert back.to_bytes() == blob
    summary = model.summary()
    assert "LSTM       5 → 16" in summary and "state 65 float32" in summary
    assert "LSTM(5→16)" in repr(model)
    # the layer table says kind 3; a GRU reader's recipe does not fit its 4H-row tensors
    entry = fmt.HEADER_SIZE
    assert blob[entry] == fmt.KIND_LSTM
    bad = bytearray(blob)
    bad[entry] = fmt.KIND_GRU
    with pytest.raises(ModelFormatError, match="tensor.rows") as e:
        gru_rt.load(bytes(bad), verify_checksum=False)
    assert (e.value.actual, e.value.expected) == (64, 48)


# ---- PyTorch ----------------------------------------------------------------------------------


def _torch_net(torch, lstm_first):  # type: ignore[no-untyped-def]
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = lstm_first
            self.gru = nn.GRU(12, 8, batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.head(self.gru(self.lstm(x)[0])[0])

    return Net()


def test_torch_lstm_parity() -> None:
    torch = pytest.importorskip("torch")
    from gru_rt.importers.torch_importer import import_module, import_state_dict

    torch.manual_seed(0)
    net = _torch_net(torch, torch.nn.LSTM(6, 12, num_layers=2, batch_first=True)).eval()
    spec = import_module(net)
    assert [layer.kind for layer in spec.layers] == ["lstm", "lstm", "gru", "dense"]
    assert spec.metadata["source.layers"] == "lstm(l0,l1),gru(l0),head"
    xs = torch.randn(1, T_LONG, 6)
    with torch.no_grad():
        want = net(xs)[0].numpy()
    got = spec.load().run(xs[0].numpy())
    assert np.max(np.abs(got - want)) <= 1e-5
    # the state dict alone gives the same model: the kind is read from weight_hh's 4H rows
    from_state = import_state_dict(net.state_dict())
    assert from_state.to_bytes() == ModelSpec(spec.layers, from_state.metadata).to_bytes()


def test_torch_lstm_cell_parity() -> None:
    torch = pytest.importorskip("torch")
    from gru_rt.importers.torch_importer import import_module

    torch.manual_seed(1)
    cell = torch.nn.LSTMCell(4, 10)
    spec = import_module(cell)
    assert spec.layers[0].kind == "lstm" and spec.layers[0].name == "lstm_cell"
    xs = torch.randn(T_LONG, 4)
    h = c = torch.zeros(1, 10)
    want = []
    with torch.no_grad():
        for x in xs:
            h, c = cell(x[None], (h, c))
            want.append(h[0].numpy())
    s = spec.load().stream()
    got = np.stack([s.step(x) for x in xs.numpy()])
    assert np.max(np.abs(got - np.stack(want))) <= 1e-5
    assert np.max(np.abs(s.state[10:] - c[0].numpy())) <= 1e-4  # the cell state follows h


def test_torch_refusals() -> None:
    torch = pytest.importorskip("torch")
    from gru_rt.importers.torch_importer import import_module, import_state_dict

    with pytest.raises(ConversionError, match=r"module 'lstm' \(nn.LSTM, proj_size=3\): an "
                                              r"nn.LSTM with proj_size > 0"):
        import_module(_torch_net(torch, torch.nn.LSTM(6, 12, proj_size=3)))
    with pytest.raises(ConversionError, match=r"module 'lstm' \(nn.LSTM, bidirectional=True\)"):
        import_module(_torch_net(torch, torch.nn.LSTM(6, 12, bidirectional=True)))
    state = torch.nn.LSTM(6, 12, proj_size=3).state_dict()
    with pytest.raises(ConversionError, match=r"weight_hr_l0: an nn.LSTM with proj_size > 0"):
        import_state_dict(state)
    # an nn.RNN's (H, H) recurrent weight is neither kind
    with pytest.raises(ConversionError, match=r"weight_hh_l0 has shape \(5, 5\), expected "
                                              r"\(15, 5\) \(.*is this an nn.RNN\?\)"):
        import_state_dict(torch.nn.RNN(3, 5).state_dict())


def test_torch_convert_verifies_lstm_modules() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    for source in (torch.nn.LSTM(3, 8), torch.nn.LSTMCell(3, 8),
                   torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(),
                                       torch.nn.LSTM(5, 8, batch_first=True))):
        spec = gru_rt.convert(source)
        assert spec.metadata["source.verified"].startswith("yes (max err"), spec.metadata


# ---- Keras ------------------------------------------------------------------------------------


@pytest.mark.parametrize("act,gate", [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_keras_lstm_parity(tmp_path, act: str, gate: str) -> None:  # type: ignore[no-untyped-def]
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((None, 5)),
        layers.LSTM(16, return_sequences=True, activation=act, recurrent_activation=gate,
                    unit_forget_bias=True),
        layers.GRU(8, return_sequences=True),
        layers.LSTM(6, use_bias=False, return_sequences=True),
        layers.Dense(3)])
    rng = np.random.default_rng(3)
    scale = 0.5 if act == "tanh" else 0.25
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * scale
                       for w in model.get_weights()])
    xs = _xs(T_LONG, 5, seed=4)
    want = np.asarray(keras.ops.convert_to_numpy(model(xs[None], training=False)))[0]
    spec = gru_rt.convert(model)
    assert [layer.kind for layer in spec.layers] == ["lstm", "gru", "lstm", "dense"]
    assert spec.layers[0].gate_activation == gate  # Keras 3's hard_sigmoid: relu6(x + 3) / 6
    assert "keras LSTM: gates i,f,c,o" in spec.metadata["source.convention"]
    assert np.max(np.abs(spec.load().run(xs) - want)) <= 1e-5
    # a saved .keras file gives the same model
    model.save(tmp_path / "m.keras")
    from_file = gru_rt.convert(tmp_path / "m.keras")
    assert np.max(np.abs(from_file.load().run(xs) - want)) <= 1e-5
    # return_sequences=False on the last LSTM: the stream's last step is Keras' output
    last = keras.Sequential([keras.Input((None, 5)), layers.LSTM(7)])
    last.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.5
                      for w in last.get_weights()])
    want_last = np.asarray(keras.ops.convert_to_numpy(last(xs[None], training=False)))[0]
    assert np.max(np.abs(gru_rt.convert(last).load().run(xs)[-1] - want_last)) <= 1e-5
