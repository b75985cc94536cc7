"""The latent store: frozen-encoder outputs computed once, kept on disk, memory-mapped back.

One folder per :class:`StoreKey` (``root/dataset@variant/split/modality/encoder/``; the variant is
a short hash of the dataset's manifest, so two configurations of one dataset coexist) holding
``latents.npy`` (float32 [rows, dim], C order, read back with ``mmap_mode="r"``) and
``manifest.json`` (how it was made: encoder, weights_hash, preprocessing, data_manifest_hash, shape,
dtype, created, library_version, ids, item_index for captions, and the SHA-256 and CRC-32 of
``latents.npy``). A key's folder is written in a temporary sibling folder and renamed into place, so
a crash never leaves a half-written key, and a failed overwrite leaves the old one where it was.
Nothing is ever unpickled. Introduced in chapter 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import __version__
from .files import atomic_dir, checksums, write_atomic
from .checkpoint import read_json
from .errors import StoreCorruptError, StoreMismatchError

FORMAT_VERSION = 1
LATENTS, MANIFEST = "latents.npy", "manifest.json"
REQUIRED = ("encoder", "weights_hash", "preprocessing", "data_manifest_hash")
RESERVED = ("shape", "dtype", "created", "library_version", "format_version", "ids", "item_index", "sha256",
            "crc32")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@-]*$")
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")  # dataset and variant: no '@' (it joins them)
VERIFY = (True, False, "sha256", "crc32")


@dataclass(frozen=True)
class StoreKey:
    """Which latents: ``dataset`` (its ``variant``) / ``split`` encoded by ``encoder`` for ``modality``.

    ``variant`` is ``PairedDataset.variant`` (a short hash of the dataset's manifest); a key without
    one is resolved by the store to the only variant it holds (see :meth:`LatentStore.resolve`).
    Introduced in chapter 2.
    """

    dataset: str
    split: str
    modality: str
    encoder: str
    variant: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "variant" and value is None:
                continue
            pattern = _PLAIN if f.name in ("dataset", "variant") else _NAME
            if not isinstance(value, str) or not pattern.match(value):
                allowed = "._+=-" if pattern is _PLAIN else "._+=@-"
                raise ValueError(f"StoreKey.{f.name} must be a plain name (letters, digits, {allowed}, "
                                 f"no '/' or leading dot), got {value!r}")

    @property
    def folder(self) -> str:
        """The dataset's folder name: ``dataset@variant`` (or ``dataset`` without a variant)."""
        return self.dataset if self.variant is None else f"{self.dataset}@{self.variant}"

    @property
    def parts(self) -> tuple[str, str, str, str]:
        return (self.folder, self.split, self.modality, self.encoder)

    def __str__(self) -> str:
        return "/".join(self.parts)


@dataclass
class Latents:
    """Stored latents: ``array`` [rows, dim] float32 (a read-only memmap by default). Introduced in chapter 2."""

    key: StoreKey
    array: np.ndarray
    ids: list[str]
    item_index: np.ndarray | None
    manifest: dict

    def __len__(self) -> int:
        return self.array.shape[0]


def _json_norm(value):
    """The value as it reads back from JSON (tuples become lists, etc.)."""
    return json.loads(json.dumps(value))


class LatentStore:
    """A folder of latents, one sub-folder per :class:`StoreKey`. Introduced in chapter 2."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"LatentStore({str(self.root)!r})"

    def path(self, key: StoreKey) -> Path:
        """The key's folder, as given (no variant resolution: see :meth:`resolve`)."""
        return self.root.joinpath(*key.parts)

    def resolve(self, key: StoreKey) -> StoreKey:
        """``key`` itself if it names a variant; else the only variant of it the store holds.

        A key without a variant matches ``dataset@*`` folders; with none of those it stays as it is
        (a variant-less folder), with several it is ambiguous: :class:`StoreMismatchError` lists them.
        """
        if key.variant is not None:
            return key
        found = sorted(p.parents[3].name.split("@", 1)[1]
                       for p in self.root.glob(f"{key.dataset}@*/{key.split}/{key.modality}/{key.encoder}/{MANIFEST}"))
        if len(found) > 1:
            raise StoreMismatchError(f"{key}: the store holds {len(found)} variants of dataset {key.dataset!r} "
                                     f"({', '.join(found)}); name one: StoreKey(..., variant=dataset.variant)")
        return StoreKey(key.dataset, key.split, key.modality, key.encoder, found[0]) if found else key

    # ---- writing ------------------------------------------------------------------------
    def save(self, key: StoreKey, array, ids: Sequence[str], manifest: dict,
             item_index: Sequence[int] | None = None) -> Latents:
        """Store ``array`` [rows, dim] with one id per row and a manifest of how it was made.

        ``manifest`` must name ``weights_hash``, ``preprocessing`` and ``data_manifest_hash``
        (``encoder`` defaults to ``key.encoder``); the store adds shape, dtype, created,
        library_version, ids, item_index and the checksum. ``item_index`` (for captions) is the index
        of each row's item within the split. Returns the stored latents, memory-mapped.
        """
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().numpy()
        array = np.ascontiguousarray(np.asarray(array), dtype=np.float32)
        if array.ndim != 2:
            raise ValueError(f"{key}: latents must be a 2-D [rows, dim] array, got shape {array.shape}")
        rows = array.shape[0]
        if rows == 0 or array.shape[1] == 0:
            raise ValueError(f"{key}: refusing to store an empty array of shape {array.shape}")
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise ValueError(f"{key}: {int(bad.sum())} latent rows contain NaN or Inf "
                             f"(first bad row {int(np.flatnonzero(bad)[0])}); refusing to store them")
        ids = [str(i) for i in ids]
        if len(ids) != rows:
            raise ValueError(f"{key}: {len(ids)} ids for {rows} latent rows")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{key}: ids are not unique")
        index = None
        if item_index is not None:
            index = np.asarray(item_index)
            if index.shape != (rows,) or not np.issubdtype(index.dtype, np.integer):
                raise ValueError(f"{key}: item_index must be {rows} integers (one per row), "
                                 f"got shape {index.shape} dtype {index.dtype}")
            if index.min() < 0:
                raise ValueError(f"{key}: item_index holds a negative index {int(index.min())}")
        manifest = dict(manifest)
        clash = sorted(set(manifest) & set(RESERVED))
        if clash:
            raise ValueError(f"{key}: manifest fields {clash} are written by the store itself")
        manifest.setdefault("encoder", key.encoder)
        if manifest["encoder"] != key.encoder:
            raise ValueError(f"{key}: manifest names encoder {manifest['encoder']!r}, the key {key.encoder!r}")
        missing = [f for f in REQUIRED if f not in manifest]
        if missing:
            raise ValueError(f"{key}: manifest lacks {missing} (needed to know when the cache is stale)")

        with atomic_dir(self.path(key)) as tmp:
            with open(tmp / LATENTS, "wb") as f:
                np.save(f, array, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            sha, crc = checksums(tmp / LATENTS)
            full = {**_json_norm(manifest),
                    "shape": list(array.shape), "dtype": "float32",
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "library_version": __version__, "format_version": FORMAT_VERSION,
                    "sha256": sha, "crc32": crc,
                    "ids": ids, "item_index": None if index is None else index.astype(np.int64).tolist()}
            write_atomic(tmp / MANIFEST, json.dumps(full, indent=1).encode())
        return self.load(key, verify=False)

    # ---- reading ------------------------------------------------------------------------
    def _manifest(self, key: StoreKey) -> dict:
        folder = self.path(key)
        mpath, lpath = folder / MANIFEST, folder / LATENTS
        if not mpath.exists() or not lpath.exists():
            known = ", ".join(str(k) for k in self.keys()) or "none"
            raise FileNotFoundError(f"no latents for {key} in {self.root} (keys present: {known}); "
                                    "run the extraction first")
        manifest = read_json(mpath, ("shape", "dtype", "sha256", "ids"), StoreCorruptError, prefix=f"{key}: ")
        shape, ids, index = manifest["shape"], manifest["ids"], manifest.get("item_index")
        problems = {
            "dtype": manifest["dtype"] != "float32",
            "shape": not (isinstance(shape, list) and len(shape) == 2
                          and all(type(n) is int and n > 0 for n in shape)),
            "sha256": not (isinstance(manifest["sha256"], str) and re.fullmatch(r"[0-9a-f]{64}", manifest["sha256"])),
            "crc32": "crc32" in manifest and type(manifest["crc32"]) is not int,
            "ids": not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)),
            "item_index": index is not None and not (isinstance(index, list)
                                                     and all(type(i) is int and i >= 0 for i in index)),
        }
        bad = [name for name, wrong in problems.items() if wrong]
        if bad:
            raise StoreCorruptError(f"{key}: {mpath} field {bad[0]!r} is invalid ({manifest[bad[0]]!r:.80}); "
                                    "the store writes dtype 'float32', shape [rows, dim], a hex sha256, "
                                    "an int crc32, string ids and non-negative int item_index")
        return manifest

    @staticmethod
    def _check_expect(key: StoreKey, manifest: dict, expect: dict | None) -> None:
        for field_name, want in (expect or {}).items():
            if field_name not in manifest:
                raise StoreMismatchError(f"{key}: stored manifest has no field {field_name!r} (expected {want!r})")
            if _json_norm(want) != manifest[field_name]:
                raise StoreMismatchError(f"{key}: manifest field {field_name!r} is {manifest[field_name]!r}, "
                                         f"expected {want!r}")

    def load(self, key: StoreKey, expect: dict | None = None, mmap: bool = True,
             verify: bool | str = True) -> Latents:
        """Read latents back, checking the manifest against ``expect`` (field -> value).

        Raises ``FileNotFoundError`` for a missing key, :class:`StoreMismatchError` naming the field
        when the manifest differs from ``expect``, and :class:`StoreCorruptError` when the file is
        truncated, corrupt or inconsistent with the manifest. Always checked: the manifest's fields
        (dtype float32, shape, ids, item_index) against the file's header and size. ``verify``:
        ``True``/``"sha256"`` also hashes the whole file (SHA-256, about 1.5 GB/s); ``"crc32"``
        (what a cache hit uses) a CRC-32 of it (about 4 GB/s; it catches any flipped bit);
        ``False`` nothing more. A key without a variant is resolved first (:meth:`resolve`).
        """
        if verify not in VERIFY:
            raise ValueError(f"verify must be one of {VERIFY}, got {verify!r}")
        key = self.resolve(key)
        manifest = self._manifest(key)
        self._check_expect(key, manifest, expect)
        lpath = self.path(key) / LATENTS
        try:
            array = np.load(lpath, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise StoreCorruptError(f"{key}: {lpath} is unreadable or truncated ({e})") from e
        if list(array.shape) != manifest["shape"] or array.dtype != np.float32:
            raise StoreCorruptError(f"{key}: {lpath} holds {array.dtype} {list(array.shape)}, "
                                    f"manifest says {manifest['dtype']} {manifest['shape']}")
        expected_size = array.nbytes + (array.offset if isinstance(array, np.memmap) else 0)
        if isinstance(array, np.memmap) and lpath.stat().st_size != expected_size:
            raise StoreCorruptError(f"{key}: {lpath} has {lpath.stat().st_size} bytes, expected {expected_size}")
        if verify == "crc32" and "crc32" not in manifest:
            verify = "sha256"  # written before the store kept a CRC
        if verify:
            sha, crc = checksums(lpath, sha=verify != "crc32", crc=verify == "crc32")
            if (sha, crc) != (manifest["sha256"] if sha else None, manifest["crc32"] if crc is not None else None):
                raise StoreCorruptError(f"{key}: {lpath} does not match its checksum "
                                        f"({'CRC-32' if crc is not None else 'SHA-256'}): a corrupted file; "
                                        "remove the key and extract it again")
        ids, index = manifest["ids"], manifest.get("item_index")
        if len(ids) != array.shape[0] or (index is not None and len(index) != array.shape[0]):
            raise StoreCorruptError(f"{key}: {self.path(key) / MANIFEST}: ids/item_index do not have "
                                    f"{array.shape[0]} entries")
        return Latents(key, array, list(ids), None if index is None else np.asarray(index, dtype=np.int64),
                       manifest)

    def exists(self, key: StoreKey, expect: dict | None = None) -> bool:
        """True if ``key`` is stored, intact (manifest, header, size, CRC-32) and matches ``expect``.

        A key without a variant that matches several variants raises :class:`StoreMismatchError`.
        """
        key = self.resolve(key)
        try:
            self.load(key, expect=expect, verify="crc32")
        except (FileNotFoundError, StoreMismatchError, StoreCorruptError):
            return False
        return True

    def keys(self) -> list[StoreKey]:
        """All keys present (temporary folders of unfinished writes are ignored)."""
        if not self.root.is_dir():
            return []
        found = []
        for mpath in sorted(self.root.glob(f"*/*/*/*/{MANIFEST}")):
            parts = mpath.relative_to(self.root).parts[:4]
            if any(p.startswith(".") for p in parts):
                continue
            dataset, _, variant = parts[0].partition("@")
            try:
                found.append(StoreKey(dataset, *parts[1:], variant=variant or None))
            except ValueError:
                continue
        return found

    def remove(self, key: StoreKey) -> None:
        """Delete one key's folder (a no-op if it is absent); a key without a variant is resolved first."""
        shutil.rmtree(self.path(self.resolve(key)), ignore_errors=True)
