"""The NumPy importer: every convention, checked against a direct implementation of that
convention's own formula (written here, without the importer's transformations); every refusal."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError
from gru_rt.importers import PRESETS, Convention, import_arrays, import_npz
from gru_rt.reference import reference_run
from gru_rt.spec import DenseLayer, GRULayer, SpecError

TOL = 1e-6

SIGMA: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "hard_sigmoid": lambda a: np.clip(a / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_k2": lambda a: np.clip(0.2 * a + 0.5, 0.0, 1.0),
}
PHI: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0.0),
}


def f32(rng: np.random.Generator, shape: Any, scale: float = 0.6) -> np.ndarray:
    """Random weights exactly representable in float32 (the file's precision)."""
    return rng.normal(0, scale, shape).astype(np.float32).astype(np.float64)


def textbook_weights(rng: np.random.Generator, i: int, h: int, conv: Convention,
                     prefix: str = "0.") -> dict[str, np.ndarray]:
    """Stacked W, U, b_i, b_h in the convention's layout (gate blocks in its gate order)."""
    w, u = f32(rng, (3 * h, i)), f32(rng, (3 * h, h))
    if conv.layout == "in_out":
        w, u = w.T.copy(), u.T.copy()
    return {prefix + "W": w, prefix + "U": u, prefix + "b_i": f32(rng, 3 * h, 0.4),
            prefix + "b_h": f32(rng, 3 * h, 0.4)}


def textbook_gru(p: dict[str, np.ndarray], conv: Convention, xs: np.ndarray,
                 prefix: str = "0.") -> np.ndarray:
    """The GRU exactly as the convention writes it, from the stored arrays."""
    w, u, b_i, b_h = (p[prefix + n] for n in ("W", "U", "b_i", "b_h"))
    in_out = conv.layout == "in_out"
    h_size = u.shape[0] if in_out else u.shape[1]

    def gate(g: str) -> slice:
        k = conv.gate_order.index(g)
        return slice(k * h_size, (k + 1) * h_size)

    def mat(m: np.ndarray, g: str) -> np.ndarray:  # the block of gate g as an (out, in) matrix
        return m[:, gate(g)].T if in_out else m[gate(g)]

    sigma, phi = SIGMA[conv.gate_activation], PHI[conv.activation]
    h = np.zeros(h_size)
    out = []
    for x in xs:
        r = sigma(mat(w, "r") @ x + b_i[gate("r")] + mat(u, "r") @ h + b_h[gate("r")])
        z = sigma(mat(w, "z") @ x + b_i[gate("z")] + mat(u, "z") @ h + b_h[gate("z")])
        reset = r if conv.reset_sense == "r" else 1.0 - r
        if conv.reset == "after":
            n = phi(mat(w, "n") @ x + b_i[gate("n")] + reset * (mat(u, "n") @ h + b_h[gate("n")]))
        else:
            n = phi(mat(w, "n") @ x + b_i[gate("n")] + mat(u, "n") @ (reset * h) + b_h[gate("n")])
        h = (1 - z) * n + z * h if conv.update == "z_keeps_state" else (1 - z) * h + z * n
        out.append(h)
    return np.array(out)


ALL = list(itertools.product(["".join(p) for p in itertools.permutations("rzn")],
                             ["out_in", "in_out"], ["z_keeps_state", "z_takes_candidate"],
                             ["after", "before"], ["r", "one_minus_r"]))


@pytest.mark.parametrize("order,layout,update,reset,sense", ALL)
def test_every_convention_matches_its_textbook_formula(order: str, layout: str, update: str,
                                                       reset: str, sense: str) -> None:
    conv = Convention(gate_order=order, layout=layout, update=update, reset=reset,
                      reset_sense=sense)
    rng = np.random.default_rng(ALL.index((order, layout, update, reset, sense)))
    p = textbook_weights(rng, 3, 4, conv)
    xs = rng.normal(0, 1.5, (60, 3))
    spec = import_arrays(p, convention=conv)
    ys, state = reference_run(spec, xs)
    expected = textbook_gru(p, conv, xs)
    assert np.max(np.abs(ys - expected)) <= TOL
    layer = spec.layers[0]
    assert isinstance(layer, GRULayer) and layer.reset_after == (reset == "after")


@pytest.mark.parametrize("act,gate", [("relu", "sigmoid"), ("tanh", "hard_sigmoid"),
                                      ("tanh", "hard_sigmoid_k2"), ("relu", "hard_sigmoid_k2")])
@pytest.mark.parametrize("update,sense", [("z_keeps_state", "r"),
                                          ("z_takes_candidate", "one_minus_r")])
def test_activations_and_sign_flips_with_hard_sigmoids(act: str, gate: str, update: str,
                                                       sense: str) -> None:
    conv = Convention(gate_order="zrn", update=update, reset_sense=sense, activation=act,
                      gate_activation=gate)
    rng = np.random.default_rng(11)
    p = textbook_weights(rng, 2, 5, conv)
    xs = rng.normal(0, 2.0, (60, 2))
    spec = import_arrays(p, convention=conv)
    layer = spec.layers[0]
    assert isinstance(layer, GRULayer)
    assert (layer.activation, layer.gate_activation) == (act, gate)
    expected = textbook_gru(p, conv, xs)
    scale = max(1.0, float(np.abs(expected).max()))  # relu candidates can grow
    assert np.max(np.abs(reference_run(spec, xs)[0] - expected)) <= TOL * scale


def test_per_gate_keys() -> None:
    conv = Convention(layout="in_out", update="z_takes_candidate", reset="before")
    rng = np.random.default_rng(3)
    p = textbook_weights(rng, 3, 4, Convention(gate_order="rzn", layout="in_out"))
    per_gate = {}
    for k, g in enumerate("rzn"):
        cols = slice(4 * k, 4 * k + 4)
        per_gate[f"0.W_{g}"] = p["0.W"][:, cols]
        per_gate[f"0.U_{g}"] = p["0.U"][:, cols]
        per_gate[f"0.b_i{g}" if g == "r" else f"0.b_{g}"] = p["0.b_i"][cols]
        per_gate[f"0.b_h{g}"] = p["0.b_h"][cols]
    xs = rng.normal(size=(40, 3))
    a = import_arrays(per_gate, convention=conv)
    b = import_arrays(p, convention=conv)
    assert a.to_bytes() == b.to_bytes()
    expected = textbook_gru(p, replace_conv(conv, gate_order="rzn"), xs)
    assert np.max(np.abs(reference_run(a, xs)[0] - expected)) <= TOL
    assert a.metadata["source.transforms"] == "transposed in_out->out_in; negated z (update sense)"


def replace_conv(conv: Convention, **changes: str) -> Convention:
    return Convention(**{**vars(conv), **changes})


@pytest.mark.parametrize("shape", ["2x3H", "6H"])
def test_combined_bias_as_keras_and_onnx_store_it(shape: str) -> None:
    conv = PRESETS["keras"]
    rng = np.random.default_rng(4)
    p = textbook_weights(rng, 2, 3, conv)
    both = np.stack([p["0.b_i"], p["0.b_h"]])
    combined = {"0.W": p["0.W"], "0.U": p["0.U"],
                "0.b": both if shape == "2x3H" else both.reshape(-1)}
    assert import_arrays(combined, convention="keras").to_bytes() == \
        import_arrays(p, convention="keras").to_bytes()


def test_missing_biases_are_zero() -> None:
    rng = np.random.default_rng(5)
    p = textbook_weights(rng, 2, 3, Convention())
    spec = import_arrays({"0.W": p["0.W"], "0.U": p["0.U"], "1.W": f32(rng, (2, 3))})
    gru, dense = spec.layers
    assert isinstance(gru, GRULayer) and isinstance(dense, DenseLayer)
    assert not gru.b_ih.any() and not gru.b_hh.any() and not dense.b.any()


def test_stack_with_dense_layers_and_npz_file(tmp_path: Path) -> None:
    conv = Convention(gate_order="zrn", layout="in_out", reset="before")
    rng = np.random.default_rng(6)
    arrays = {"0.W": f32(rng, (3, 5)), "0.b": f32(rng, 5)}  # Dense 3→5 (in_out: I × O)
    arrays.update(textbook_weights(rng, 5, 4, conv, "1."))
    arrays.update(textbook_weights(rng, 4, 6, conv, "2."))
    arrays.update({"3.W": f32(rng, (6, 2)), "3.b": f32(rng, 2)})
    path = tmp_path / "weights.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    spec = convert(path, convention=str(conv), activations={"0": "relu"},
                   head_activation="softmax", metadata={"run": "7"})
    assert spec.metadata["source.verified"] == "no (weights only)"
    assert spec.to_bytes() == import_npz(path, convention=conv, activations={0: "relu"},
                                         head_activation="softmax",
                                         metadata={"run": "7", "source.verified":
                                                   "no (weights only)"}).to_bytes()
    assert spec.to_bytes() == convert(arrays, convention=conv, activations={"0": "relu"},
                                      head_activation="softmax",
                                      metadata={"run": "7"}).to_bytes()
    xs = rng.normal(size=(50, 3))
    a = np.maximum(xs @ arrays["0.W"] + arrays["0.b"], 0)
    a = textbook_gru(arrays, conv, a, "1.")
    a = textbook_gru(arrays, conv, a, "2.")
    logits = a @ arrays["3.W"] + arrays["3.b"]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ys, state = reference_run(spec, xs)
    assert np.max(np.abs(ys - expected)) <= TOL
    assert state.shape == (10,)
    assert spec.metadata == {
        "source.framework": "numpy",
        "source.convention": "gate_order=zrn,layout=in_out,update=z_keeps_state,reset=before,"
                             "reset_sense=r,activation=tanh,gate_activation=sigmoid",
        "source.transforms": "transposed in_out->out_in; gate reorder zrn->rzn",
        "run": "7",
        "source.verified": "no (weights only)",
    }
    assert Convention.parse(spec.metadata["source.convention"]) == conv


