"""Writing files so that a reader never sees a partial one: temporary file, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["write_atomic"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; return `path`.

    The bytes go to a temporary file in the same directory, which is flushed to disk (fsync) and
    then renamed over `path` (os.replace), so `path` holds either its old content or all of `data`.
    On any failure the temporary file is removed and the OSError (same subclass, e.g.
    FileNotFoundError, PermissionError, IsADirectoryError) says which path could not be written.
    The new file gets the usual permissions (0o666 minus the umask).
    """
    path = Path(path)
    directory = path.parent
    try:
        tmp, fd = _create_temp(directory, path.name)
    except OSError as e:
        raise _error(e, f"cannot write {path}: cannot create a file in {directory}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _error(e, f"cannot write {path}") from e
        raise
    _fsync_directory(directory)
    return path


def _create_temp(directory: Path, name: str) -> tuple[Path, int]:
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return tmp, os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {directory}")


def _error(e: OSError, what: str) -> OSError:
    """An OSError of the same subclass whose message starts with `what`."""
    reason = e.strerror or str(e)
    if e.errno is None:
        return type(e)(f"{what}: {reason}")
    return OSError(e.errno, f"{what}: {reason}")  # OSError(errno, ...) picks the subclass


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the OS allows it (POSIX); best effort."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
