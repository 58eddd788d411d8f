"""safetensors files as a weight source: the strict reader (every malformed header gets a precise
error), the layer order (safetensors sorts tensors by name), parity with PyTorch, and no torch
needed."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.convert import convert
from gru_rt.errors import ConversionError
from gru_rt.importers.safetensors_reader import read_bytes

torch = pytest.importorskip("torch")
nn = torch.nn

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-5
_CODES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<f2"): "F16",
          np.dtype("<i8"): "I64"}


def safetensors_bytes(arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None,
                      dtypes: dict[str, str] | None = None) -> bytes:
    """A safetensors file the way the reference writer lays it out: tensors sorted by name."""
    header: dict[str, Any] = {}
    data = b""
    for name in sorted(arrays):
        raw = np.ascontiguousarray(arrays[name]).tobytes()
        dtype = (dtypes or {}).get(name) or _CODES[arrays[name].dtype]
        header[name] = {"dtype": dtype, "shape": list(arrays[name].shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def state_arrays(module: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def perturbed(module: Any, seed: int) -> Any:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.6)
    return module.eval()


class Net(nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 8, num_layers=2)
        self.fc = nn.Linear(8, 3)

    def forward(self, xs: Any) -> Any:
        return self.fc(self.gru(xs[:, None])[0][:, 0])


def test_state_dict_matches_torch(tmp_path: Path) -> None:
    net = perturbed(Net(), 0)
    path = tmp_path / "net.safetensors"
    path.write_bytes(safetensors_bytes(state_arrays(net), metadata={"format": "pt"}))
    spec = convert(path)  # stored order: fc.* before gru.*; the sizes give gru → fc
    assert spec.metadata["source.file"] == "safetensors"
    assert spec.metadata["source.layer_order"] == "the only order in which the module sizes chain"
    assert spec.metadata["source.layers"] == "gru(l0,l1),fc"
    xs = np.random.default_rng(1).standard_normal((500, 4)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(xs)).numpy()
    err = float(np.max(np.abs(spec.load().run(xs) - want)))
    print(f"safetensors max |gru_rt - torch| = {err:.2e}")
    assert err <= TOL


def test_sequential_numeric_order(tmp_path: Path) -> None:
    seq = perturbed(nn.Sequential(*[nn.Linear(3, 3) for _ in range(11)], nn.Linear(3, 2)), 1)
    path = tmp_path / "seq.safetensors"
    path.write_bytes(safetensors_bytes(state_arrays(seq)))  # stored 0, 1, 10, 11, 2, …
    with pytest.warns(UserWarning, match=r"layers 0 \(0\) and 1 are two Dense layers"):
        spec = convert(path)  # 12 Linear layers with no activation: likely a dropped one
    assert spec.metadata["source.layer_order"] == "numeric module indices"
    assert spec.metadata["source.layers"] == ",".join(str(k) for k in range(12))
    want = convert(seq.state_dict(), verify=False)
    assert [x.w.tolist() for x in spec.layers] == [x.w.tolist() for x in want.layers]


def test_ambiguous_order_must_be_stated(tmp_path: Path) -> None:
    class Same(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(4, 4)
            self.a_in = nn.Linear(4, 4)

    model = perturbed(Same(), 2)
    path = tmp_path / "same.safetensors"
    path.write_bytes(safetensors_bytes(state_arrays(model)))
    with pytest.raises(ConversionError, match=r"does not record the order .* 2 orders .* state "
                                              r"it: convert\(\.\.\., layers="):
        convert(path)
    spec = convert(path, layers=["a_in", "rnn"], head_activation=None)
    assert [x.kind for x in spec.layers] == ["dense", "gru"]
    assert spec.metadata["source.layer_order"] == "stated (layers=)"
    with pytest.raises(ConversionError, match="layers: 'nope' is not a module prefix"):
        convert(path, layers=["nope", "rnn"])
    with pytest.raises(ConversionError, match="missing 'a_in'"):
        convert(path, layers=["rnn"])
    done = subprocess.run([sys.executable, "-m", "gru_rt", "convert", str(path), "-o",
                           str(tmp_path / "m.grt"), "--layers", "rnn,a_in"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr


def test_half_precision_dtypes(tmp_path: Path) -> None:
    w = np.array([[1.5, -2.0], [0.25, 3.0]], np.float32)
    bf16 = (w.view(np.uint32) >> 16).astype(np.uint16)  # exact: these values fit bfloat16
    data = safetensors_bytes({"fc.weight": bf16, "fc.bias": np.array([1, 2], np.float16)},
                             dtypes={"fc.weight": "BF16"})
    arrays = read_bytes(data)
    np.testing.assert_array_equal(arrays["fc.weight"], w)
    assert arrays["fc.bias"].dtype == np.float16
    (tmp_path / "half.safetensors").write_bytes(data)
    spec = convert(tmp_path / "half.safetensors")
    np.testing.assert_array_equal(spec.layers[0].w, w)


def test_converts_without_torch(tmp_path: Path) -> None:
    net = perturbed(Net(), 3)
    path = tmp_path / "net.safetensors"
    path.write_bytes(safetensors_bytes(state_arrays(net)))
    code = ("import sys; sys.modules['torch'] = None\n"
            "from gru_rt.convert import convert\n"
            f"spec = convert({str(path)!r})\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
            "print(spec.metadata['source.layers'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "gru(l0,l1),fc"


def header_file(header: Any, data: bytes = b"", raw: bytes | None = None) -> bytes:
    text = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


F32_2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}

MALFORMED = [
    (b"\x01\x02", "2 bytes, too short for the 8-byte header length"),
    (struct.pack("<Q", 1000) + b"{}", "header length 1000 runs past the end of the file"),
    (struct.pack("<Q", 2 ** 40), "header length 1099511627776 exceeds the limit"),
    (header_file(None, raw=b"{not json"), "the header is not valid JSON"),
    (header_file(None, raw=b"\xff\xfe{}"), "the header is not UTF-8"),
    (header_file(None, raw=b'{"a": {}, "a": {}}'), "tensor name 'a' appears twice"),
    (header_file([1, 2]), "the header is a JSON list, expected an object"),
    (header_file({"a": 3}), "tensor 'a': header entry is a int"),
    (header_file({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "tensor 'a': header entry "
                                                                     "has no data_offsets"),
    (header_file({"a": {**F32_2, "extra": 1}}, b"\0" * 8), "unknown field(s) extra"),
    (header_file({"a": {**F32_2, "dtype": "F33"}}, b"\0" * 8),
     "dtype 'F33' is not a safetensors dtype"),
    (header_file({"a": {**F32_2, "dtype": "F8_E4M3"}}, b"\0" * 8),
     "dtype 'F8_E4M3' is a dtype gru_rt does not read"),
    (header_file({"a": {**F32_2, "shape": [-2]}}, b"\0" * 8), "shape [-2] is not a list"),
    (header_file({"a": {**F32_2, "data_offsets": [0]}}, b"\0" * 8), "data_offsets [0] is not a "
                                                                      "pair"),
    (header_file({"a": {**F32_2, "data_offsets": [8, 0]}}, b"\0" * 8),
     "data_offsets [8, 0] end before they begin"),
    (header_file({"a": {**F32_2, "data_offsets": [0, 16]}}, b"\0" * 8),
     "data_offsets [0, 16] run past the end of the data (8 bytes)"),
    (header_file({"a": {**F32_2, "data_offsets": [0, 4]}}, b"\0" * 8),
     "hold 4 bytes, but shape (2,) of F32 needs 8"),
    (header_file({"a": F32_2, "b": {**F32_2, "data_offsets": [4, 12]}}, b"\0" * 12),
     "tensor 'b' starts at data offset 4, expected 8: it overlaps tensor 'a'"),
    (header_file({"a": F32_2, "b": {**F32_2, "data_offsets": [12, 20]}}, b"\0" * 20),
     "tensor 'b' starts at data offset 12, expected 8: it leaves a gap: bytes 8 … 11"),
    (header_file({"a": F32_2}, b"\0" * 12), "the tensors cover 8 bytes of data, but the file "
                                             "has 12 bytes after the header"),
    (header_file({"__metadata__": {"k": 1}}), "__metadata__ must be an object of strings"),
]


@pytest.mark.parametrize("data,message", MALFORMED, ids=[m[1][:40] for m in MALFORMED])
def test_malformed_files_get_precise_errors(data: bytes, message: str) -> None:
    with pytest.raises(ConversionError) as info:
        read_bytes(data, "f.safetensors")
    assert message in str(info.value)
    assert str(info.value).startswith("f.safetensors: ")


def test_foreign_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "emb.safetensors"
    path.write_bytes(safetensors_bytes({"emb.weight": np.ones((3, 2), np.float32),
                                        "emb.scale": np.ones(2, np.float32)}))
    with pytest.raises(ConversionError, match="emb.scale"):
        convert(path)
    with pytest.raises(ValueError, match="layers applies to a torch.nn.Module or a .safetensors"):
        convert(tmp_path / "x.npz", layers=["a"])
