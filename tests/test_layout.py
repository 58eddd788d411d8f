"""The panel8 weight layout (docs/FORMAT.md, "Weight layouts"): what the writer stores, what the
loader accepts and refuses, that Model.tensor/to_spec give the logical matrices back, and that
panel8 models compute what row-major ones do at every kernel level."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import gru_rt
from gru_rt.errors import ModelFormatError
from gru_rt.quantize import quantize
from gru_rt.reference import reference_run
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec
from gru_rt.writer import to_panels, write_model

from .grt_bytes import get, layer_field, put, tensor_field


def stack(i: int, h: int, o: int, seed: int, reset_after: bool = True) -> ModelSpec:
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(h)
    return ModelSpec([
        GRULayer(rng.uniform(-k, k, (3 * h, i)), rng.uniform(-k, k, (3 * h, h)),
                 rng.uniform(-k, k, 3 * h), rng.uniform(-k, k, 3 * h), reset_after=reset_after),
        DenseLayer(rng.normal(0, 0.5, (o, h)), rng.normal(0, 0.3, o), activation="softmax"),
    ])


def data_of(data: bytes, k: int, dtype: str = "<f4") -> np.ndarray:
    offset = get(data, "I", 52) + get(data, "I", tensor_field(data, k, 16))
    return np.frombuffer(data, dtype, get(data, "I", tensor_field(data, k, 20)) // 4, offset)


def test_panels_as_the_format_says() -> None:
    w = np.arange(3 * 5, dtype=np.float32).reshape(3, 5)
    p = to_panels(w)  # one panel: 5 columns of 8 lanes, rows 3..7 zero
    assert p.shape == (1, 5, 8)
    for r in range(8):
        for c in range(5):
            assert p.reshape(-1)[8 * c + r] == (w[r, c] if r < 3 else 0)


def test_writer_stores_panels_where_allowed() -> None:
    spec = stack(3, 8, 3, seed=1)
    data = write_model(spec)
    assert [data[layer_field(k, 5)] for k in range(2)] == [1, 1]
    gru, dense = spec.layers
    assert isinstance(gru, GRULayer) and isinstance(dense, DenseLayer)
    # tensor 0: w_ih 24 x 3, three full panels; tensor 4: the Dense 3 x 8, one padded panel
    def rows_and_nbytes(k: int) -> tuple[int, int]:
        return get(data, "I", tensor_field(data, k, 8)), get(data, "I", tensor_field(data, k, 20))

    assert rows_and_nbytes(0) == (24, 288) and rows_and_nbytes(4) == (3, 256)
    w_ih = to_panels(gru.w_ih.astype(np.float32)).reshape(-1)
    np.testing.assert_array_equal(data_of(data, 0), w_ih)
    dense_data = data_of(data, 4).reshape(8, 8)  # (column, lane)
    np.testing.assert_array_equal(dense_data[:, :3].T, dense.w.astype(np.float32))
    assert not dense_data[:, 3:].any()
    # H % 8 != 0: the GRU stays row-major; "row-major" keeps every layer row-major
    assert write_model(stack(3, 6, 3, seed=1))[layer_field(0, 5)] == 0
    assert [write_model(spec, "row-major")[layer_field(k, 5)] for k in range(2)] == [0, 0]
    with pytest.raises(ValueError, match="weight_layout 'panel'"):
        write_model(spec, "panel")


def test_quantized_layers_stay_row_major() -> None:
    spec, _ = quantize(stack(4, 8, 3, seed=2), "q8")
    data = spec.to_bytes()
    assert [data[layer_field(k, 5)] for k in range(2)] == [0, 0]


def test_tensor_and_to_spec_give_the_logical_matrices() -> None:
    spec = stack(5, 16, 9, seed=3)
    model = spec.load()
    assert [info.weight_layout for info in model.layers] == ["panel8", "panel8"]
    assert "panel8" in model.summary()
    w_hh = model.tensor(0, "w_hh")
    assert w_hh.shape == (48, 16) and not w_hh.flags.writeable
    back = model.to_spec()
    for a, b in zip(spec.layers, back.layers):
        for attr in ("w_ih", "w_hh", "b_ih", "b_hh") if isinstance(a, GRULayer) else ("w", "b"):
            expected = np.asarray(getattr(a, attr), np.float32)
            np.testing.assert_array_equal(getattr(b, attr), expected)
    assert back.to_bytes() == spec.to_bytes()  # and it writes the same file again
    row_major = spec.load("row-major")
    assert [info.weight_bytes for info in row_major.layers][0] == model.layers[0].weight_bytes
    assert model.layers[1].weight_bytes == (16 * 16 + 9) * 4  # 9 rows stored as 16


@pytest.mark.parametrize("reset_after", [True, False])
def test_panel8_computes_what_row_major_does(each_isa: str, reset_after: bool) -> None:
    spec = stack(7, 24, 5, seed=4, reset_after=reset_after)
    xs = np.random.default_rng(5).standard_normal((300, 7)).astype(np.float32)
    panel, row_major = spec.load(), spec.load("row-major")
    ys_p, ys_r = panel.run(xs), row_major.run(xs)
    ref, _ = reference_run(spec, xs)
    np.testing.assert_allclose(ys_p, ref, atol=2e-6)
    np.testing.assert_allclose(ys_p, ys_r, atol=2e-6)
    s = panel.stream()  # run == step, bit for bit
    np.testing.assert_array_equal(np.stack([s.step(x) for x in xs]), ys_p)


def patched(data: bytes, offset: int, value: int, fmt: str = "B") -> bytes:
    return bytes(put(bytearray(data), fmt, offset, value))


def test_loader_refuses_panel8_where_the_format_does() -> None:
    data = write_model(stack(3, 8, 3, seed=6))
    # a GRU whose H is not a multiple of 8
    odd = write_model(stack(3, 6, 3, seed=6), "row-major")
    with pytest.raises(ModelFormatError, match="layer.weight_layout") as e:
        gru_rt.load(patched(odd, layer_field(0, 5), 1))
    assert e.value.status == "GRT_E_LAYER_FIELD" and e.value.actual == 1 and e.value.expected == 0
    # an unknown layout code
    with pytest.raises(ModelFormatError, match="layer.weight_layout"):
        gru_rt.load(patched(data, layer_field(1, 5), 2))
    # a q8 layer
    q8 = quantize(stack(3, 8, 3, seed=6), "q8")[0].to_bytes()
    with pytest.raises(ModelFormatError, match="layer.weight_layout"):
        gru_rt.load(patched(q8, layer_field(0, 5), 1))
    # a non-zero padding lane of the Dense matrix's last panel (rows 3..7)
    lane = get(data, "I", 52) + get(data, "I", tensor_field(data, 4, 16)) + 4 * (8 * 2 + 5)
    with pytest.raises(ModelFormatError, match="panel_padding") as e:
        gru_rt.load(patched(data, lane, struct.unpack("<I", struct.pack("<f", 1.0))[0], "I"))
    assert e.value.status == "GRT_E_PADDING"
