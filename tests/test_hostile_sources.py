"""Hostile source files (issue 13): one crafted file per rule, each refused with its rule's message.

The files that would read other files, hang on a FIFO or allocate gigabytes are converted by the
CLI in a child process whose address space is capped at 1 GiB above what it uses after its imports,
each case within a time limit: a refusal has to come before the damage, not after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gru_rt.cli import main

h5py = pytest.importorskip("h5py")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="FIFOs, rlimits, /proc: Linux")

LIMIT = 2**30  # bytes of address space the child may add after its imports
CASE_SECONDS = 20  # time limit of one case (each takes well under a second)
TIME_LIMIT = 600  # seconds for a whole child
SECRET = b"TOP-SECRET-0123456789abc"  # 24 bytes: six float32 values

# The child: imports, caps its address space, runs `gru-rt ARGS` per case, prints the results.
CHILD = r"""
import contextlib, io, json, resource, signal, sys
import numpy, h5py
import gru_rt.cli
from gru_rt.importers import keras_importer, numpy_importer, safetensors_reader
if sys.argv[2] == "torch":
    import torch
    torch.set_num_threads(1)
    from gru_rt.importers import torch_importer
    torch_importer._torch()
if sys.argv[2] == "onnx":
    import onnx
    from gru_rt.importers import onnx_importer
size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
cap = size + int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
def hung(*_):
    raise TimeoutError("still running after the time limit (blocked on a FIFO?)")
signal.signal(signal.SIGALRM, hung)
out = {}
for name, argv in json.loads(open(sys.argv[1]).read()).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        signal.alarm(int(sys.argv[4]))
        try:
            code = gru_rt.cli.main(argv)
        except BaseException as e:  # a traceback in the real CLI
            code = "Traceback: " + type(e).__name__ + ": " + str(e)[:300]
        signal.alarm(0)
    out[name] = [code, err.getvalue()]
print(json.dumps(out))
"""


def run_limited(tmp: Path, cases: dict[str, list[str]], kind: str) -> dict[str, Any]:
    spec = tmp / f"cases-{kind}.json"
    spec.write_text(json.dumps(cases))
    done = subprocess.run([sys.executable, "-c", CHILD, str(spec), kind, str(LIMIT),
                           str(CASE_SECONDS)],
                          capture_output=True, text=True, timeout=TIME_LIMIT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_refused(results: dict[str, Any], name: str, message: str, out: Path) -> None:
    code, err = results[name]
    assert code == 1 and "Traceback" not in err, (name, code, err)
    assert message in err, (name, err)
    assert err.count("\n") == 1, err
    assert not out.exists()


# ---- crafted files -----------------------------------------------------------------------------

def keras_config(units: int = 4, depth: int = 0) -> dict[str, Any]:
    gru: Any = {"class_name": "GRU", "config": {"name": "gru", "units": units,
                                                "activation": "tanh"}}
    for _ in range(depth):  # a deeply nested (but small) config
        gru = {"class_name": "GRU", "config": {"name": "gru", "units": units, "x": [gru]}}
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [gru]}}


def h5_with(path: Path, make: Any) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(keras_config())
        f.attrs["keras_version"] = "3.15.1"
        make(f.create_group("model_weights").create_group("gru"))
    return path


def keras_zip(path: Path, config: bytes, weights: bytes, metadata: bytes = b"{}") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", config)
        z.writestr("metadata.json", metadata)
        z.writestr("model.weights.h5", weights)
    return path


def npz_bomb(path: Path) -> Path:
    """A small .npz whose member declares a 23000 × 23000 float32 array (2.1 GB) of zeros."""
    from io import BytesIO

    buf = BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (23000, 23000)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open("0.W.npy", "w", force_zip64=True) as m:
        m.write(buf.getvalue())
        zeros = bytes(2**24)
        for _ in range(8):  # 128 MB of zeros, ~130 KB compressed: enough to start the allocation
            m.write(zeros)
    return path


def heap_objects(data: bytes) -> tuple[int, dict[int, int]]:
    """Where the file's global heap collection is (the variable-length strings: model_config)
    and where each of its objects' size field is, by object index (0: the free space)."""
    at = data.index(b"GCOL")
    end = at + int.from_bytes(data[at + 8:at + 16], "little")
    pos, sizes = at + 16, {}
    while pos + 16 <= end:
        index, size = int.from_bytes(data[pos:pos + 2], "little"), \
            int.from_bytes(data[pos + 8:pos + 16], "little")
        sizes[index] = pos + 8
        pos += size if index == 0 else 16 + (size + 7) // 8 * 8
    return at, sizes


def h5_heap_damaged(path: Path, index: int | None, size: int) -> Path:
    """A Keras 2 .h5 whose global heap object `index` (None: the collection itself) declares
    `size` bytes. Object 0 (the free space) of size 0 is the converter fuzz's finding: libhdf5's
    walk over the collection stops advancing, in native code, when model_config is read."""
    data = bytearray(h5_with(path, lambda g: g.create_dataset("kernel", data=np.zeros(3, "<f4")))
                     .read_bytes())
    at, sizes = heap_objects(bytes(data))
    field = at + 8 if index is None else sizes[index]
    data[field:field + 8] = size.to_bytes(8, "little")
    path.write_bytes(bytes(data))
    return path


