"""Shared helpers of the data scripts: download, verify, unpack, and save a prepared dataset.

* :func:`download` fetches a URL into a ``.part`` file, resumes it with an HTTP ``Range`` request
  after a dropped connection, retries with exponential backoff, verifies the size and the
  sha256/md5 checksum after **every** download, and only then renames it into place. A file whose
  checksum nobody published is hashed on first download and its sha256 recorded in
  ``checksums.json`` next to it ("trust on first use"); later downloads are checked against it.
* :func:`extract` unpacks zip, tar(.gz/.bz2/.xz) and 7z archives, refusing members that would land
  outside the destination (``../`` or absolute paths, links pointing out).
* :func:`clean_caption`, :func:`link_into`, :func:`save_prepared` are the small steps every
  ``prepare`` shares.

Used by ``data_scripts/{coco,flickr30k,audiocaps,clotho}.py`` (full profile, see the README).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

try:  # the scripts run as ``python data_scripts/x.py``; make the library importable from a checkout
    import fusemix_lite  # noqa: F401
except ImportError:  # pragma: no cover - only without ``pip install -e .``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm.auto import tqdm

from fusemix_lite.data.format import Item, PairedDataset
from fusemix_lite.files import write_atomic
from fusemix_lite.errors import FuseMixError, MissingDataError

CHECKSUMS_FILE = "checksums.json"
USER_AGENT = "fusemix-book-data-scripts/0.1"


class ChecksumError(FuseMixError, ValueError):
    """A downloaded file does not have the expected size or checksum."""


class UnsafeArchiveError(FuseMixError, ValueError):
    """An archive member would be written outside the destination folder."""


class DownloadError(FuseMixError, RuntimeError):
    """A download failed for good (after retries, or with a client error such as 404)."""


@dataclass(frozen=True)
class Remote:
    """One file to download: where from, what to call it, and what it must hash to (if known)."""

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None


# ---- hashing and the checksums file ---------------------------------------------------------

def file_hash(path: Path, algo: str = "sha256", progress: bool = False) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algo)
    path = Path(path)
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                     desc=f"{algo} {path.name}", disable=not progress) as bar:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def read_checksums(folder: Path) -> dict[str, dict]:
    """The checksums recorded on first download in ``folder/checksums.json`` ({} if none)."""
    p = Path(folder) / CHECKSUMS_FILE
    return json.loads(p.read_text()) if p.exists() else {}


def _record_checksum(folder: Path, remote: Remote, sha256: str, size: int) -> None:
    table = read_checksums(folder)
    table[remote.filename] = {"sha256": sha256, "size": size, "url": remote.url,
                              "recorded": time.strftime("%Y-%m-%d")}
    write_atomic(Path(folder) / CHECKSUMS_FILE, json.dumps(table, indent=2, sort_keys=True).encode())


def verify(path: Path, remote: Remote, progress: bool = False) -> str:
    """Check ``path`` against the remote's size and checksums, or against the recorded checksum.

    Returns ``"verified"`` (matched a known or recorded checksum) or ``"recorded"`` (first download
    of a file without a published checksum: its sha256 is now in ``checksums.json``). Raises
    :class:`ChecksumError` on a mismatch.
    """
    path = Path(path)
    size = path.stat().st_size
    recorded = read_checksums(path.parent).get(remote.filename, {})
    hint = (f" (compared with the checksum recorded on first download in {path.parent / CHECKSUMS_FILE};"
            f" if the file changed upstream on purpose, delete its entry there)") if recorded else ""
    want_size = remote.size if remote.size is not None else recorded.get("size")
    if want_size is not None and size != want_size:
        raise ChecksumError(f"{path.name}: size {size} bytes, expected {want_size}{hint}")
    want = {"sha256": remote.sha256 or recorded.get("sha256"), "md5": remote.md5}
    checked = False
    for algo, expected in want.items():
        if expected:
            got = file_hash(path, algo, progress)
            if got != expected.lower():
                raise ChecksumError(f"{path.name}: {algo} {got}, expected {expected}{hint}")
            checked = True
    if checked:
        return "verified"
    _record_checksum(path.parent, remote, file_hash(path, "sha256", progress), size)
    return "recorded"


# ---- download ---------------------------------------------------------------------------------

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


def _fetch_once(remote: Remote, part: Path, timeout: float, progress: bool) -> None:
    """One HTTP(S)/file request, appending to ``part`` from its current size when the server allows."""
    offset = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(remote.url, headers={"User-Agent": USER_AGENT})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to send: the .part file is already complete
            total = e.headers.get("Content-Range", "").rpartition("/")[2]
            if total.isdigit() and int(total) == offset:
                return
            part.unlink()  # the .part is longer than the file: start again on the next try
            raise ConnectionError(f"{remote.filename}: stale partial download removed") from e
        raise
    with resp:
        status = getattr(resp, "status", None) or resp.getcode()
        if offset and status != 206:  # server (or file://) ignored the Range: start from scratch
            offset = 0
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length is not None and length.isdigit() else remote.size
        mode = "ab" if offset else "wb"
        got = 0
        with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                          unit_divisor=1024, desc=remote.filename,
                                          disable=not progress) as bar:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                f.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
        if length is not None and length.isdigit() and got < int(length):
            raise ConnectionError(f"{remote.filename}: connection closed after {got} of {length} bytes")


def download(remote: Remote, folder: str | Path, *, retries: int = 5, backoff: float = 2.0,
             timeout: float = 60.0, progress: bool = True,
             sleep: Callable[[float], None] = time.sleep) -> Path:
    """Download ``remote`` into ``folder`` (resumable, checksummed, atomic); return the final path.

    An existing final file is verified again and kept. A partial ``<name>.part`` from an earlier
    run is resumed with an HTTP Range request. Network errors and 5xx/429 answers are retried up to
    ``retries`` times, waiting ``backoff * 2**attempt`` seconds. A size/checksum mismatch deletes
    the ``.part`` file and raises :class:`ChecksumError`: no final file is left behind.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final, part = folder / remote.filename, folder / (remote.filename + ".part")
    if final.exists():
        try:
            verify(final, remote, progress)
        except ChecksumError as e:
            raise ChecksumError(f"{e}; delete {final} to download it again") from e
        return final
    for attempt in range(retries + 1):
        try:
            _fetch_once(remote, part, timeout, progress)
            break
        except urllib.error.HTTPError as e:
            if e.code not in _RETRY_STATUS or attempt == retries:
                raise DownloadError(f"{remote.url}: HTTP {e.code} {e.reason}") from e
            why = f"HTTP {e.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as e:
            if attempt == retries:
                raise DownloadError(f"{remote.url}: {e} (gave up after {retries + 1} tries; "
                                    f"run again to resume from {part})") from e
            why = str(e)
        wait = backoff * 2 ** attempt
        print(f"{remote.filename}: {why}; retrying in {wait:.1f} s ({attempt + 1}/{retries})", file=sys.stderr)
        sleep(wait)
    try:
        outcome = verify(part, remote, progress)
    except ChecksumError:
        part.unlink(missing_ok=True)  # a corrupt download must not be resumed or kept
        raise
    if outcome == "recorded":
        print(f"{remote.filename}: no published checksum; recorded its sha256 in "
              f"{folder / CHECKSUMS_FILE} and will check later downloads against it", file=sys.stderr)
    os.replace(part, final)
    return final


