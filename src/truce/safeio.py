"""Inert and private outputs (docs/hardening.md): files written atomically
without following a symbolic link at the target, secret files created 0600
and never through a link, links rendered only for http(s), spreadsheet cells
that cannot run as formulas.

Base layer: imports nothing from truce.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import weakref
from pathlib import Path
from typing import IO, Any, Iterator
from urllib.parse import urlsplit


class AtomicFile:
    """A file that appears at ``path`` only when closed without error, all at once
    (a temporary file beside it, then ``os.replace``). A symbolic link at ``path`` is
    replaced, never followed; a reader never sees half a file; a crash leaves the old one."""

    def __init__(self, path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8",
                 newline: str | None = "", perms: int = 0o644):
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent or Path("."), prefix=f".{self.path.name}.", suffix=".part")
        self._tmp = tmp
        self._perms = perms
        self._fh: IO[Any]
        if "b" in mode:
            self._fh = os.fdopen(fd, "wb")
        else:
            self._fh = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        self._done = False
        self._finalizer = weakref.finalize(self, _discard, self._fh, tmp)

    def write(self, data: Any) -> int:
        return self._fh.write(data)

    def writelines(self, lines: Any) -> None:
        self._fh.writelines(lines)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        """Publish the file (at most once)."""
        if self._done:
            return
        self._done = True
        self._finalizer.detach()
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.chmod(self._tmp, self._perms & ~_umask())
            os.replace(self._tmp, self.path)
        except BaseException:
            _discard(self._fh, self._tmp)
            raise

    def discard(self) -> None:
        if not self._done:
            self._done = True
            self._finalizer.detach()
            _discard(self._fh, self._tmp)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def _discard(fh: IO[Any], tmp: str) -> None:
    with contextlib.suppress(OSError):
        fh.close()
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write a whole file atomically (see :class:`AtomicFile`)."""
    with AtomicFile(path, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)


def read_cache(path: str | os.PathLike[str]) -> Any:
    """A cache file's JSON; None when it is missing or unreadable (the caller rebuilds it)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError, RecursionError):
        return None


def write_cache(path: str | os.PathLike[str], obj: Any) -> bool:
    """Write a cache file's JSON atomically, making its directory; False when it cannot be written
    (a read-only cache only costs rebuild time)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path beside ``path`` for a library that writes by file name; moved to
    ``path`` when the block ends without error."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def create_secret(path: str | os.PathLike[str], data: bytes) -> None:
    """Create a new secret file readable by its owner only, from the first byte on: fails
    if anything exists at ``path``, a dangling symbolic link included."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


def http_url(url: Any) -> str | None:
    """``url`` if it is an absolute http(s) link, else None: a ``javascript:``, ``data:``,
    ``file:`` or relative link is never rendered as one."""
    if not isinstance(url, str):
        return None
    u = url.strip()
    if not u or _CONTROL.search(u.replace(" ", "")) or len(u) > 4000:
        return None
    try:
        parts = urlsplit(u)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return u


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def csv_cell(value: Any) -> Any:
    """A value safe in a spreadsheet: a string that a spreadsheet would read as a formula
    (``=cmd|…``, ``@SUM(…)``, ``+``, ``-``) gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if _NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value


_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: csv_cell(v) for k, v in row.items()}
