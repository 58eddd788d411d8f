"""The C loader's table of layer kinds as Python sees it (grt_layer_tensor, grt_kind_tensor): for
every kind × precision × weight layout, Model.tensor() gives back exactly the shapes, dtypes and
values the spec wrote, the layer sizes in LayerInfo are the stored bytes, and format.LAYER_TENSORS
(roles and dtypes, which the writer follows) agrees with the C table."""

from __future__ import annotations

import numpy as np
import pytest

from gru_rt._core import _kind_tensor
from gru_rt.format import DTYPES, LAYER_TENSORS, PANEL_ROWS, ROLES
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec, SpecError

from .models import random_spec

PRECISIONS = ("f32", "q8", "q15")


def _spec(precision: str, hidden: int, inputs: int = 3) -> ModelSpec:
    """GRU inputs → hidden, then Dense hidden → 5."""
    return random_spec([inputs, hidden, 5], precision, seed=hidden + inputs)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("layout", ["row-major", "auto"])
@pytest.mark.parametrize("hidden,inputs", [(8, 3), (6, 1), (16, 9)])
def test_tensors_are_what_the_spec_wrote(precision: str, layout: str, hidden: int,
                                         inputs: int) -> None:
    spec = _spec(precision, hidden, inputs).validated()
    model = spec.load(layout)
    panel8 = [info.weight_layout == "panel8" for info in model.layers]
    # auto stores f32 layers in panels where allowed (a GRU needs H % 8 == 0): both kinds covered
    assert panel8 == ([layout == "auto" and precision == "f32" and hidden % 8 == 0,
                       layout == "auto" and precision == "f32"])
    for k, (layer, info) in enumerate(zip(spec.layers, model.layers)):
        stored = 0
        for role, attr, dtype in LAYER_TENSORS[(layer.kind, layer.precision)]:
            want = getattr(layer, attr)
            got = model.tensor(k, role)
            assert got.shape == want.shape, (k, role)
            assert got.dtype == want.dtype == DTYPES[dtype][1], (k, role)
            np.testing.assert_array_equal(got, want)
            assert not got.flags.writeable
            _, shape, stored_rows, nbytes = _kind_tensor(layer.kind, layer.precision, role,
                                                         layer.input_size, layer.output_size,
                                                         info.weight_layout)
            assert shape == want.shape
            is_panel = info.weight_layout == "panel8" and role in ("w_ih", "w_hh")
            panels = -(-shape[0] // PANEL_ROWS)
            assert stored_rows == (panels * PANEL_ROWS if is_panel else shape[0])
            assert nbytes == stored_rows * (shape[1] if len(shape) == 2 else 1) * want.itemsize
            stored += nbytes
        assert info.weight_bytes == stored
        absent = set(ROLES) - {role for role, _, _ in LAYER_TENSORS[(layer.kind, layer.precision)]}
        for role in absent:
            with pytest.raises(KeyError, match=f"has no tensor '{role}'"):
                model.tensor(k, role)
    # the copy back is the same model, byte for byte
    assert model.to_spec().to_bytes(layout) == model.to_bytes()


def test_one_input_is_still_a_matrix() -> None:
    """w_ih of a layer with one input is (R, 1), not a vector (Model.tensor used to return (R,))."""
    model = _spec("f32", 4, inputs=1).load()
    assert model.tensor(0, "w_ih").shape == (12, 1)
    assert model.tensor(0, "b_ih").shape == (12,)
    assert model.to_spec().to_bytes() == model.to_bytes()


def test_unknown_role_and_layer() -> None:
    model = _spec("f32", 8).load()
    with pytest.raises(KeyError, match="layer 1 \\(dense, f32\\) has no tensor 'w_hh'"):
        model.tensor(1, "w_hh")
    with pytest.raises(KeyError, match="has no tensor 'bias'"):
        model.tensor(0, "bias")
    with pytest.raises(IndexError, match="layer 2 out of range"):
        model.tensor(2, "w_ih")


@pytest.mark.parametrize("kind", ["gru", "dense"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_format_table_agrees_with_the_c_table(kind: str, precision: str) -> None:
    listed = {role: dtype for role, _, dtype in LAYER_TENSORS[(kind, precision)]}
    described = {role: _kind_tensor(kind, precision, role, 3, 8) for role in ROLES}
    assert {role for role, d in described.items() if d is not None} == set(listed)
    for role, dtype in listed.items():
        d = described[role]
        assert d is not None and d[0] == dtype, role
    # role order in the file is ascending role code
    assert [ROLES[role] for role in listed] == sorted(ROLES[role] for role in listed)


def test_kind_tensor_shapes() -> None:
    assert _kind_tensor("gru", "f32", "w_ih", 3, 8) == ("f32", (24, 3), 24, 288)
    assert _kind_tensor("gru", "f32", "w_hh", 3, 8, "panel8") == ("f32", (24, 8), 24, 768)
    assert _kind_tensor("dense", "f32", "w_ih", 8, 3, "panel8") == ("f32", (3, 8), 8, 256)
    assert _kind_tensor("dense", "q15", "in_scale", 4, 3) == ("f32", (4,), 4, 16)
    assert _kind_tensor("gru", "q8", "w_hh_scale", 4, 3) == ("bf16", (9,), 9, 18)
    assert _kind_tensor("dense", "q8", "w_hh", 4, 3) is None
    assert _kind_tensor("gru", "f32", "not_a_role", 4, 3) is None
    assert _kind_tensor("lstm", "f32", "w_hh", 3, 8, "panel8") == ("f32", (32, 8), 32, 1024)
    assert _kind_tensor("lstm", "q8", "w_ih_scale", 3, 5) == ("bf16", (20,), 20, 40)
    assert _kind_tensor("lstm", "q8", "in_scale", 3, 5) is None
    assert _kind_tensor("lstm", "q15", "b_hh", 3, 5) == ("i32", (20,), 20, 80)  # 1.5


@pytest.mark.parametrize("args,status", [
    (("rnn", "f32", "w_ih", 3, 8), "GRT_E_LAYER_KIND"),
    (("lstm", "q15", "w_ih", 3, 8, "panel8"), "GRT_E_LAYER_FIELD"),  # panel8 is f32 only
    (("lstm", "f32", "w_ih", 3, 6, "panel8"), "GRT_E_LAYER_FIELD"),
    (("gru", "f16", "w_ih", 3, 8), "GRT_E_PRECISION"),
    (("gru", "f32", "w_ih", 0, 8), "GRT_E_DIMS"),
    (("gru", "f32", "w_ih", 3, 16385), "GRT_E_DIMS"),
    (("gru", "f32", "w_ih", 3, 6, "panel8"), "GRT_E_LAYER_FIELD"),
    (("gru", "q8", "w_ih", 3, 8, "panel8"), "GRT_E_LAYER_FIELD"),
    (("gru", "f32", "w_ih", 3, 8, "columns"), "GRT_E_LAYER_FIELD"),
])
def test_kind_tensor_refuses(args: tuple, status: str) -> None:
    with pytest.raises(ValueError, match=status):
        _kind_tensor(*args)


def test_spec_shapes_come_from_the_table() -> None:
    """The spec's checks name the shape the C table gives, for matrices and vectors alike."""
    gru = _spec("f32", 4).layers[0]
    assert isinstance(gru, GRULayer)
    bad = GRULayer(gru.w_ih, gru.w_hh, gru.b_ih[:-1], gru.b_hh)
    with pytest.raises(SpecError, match=r"b_ih has shape \(11,\), expected \(12,\)"):
        ModelSpec([bad]).validated()
    dense = DenseLayer(np.zeros((2, 3), np.int8), np.zeros(2, np.float32), precision="q8",
                       w_scale=np.zeros(3, np.uint16))
    with pytest.raises(SpecError, match=r"w_scale has shape \(3,\), expected \(2,\)"):
        ModelSpec([dense]).validated()