def h5_long_string(path: Path) -> Path:
    """A Keras 2 .h5 whose model_config (a variable-length string of N bytes in the global heap)
    declares 2**32 - 16 bytes: libhdf5 allocated and zeroed that much before reading the heap (a
    converter fuzz finding, 2.2 GB peak)."""
    data = bytearray(h5_with(path, lambda g: g.create_dataset("kernel", data=np.zeros(3, "<f4")))
                     .read_bytes())
    at, sizes = heap_objects(bytes(data))
    held = int.from_bytes(data[sizes[1]:sizes[1] + 8], "little")
    value = data.index(held.to_bytes(4, "little") + at.to_bytes(8, "little") + b"\1\0\0\0")
    data[value:value + 4] = (2**32 - 16).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def h5_compressed_attributes(g: Any) -> None:
    """A compressed dataset with more attributes than fit its object header: libhdf5 stores them
    compressed, where no check of the file's bytes sees them."""
    d = g.create_dataset("kernel", data=np.zeros(30, "<f4"), compression="gzip")
    for k in range(12):
        d.attrs[f"a{k}"] = "v" * 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    d = tmp_path_factory.mktemp("hostile")
    secret = d / "secret.bin"
    secret.write_bytes(SECRET)
    fifo = d / "fifo"
    os.mkfifo(fifo)
    files: dict[str, Path] = {}

    def ext(name: str, target: str) -> None:
        files[name] = h5_with(d / f"{name}.h5", lambda g: g.create_dataset(
            "kernel", shape=(6,), dtype="<f4", external=[(target, 0, 24)]))

    ext("h5_external_abs", str(secret))
    ext("h5_external_rel", "../" + d.name + "/secret.bin")
    ext("h5_external_fifo", str(fifo))

    files["h5_external_link"] = h5_with(d / "elink.h5", lambda g: g.__setitem__(
        "kernel", h5py.ExternalLink(str(d / "elink_target.h5"), "/x")))
    with h5py.File(d / "elink_target.h5", "w") as f:
        f["x"] = np.frombuffer(SECRET, "<f4")
    files["h5_soft_link"] = h5_with(d / "soft.h5", lambda g: g.__setitem__(
        "kernel", h5py.SoftLink("/model_weights/gru/real")))

    def virtual(g: Any) -> None:
        layout = h5py.VirtualLayout(shape=(6,), dtype="<f4")
        layout[:] = h5py.VirtualSource(str(d / "elink_target.h5"), "x", shape=(6,))
        g.create_virtual_dataset("kernel", layout)

    files["h5_virtual"] = h5_with(d / "virtual.h5", virtual)
    files["h5_fill_bomb"] = h5_with(d / "fill.h5", lambda g: g.create_dataset(
        "kernel", shape=(23000, 23000), dtype="<f4", fillvalue=1.0))
    files["h5_fill_only"] = h5_with(d / "fillonly.h5", lambda g: g.create_dataset(
        "kernel", shape=(4, 12), dtype="<f4", fillvalue=1.0))
    # global heap objects that make libhdf5 loop for ever (free space of 0 bytes, a size whose
    # padding wraps to 0) or read past the collection or the file
    files["h5_heap_free_space_0"] = h5_heap_damaged(d / "heap0.h5", 0, 0)
    files["h5_heap_wraps_to_0"] = h5_heap_damaged(d / "heapwrap.h5", 1, 2**64 - 16)
    files["h5_heap_object_past_end"] = h5_heap_damaged(d / "heappast.h5", 1, 100000)
    files["h5_heap_past_file"] = h5_heap_damaged(d / "heapfile.h5", None, 2**40)
    files["h5_heap_long_string"] = h5_long_string(d / "heaplong.h5")
    files["h5_vlen_dataset"] = h5_with(d / "vlen.h5", lambda g: g.create_dataset(
        "kernel", data=["a", "b"], dtype=h5py.string_dtype()))
    with h5py.File(d / "dense.h5", "w", libver="latest") as f:
        f.attrs["model_config"] = json.dumps(keras_config())
        h5_compressed_attributes(f.create_group("model_weights").create_group("gru"))
    files["h5_compressed_attributes"] = d / "dense.h5"

    weights = d / "weights_ext.h5"
    with h5py.File(weights, "w") as f:
        f.create_dataset("layers/gru/cell/vars/0", shape=(6,), dtype="<f4",
                         external=[(str(secret), 0, 24)])
    config = json.dumps(keras_config()).encode()
    files["keras_external"] = keras_zip(d / "ext.keras", config, weights.read_bytes())
    files["keras_heap_free_space_0"] = keras_zip(d / "heap.keras", config,
                                                 files["h5_heap_free_space_0"].read_bytes())
    files["keras_config_bomb"] = keras_zip(d / "bomb.keras", b" " * (65 * 2**20) + config,
                                           weights.read_bytes())
    files["keras_metadata_list"] = keras_zip(d / "meta.keras", config, b"", b"[]")
    files["keras_deep_config"] = keras_zip(
        d / "deep.keras", b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}", b"")
    deep = b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"
    files["safetensors_deep"] = d / "deep.safetensors"
    files["safetensors_deep"].write_bytes(len(deep).to_bytes(8, "little") + deep)
    files["npz_bomb"] = npz_bomb(d / "bomb.npz")
    files["npz_fifo"] = d / "fifo.npz"
    os.mkfifo(files["npz_fifo"])
    files["h5_fifo"] = d / "fifo.h5"
    os.mkfifo(files["h5_fifo"])
    cases = {name: ["convert", str(path), "-o", str(d / f"{name}.grt")]
             for name, path in files.items()}
    # gru-rt info: a FIFO, a device, a 3 GB file that is not a model, one above the format's limit
    info_fifo = d / "fifo.grt"
    os.mkfifo(info_fifo)
    big = d / "big.grt"
    with open(big, "wb") as f:
        f.truncate(3 * 2**30)  # sparse: costs no disk
    huge = d / "huge.grt"
    with open(huge, "wb") as f:
        f.write(b"\x89GRT\r\n\x1a\n")
        f.truncate(5 * 2**30)
    cases.update({"info_fifo": ["info", str(info_fifo)], "info_device": ["info", "/dev/zero"],
                  "info_big": ["info", str(big)], "info_huge": ["info", str(huge)]})
    return d, run_limited(d, cases, "h5")


