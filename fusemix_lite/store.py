"""The latent store: frozen-encoder outputs computed once, kept on disk, memory-mapped back.

One folder per :class:`StoreKey` (``root/dataset/split/modality/encoder/``) holding
``latents.npy`` (float32 [rows, dim], C order, read back with ``mmap_mode="r"``) and
``manifest.json`` (how it was made: encoder, weights_hash, preprocessing, data_manifest_hash, shape,
dtype, created, library_version, ids, item_index for captions, and the SHA-256 of ``latents.npy``).
A key's folder is written in a temporary sibling folder and renamed into place, so a crash never
leaves a half-written key. Nothing is ever unpickled. Introduced in chapter 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from . import __version__
from .data.format import write_atomic
from .errors import StoreCorruptError, StoreMismatchError

FORMAT_VERSION = 1
LATENTS, MANIFEST = "latents.npy", "manifest.json"
REQUIRED = ("encoder", "weights_hash", "preprocessing", "data_manifest_hash")
RESERVED = ("shape", "dtype", "created", "library_version", "format_version", "ids", "item_index", "sha256")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@-]*$")


@dataclass(frozen=True)
class StoreKey:
    """Which latents: ``dataset``/``split`` encoded by ``encoder`` for ``modality``. Introduced in chapter 2."""

    dataset: str
    split: str
    modality: str
    encoder: str

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, str) or not _NAME.match(value):
                raise ValueError(f"StoreKey.{f.name} must be a plain name (letters, digits, ._+=@-, "
                                 f"no '/' or leading dot), got {value!r}")

    @property
    def parts(self) -> tuple[str, str, str, str]:
        return (self.dataset, self.split, self.modality, self.encoder)

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


def _sha256(path: Path, block: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``final``; on success it replaces ``final`` by a rename.

    On any error (or interrupt) the temporary folder is removed and ``final`` is left as it was.
    An old ``final`` is renamed aside first and deleted after the swap. Introduced in chapter 2.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".old"))
            os.replace(final, old / "x")
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class LatentStore:
    """A folder of latents, one sub-folder per :class:`StoreKey`. Introduced in chapter 2."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"LatentStore({str(self.root)!r})"

    def path(self, key: StoreKey) -> Path:
        return self.root.joinpath(*key.parts)

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
            full = {**_json_norm(manifest),
                    "shape": list(array.shape), "dtype": "float32",
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "library_version": __version__, "format_version": FORMAT_VERSION,
                    "sha256": _sha256(tmp / LATENTS),
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
        try:
            manifest = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise StoreCorruptError(f"{key}: {mpath} is not valid JSON ({e})") from e
        lacking = [f for f in ("shape", "dtype", "sha256", "ids") if f not in manifest]
        if lacking:
            raise StoreCorruptError(f"{key}: {mpath} lacks {lacking}")
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
             verify: bool = True) -> Latents:
        """Read latents back, checking the manifest against ``expect`` (field -> value).

        Raises ``FileNotFoundError`` for a missing key, :class:`StoreMismatchError` naming the field
        when the manifest differs from ``expect``, and :class:`StoreCorruptError` when the file is
        truncated, corrupt or inconsistent with the manifest. ``verify`` hashes the whole file
        (SHA-256, about 1 GB/s); ``verify=False`` checks only its header and size.
        """
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
        if verify and _sha256(lpath) != manifest["sha256"]:
            raise StoreCorruptError(f"{key}: {lpath} does not match its checksum (corrupted file)")
        ids, index = manifest["ids"], manifest.get("item_index")
        if len(ids) != array.shape[0] or (index is not None and len(index) != array.shape[0]):
            raise StoreCorruptError(f"{key}: manifest ids/item_index do not have {array.shape[0]} entries")
        return Latents(key, array, list(ids), None if index is None else np.asarray(index, dtype=np.int64),
                       manifest)

    def exists(self, key: StoreKey, expect: dict | None = None) -> bool:
        """True if ``key`` is stored, intact (header and size) and matches ``expect``: a cache hit."""
        try:
            self.load(key, expect=expect, verify=False)
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
            try:
                found.append(StoreKey(*parts))
            except ValueError:
                continue
        return found

    def remove(self, key: StoreKey) -> None:
        """Delete one key's folder (a no-op if it is absent)."""
        shutil.rmtree(self.path(key), ignore_errors=True)


# ---- paired latents for training and evaluation ---------------------------------------------
def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA if available, else CPU; anything else as given. Introduced in chapter 4."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


_NP_DTYPE = {torch.float32: np.float32, torch.long: np.int64}


