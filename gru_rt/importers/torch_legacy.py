"""Size checks for PyTorch's old (not zip) serialization, before torch.load reads it.

A legacy .pt file is four pickles and the storages' bytes:

    magic number, protocol version, system info, the object (storages by persistent id
    ("storage", type, key, location, numel, view)), the list of storage keys, then for each key
    an int64 element count followed by that many elements.

torch.load allocates every storage at its declared size while it unpickles the object, and only
then compares the declared size with the record in the file, so a few bytes can ask for gigabytes.
Here the same pickles are read by an unpickler that builds nothing (every global is a `_Shadow`, no
callable of the file's choosing ever runs), and each storage's declared size is checked against its
record and against the bytes the file really holds. torch itself is not needed.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO

from ..errors import ConversionError, printable

__all__ = ["check_legacy_storages"]

_MAGIC = 0x1950A86A20F9469CFC6C
_ELEMENT_SIZES = {"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
                  "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
                  "ByteStorage": 1, "BoolStorage": 1, "ComplexFloatStorage": 8,
                  "ComplexDoubleStorage": 16}


class _Shadow:
    """Stands for any global the pickle names; calling or building it only builds more shadows."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> _Shadow:
        return _Shadow(self.name)

    # what pickle's SETITEM(S), APPEND(S) and BUILD opcodes do to the objects they fill
    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


class _ShadowUnpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, storages: dict[str, tuple[str, int]]) -> None:
        super().__init__(f)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        return _Shadow(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 6 and pid[0] in ("storage", b"storage"):
            _, kind, key, _, numel, _ = pid
            if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
                raise ConversionError("a storage reference is not (type, key, location, count)")
            self.storages.setdefault(key, (getattr(kind, "name", ""), numel))
        return _Shadow()


def _plain(f: BinaryIO) -> Any:
    """A pickle of plain data (numbers, strings, lists, dicts): any global is refused."""
    return _PlainUnpickler(f).load()


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise ConversionError(f"names {module}.{name} where plain data belongs")


def check_legacy_storages(f: BinaryIO, where: str) -> None:
    """Refuse an old-format .pt file whose storages declare more bytes than it holds, before torch
    allocates them. Files that do not begin with that format's magic number are left to torch.load
    (it gives its own error), and f is rewound either way."""
    start = f.tell()
    try:
        try:
            legacy = _plain(f) == _MAGIC
        except Exception:  # noqa: BLE001 - whatever the first pickle is, it is not our magic
            legacy = False
        if legacy:
            _check_legacy(f, where)
    finally:
        f.seek(start)


def _check_legacy(f: BinaryIO, where: str) -> None:
    """The rest of a file that began with the legacy magic number: every failure is a refusal
    (what this reader cannot follow, torch must not allocate for)."""
    try:
        _plain(f), _plain(f)  # protocol version and system information
        storages: dict[str, tuple[str, int]] = {}
        _ShadowUnpickler(f, storages).load()
        keys = _plain(f)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ConversionError("the list of storage keys is not a list of strings")
        _check_records(f, storages, keys)
    except ConversionError as e:
        raise ConversionError(f"cannot read {where} as a PyTorch file (old format: {e})") from None
    except Exception as e:  # noqa: BLE001 - a damaged pickle raises many types
        raise ConversionError(f"cannot read {where} as a PyTorch file (old format: "
                              f"{type(e).__name__}: {printable(str(e))})") from None


def _check_records(f: BinaryIO, storages: dict[str, tuple[str, int]],
                   keys: list[str]) -> None:
    records = f.tell()
    end = f.seek(0, io.SEEK_END)
    f.seek(records)
    for key in keys:
        if key not in storages:
            raise ConversionError(f"storage {printable(key)} is listed but no tensor uses it")
        kind, numel = storages[key]
        size = _ELEMENT_SIZES.get(kind.rsplit(".", 1)[-1])
        if size is None:
            raise ConversionError(f"storage {printable(key)} has type {printable(kind)}, "
                                  f"expected one of torch's storage types")
        header = f.read(8)
        if len(header) < 8:
            raise ConversionError(f"storage {printable(key)}: the file ends before its record")
        count = int.from_bytes(header, "little")
        held = end - f.tell()
        if count != numel or numel * size > held:
            raise ConversionError(
                f"storage {printable(key)} declares {numel} elements of {size} bytes; its record "
                f"says {count} and the file holds {held} more bytes")
        f.seek(numel * size, io.SEEK_CUR)