CONVERT_CASES = [
    ("h5_external_abs", "stores its data in external file(s)"),
    ("h5_external_rel", "stores its data in external file(s)"),
    ("h5_external_fifo", "stores its data in external file(s)"),
    ("h5_external_link", "/model_weights/gru/kernel is an external link"),
    ("h5_soft_link", "/model_weights/gru/kernel is a soft link"),
    ("h5_virtual", "is a virtual dataset"),
    ("h5_fill_bomb", "declares shape (23000, 23000) of 4-byte items, which no layer"),
    ("h5_fill_only", "stores no data (only a fill value)"),
    ("h5_heap_free_space_0", "declares 0 bytes, which libhdf5 would step over for ever"),
    ("h5_heap_wraps_to_0", "declares 18446744073709551600 bytes, which libhdf5 would step over "
                           "for ever"),
    ("h5_heap_object_past_end", "declares 100000 bytes, past its end"),
    ("h5_heap_past_file", "declares 1099511627776 bytes, past the end of the file"),
    ("h5_heap_long_string", "value 0 declares 4294967280 bytes, but its global heap object holds"),
    ("h5_vlen_dataset", "dataset /model_weights/gru/kernel holds variable-length values"),
    ("h5_compressed_attributes", "the attributes of /model_weights/gru/kernel are stored "
                                 "compressed"),
    ("keras_external", "stores its data in external file(s)"),
    ("keras_heap_free_space_0", "(model.weights.h5): damaged HDF5 global heap"),
    ("keras_config_bomb", "member config.json declares 68157"),
    ("keras_metadata_list", "(metadata.json): a JSON list, expected an object"),
    ("keras_deep_config", "(config.json): JSON nested more than 64 levels deep"),
    ("safetensors_deep", "JSON nested more than 64 levels deep"),
    ("npz_bomb", "0.W: declares shape (23000, 23000) of 4-byte items, which no layer"),
    ("npz_fifo", "is a FIFO, expected a regular NumPy archive"),
    ("h5_fifo", "is a FIFO, expected a regular HDF5 file"),
]


@pytest.mark.parametrize("name,message", CONVERT_CASES, ids=[c[0] for c in CONVERT_CASES])
def test_hostile_source_is_refused_before_any_damage(corpus: tuple[Path, dict[str, Any]],
                                                     name: str, message: str) -> None:
    d, results = corpus
    check_refused(results, name, message, d / f"{name}.grt")


@pytest.mark.parametrize("name,message", [
    ("info_fifo", "is a FIFO, expected a regular .grt model file"),
    ("info_device", "is a character device, expected a regular .grt model file"),
    ("info_big", "GRT_E_MAGIC"),
    ("info_huge", "above the limit of 4294967295 bytes"),
])
def test_info_checks_type_size_and_magic_before_reading(corpus: tuple[Path, dict[str, Any]],
                                                        name: str, message: str) -> None:
    d, results = corpus
    check_refused(results, name, message, d / "never-written")


# ---- ONNX --------------------------------------------------------------------------------------

def test_onnx_external_data_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    (tmp_path / "neighbour.bin").write_bytes(SECRET)
    w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[2, 3],
                    data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "neighbour.bin"), ("offset", "0"), ("length", "24")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    assert onnx.load_model_from_string(path.read_bytes()).graph.initializer[0].name == "W"
    assert main(["convert", str(path), "-o", str(tmp_path / "m.grt")]) == 1
    err = capsys.readouterr().err
    assert "tensor W stores its data in an external file (neighbour.bin)" in err
    assert not (tmp_path / "m.grt").exists()


# ---- torch -------------------------------------------------------------------------------------

class Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("true",))