# ---- safe extraction --------------------------------------------------------------------------

def _safe_target(dest: Path, name: str) -> Path:
    """Where member ``name`` goes under ``dest``; raises on absolute or escaping paths."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {dest}")
    target = (dest / pure).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {dest}")
    return target


def archive_members(archive: Path) -> list[str]:
    """Member names of a zip, tar or 7z archive."""
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return z.namelist()
    if archive.suffix == ".7z":
        with _open_7z(archive) as z:
            return z.getnames()
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            return t.getnames()
    raise ValueError(f"{archive}: not a zip, tar or 7z archive")


def _open_7z(archive: Path):
    try:
        import py7zr
    except ImportError as e:
        raise MissingDataError(
            f"{archive.name} is a 7z archive and py7zr is not installed: `pip install py7zr`, "
            f"or extract it yourself (`7z x {archive} -o{archive.parent}`) and run again with "
            f"--skip-download") from e
    return py7zr.SevenZipFile(archive, mode="r")


def extract(archive: str | Path, dest: str | Path, progress: bool = True) -> list[Path]:
    """Safely unpack ``archive`` into ``dest``; return the top-level paths it created.

    Every member name is checked before anything is written: absolute paths, ``..`` components and
    (for tar) links or device files raise :class:`UnsafeArchiveError`. Unpacking goes to a hidden
    temporary folder first and is moved into place at the end, so an interrupted run leaves no
    half-unpacked folder under its real name. A marker file makes a second call a no-op.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / f".{archive.name}.extracted"
    if marker.exists():
        return [dest / n for n in json.loads(marker.read_text())]
    tmp = dest / f".extracting-{archive.name}"
    if tmp.exists():
        shutil.rmtree(tmp)  # our own leftover from an interrupted run
    tmp.mkdir()
    try:
        names = archive_members(archive)
        for n in names:
            _safe_target(tmp, n)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for info in tqdm(z.infolist(), desc=f"unzip {archive.name}", disable=not progress):
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(f"archive member {info.filename!r} is a symlink")
                    z.extract(info, tmp)
        elif archive.suffix == ".7z":
            with _open_7z(archive) as z:
                z.extractall(path=tmp)
        else:
            with tarfile.open(archive) as t:
                members = t.getmembers()
                for m in members:
                    if not (m.isfile() or m.isdir()):
                        raise UnsafeArchiveError(f"archive member {m.name!r} is a link or special file")
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                for m in tqdm(members, desc=f"untar {archive.name}", disable=not progress):
                    t.extract(m, tmp, **safe)
        tops = sorted(p.name for p in tmp.iterdir())
        for name in tops:
            target = dest / name
            if (tmp / name).is_dir() and (target.exists() or target.is_symlink()):
                raise FileExistsError(f"{target} already exists; remove it to unpack {archive.name} again")
            os.replace(tmp / name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_atomic(marker, json.dumps(tops).encode())
    return [dest / n for n in tops]


# ---- preparing ----------------------------------------------------------------------------------

def clean_caption(text: str) -> str:
    """Strip and collapse whitespace (``"A dog  runs.\\n "`` -> ``"A dog runs."``).

    That is the only change made to a caption here: lower-casing, punctuation and length limits
    belong to the text encoder's preprocessing (chapter on latents), so the raw text stays intact.
    """
    return " ".join(text.split())


def clean_captions(texts: Iterable[str], limit: int | None = None) -> list[str]:
    """Cleaned, non-empty captions, at most ``limit`` of them (in their original order)."""
    out = [c for c in (clean_caption(t) for t in texts) if c]
    return out if limit is None else out[:limit]


def link_into(dest: Path, name: str, source: Path) -> Path:
    """Make ``dest/name`` point at the user's folder ``source`` (a symlink; no copy of the data)."""
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a folder")
    target = Path(dest) / name
    if target.exists() or target.is_symlink():
        if target.resolve() == source:
            return target
        raise FileExistsError(f"{target} already exists and is not {source}; remove it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=True)
    return target


@dataclass
class PrepareReport:
    """What a prepare step kept and what it had to skip."""

    name: str
    n_items: dict[str, int] = field(default_factory=dict)
    n_captions: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # split -> missing files
    notes: list[str] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        return sum(len(v) for v in self.missing.values())

    def summary(self) -> str:
        lines = [f"{self.name}: " + ", ".join(f"{s} {self.n_items[s]} items / {self.n_captions[s]} captions"
                                              for s in self.n_items)]
        for split, files in self.missing.items():
            lines.append(f"  skipped {len(files)} {split} items whose file is missing, e.g. {files[0]}")
            if split == "test":
                lines.append("  WARNING: the test split is incomplete, so retrieval numbers are not "
                             "comparable with published ones")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def keep_present(items: list[Item], root: Path, attr: str, report: PrepareReport,
                 strict: bool = False) -> list[Item]:
    """Items whose ``attr`` ("image" or "audio") file exists under ``root``; the rest are reported."""
    kept = []
    for it in items:
        rel = getattr(it, attr)
        if rel is not None and (Path(root) / rel).is_file():
            kept.append(it)
        else:
            report.missing.setdefault(it.split, []).append(str(rel))
    if strict and report.n_missing:
        first = next(iter(report.missing.values()))[0]
        raise MissingDataError(f"{report.name}: {report.n_missing} {attr} files are missing under "
                               f"{root} (e.g. {first})")
    if items and not kept:
        raise MissingDataError(f"{report.name}: none of the {len(items)} {attr} files exist under {root}; "
                               f"check --{'images' if attr == 'image' else 'audio'}")
    return kept


def save_prepared(name: str, dest: Path, items: list[Item], report: PrepareReport,
                  info: dict) -> PairedDataset:
    """Write the dataset (manifest.jsonl + dataset.json) into ``dest`` and fill the report counts."""
    if not items:
        raise ValueError(f"{name}: no items to save; check the annotation files and --splits")
    for it in items:
        report.n_items[it.split] = report.n_items.get(it.split, 0) + 1
        report.n_captions[it.split] = report.n_captions.get(it.split, 0) + len(it.captions)
    info = {**info, "n_items": dict(report.n_items), "n_captions": dict(report.n_captions),
            "n_missing": {s: len(v) for s, v in report.missing.items()},
            "caption_cleaning": "whitespace stripped and collapsed; nothing else"}
    return PairedDataset.from_items(name, dest, items, info)


def base_parser(name: str, description: str, annotations: str, archives: bool = False):
    """The options every data script shares (``--dest``, ``--skip-download``, ``--strict``, ...)."""
    import argparse

    from fusemix_lite.paths import data_dir

    p = argparse.ArgumentParser(prog=f"python data_scripts/{name}.py", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dest", type=Path, default=data_dir() / name,
                   help=f"dataset folder (default: $FUSEMIX_HOME/data/{name}, here {data_dir() / name})")
    p.add_argument("--annotations", type=Path, default=None, help=annotations)
    p.add_argument("--skip-download", action="store_true",
                   help="download nothing; prepare from local files only")
    p.add_argument("--splits", nargs="+", default=["train", "val", "test"], choices=["train", "val", "test"],
                   help="splits to keep (default: all three)")
    p.add_argument("--strict", action="store_true", help="fail instead of skipping items whose file is missing")
    if archives:
        p.add_argument("--keep-archives", action="store_true", help="keep downloaded archives after unpacking")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p
