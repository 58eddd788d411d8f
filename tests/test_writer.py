"""The writer against docs/FORMAT.md: a golden file checked field by field, determinism, refusals;
and write_atomic (fileio), through which ModelSpec.save writes.

Offsets here are spelled out from FORMAT.md on purpose (not taken from gru_rt.format), so that this
test checks the writer's constants too. Regenerate the golden file after a deliberate format change
with `python -m tests.test_writer` (then inspect it by hand).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from gru_rt import format as fmt
from gru_rt._version import __version__
from gru_rt.fileio import write_atomic
from gru_rt.spec import DenseLayer, GRULayer, ModelSpec, SpecError, check_metadata
from gru_rt.writer import write_model

GOLDEN = Path(__file__).parent / "data" / "tiny_v1.grt.hex"


def tiny_spec() -> ModelSpec:
    """GRU I=2, H=1 (sigmoid/tanh, reset_after=1) then Dense 1→1 (sigmoid); exact binary values."""
    gru = GRULayer(w_ih=np.array([[0.5, -1.0], [0.25, 2.0], [1.5, -0.5]]),
                   w_hh=np.array([[1.0], [-2.0], [0.75]]),
                   b_ih=np.array([0.125, -0.25, 0.5]), b_hh=np.array([1.0, 0.0, -1.0]))
    dense = DenseLayer(w=np.array([[2.0]]), b=np.array([-0.5]), activation="sigmoid")
    return ModelSpec([gru, dense], {"tool.version": "0.1.0", "note": "golden"})


def u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def hexdump(data: bytes) -> str:
    return "\n".join(data[i:i + 32].hex() for i in range(0, len(data), 32)) + "\n"


def test_golden_bytes() -> None:
    assert write_model(tiny_spec(), "row-major") == bytes.fromhex(GOLDEN.read_text())


def test_golden_header_fields() -> None:
    data = write_model(tiny_spec(), "row-major")
    assert data[:8] == b"\x89GRT\r\n\x1a\n"
    assert struct.unpack_from("<HH", data, 8) == (1, 5)
    # header_size, file_size, checksum (below), flags, n_layers, n_tensors
    assert (u32(data, 12), u32(data, 16), u32(data, 24), u32(data, 28), u32(data, 32)) == \
        (64, len(data), 0, 2, 6)
    # layer table at 64, tensor table after 2 layers, metadata after 6 tensors
    assert (u32(data, 36), u32(data, 40), u32(data, 44)) == (64, 128, 320)
    meta_size = 4 + (8 + 4 + 6) + (8 + 9 + 6) + (8 + 12 + 5)  # note, tool.name, tool.version
    assert u32(data, 48) == meta_size == 70
    assert u32(data, 52) == 448  # 320 + 70 = 390, rounded up to 64
    assert u32(data, 56) == len(data) - 448 == 384  # last tensor ends at 324, rounded up
    assert u32(data, 60) == 0
    zeroed = data[:20] + b"\0\0\0\0" + data[24:]
    assert u32(data, 20) == zlib.crc32(zeroed)


def test_golden_layer_table() -> None:
    data = write_model(tiny_spec(), "row-major")
    gru = struct.unpack_from("<BBBBBBHIIIIII", data, 64)
    dense = struct.unpack_from("<BBBBBBHIIIIII", data, 96)
    # kind, precision, activation (tanh 2), gate (sigmoid 3), reset_after, layout, reserved,
    # input_size, output_size, first_tensor, n_tensors, param, reserved
    assert gru == (1, 0, 2, 3, 1, 0, 0, 2, 1, 0, 4, 0, 0)
    assert dense == (2, 0, 3, 0, 0, 0, 0, 1, 1, 4, 2, 0, 0)


def test_golden_tensor_table_and_data() -> None:
    data = write_model(tiny_spec(), "row-major")
    entries = [struct.unpack_from("<BBHIIIIIII", data, 128 + 32 * j) for j in range(6)]
    # role, dtype, reserved, layer, rows, cols, offset, nbytes, reserved, reserved
    assert entries == [
        (1, 0, 0, 0, 3, 2, 0, 24, 0, 0),
        (2, 0, 0, 0, 3, 1, 64, 12, 0, 0),
        (3, 0, 0, 0, 3, 1, 128, 12, 0, 0),
        (4, 0, 0, 0, 3, 1, 192, 12, 0, 0),
        (1, 0, 0, 1, 1, 1, 256, 4, 0, 0),
        (3, 0, 0, 1, 1, 1, 320, 4, 0, 0),
    ]
    spec = tiny_spec()
    gru, dense = spec.layers
    assert isinstance(gru, GRULayer) and isinstance(dense, DenseLayer)
    expected = [gru.w_ih, gru.w_hh, gru.b_ih, gru.b_hh, dense.w, dense.b]
    covered = [(0, 390)]  # header, tables, metadata; then the tensors. All else must be zero
    for (_, _, _, _, rows, cols, offset, nbytes, _, _), values in zip(entries, expected):
        start = 448 + offset
        got = np.frombuffer(data, "<f4", rows * cols, start).reshape(rows, cols)
        np.testing.assert_array_equal(got, np.reshape(values, (rows, cols)))
        covered.append((start, start + nbytes))
    mask = np.ones(len(data), bool)
    for a, b in covered:
        mask[a:b] = False
    assert not np.frombuffer(data, np.uint8)[mask].any(), "padding bytes must be zero"


def test_golden_metadata_sorted_by_key() -> None:
    data = write_model(tiny_spec(), "row-major")
    pos, entries = 324, []
    count = u32(data, 320)
    for _ in range(count):
        klen, vlen = u32(data, pos), u32(data, pos + 4)
        key = data[pos + 8:pos + 8 + klen].decode()
        value = data[pos + 8 + klen:pos + 8 + klen + vlen].decode()
        entries.append((key, value))
        pos += 8 + klen + vlen
    assert pos == 320 + u32(data, 48)  # the entries fill meta_size exactly
    assert entries == [("note", "golden"), ("tool.name", "gru_rt"), ("tool.version", "0.1.0")]


def test_format_constants_match_the_spec() -> None:
    assert fmt.MAGIC == b"\x89GRT\r\n\x1a\n"
    assert (fmt.HEADER.size, fmt.LAYER_ENTRY.size, fmt.TENSOR_ENTRY.size) == (64, 32, 32)
    assert (fmt.OFF_CHECKSUM, fmt.OFF_DATA_OFFSET, fmt.ALIGN) == (20, 52, 64)


def test_tool_entries_added_unless_present() -> None:
    spec = ModelSpec(tiny_spec().layers, {})
    data = write_model(spec)
    assert b"tool.namegru_rt" in data and b"tool.version" + __version__.encode() in data
    assert write_model(ModelSpec(spec.layers, {"tool.name": "mine"})).count(b"gru_rt") == 0
    assert spec.metadata == {}, "the caller's spec is not modified"


def test_deterministic() -> None:
    a = write_model(tiny_spec())
    assert write_model(tiny_spec()) == a
    spec = tiny_spec()
    spec.metadata = dict(reversed(list(spec.metadata.items())))  # insertion order is irrelevant
    assert write_model(spec) == a
    gru, dense = spec.layers
    assert isinstance(gru, GRULayer)
    gru.w_ih = np.asfortranarray(np.array(gru.w_ih, dtype=np.float64))  # dtype/order irrelevant
    assert write_model(spec) == a
    assert tiny_spec().to_bytes() == a


def test_alignment_and_sizes_for_a_larger_model() -> None:
    rng = np.random.default_rng(0)
    spec = ModelSpec([
        DenseLayer(rng.normal(size=(5, 3)), rng.normal(size=5), "relu"),
        GRULayer(rng.normal(size=(21, 5)), rng.normal(size=(21, 7)), rng.normal(size=21),
                 rng.normal(size=21), reset_after=False, activation="relu",
                 gate_activation="hard_sigmoid_k2"),
        DenseLayer(rng.normal(size=(2, 7)), rng.normal(size=2), "softmax"),
    ], {"k": "", "é" * 10: "v" * 1000})
    data = write_model(spec)
    n_tensors = u32(data, 32)
    data_offset = u32(data, 52)
    assert n_tensors == 8 and data_offset % 64 == 0 and len(data) % 64 == 0
    # "auto": the Dense layers' matrices in panel8 (rows padded to 8), the GRU (H = 7) row-major
    layouts = [data[64 + 32 * k + 5] for k in range(3)]
    assert layouts == [1, 0, 1]
    panel_matrices = {0, 6}  # tensor indices of the two Dense weight matrices
    end = 0
    for j in range(n_tensors):
        entry = struct.unpack_from("<BBHIIIIIII", data, u32(data, 40) + 32 * j)
        rows, cols, offset, nbytes = entry[4:8]
        assert offset % 64 == 0 and offset == -(-end // 64) * 64
        stored_rows = -(-rows // 8) * 8 if j in panel_matrices else rows
        assert nbytes == stored_rows * cols * 4
        end = offset + nbytes
    assert u32(data, 56) == -(-end // 64) * 64
    gru_entry = struct.unpack_from("<BBBBB", data, 64 + 32)
    assert gru_entry == (1, 0, 1, 6, 0)  # relu candidate, hard_sigmoid_k2 gates, reset before


@pytest.mark.parametrize("metadata,words", [
    ({"": "v"}, "1 … 255"),
    ({"k" * 256: "v"}, "256 bytes"),
    ({"é" * 128: "v"}, "256 bytes in UTF-8"),
    ({"k": "v" * 65536}, "65536 bytes"),
    ({"a\0b": "v"}, "NUL"),
    ({"k": "v\0"}, "NUL"),
    ({"k": "\ud800"}, "UTF-8"),
    ({"k": 3}, "must be str"),
    ({1: "v"}, "must be str"),
])
def test_bad_metadata_is_refused(metadata: dict, words: str) -> None:
    spec = ModelSpec(tiny_spec().layers, metadata)
    with pytest.raises(SpecError, match=words):
        write_model(spec)


def test_metadata_limits_are_inclusive() -> None:
    entries = check_metadata({"k" * 255: "v" * 65535, "é": ""})
    assert [len(k) for k, _ in entries] == [255, 2]
    write_model(ModelSpec(tiny_spec().layers, {"k" * 255: "v" * 65535}))


def test_bad_specs_are_refused() -> None:
    good = tiny_spec()
    with pytest.raises(SpecError, match="0 layers"):
        write_model(ModelSpec([]))
    with pytest.raises(SpecError, match="33 layers"):
        write_model(ModelSpec([DenseLayer(np.ones((1, 1)), np.ones(1))] * 33))
    gru, dense = good.layers
    with pytest.raises(SpecError, match=r"layer 1 \(gru\): input size is 2, expected 1"):
        write_model(ModelSpec([gru, gru]))
    with pytest.raises(SpecError, match="NaN"):
        write_model(ModelSpec([DenseLayer([[np.nan]], [0.0])]))  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="activation"):
        write_model(ModelSpec([DenseLayer([[1.0]], [0.0], "hard_sigmoid")]))  # type: ignore[arg-type]


# ---- write_atomic -------------------------------------------------------------------------------

def test_write_atomic_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "m.grt"
    assert write_atomic(target, b"first") == target
    assert target.read_bytes() == b"first"
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.grt"]


def test_write_atomic_uses_umask_permissions(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "m.grt", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "m.grt").stat().st_mode & 0o777 == 0o640


def test_write_atomic_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "m.grt"
    with pytest.raises(FileNotFoundError, match="cannot write .*m.grt"):
        write_atomic(target, b"x")
    assert not (tmp_path / "nope").exists()


def test_write_atomic_onto_a_directory_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError, match="cannot write"):
        write_atomic(tmp_path / "d", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert list((tmp_path / "d").iterdir()) == []


def test_write_atomic_failure_keeps_old_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m.grt"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="cannot write .*No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.grt"]


def test_spec_save(tmp_path: Path) -> None:
    path = tiny_spec().save(str(tmp_path / "t.grt"))
    assert isinstance(path, Path) and path.read_bytes() == write_model(tiny_spec())


if __name__ == "__main__":  # regenerate the golden file (then inspect it by hand)
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(hexdump(write_model(tiny_spec(), "row-major")))
    print(f"wrote {GOLDEN}")