def legacy_storage_bomb(path: Path, numel: int) -> Path:
    """An old-format (not zip) torch file whose one storage declares `numel` float32 values while
    the file holds 2: the legacy loader allocates the declared size before reading the data."""
    import pickle

    import torch
    from torch.serialization import MAGIC_NUMBER, PROTOCOL_VERSION

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            if isinstance(obj, (torch.storage.TypedStorage, torch.UntypedStorage)):
                return ("storage", torch.FloatStorage, "0", "cpu", numel, None)
            return None

    with open(path, "wb") as f:
        for header in (MAGIC_NUMBER, PROTOCOL_VERSION,
                       {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, 2)
        Pickler(f, 2).dump({"fc.bias": torch.zeros(2)})
        pickle.dump(["0"], f, 2)
        f.write((2).to_bytes(8, "little") + bytes(8))
    return path


def test_hostile_torch_files(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    files = {}
    files["pt_expanded"] = tmp_path / "expanded.pt"  # 1 float stored, 40000² asked: 12.8 GB
    torch.save({"fc.weight": torch.zeros(1, 1).expand(40000, 40000),
                "fc.bias": torch.zeros(40000)}, files["pt_expanded"])
    files["pt_overlap"] = tmp_path / "overlap.pt"
    torch.save({"fc.weight": torch.arange(10.0).as_strided((5, 5), (1, 1)),
                "fc.bias": torch.zeros(5)}, files["pt_overlap"])
    files["pt_sparse"] = tmp_path / "sparse.pt"
    torch.save({"fc.weight": torch.eye(3).to_sparse(), "fc.bias": torch.zeros(3)},
               files["pt_sparse"])
    files["pt_pickle"] = tmp_path / "pickle.pt"
    torch.save({"fc.weight": torch.zeros(2, 2), "x": Payload()}, files["pt_pickle"])
    # the old (not zip) serialization: the same weights_only unpickler, the same refusals
    files["pt_legacy_pickle"] = tmp_path / "legacy_pickle.pt"
    torch.save({"fc.weight": torch.zeros(2, 2), "x": Payload()}, files["pt_legacy_pickle"],
               _use_new_zipfile_serialization=False)
    files["pt_legacy_bomb"] = legacy_storage_bomb(tmp_path / "legacy_bomb.pt", 3 * 10**9)
    files["pt_fifo"] = tmp_path / "fifo.pt"
    os.mkfifo(files["pt_fifo"])
    cases = {name: ["convert", str(path), "-o", str(tmp_path / f"{name}.grt")]
             for name, path in files.items()}
    results = run_limited(tmp_path, cases, "torch")
    overlap = "its elements overlap in storage (an expanded or overlapping view)"
    check_refused(results, "pt_expanded", "tensor fc.weight of shape (40000, 40000) has strides "
                  "(0, 0): " + overlap, tmp_path / "pt_expanded.grt")
    check_refused(results, "pt_overlap", overlap, tmp_path / "pt_overlap.grt")
    check_refused(results, "pt_sparse", "tensor fc.weight is a sparse_coo tensor",
                  tmp_path / "pt_sparse.grt")
    # torch 2.13 words its refusal differently from older versions: our advice must still show,
    # never torch's "re-run with weights_only=False"
    check_refused(results, "pt_pickle", "is not a plain state dict (it contains a posix.system "
                  "object)", tmp_path / "pt_pickle.grt")
    assert "weights_only" not in results["pt_pickle"][1].replace("weights_only=True", "")
    check_refused(results, "pt_fifo", "is a FIFO, expected a regular PyTorch file",
                  tmp_path / "pt_fifo.grt")
    check_refused(results, "pt_legacy_pickle", "is not a plain state dict (it contains a "
                  "posix.system object)", tmp_path / "pt_legacy_pickle.grt")
    # torch would allocate the declared 12 GB before comparing it with the 8 bytes stored: the
    # declared sizes are checked first
    check_refused(results, "pt_legacy_bomb", "as a PyTorch file (old format: storage 0 declares "
                  "3000000000 elements of 4 bytes; its record says 2 and the file holds 8 more "
                  "bytes)", tmp_path / "pt_legacy_bomb.grt")


def test_legacy_torch_files_convert_and_are_checked(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from gru_rt import convert
    from gru_rt.errors import ConversionError

    legacy = tmp_path / "legacy.pt"
    torch.save({"fc.weight": torch.ones(3, 2), "fc.bias": torch.zeros(3)}, legacy,
               _use_new_zipfile_serialization=False)
    assert convert(legacy, verify=False).layers[0].kind == "dense"
    gru = tmp_path / "gru.pt"  # several storages, each record checked in turn
    torch.save(torch.nn.GRU(3, 4, num_layers=2).state_dict(), gru,
               _use_new_zipfile_serialization=False)
    assert [layer.kind for layer in convert(gru, verify=False).layers] == ["gru", "gru"]
    with pytest.raises(ConversionError, match=r"storage 0 declares 100000000 elements of 4 "
                       r"bytes; its record says 2 and the file holds 8 more bytes"):
        convert(legacy_storage_bomb(tmp_path / "bomb.pt", 10**8), verify=False)  # 400 MB
    short = tmp_path / "short.pt"  # the last record cut: the file ends before its data
    short.write_bytes(gru.read_bytes()[:-5])
    with pytest.raises(ConversionError, match=r"old format: storage \S+ declares \d+ elements "
                       r"of 4 bytes; its record says \d+ and the file holds \d+ more bytes"):
        convert(short, verify=False)


def test_torch_older_than_2_10_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from gru_rt.importers import torch_importer

    monkeypatch.setattr(torch, "__version__", "2.9.1+cpu")
    with pytest.raises(ImportError, match=r"needs torch >= 2.10, found 2.9.1\+cpu: .*"
                                          r"CVE-2025-32434, CVE-2026-24747"):
        torch_importer._torch()
    monkeypatch.setattr(torch, "__version__", "2.10.0")
    assert torch_importer._torch() is torch


# ---- zip and JSON limits -----------------------------------------------------------------------

def test_zip_members_declaring_too_much_are_refused_before_inflating(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gru_rt.errors import ConversionError
    from gru_rt.importers import _untrusted, numpy_importer

    path = tmp_path / "w.npz"
    np.savez_compressed(path, **{"0.W": np.zeros((30, 10)), "0.U": np.zeros((30, 10))})
    monkeypatch.setattr(_untrusted, "MAX_SOURCE_BYTES", 4000)  # the members declare 2 × 2528
    with pytest.raises(ConversionError, match=r"the members declare 5\d+ bytes in all, above the "
                                              r"limit of 4000; refused before inflating"):
        numpy_importer.import_npz(path)


def test_npy_header_declaring_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    from io import BytesIO

    from gru_rt.errors import ConversionError
    from gru_rt.quantize import load_calibration

    buf = BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (2**20, 2**12, 8)})
    path = tmp_path / "cal.npy"
    path.write_bytes(buf.getvalue() + bytes(64))
    with pytest.raises(ConversionError, match=r"declares shape \(1048576, 4096, 8\) "
                                              r"\(137438953472 bytes\) but holds 64 bytes"):
        load_calibration(path, 8)


# ---- outputs -----------------------------------------------------------------------------------

@pytest.fixture
def npz(tmp_path: Path) -> Path:
    path = tmp_path / "w.npz"
    rng = np.random.default_rng(0)
    np.savez(path, **{"0.W": rng.normal(size=(12, 3)), "0.U": rng.normal(size=(12, 4)),
                      "0.b": rng.normal(size=12)})
    return path


def test_outputs_must_be_regular_files(tmp_path: Path, npz: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    to_fifo = tmp_path / "link-to-fifo.grt"
    to_fifo.symlink_to(fifo)
    to_device = tmp_path / "link-to-null.grt"
    to_device.symlink_to("/dev/null")
    dangling = tmp_path / "dangling.grt"
    dangling.symlink_to(tmp_path / "nowhere" / "x.grt")
    for out, message in ((fifo, "it is a FIFO"), (to_fifo, "it is a FIFO"),
                         (to_device, "(a symlink to /dev/null): it is a character device"),
                         (dangling, "it is a symlink to a missing file")):
        assert main(["convert", str(npz), "-o", str(out)]) == 1
        assert message in capsys.readouterr().err
    assert fifo.is_fifo() and to_fifo.is_symlink() and to_device.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["w.npz", "out.fifo", "link-to-fifo.grt", "link-to-null.grt", "dangling.grt"])


def test_an_existing_output_keeps_its_mode_and_a_symlink_its_target(tmp_path: Path,
                                                                    npz: Path) -> None:
    out = tmp_path / "m.grt"
    out.write_bytes(b"old")
    out.chmod(0o600)
    assert main(["convert", str(npz), "-o", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600 and out.read_bytes()[:4] == b"\x89GRT"
    link = tmp_path / "link.grt"
    link.symlink_to(out)
    out.write_bytes(b"old")
    assert main(["convert", str(npz), "-o", str(link)]) == 0
    assert link.is_symlink() and out.read_bytes()[:4] == b"\x89GRT"


def test_output_that_is_the_calibration_file_is_refused(
        tmp_path: Path, npz: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cal = tmp_path / "cal.npy"
    np.save(cal, np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32))
    before = cal.read_bytes()
    alias = tmp_path / "alias.npy"
    alias.symlink_to(cal)
    for out in (cal, alias):
        assert main(["convert", str(npz), "--precision", "q15", "--calibration", str(cal),
                     "-o", str(out)]) == 1
        assert "is the calibration file" in capsys.readouterr().err
    assert cal.read_bytes() == before


def test_export_c_refuses_unsafe_names_and_escapes_comments(tmp_path: Path, npz: Path,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    import gru_rt
    from gru_rt.errors import GruRtError
    from gru_rt.export_c import c_sources

    model_path = tmp_path / "m.grt"
    assert main(["convert", str(npz), "-o", str(model_path)]) == 0
    evil = 'x.h"\nint evil(void){return 1;}\n#include "y'
    assert main(["export-c", str(model_path), "-o", str(tmp_path / evil), "--symbol", "ok"]) == 1
    assert "is not a safe C file name" in capsys.readouterr().err
    for symbol in ("_stdint", "int", "strange", "memo", "isok"):
        assert main(["export-c", str(model_path), "-o", str(tmp_path / "ok"),
                     "--symbol", symbol]) == 1
        assert "is not usable as a C name" in capsys.readouterr().err
    assert not list(tmp_path.glob("ok.*"))
    model = gru_rt.load(model_path)
    header, source = c_sources(model, "demo", "a*/ int evil; /*\x1b.grt")
    for text in (header, source):
        first = text.splitlines()[0]
        assert first.count("*/") == 1 and first.endswith("*/") and "\x1b" not in text
        assert "a* / int evil; /*\\x1b.grt" in first
    with pytest.raises(GruRtError, match="not usable in #include"):
        c_sources(model, "demo", "m.grt", 'a"b.h')


# ---- printing ----------------------------------------------------------------------------------

def test_names_from_files_are_printed_escaped(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from gru_rt.spec import DenseLayer, ModelSpec

    path = tmp_path / "m.grt"
    ModelSpec([DenseLayer(np.ones((2, 3)), np.zeros(2))],
              {"note\x1b[2J": "a\rb\nmetadata: forged\x07"}).save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "  note\\x1b[2J: a\\rb\\nmetadata: forged\\x07" in out
    assert [line for line in out.splitlines() if "metadata:" in line.split(":")[0] + ":"] == [
        "metadata:"]
    missing = tmp_path / "no\x1b]0;title\x07.npz"
    assert main(["convert", str(missing), "-o", str(tmp_path / "x.grt")]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "no\\x1b]0;title\\x07.npz" in err


def test_layer_names_reach_metadata_escaped(tmp_path: Path) -> None:
    import gru_rt

    rng = np.random.default_rng(2)
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "GRU", "config": {"name": "g\x1b[2J\n", "units": 2, "reset_after": True,
                                         "activation": "tanh",
                                         "recurrent_activation": "sigmoid"}},
    ]}}
    weights = tmp_path / "w.h5"
    with h5py.File(weights, "w") as f:
        vars_ = f.create_group("layers/gru/cell/vars")
        vars_["0"] = rng.normal(size=(3, 6)).astype(np.float32)
        vars_["1"] = rng.normal(size=(2, 6)).astype(np.float32)
        vars_["2"] = rng.normal(size=(2, 6)).astype(np.float32)
    path = keras_zip(tmp_path / "m.keras", json.dumps(config).encode(), weights.read_bytes(),
                     b'{"keras_version": "3.15.1"}')
    spec = gru_rt.convert(path)
    assert spec.metadata["source.layers"].startswith("g\\x1b[2J\\n(GRU")
    assert all(ch >= " " for value in spec.metadata.values() for ch in value)


# ---- API ---------------------------------------------------------------------------------------

def small_model() -> Any:
    from gru_rt.spec import DenseLayer, GRULayer, ModelSpec

    rng = np.random.default_rng(3)
    return ModelSpec([GRULayer(rng.normal(size=(12, 3)), rng.normal(size=(12, 4)),
                               rng.normal(size=12), rng.normal(size=12)),
                      DenseLayer(rng.normal(size=(3, 4)), rng.normal(size=3))]).load()


def test_overlapping_inputs_and_outputs_are_refused() -> None:
    model = small_model()
    buf = np.random.default_rng(4).normal(size=4000).astype(np.float32)
    s = model.stream()
    xs, out = buf[:1800].reshape(600, 3), buf[3:1803].reshape(600, 3)
    with pytest.raises(ValueError, match="out overlaps xs in memory"):
        s.run(xs, out=out)
    assert not np.any(s.state)  # refused before anything ran
    batch = model.stream_batch(2)
    with pytest.raises(ValueError, match="out overlaps xs in memory"):
        batch.run(buf[:1200].reshape(2, 200, 3), out=buf[600:1800].reshape(2, 200, 3))
    # ... also with lengths= (the ragged path, which zeroes out's padding rows first)
    padded = buf[:1200].reshape(2, 200, 3)
    before = padded.copy()
    with pytest.raises(ValueError, match="out overlaps xs in memory"):
        batch.run(padded, out=buf[600:1800].reshape(2, 200, 3), lengths=[150, 200])
    assert np.array_equal(padded, before) and not np.any(batch.streams[0].state)
    separate = np.empty((600, 3), np.float32)
    assert np.array_equal(s.run(xs, out=separate), model.run(xs))


def test_a_step_may_write_over_its_input() -> None:
    """step() and StreamBatch.step() read x completely before they write out (gru_rt.h): an out=
    overlapping x is allowed there, and gives what separate arrays give."""
    model = small_model()
    rng = np.random.default_rng(5)
    frames = rng.normal(size=(20, 3)).astype(np.float32)
    expected = model.run(frames)
    s, buf = model.stream(), np.empty(4, np.float32)
    for t, x in enumerate(frames):
        buf[:3] = x
        assert np.array_equal(s.step(buf[:3], out=buf[1:4]), expected[t])
    batch, rows = model.stream_batch(2), np.empty((2, 3), np.float32)
    for t, x in enumerate(frames):
        rows[:] = x
        assert np.array_equal(batch.step(rows, out=rows), [expected[t], expected[t]])


def test_tensor_views_cannot_be_made_writable_through_their_bases() -> None:
    model = small_model()
    t = model.tensor(0, "b_ih")
    before = model.run(np.ones((3, 3), np.float32))
    chain = []
    obj: Any = t
    while obj is not None:
        chain.append(obj)
        obj = getattr(obj, "base", None)
    assert isinstance(chain[-1], bytes)  # the model's bytes are immutable
    for arr in chain:
        if isinstance(arr, np.ndarray):
            with pytest.raises(ValueError, match="WRITEABLE"):
                arr.flags.writeable = True
    assert np.array_equal(model.run(np.ones((3, 3), np.float32)), before)


def test_no_unloaded_model_can_be_made() -> None:
    import gru_rt

    for make in (lambda: gru_rt.Model.__new__(gru_rt.Model), gru_rt.Model,
                 lambda: gru_rt.Model(object())):
        with pytest.raises(TypeError, match=r"gru_rt.load"):
            make()


# ---- regressions from tools/fuzz_convert.py ----------------------------------------------------

def test_damaged_zip_versions_are_one_line_errors(tmp_path: Path, npz: Path) -> None:
    from gru_rt import convert
    from gru_rt.errors import ConversionError

    data = bytearray(npz.read_bytes())
    at = data.index(b"PK\x01\x02") + 6  # central directory: version needed to extract
    data[at] = 166  # "zip file version 16.6": zipfile raised NotImplementedError
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match="cannot read .*bad.npz as a .npz archive"):
        convert(bad)


def test_onnx_tensor_data_must_match_its_shape(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from gru_rt import convert
    from gru_rt.errors import ConversionError

    w = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[2, 3], float_data=[1.0, 2.0])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(ConversionError, match=r"tensor W declares shape \[2, 3\] \(6 values in "
                                              r"float_data\) but holds 2"):
        convert(path, verify=False)
    # the converter fuzz: values in a field the type does not read (onnx's to_array raised
    # ValueError reshaping the empty field), and a type gru_rt does not read
    for tensor, message in (
            (TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[2, 3],
                         int64_data=[1] * 6), r"\(6 values in float_data\) but holds 0"),
            (TensorProto(name="W", data_type=TensorProto.STRING, dims=[1], string_data=[b"a"]),
             r"has data type STRING, which gru_rt does not read"),
            # more dimensions than numpy holds (64): onnx's to_array raised ValueError
            (TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[1] * 83, float_data=[1.0]),
             r"tensor W has 83 dimensions; gru_rt reads tensors of at most 8")):
        del graph.initializer[:]
        graph.initializer.append(tensor)
        path.write_bytes(helper.make_model(graph).SerializeToString())
        with pytest.raises(ConversionError, match=message):
            convert(path, verify=False)


