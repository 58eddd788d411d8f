"""One test per loader error, through the Python API (the C tests cover every status in detail)."""

from __future__ import annotations

import numpy as np
import pytest

import gru_rt
from gru_rt.errors import ModelFormatError
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

from .grt_bytes import fix_crc, get, layer_field, put, tensor_field


@pytest.fixture()
def blob() -> bytearray:
    """GRU 2→3 then Dense 3→2: tensors 0-3 belong to the GRU, 4-5 to the Dense layer."""
    rng = np.random.default_rng(0)
    spec = ModelSpec([GRULayer(rng.normal(size=(9, 2)), rng.normal(size=(9, 3)),
                               rng.normal(size=9), rng.normal(size=9)),
                      DenseLayer(rng.normal(size=(2, 3)), rng.normal(size=2), "softmax")])
    data = bytearray(spec.to_bytes())
    gru_rt.load(bytes(data))  # valid as written
    return data


def load_error(data: bytes) -> ModelFormatError:
    with pytest.raises(ModelFormatError) as info:
        gru_rt.load(bytes(data))
    assert isinstance(info.value, ValueError)
    return info.value


@pytest.mark.parametrize("keep", [0, 10, 63, 64, -1])
def test_truncated_file(blob: bytearray, keep: int) -> None:
    e = load_error(blob[:keep] if keep >= 0 else blob[:-1])
    assert e.status == "GRT_E_TRUNCATED"


def test_trailing_bytes(blob: bytearray) -> None:
    assert load_error(blob + b"\0").status == "GRT_E_FILE_SIZE"


def test_bad_magic(blob: bytearray) -> None:
    blob[0:4] = b"GRT\0"
    assert load_error(blob).status == "GRT_E_MAGIC"


def test_unsupported_version(blob: bytearray) -> None:
    e = load_error(put(blob, "H", 8, 2))
    assert (e.status, e.field, e.actual, e.expected) == ("GRT_E_VERSION", "header.version_major",
                                                         2, 1)


def test_checksum_mismatch(blob: bytearray) -> None:
    blob[get(blob, "I", 52)] ^= 0x01  # one bit of the first tensor (data_offset is at 52)
    e = load_error(blob)
    assert e.status == "GRT_E_CHECKSUM"
    assert "checksum" in str(e).lower()
    gru_rt.load(bytes(blob), verify_checksum=False)  # structure is intact


def test_offset_out_of_range(blob: bytearray) -> None:
    e = load_error(put(blob, "I", tensor_field(blob, 5, 16), 1 << 20))
    assert (e.status, e.index) == ("GRT_E_TENSOR_OFFSET", 5)
    assert "tensor 5" in str(e)


def test_misaligned_tensor(blob: bytearray) -> None:
    offset = get(blob, "I", tensor_field(blob, 1, 16))
    e = load_error(put(blob, "I", tensor_field(blob, 1, 16), offset + 4))
    assert (e.status, e.index, e.actual) == ("GRT_E_TENSOR_ALIGN", 1, offset + 4)


def test_inconsistent_dims_between_layers(blob: bytearray) -> None:
    e = load_error(put(blob, "I", layer_field(1, 8), 4))  # Dense input 4, GRU output 3
    assert (e.status, e.index, e.actual, e.expected) == ("GRT_E_CHAIN", 1, 4, 3)
    assert "layer 1" in str(e)


def test_tensor_shape_disagrees_with_layer(blob: bytearray) -> None:
    e = load_error(put(blob, "I", tensor_field(blob, 0, 8), 6))  # w_ih rows 6, expected 3H = 9
    assert (e.status, e.index, e.actual, e.expected) == ("GRT_E_TENSOR_SHAPE", 0, 6, 9)


def test_unknown_enum_values(blob: bytearray) -> None:
    assert load_error(put(bytearray(blob), "B", layer_field(0, 0), 7)).status == "GRT_E_LAYER_KIND"
    assert load_error(put(bytearray(blob), "B", layer_field(0, 1), 3)).status == "GRT_E_PRECISION"
    # q8 is known: an f32 layer relabelled q8 has the wrong number of tensors for it.
    relabelled = put(bytearray(blob), "B", layer_field(0, 1), 1)
    assert load_error(relabelled).status == "GRT_E_TENSOR_COUNT"
    assert load_error(put(bytearray(blob), "B", layer_field(0, 2), 4)).status == "GRT_E_ACTIVATION"
    e = load_error(put(bytearray(blob), "B", layer_field(0, 4), 2))
    assert e.status == "GRT_E_LAYER_FIELD"


def test_error_names_the_file(tmp_path, blob: bytearray) -> None:
    path = tmp_path / "broken.grt"
    path.write_bytes(bytes(fix_crc(blob[:100])))
    with pytest.raises(ModelFormatError, match="broken.grt: GRT_E_TRUNCATED"):
        gru_rt.load(path)
