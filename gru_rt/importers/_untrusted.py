"""Checks on the containers a source file comes in, made before anything is read from them.

A model file may come from anywhere, so each declared size is checked before it is allocated or
inflated: JSON (size, nesting depth), zip members (declared size), `.npy` headers (declared shape
against the format's limits and the bytes present), HDF5 datasets (where their data lives, links,
declared shape, stored size). Every refusal is a ConversionError naming the file, the item and the
rule; names from the file are quoted with `printable` (no raw control characters).
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from ..errors import ConversionError, printable
from ..fileio import open_regular
from ..format import MAX_DIM

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_SOURCE_BYTES", "check_h5_bytes",
           "check_h5_tree", "H5_ATTRIBUTES",
           "check_weight_shape", "load_json", "read_npy", "read_npy_file", "zip_infos",
           "zip_member", "H5_ERRORS", "ZIP_ERRORS", "h5_errors"]

MAX_SOURCE_BYTES = 2**33  # 8 GiB: the largest .grt (< 4 GiB of float32) stored as float64
MAX_JSON_BYTES = 64 * 2**20  # a model config is kilobytes; safetensors headers have their own cap
MAX_JSON_DEPTH = 64  # Keras configs nest about 10 deep
MAX_ZIP_MEMBERS = 4096
MAX_H5_OBJECTS = 65536

# What zipfile (and zlib under it) raise on a damaged archive: besides BadZipFile, an unsupported
# version or method (NotImplementedError), an encrypted member (RuntimeError), a bad stream
# (zlib.error, EOFError), bad field values (ValueError, struct.error, UnicodeDecodeError).
# Callers catch ConversionError (a ValueError) first so that their own refusals pass through.
ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError,
              ValueError, struct.error, OSError)


# ---- JSON --------------------------------------------------------------------------------------

def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((x, depth + 1) for x in item)
    return deepest


def load_json(text: str | bytes, where: str, limit: int = MAX_JSON_BYTES, **kwargs: Any) -> Any:
    """json.loads with a size cap and a nesting cap (MAX_JSON_DEPTH); ConversionError otherwise."""
    if len(text) > limit:
        raise ConversionError(f"{where}: {len(text)} bytes of JSON, above the limit of {limit}")
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        value = None
        deep = True
    except json.JSONDecodeError as e:
        raise ConversionError(f"{where} is not valid JSON ({e.msg} at character {e.pos})") from None
    except UnicodeDecodeError as e:
        raise ConversionError(f"{where}: not UTF-8 ({e.reason} at byte {e.start})") from None
    else:
        deep = _depth(value) > MAX_JSON_DEPTH
    if deep:
        raise ConversionError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return value


# ---- arrays ------------------------------------------------------------------------------------

def check_weight_shape(where: str, shape: Sequence[int], itemsize: int) -> None:
    """Refuse a declared array no layer of a .grt model can hold, before it is allocated: a vector
    of at most 6·MAX_DIM values (two stacked GRU biases), or a matrix whose largest dimension is at
    most 3·MAX_DIM (three GRU gates) and whose other dimensions multiply to at most MAX_DIM."""
    dims = [int(n) for n in shape]
    ok = all(n >= 0 for n in dims) and itemsize <= 16
    if ok and len(dims) == 1:
        ok = dims[0] <= 6 * MAX_DIM
    elif ok and dims:
        largest = max(dims)
        ok = largest <= 3 * MAX_DIM and math.prod(dims) <= largest * MAX_DIM
    if not ok:
        raise ConversionError(f"{where}: declares shape {tuple(dims)} of {itemsize}-byte items, "
                              f"which no layer of a model can hold (vectors up to "
                              f"{6 * MAX_DIM} values, matrices up to {3 * MAX_DIM} × {MAX_DIM}); "
                              f"refused before reading it")


def read_npy_file(path: str | os.PathLike[str], what: str) -> np.ndarray:
    """A .npy file of data (calibration, inputs): a regular file whose header declares no more
    bytes than the file holds, read without pickle."""
    with open_regular(path, MAX_SOURCE_BYTES, what) as f:
        if f.read(4) == b"PK\x03\x04":
            raise ConversionError(f"{path}: expected one array (.npy), got an archive (.npz)")
        f.seek(0)
        return read_npy(f, os.fstat(f.fileno()).st_size, str(path), weights=False)


def read_npz_file(path: str | os.PathLike[str], what: str) -> dict[str, np.ndarray]:
    """The arrays of a .npz archive of data (np.savez: sequences of different lengths), in archive
    order, each member's size and .npy header checked before it is inflated, read without
    pickle."""
    arrays = {}
    with open_regular(path, MAX_SOURCE_BYTES, what) as f:
        try:
            with zipfile.ZipFile(f) as z:
                for info in zip_infos(z, str(path)):
                    key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                    with z.open(info) as member:
                        arrays[key] = read_npy(member, info.file_size, f"{path}: {printable(key)}",
                                               weights=False)
        except (zipfile.BadZipFile, EOFError) as e:
            raise ConversionError(f"cannot read {path} as a .npz archive ({e})") from None
    return arrays


def read_npy(f: IO[bytes], size: int, where: str, weights: bool = True) -> np.ndarray:
    """One .npy array from an open stream of `size` bytes: the header is checked (version, no
    pickled objects, for weights a shape a layer can hold, the data present) before the array is
    allocated."""
    try:
        version = np.lib.format.read_magic(f)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ConversionError(f"{where}: .npy format version {version} is not supported")
        shape, fortran, dtype = read_header(f)
    except ConversionError:
        raise
    except Exception as e:  # NumPy's header parser raises ValueError, TokenError, SyntaxError …
        raise ConversionError(f"{where}: not a .npy array ({type(e).__name__}: "
                              f"{printable(e)})") from None
    if dtype.hasobject:
        raise ConversionError(f"{where} cannot be read without pickle (it holds Python "
                              f"objects); expected a numeric array")
    if weights:
        check_weight_shape(where, shape, dtype.itemsize)
    need = math.prod(shape) * dtype.itemsize
    have = size - f.tell()
    if have < need:
        raise ConversionError(f"{where}: declares shape {tuple(shape)} ({need} bytes) but holds "
                              f"{have} bytes of data")
    data = f.read(need)
    if len(data) != need:
        raise ConversionError(f"{where}: truncated: {len(data)} of {need} bytes")
    arr = np.frombuffer(data, dtype=dtype)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def zip_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """The bytes of one member whose declared size is at most `limit`, read no further than that."""
    name = printable(info.filename)
    if info.file_size > limit:
        raise ConversionError(f"{where}: member {name} declares {info.file_size} bytes, above the "
                              f"limit of {limit}; refused before inflating it")
    with z.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ConversionError(f"{where}: member {name} holds {len(data)} bytes, declared "
                              f"{info.file_size}")
    return data


def zip_infos(z: zipfile.ZipFile, where: str) -> list[zipfile.ZipInfo]:
    """The members of an archive, once their count and declared total size are checked."""
    infos = z.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ConversionError(f"{where}: {len(infos)} members, above the limit of "
                              f"{MAX_ZIP_MEMBERS}")
    total = sum(i.file_size for i in infos)
    if total > MAX_SOURCE_BYTES:
        raise ConversionError(f"{where}: the members declare {total} bytes in all, above the "
                              f"limit of {MAX_SOURCE_BYTES}; refused before inflating them")
    return infos


# ---- HDF5 --------------------------------------------------------------------------------------

def _check_dataset(h5py: Any, dset: Any, name: str, where: str) -> None:
    if dset.is_virtual:
        raise ConversionError(f"{where}: dataset {name} is a virtual dataset (its data lives in "
                              f"other files); refused")
    if dset.external:
        files = ", ".join(printable(str(e[0])) for e in dset.external)
        raise ConversionError(f"{where}: dataset {name} stores its data in external file(s) "
                              f"{files}; only data inside the file itself is read")
    if dset.dtype.kind == "O":
        raise ConversionError(f"{where}: dataset {name} holds variable-length values, which no "
                              f"weight is; refused before reading it")
    if dset.shape is None:  # a null dataspace holds nothing
        return
    check_weight_shape(f"{where}: dataset {name}", dset.shape, dset.dtype.itemsize)
    if dset.size and dset.id.get_storage_size() == 0:
        raise ConversionError(f"{where}: dataset {name} declares shape {dset.shape} but stores no "
                              f"data (only a fill value); refused")


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_SCAN_BYTES = 2**20
# The attributes the importers read. Their values may be variable-length (h5py stores str that
# way), kept in a global heap: libhdf5 allocates and zeroes the length each value declares before
# it looks at the heap, so a 16-byte value can ask for 4 GiB.
H5_ATTRIBUTES = ("model_config", "keras_version", "weight_names")
_VLEN = 9  # the datatype class of variable-length sequences and strings


@dataclass
class _H5Layout:
    """What the superblock says about addresses: their sizes, and where address 0 is."""

    offsets: int
    lengths: int
    base: int


def _h5_layout(f: IO[bytes], size: int) -> _H5Layout | None:
    """The superblock's sizes of offsets and lengths and base address, looking where libhdf5
    looks (byte 0, 512, 1024, 2048, …); None without a superblock (h5py then refuses the file)."""
    at = 0
    while at + 40 <= size:
        f.seek(at)
        head = f.read(40)
        if head[:8] == _HDF5_SIGNATURE:
            version = head[8]
            offsets, lengths = (head[13], head[14]) if version < 2 else (head[9], head[10])
            base_at = {0: 24, 1: 28}.get(version, 12)
            if offsets not in (2, 4, 8) or lengths not in (2, 4, 8):
                return None
            return _H5Layout(offsets, lengths, _uint(head[base_at:base_at + offsets]))
        at = 512 if at == 0 else 2 * at
    return None


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _find_all(f: IO[bytes], size: int, needle: bytes) -> Iterator[int]:
    """The offsets of `needle` in the file, read in blocks (each overlapping the last)."""
    at, keep = 0, len(needle) - 1
    while at < size:
        f.seek(at)
        block = f.read(_SCAN_BYTES + keep)
        hit = block.find(needle)
        while hit >= 0:
            yield at + hit
            hit = block.find(needle, hit + 1)
        at += _SCAN_BYTES


def check_h5_bytes(f: IO[bytes], where: str) -> None:
    """Before libhdf5 reads an HDF5 file: refuse global heap collections (where variable-length
    strings such as Keras 2's model_config live) whose objects do not tile them exactly, and
    variable-length values of the attributes the importers read (H5_ATTRIBUTES) that declare more
    bytes than their heap object holds.

    libhdf5 walks a collection's objects by their declared sizes, taking the free-space object's
    as is: a size of 0 (or one whose padding wraps around to 0) makes it loop for ever, in native
    code, when a string is read; a size past the end makes it read beyond the collection. Every
    collection libhdf5 can load starts with "GCOL" and version 1, and every attribute it can find
    by name has that name in an attribute message, so each such place in the file is checked."""
    size = f.seek(0, os.SEEK_END)
    layout = _h5_layout(f, size)
    if layout is not None:
        objects: dict[tuple[int, int], int] = {}
        for at in _find_all(f, size, b"GCOL"):
            objects.update(_global_heap_objects(f, at, size, layout, where))
        for name in H5_ATTRIBUTES:
            for at in _find_all(f, size, name.encode() + b"\0"):
                _check_attribute_message(f, at, name, layout, objects, where)
    f.seek(0)


def _global_heap_objects(f: IO[bytes], at: int, size: int, layout: _H5Layout,
                         where: str) -> dict[tuple[int, int], int]:
    """The objects of the collection at byte `at` ((address, index) → bytes), once they are
    checked to tile it as libhdf5 walks them; nothing if libhdf5 would not load it."""
    header = 8 + layout.lengths  # "GCOL", version, 3 reserved, collection size
    f.seek(at)
    head = f.read(header)
    if len(head) < header or head[4] != 1:
        return {}  # not a collection libhdf5 would load (it checks the version)
    declared = _uint(head[8:])
    bad = f"{where}: damaged HDF5 global heap (the collection at byte {at}"
    if declared > size - at:
        raise ConversionError(f"{bad} declares {declared} bytes, past the end of the file); "
                              f"refused before reading it")
    end, pos, objects = at + declared, at + header, {}
    object_header = 8 + layout.lengths  # index, reference count, 4 reserved, size
    while pos + object_header <= end:  # a tail too short for an object header is free space
        f.seek(pos)
        raw = f.read(object_header)
        index, object_size = _uint(raw[:2]), _uint(raw[8:])
        # libhdf5's step in its own (size_t, wrapping) arithmetic: objects are padded to 8 bytes
        need = object_size if index == 0 else (object_header + (object_size + 7) // 8 * 8) % 2**64
        if need == 0 or need > end - pos:
            raise ConversionError(
                f"{bad}: object {index} at byte {pos} declares {object_size} bytes, "
                f"{'which libhdf5 would step over for ever' if need == 0 else 'past its end'}"
                f"); refused before reading it")
        if index:
            objects[(at - layout.base, index)] = object_size
        pos += need
        if len(objects) > MAX_H5_OBJECTS:
            raise ConversionError(f"{bad} holds more than {MAX_H5_OBJECTS} objects)")
    return objects


def _check_attribute_message(f: IO[bytes], at: int, name: str, layout: _H5Layout,
                             objects: dict[tuple[int, int], int], where: str) -> None:
    """If `name` at byte `at` is the name of an attribute message (version 1 and 2: an 8-byte
    prefix; 3: 9 bytes, with no padding after the name), check its variable-length values."""
    for version, prefix in ((1, 8), (2, 8), (3, 9)):
        if at < prefix:
            continue
        f.seek(at - prefix)
        head = f.read(prefix)
        name_size = _uint(head[2:4])
        if head[0] != version or name_size <= len(name):
            continue
        flags = head[1] if version > 1 else 0
        type_size, space_size = _uint(head[4:6]), _uint(head[6:8])
        pad = (lambda n: (n + 7) // 8 * 8) if version == 1 else (lambda n: n)
        f.seek(at + pad(name_size))
        message = f.read(pad(type_size) + pad(space_size))
        where_attr = f"{where}: attribute {name} (byte {at})"
        if flags & 3:
            raise ConversionError(f"{where_attr} has a shared datatype or dataspace, which Keras "
                                  f"does not write; refused before reading it")
        if len(message) < pad(type_size) + pad(space_size) or type_size < 8 or space_size < 4:
            continue  # cut short: libhdf5 cannot decode it either
        if message[0] & 0x0F != _VLEN:
            continue  # fixed-size values: held in the message itself
        base_size = _uint(message[12:16]) if type_size >= 16 else 1
        count = _dataspace_count(message[pad(type_size):pad(type_size) + space_size], layout)
        _check_vlen_values(f, at + pad(name_size) + len(message), count, base_size, layout,
                           objects, where_attr)


def _dataspace_count(space: bytes, layout: _H5Layout) -> int:
    """How many values a dataspace message declares (scalar: 1, null: 0)."""
    version, rank = space[0], space[1]
    if version == 2 and space[3] == 2:
        return 0
    start = 8 if version == 1 else 4
    count = 1
    for k in range(rank):
        count *= _uint(space[start + k * layout.lengths:start + (k + 1) * layout.lengths])
    return count


def _check_vlen_values(f: IO[bytes], at: int, count: int, base_size: int, layout: _H5Layout,
                       objects: dict[tuple[int, int], int], where: str) -> None:
    """Each value: its length (4 bytes), then the heap address of its data and the object's index
    in that collection. A length must not declare more bytes than the object holds."""
    item = 8 + layout.offsets
    if count > MAX_H5_OBJECTS:
        raise ConversionError(f"{where} declares {count} values, above the limit of "
                              f"{MAX_H5_OBJECTS}; refused before reading it")
    f.seek(at)
    data = f.read(count * item)
    for k in range(len(data) // item):
        raw = data[k * item:(k + 1) * item]
        length = _uint(raw[:4])
        heap = (_uint(raw[4:4 + layout.offsets]), _uint(raw[4 + layout.offsets:]))
        held = objects.get(heap, 0)
        if length * base_size > held:
            raise ConversionError(f"{where}: value {k} declares {length * base_size} bytes, but "
                                  f"its global heap object holds {held}; refused before reading "
                                  f"it")


# What h5py raises when libhdf5 meets a damaged file (a bad message, a broken B-tree, a bad filter).
H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError)


@contextmanager
def h5_errors(where: str) -> Iterator[None]:
    """Turn h5py's errors on a damaged file into a ConversionError (ours pass through)."""
    try:
        yield
    except ConversionError:
        raise
    except H5_ERRORS as e:
        raise ConversionError(f"{where}: damaged HDF5 data ({type(e).__name__}: "
                              f"{printable(e)})") from None


_PIPELINE_MESSAGE = 0x0B  # an object header's filter pipeline (HDF5 message type)


def _check_attribute_storage(h5py: Any, obj: Any, name: str, where: str) -> None:
    """Refuse attributes stored densely (in a fractal heap) by an object with a filter pipeline:
    libhdf5 then compresses them, out of sight of check_h5_bytes. Keras writes neither."""
    info = h5py.h5o.get_info(obj.id)
    if info.meta_size.attr.heap_size and info.hdr.mesg.present >> _PIPELINE_MESSAGE & 1:
        raise ConversionError(f"{where}: the attributes of {name} are stored compressed; "
                              f"refused before reading them")
    _check_attribute_types(h5py, obj, name, where)


def _check_attribute_types(h5py: Any, obj: Any, name: str, where: str) -> None:
    """Refuse attributes of any type but numbers and strings (what Keras writes), by their type
    alone, before any is read: the converter fuzz found a string attribute whose type byte was
    changed into a variable-length sequence, which libhdf5 crashes reading (h5py 3.16 / HDF5
    2.0.0)."""
    allowed = {h5py.h5t.INTEGER, h5py.h5t.FLOAT, h5py.h5t.STRING}
    for k in range(h5py.h5a.get_num_attrs(obj.id)):
        attr = h5py.h5a.open(obj.id, index=k)
        kind = attr.get_type().get_class()
        if kind not in allowed:
            label = printable(attr.get_name().decode("utf-8", "replace"))
            raise ConversionError(f"{where}: attribute {label!r} of {name} has HDF5 type class "
                                  f"{kind}, expected a number or a string")


def check_h5_tree(h5py: Any, root: Any, where: str) -> None:
    """Refuse soft and external links, external storage, virtual datasets, variable-length
    datasets, compressed attributes and impossible shapes anywhere in an open HDF5 file, before
    any dataset or attribute is read. Links are examined without being
    followed; a group reached twice through hard links is visited once."""
    _check_attribute_storage(h5py, root, "/", where)
    seen = {root.id}
    stack = [("", root)]
    count = 0
    while stack:
        path, group = stack.pop()
        for key in group:
            name = printable(f"{path}/{key}")
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.SoftLink):
                raise ConversionError(f"{where}: {name} is a soft link (to "
                                      f"{printable(link.path)}); links are refused")
            if isinstance(link, h5py.ExternalLink):
                raise ConversionError(f"{where}: {name} is an external link (to "
                                      f"{printable(link.filename)}); links are refused")
            count += 1
            if count > MAX_H5_OBJECTS:
                raise ConversionError(f"{where}: more than {MAX_H5_OBJECTS} objects")
            obj = group[key]
            _check_attribute_storage(h5py, obj, name, where)
            if isinstance(obj, h5py.Dataset):
                _check_dataset(h5py, obj, name, where)
            elif isinstance(obj, h5py.Group) and obj.id not in seen:
                seen.add(obj.id)
                stack.append((f"{path}/{key}", obj))