def test_onnx_values_are_assigned_once_in_order(tmp_path: Path) -> None:
    """The converter fuzz: a GRU node whose output renamed its own input made a cycle that the
    walk followed for ever (a hang); ONNX names each value once, in topological order."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from gru_rt import convert
    from gru_rt.errors import ConversionError

    def model(nodes: list[Any]) -> Path:
        w = numpy_helper.from_array(np.ones((2, 3), np.float32), "W")
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w])
        path = tmp_path / "m.onnx"
        path.write_bytes(helper.make_model(graph).SerializeToString())
        return path

    mm = helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")
    with pytest.raises(ConversionError, match="no GRU or LSTM operator"):  # past the check
        convert(model([mm]), verify=False)
    with pytest.raises(ConversionError, match=r"node 'mm' \(MatMul\) writes 'x', which is "
                                              r"already defined"):
        convert(model([helper.make_node("MatMul", ["x", "W"], ["x"], name="mm")]), verify=False)
    with pytest.raises(ConversionError, match=r"node 'mm' \(MatMul\) reads 'h', which no graph "
                                              r"input, initializer or earlier node defines"):
        convert(model([helper.make_node("MatMul", ["h", "W"], ["y"], name="mm"),
                       helper.make_node("Relu", ["x"], ["h"], name="relu")]), verify=False)


def test_unparsable_npy_header_is_a_one_line_error(tmp_path: Path) -> None:
    from gru_rt import convert
    from gru_rt.errors import ConversionError

    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,\n"  # an open parenthesis
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("0.W.npy", member)  # NumPy's tokenizer raised TokenError
    with pytest.raises(ConversionError, match=r"0.W: not a .npy array"):
        convert(path)


def onnx_gru_file(path: Path, edit: Any) -> Path:
    """A forward GRU (input 3, hidden 4) as an .onnx file, its node's attributes changed by
    `edit(attributes)` (a list of onnx AttributeProto) before saving."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
             for name, shape in (("W", (1, 12, 3)), ("R", (1, 12, 4)), ("B", (1, 24)))]
    node = helper.make_node("GRU", ["X", "W", "R", "B"], ["Y"], name="gru", hidden_size=4,
                            linear_before_reset=1, direction="forward",
                            activations=["Sigmoid", "Tanh"])
    edit(node.attribute)
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def _attribute(attributes: Any, name: str) -> Any:
    return next(a for a in attributes if a.name == name)


