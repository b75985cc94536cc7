"""File helpers with one set of guarantees: atomic writes, atomic folders, file hashes.

The guarantees, for every writer in the library (store, datasets, checkpoints, results):

- **Nothing half-written.** A file or folder is written under a temporary name in the same folder
  (``.<name>.<random>.tmp``) and renamed into place; on any error or interrupt the temporary is
  removed and the destination is left as it was.
- **A failed swap restores the old version.** An old folder is renamed aside first and deleted only
  after the new one is in place; if the final rename fails it is renamed back (and if even that
  fails, the error says where it is).
- **Nothing the library did not create is replaced.** :func:`atomic_dir` takes an ``owned`` check;
  an existing non-empty destination that fails it is refused before anything is touched.

This module imports nothing from the rest of the library, so any module may use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

BLOCK = 1 << 22


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(final: str | Path, owned: Callable[[Path], bool] | None = None,
               what: str = "a folder this library made") -> Iterator[Path]:
    """Yield a temporary folder next to ``final``; on success it replaces ``final`` by a rename.

    ``owned(final)`` (when given) must say True for an existing ``final`` that is not an empty
    folder, else ``ValueError`` is raised and nothing is touched (``what`` names the owner in the
    message). On any error the temporary folder is removed and ``final`` is left as it was; an old
    ``final`` is renamed aside, deleted after the swap, renamed back if the swap fails.
    Introduced in chapter 2.
    """
    final = Path(final)
    if owned is not None and (final.exists() or final.is_symlink()):
        empty = final.is_dir() and not final.is_symlink() and not any(final.iterdir())
        if not empty and not owned(final):
            raise ValueError(f"{final} exists and is not {what}; nothing was touched: "
                             f"give an empty or new path")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        old = None
        if final.exists() or final.is_symlink():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".old"))
            os.replace(final, old / "x")
        try:
            os.replace(tmp, final)
        except BaseException as e:
            if old is not None:
                try:
                    os.replace(old / "x", final)  # put the old version back where it was
                    old.rmdir()
                except OSError as restore:
                    raise OSError(f"could not replace {final} ({e}) nor restore it ({restore}); "
                                  f"the old version is in {old / 'x'}") from e
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def checksums(path: str | Path, sha: bool = True, crc: bool = True) -> tuple[str | None, int | None]:
    """SHA-256 (hex) and CRC-32 of one file, in one pass; either can be skipped (None)."""
    h, c = hashlib.sha256() if sha else None, 0
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            if h is not None:
                h.update(chunk)
            if crc:
                c = zlib.crc32(chunk, c)
    return (h.hexdigest() if h is not None else None), (c if crc else None)


def file_sha256(*paths: str | Path) -> str:
    """SHA-256 (hex) of the concatenated bytes of ``paths``."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(BLOCK):
                h.update(chunk)
    return h.hexdigest()