def test_default_convention_needs_no_transform() -> None:
    rng = np.random.default_rng(7)
    p = textbook_weights(rng, 2, 2, Convention())
    spec = convert(p)
    assert spec.metadata["source.transforms"] == "none"
    gru = spec.layers[0]
    assert isinstance(gru, GRULayer)
    np.testing.assert_array_equal(gru.w_ih, p["0.W"])


# ---- Convention ---------------------------------------------------------------------------------

def test_convention_parse_and_presets() -> None:
    assert Convention.parse("") == Convention()
    assert Convention.parse(" gate_order = zrh , update=z_takes_candidate ") == \
        Convention(gate_order="zrn", update="z_takes_candidate")
    assert Convention.parse("keras") == Convention(gate_order="zrn", layout="in_out")
    assert Convention.parse("keras,reset=before") == \
        Convention(gate_order="zrn", layout="in_out", reset="before")
    assert Convention.parse("onnx") == Convention(gate_order="zrn", reset="before")
    assert Convention.coerce({"layout": "in_out"}) == Convention(layout="in_out")
    assert Convention.coerce(None) == Convention()
    for conv in PRESETS.values():
        assert Convention.parse(str(conv)) == conv


@pytest.mark.parametrize("text,words", [
    ("gate_order=zzn", "gate_order is 'zzn', expected a permutation of 'rzn'"),
    ("gate_order=rz", "permutation"),
    ("layout=columns", "layout is 'columns', expected one of out_in, in_out"),
    ("update=z", "update is 'z', expected one of z_keeps_state, z_takes_candidate"),
    ("reset=never", "reset is 'never', expected one of after, before"),
    ("reset_sense=1-r", "reset_sense is '1-r'"),
    ("activation=sigmoid", "activation is 'sigmoid', expected one of tanh, relu"),
    ("gate_activation=tanh", "gate_activation is 'tanh'"),
    ("order=zrn", "unknown field 'order'"),
    ("layout", "neither a preset"),
    ("reset=after,layout", "'layout' is not of the form field=value"),
    ("layout=", "'layout=' is not of the form field=value"),
    ("reset=after,reset=before", "reset is given twice"),
    ("tensorflow", "'tensorflow' is neither a preset (torch, keras, onnx)"),
    ("reset=after,keras", "'keras' is not of the form field=value"),
])
def test_convention_errors(text: str, words: str) -> None:
    with pytest.raises(ConversionError) as info:
        Convention.parse(text)
    assert words in str(info.value)