def _to_tensor(x, dtype: torch.dtype, device: torch.device | None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(device=device if device is not None else x.device, dtype=dtype)
    arr = np.asarray(x)
    target = device if device is not None else torch.device("cpu")
    if target.type == "cpu":
        return torch.from_numpy(np.array(arr, dtype=_NP_DTYPE[dtype]))
    out = torch.empty(arr.shape, dtype=dtype, device=target)       # copy a memmap in slices: no full RAM copy
    step = max(1, (1 << 26) // max(1, arr[:1].nbytes))
    for s in range(0, arr.shape[0], step):
        out[s:s + step] = torch.from_numpy(np.array(arr[s:s + step])).to(target, dtype=dtype)
    return out


@dataclass
class PairedLatents:
    """Latents of one split, paired: ``items`` [N, d_a], ``texts`` [M, d_b], ``caption_item`` [M].

    Caption j describes item ``caption_item[j]``; training uses one pair per caption (:meth:`pairs`).
    ``split`` (when known) lets training refuse to select checkpoints on the test split.
    Introduced in chapter 2.
    """

    items: torch.Tensor
    texts: torch.Tensor
    caption_item: torch.Tensor
    captions: list[str] | None = None
    item_ids: list[str] | None = None
    split: str | None = None
    dataset: str | None = None

    def __post_init__(self) -> None:
        where = f" ({self.dataset}/{self.split})" if self.split else ""
        for name in ("items", "texts"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.ndim != 2:
                raise ValueError(f"PairedLatents.{name} must be a 2-D tensor, got "
                                 f"{type(t).__name__} {tuple(getattr(t, 'shape', ()))}{where}")
            if not t.is_floating_point():
                raise ValueError(f"PairedLatents.{name} must be floating point, got {t.dtype}{where}")
        n, m = self.items.shape[0], self.texts.shape[0]
        if n == 0 or m == 0:
            raise ValueError(f"empty split{where}: {n} items and {m} captions")
        if self.caption_item.dtype != torch.long or self.caption_item.shape != (m,):
            raise ValueError(f"caption_item must be a LongTensor with one entry per caption ({m}), got "
                             f"{self.caption_item.dtype} {tuple(self.caption_item.shape)}{where}")
        lo, hi = int(self.caption_item.min()), int(self.caption_item.max())
        if lo < 0 or hi >= n:
            raise ValueError(f"caption_item holds indices in [{lo}, {hi}] but there are {n} items{where}")
        for name in ("items", "texts"):
            bad = ~torch.isfinite(getattr(self, name)).all(dim=1)
            if bad.any():
                raise ValueError(f"{name} latents contain NaN or Inf in {int(bad.sum())} rows "
                                 f"(first: row {int(bad.nonzero()[0])}){where}")
        if self.captions is not None and len(self.captions) != m:
            raise ValueError(f"{len(self.captions)} captions for {m} text latents{where}")
        if self.item_ids is not None and len(self.item_ids) != n:
            raise ValueError(f"{len(self.item_ids)} item ids for {n} item latents{where}")

    @classmethod
    def from_arrays(cls, items, texts, caption_item=None, captions: list[str] | None = None,
                    item_ids: list[str] | None = None, split: str | None = None,
                    dataset: str | None = None, device=None) -> "PairedLatents":
        """Build from numpy arrays or tensors; ``caption_item=None`` means one caption per item, in order."""
        dev = None if device is None else resolve_device(device)
        items_t = _to_tensor(items, torch.float32, dev)
        texts_t = _to_tensor(texts, torch.float32, dev)
        if caption_item is None:
            if items_t.shape[0] != texts_t.shape[0]:
                raise ValueError(f"without caption_item, items and texts must pair row by row, got "
                                 f"{items_t.shape[0]} items and {texts_t.shape[0]} texts")
            caption_item = torch.arange(items_t.shape[0])
        cap = _to_tensor(caption_item, torch.long, items_t.device)
        return cls(items_t, texts_t, cap, captions, item_ids, split, dataset)

    @property
    def n_items(self) -> int:
        return self.items.shape[0]

    @property
    def n_texts(self) -> int:
        return self.texts.shape[0]

    @property
    def device(self) -> torch.device:
        return self.items.device

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One (item latent, text latent) row per caption: ``(items[caption_item], texts)``."""
        return self.items[self.caption_item], self.texts

    def text_key(self) -> torch.Tensor | None:
        """One int per caption, equal for identical caption texts (None without captions)."""
        if self.captions is None:
            return None
        codes: dict[str, int] = {}
        return torch.tensor([codes.setdefault(c, len(codes)) for c in self.captions], dtype=torch.long)

    def to(self, device) -> "PairedLatents":
        """A copy on ``device`` (no copy if already there)."""
        dev = resolve_device(device)
        if self.items.device == dev and self.texts.device == dev and self.caption_item.device == dev:
            return self
        return PairedLatents(self.items.to(dev), self.texts.to(dev), self.caption_item.to(dev),
                             self.captions, self.item_ids, self.split, self.dataset)


def to_device(x, device="auto"):
    """Move a tensor or :class:`PairedLatents` to ``device`` once, so that training steps index it
    there without any host work. Introduced in chapter 4."""
    dev = resolve_device(device)
    if isinstance(x, PairedLatents):
        return x.to(dev)
    if isinstance(x, torch.Tensor):
        return x.to(dev)
    return _to_tensor(x, torch.float32, dev)


def load_pairs(store: LatentStore, dataset: str, split: str, item_modality: str, item_encoder: str,
               text_encoder: str, device=None, expect: dict | None = None,
               verify: bool = True) -> PairedLatents:
    """The paired latents of one split: item latents and caption latents with their pairing.

    Checks that both were made from the same dataset manifest. ``expect`` is checked against both
    manifests; captions come from the text manifest's ``captions`` field when the extractor saved it.
    Introduced in chapter 2.
    """
    item_key = StoreKey(dataset, split, item_modality, item_encoder)
    text_key = StoreKey(dataset, split, "text", text_encoder)
    items = store.load(item_key, expect=expect, verify=verify)
    texts = store.load(text_key, expect=expect, verify=verify)
    if texts.item_index is None:
        raise StoreCorruptError(f"{text_key}: text latents carry no item_index, cannot pair captions with items")
    ha, hb = items.manifest.get("data_manifest_hash"), texts.manifest.get("data_manifest_hash")
    if ha != hb:
        raise StoreMismatchError(f"{item_key} and {text_key} were made from different data: data_manifest_hash "
                                 f"{ha!r} vs {hb!r}; re-extract one of them")
    if texts.item_index.max() >= len(items):
        raise StoreCorruptError(f"{text_key}: item_index reaches {int(texts.item_index.max())} "
                                f"but {item_key} has {len(items)} rows")
    return PairedLatents.from_arrays(items.array, texts.array, texts.item_index,
                                     captions=texts.manifest.get("captions"), item_ids=items.ids,
                                     split=split, dataset=dataset, device=device)