def _retype(name: str, kind: str) -> Any:
    def edit(attributes: Any) -> None:
        from onnx import AttributeProto

        _attribute(attributes, name).type = getattr(AttributeProto, kind)
    return edit


def _float_for_int(attributes: Any) -> None:
    from onnx import AttributeProto

    a = _attribute(attributes, "linear_before_reset")
    a.type, a.f = AttributeProto.FLOAT, 1.0


def _reference(attributes: Any) -> None:
    _attribute(attributes, "hidden_size").ref_attr_name = "h"


def _not_utf8(attributes: Any) -> None:
    _attribute(attributes, "activations").strings[1] = b"Tan\xff"


@pytest.mark.parametrize("edit,message", [
    # the converter fuzz found this one: `linear_before_reset` with no type raised TypeError
    (_retype("linear_before_reset", "UNDEFINED"),
     "attribute 'linear_before_reset' is UNDEFINED, expected INT"),
    (_float_for_int, "attribute 'linear_before_reset' is FLOAT, expected INT"),
    (_retype("direction", "INT"), "attribute 'direction' is INT, expected STRING"),
    (_retype("hidden_size", "INTS"), "attribute 'hidden_size' is INTS, expected INT"),
    (_retype("activations", "STRING"), "attribute 'activations' is STRING, expected STRINGS"),
    (_reference, "attribute 'hidden_size' has no value of its own .*a reference"),
    (_not_utf8, "attribute 'activations': a string that is not UTF-8"),
], ids=["undefined", "float-for-int", "int-for-string", "ints-for-int", "string-for-strings",
        "reference", "not-utf8"])