def test_convention_coerce_errors() -> None:
    with pytest.raises(ConversionError, match="unknown field 'gates'"):
        Convention.coerce({"gates": "zrn"})
    with pytest.raises(TypeError, match="convention must be"):
        Convention.coerce(3)  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match="gate_order"):
        convert({"0.W": np.zeros((3, 1)), "0.U": np.zeros((3, 1))}, convention="gate_order=x")


# ---- refusals ------------------------------------------------------------------------------------

def good() -> dict[str, Any]:
    rng = np.random.default_rng(8)
    p = textbook_weights(rng, 3, 4, Convention())
    p.update({"1.W": f32(rng, (2, 4)), "1.b": f32(rng, 2)})
    return p


@pytest.mark.parametrize("changes,words", [
    ({"0.V": np.zeros(3)}, "0.V: not a key of a GRU layer with stacked gates; expected 0.W, 0.U"),
    ({"1.U_r": np.zeros(3)}, "1.W: layer 1 mixes stacked keys"),
    ({"W": np.zeros(3)}, "'W' is not a layer key: expected '<layer index>.<name>'"),
    ({"01.W": np.zeros(3)}, "'01.W' is not a layer key"),
    ({"1.W.T": np.zeros(3)}, "'1.W.T' is not a layer key"),
    ({"3.W": np.zeros((1, 2))}, "no keys for layer 2 (found layers 0, 1, 3)"),
    ({"1.c": np.zeros(2)}, "1.c: not a key of a Dense layer (layer 1 has no recurrent weights"),
    ({"1.W": None, "1.b": None, "1.bias": np.zeros(2)}, "1.W is missing (layer 1 has no recurrent"),
    ({"0.U": np.zeros((12, 5))}, "0.U has shape (12, 5), expected (3·H, H)"),
    ({"0.U": np.zeros(12)}, "0.U has shape (12,), expected (3·H, H)"),
    ({"0.W": np.zeros((11, 3))}, "0.W has shape (11, 3), expected (12, 3)"),
    ({"0.W": None}, "0.W is missing (expected shape (12, input_size))"),
    ({"0.U": None}, "0.b_i: not a key of a Dense layer (layer 0 has no recurrent weights 'U')"),
    ({"0.b_i": np.zeros(11)}, "0.b_i has shape (11,), expected (12,)"),
    ({"0.b_h": np.zeros((12, 1))}, "0.b_h has shape (12, 1), expected (12,)"),
    ({"0.b": np.zeros(12)}, "0.b and 0.b_i are both given"),
    ({"0.b_i": np.zeros((2, 12))}, "0.b_i holds both biases (shape (2, 12)), and 0.b_h is given"),
    ({"0.W_r": np.zeros((4, 3))}, "layer 0 mixes stacked keys"),
    ({"1.W": np.zeros((2, 5))},
     "1.W has shape (2, 5), expected (2, 4) (4 = the output size of layer 0)"),
    ({"1.b": np.zeros(3)}, "1.b has shape (3,), expected (2,)"),
    ({"1.W": np.zeros(4)}, "1.W has shape (4,), expected a 2-D matrix"),
    ({"0.W": np.full((12, 3), np.nan)}, "0.W contains NaN or Inf"),
    ({"1.b": np.array([1.0, np.inf])}, "1.b contains NaN or Inf"),
    ({"1.b": np.array(["a", "b"])}, "1.b has dtype <U1, expected a real number type"),
    ({"1.b": np.array([True, False])}, "1.b has dtype bool"),
    ({"1.b": np.zeros(2, complex)}, "1.b has dtype complex128"),
    ({"1.b": np.array([None, 1.0])}, "1.b has dtype object"),
])
def test_refusals_name_the_key(changes: dict[str, Any], words: str) -> None:
    arrays = good()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    with pytest.raises(ConversionError) as info:
        import_arrays(arrays)
    assert words in str(info.value)


