"""Reading and writing files safely. Reading: only regular files, opened without blocking (a FIFO
or a device is refused, never waited on) and checked against a size limit before any byte is read.
Writing: temporary file, fsync, rename, so a reader never sees a partial file; only a new or an
existing regular file is ever replaced."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import GruRtError

__all__ = ["UnsafeFileError", "atomic_directory", "open_regular", "read_regular", "write_atomic"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
# O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer (it is
# then refused by its type); O_NOCTTY: a terminal never becomes our controlling terminal.
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_NOCTTY", 0))


class UnsafeFileError(GruRtError, ValueError):
    """A path that is not a regular file (FIFO, device, directory, …), a file above a size limit,
    or an output that would replace something it must not."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], limit: int, what: str = "file") -> BinaryIO:
    """Open `path` for reading if it is a regular file of at most `limit` bytes (checked on the
    open descriptor, so the file checked is the file read); else UnsafeFileError."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except IsADirectoryError:
        raise UnsafeFileError(f"{path}: is a directory, expected a {what}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{path}: is {_kind(st.st_mode)}, expected a regular {what}")
        if st.st_size > limit:
            raise UnsafeFileError(f"{path}: {st.st_size} bytes, above the limit of {limit} bytes "
                                  f"for a {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """All bytes of a regular file of at most `limit` bytes (see open_regular)."""
    with open_regular(path, limit, what) as f:
        size = os.fstat(f.fileno()).st_size  # read(n) allocates n bytes: ask for what is there
        data = f.read(size)
        if len(data) != size or f.read(1):
            raise UnsafeFileError(f"{path}: the file changed size while it was read")
    return data


def _check_output(path: Path) -> int | None:
    """Refuse an output that is not a new or an existing regular file (a symlink is judged by what
    it points to); return the existing file's permission bits, None for a new file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise UnsafeFileError(f"cannot write {path}: it is a symlink to a missing file "
                                  f"({os.readlink(path)})") from None
        return None
    if not stat.S_ISREG(st.st_mode):
        link = f" (a symlink to {os.readlink(path)})" if path.is_symlink() else ""
        if stat.S_ISDIR(st.st_mode):  # the OSError writing would raise, before anything is made
            raise IsADirectoryError(errno.EISDIR, f"cannot write {path}{link}: Is a directory")
        raise UnsafeFileError(f"cannot write {path}{link}: it is {_kind(st.st_mode)}; the output "
                              f"must be a new or an existing regular file")
    return stat.S_IMODE(st.st_mode)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; return `path`.

    `path` must be new or an existing regular file (else UnsafeFileError); a symlink to a regular
    file is kept and the file it points to is replaced. The bytes go to a temporary file in the
    target's directory, which is flushed to disk (fsync) and then renamed over the target
    (os.replace), so it holds either its old content or all of `data`. On any failure the temporary
    file is removed and the OSError (same subclass, e.g. FileNotFoundError, PermissionError) says
    which path could not be written. A new file gets the usual permissions (0o666 minus the umask),
    a replaced file keeps its own.
    """
    path = Path(path)
    mode = _check_output(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    directory = target.parent
    try:
        tmp, fd = _create_temp(directory, target.name)
    except OSError as e:
        raise _error(e, f"cannot write {path}: cannot create a file in {directory}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _error(e, f"cannot write {path}") from e
        raise
    _fsync_directory(directory)
    return path


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """A new empty directory beside `path` for the caller to fill; when the block ends normally it
    takes the place of `path` (a directory there before is moved aside, then removed), and when the
    block raises it is removed. So `path` never holds a partial result: its old content, nothing
    (only between the two renames of a replacement), or all of the new. Anything at `path` but a
    directory (a symlink too) is refused with UnsafeFileError before the block runs."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        mode = os.lstat(path).st_mode
        what = ("a symlink" if stat.S_ISLNK(mode) else
                "a regular file" if stat.S_ISREG(mode) else _kind(mode))
        raise UnsafeFileError(f"cannot write the directory {path}: it is {what}; the output must "
                              f"be new or an existing directory")
    tmp = _hidden_name(path, "tmp")
    try:
        tmp.mkdir()
    except OSError as e:
        raise _error(e, f"cannot write {path}: cannot create a directory in {path.parent}") from e
    try:
        yield tmp
        _fsync_directory(tmp)
        if path.exists():
            old = _hidden_name(path, "old")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_directory(path.parent)


def _hidden_name(path: Path, suffix: str) -> Path:
    return path.parent / f".{path.name}.{secrets.token_hex(4)}.{suffix}"


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