def test_onnx_attributes_are_read_with_their_type(tmp_path: Path, edit: Any,
                                                  message: str) -> None:
    pytest.importorskip("onnx")
    from gru_rt import convert
    from gru_rt.errors import ConversionError

    assert convert(onnx_gru_file(tmp_path / "ok.onnx", lambda a: None), verify=False)
    with pytest.raises(ConversionError, match=r"node 'gru' \(GRU\): " + message):
        convert(onnx_gru_file(tmp_path / "bad.onnx", edit), verify=False)


def _no_outputs(node: Any) -> None:
    del node.output[:]


def _one_input(node: Any) -> None:
    del node.input[1:]


@pytest.mark.parametrize("edit,message", [
    (_no_outputs, r"node 'mm' \(MatMul\) has no output"),  # a converter fuzz finding: IndexError
    (_one_input, r"node 'mm' \(MatMul\) has 1 inputs, expected 2"),
], ids=["no-output", "one-input"])
def test_onnx_nodes_need_their_inputs_and_outputs(tmp_path: Path, edit: Any,
                                                  message: str) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from gru_rt import convert
    from gru_rt.errors import ConversionError

    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")
    edit(node)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones((2, 3), np.float32), "W")])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(ConversionError, match=message):
        convert(path, verify=False)