def test_in_out_shape_errors_are_stated_in_that_layout() -> None:
    conv = Convention(layout="in_out")
    arrays = textbook_weights(np.random.default_rng(9), 3, 4, conv)
    arrays["0.W"] = np.zeros((3, 11))
    with pytest.raises(ConversionError, match=r"0.W has shape \(3, 11\), expected \(3, 12\)"):
        import_arrays(arrays, convention=conv)
    arrays["0.U"] = np.zeros((5, 12))
    with pytest.raises(ConversionError, match=r"0.U has shape \(5, 12\), expected \(H, 3·H\)"):
        import_arrays(arrays, convention=conv)


def test_per_gate_refusals() -> None:
    rng = np.random.default_rng(10)
    arrays = {f"0.{m}_{g}": f32(rng, (2, 2)) for m in "WU" for g in "rzn"}
    import_arrays(arrays)
    with pytest.raises(ConversionError, match="0.U_z is missing"):
        import_arrays({k: v for k, v in arrays.items() if k != "0.U_z"})
    with pytest.raises(ConversionError, match=r"0.U_z has shape \(2, 3\), expected \(2, 2\)"):
        import_arrays({**arrays, "0.U_z": np.zeros((2, 3))})
    with pytest.raises(ConversionError, match="0.b_r and 0.b_ir are both given"):
        import_arrays({**arrays, "0.b_r": np.zeros(2), "0.b_ir": np.zeros(2)})
    with pytest.raises(ConversionError, match="0.b_x: not a key of a GRU layer with one key"):
        import_arrays({**arrays, "0.b_x": np.zeros(2)})