def test_onnx_text_must_be_utf8(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from gru_rt import convert
    from gru_rt.errors import ConversionError

    path = onnx_gru_file(tmp_path / "m.onnx", lambda a: None)
    # the GRU node's name (field 3, 3 bytes) made invalid UTF-8: protobuf then hands it over as
    # bytes (a converter fuzz finding: TypeError where the layer's name was joined to a message)
    data = path.read_bytes()
    assert data.count(b"\x1a\x03gru") == 1
    path.write_bytes(data.replace(b"\x1a\x03gru", b"\x1a\x03\xffru"))
    with pytest.raises(ConversionError, match=r"model.graph.node\[0\].name is not UTF-8 text"):
        convert(path, verify=False)


def test_onnx_weights_behind_a_long_identity_chain(tmp_path: Path) -> None:
    """Issue 13: weights reached through 5,000 Identity nodes raised RecursionError; the graph
    walk is iterative, so they convert, and the weights are the initializer's."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from gru_rt import convert

    rng = np.random.default_rng(0)
    arrays = {"W0": rng.normal(size=(1, 12, 3)), "R": rng.normal(size=(1, 12, 4)),
              "B": rng.normal(size=(1, 24))}
    inits = [numpy_helper.from_array(a.astype(np.float32), name) for name, a in arrays.items()]
    n = 5000
    nodes = [helper.make_node("Identity", [f"W{i}"], [f"W{i + 1}"]) for i in range(n)]
    nodes.append(helper.make_node("GRU", ["X", f"W{n}", "R", "B"], ["Y"], name="gru",
                                  hidden_size=4, linear_before_reset=1))
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "chain.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    layer = convert(path, verify=False).layers[0]
    w = arrays["W0"][0].astype(np.float32)  # ONNX gates z, r, h; canonical r, z, n
    np.testing.assert_array_equal(layer.w_ih, np.concatenate([w[4:8], w[0:4], w[8:12]]))


def test_h5_attributes_of_other_types_are_refused_before_reading(tmp_path: Path) -> None:
    """The converter fuzz: a Keras 2 .h5 whose `keras_version` attribute's type byte became a
    variable-length sequence crashed libhdf5 (SIGSEGV) when read (tests/data/
    fuzz_h5_attribute_type.h5, the finding itself). Attribute types are checked first."""
    h5py = pytest.importorskip("h5py")
    finding = Path(__file__).parent / "data" / "fuzz_h5_attribute_type.h5"
    run = subprocess.run([sys.executable, "-m", "gru_rt", "convert", str(finding), "-o",
                          str(tmp_path / "f.grt")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert "attribute 'keras_version' of / has HDF5 type class 9, expected a number or a " \
        "string" in run.stderr
    assert not (tmp_path / "f.grt").exists()
    from gru_rt import convert
    from gru_rt.errors import ConversionError

    path = tmp_path / "vlen.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        ragged = np.empty(1, dtype=h5py.vlen_dtype(np.int32))
        ragged[0] = np.arange(3, dtype=np.int32)
        f.attrs.create("ragged", ragged, dtype=ragged.dtype)
    with pytest.raises(ConversionError, match=r"attribute 'ragged' of / has HDF5 type class 9"):
        convert(path, verify=False)