def test_activation_refusals() -> None:
    with pytest.raises(ConversionError, match="activations: '0' is a GRU layer; .*by index: 1"):
        import_arrays(good(), activations={"0": "relu"})
    with pytest.raises(ConversionError, match="activations: 'x' is not a layer index"):
        import_arrays(good(), activations={"x": "relu"})
    with pytest.raises(ConversionError, match="activations: 5 is not a layer index"):
        import_arrays(good(), activations={5: "relu"})
    with pytest.raises(SpecError, match="mish"):  # not a Dense activation of the format
        import_arrays(good(), head_activation="mish")
    with pytest.raises(ConversionError, match="conflicts"):
        import_arrays(good(), activations={"1": "relu"}, head_activation="softmax")
    only_gru = {k: v for k, v in good().items() if k.startswith("0.")}
    with pytest.raises(ConversionError, match=r"head_activation: the last layer \(0\) is a GRU"):
        import_arrays(only_gru, head_activation="softmax")


def test_npz_refusals(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        import_npz(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ConversionError, match="cannot read .*junk.npz"):
        convert(junk)
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ConversionError, match="holds a single array"):
        convert(single)
    objects = tmp_path / "objects.npz"
    np.savez(objects, **{"0.W": np.array([{"a": 1}], dtype=object)})  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match="0.W cannot be read without pickle"):
        convert(objects)
    with pytest.raises(ConversionError, match="no arrays"):
        empty = tmp_path / "empty.npz"
        np.savez(empty)
        convert(empty)
