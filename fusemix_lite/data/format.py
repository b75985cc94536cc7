"""One dataset format for every dataset in the book: generated, Debian-packaged and downloaded.

A dataset is a folder with ``manifest.jsonl`` (one :class:`Item` a line) and ``dataset.json``
(name, free-form info, format version). An item is one image or sound with one or more captions.
Introduced in chapter 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import MissingDataError

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test", "compositional")


@dataclass
class Item:
    """One image and/or sound with its captions. Paths are relative to the dataset root."""

    id: str
    split: str
    captions: list[str]
    image: str | None = None
    audio: str | None = None
    label: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("an item needs a non-empty id")
        if not self.captions or any(not isinstance(c, str) or not c.strip() for c in self.captions):
            raise ValueError(f"item {self.id!r} has an empty caption: {self.captions!r}")


def write_atomic(path: Path, data: bytes) -> None:
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


@dataclass
class PairedDataset:
    """A named list of items living under ``root``."""

    name: str
    root: Path
    items: list[Item]
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        seen: set[str] = set()
        for it in self.items:
            if it.id in seen:
                raise ValueError(f"dataset {self.name!r}: duplicate item id {it.id!r}")
            seen.add(it.id)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    @property
    def splits(self) -> list[str]:
        """Split names present, in the canonical order."""
        present = {it.split for it in self.items}
        return [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))

    def split(self, name: str) -> "PairedDataset":
        """The items of one split, as a dataset of its own (same root)."""
        items = [it for it in self.items if it.split == name]
        if not items:
            raise ValueError(f"dataset {self.name!r} has no items in split {name!r}; splits: {self.splits}")
        return PairedDataset(self.name, self.root, items, dict(self.info))

    def captions(self) -> tuple[list[str], np.ndarray]:
        """All captions flattened, and for each the index of its item (the pairing)."""
        caps: list[str] = []
        owner: list[int] = []
        for i, it in enumerate(self.items):
            caps.extend(it.captions)
            owner.extend([i] * len(it.captions))
        return caps, np.asarray(owner, dtype=np.int64)

    def path(self, rel: str | None) -> Path:
        """Absolute path of a file named in an item; a clear error if it is missing."""
        if rel is None:
            raise ValueError(f"dataset {self.name!r}: this item has no such file")
        p = self.root / rel
        if not p.exists():
            raise MissingDataError(f"dataset {self.name!r}: file {p} is missing")
        return p

    # ---- persistence -------------------------------------------------------------------
    def manifest_lines(self) -> list[str]:
        return [json.dumps(asdict(it), sort_keys=True, ensure_ascii=False) for it in self.items]

    def manifest_hash(self) -> str:
        """SHA-256 of the canonical manifest: the data part of a latent cache key."""
        h = hashlib.sha256()
        h.update(self.name.encode())
        for line in self.manifest_lines():
            h.update(b"\n" + line.encode())
        return h.hexdigest()

    @property
    def variant(self) -> str:
        """Short hash of the manifest: names this exact dataset (its config, sizes, selection) in the
        latent store's keys, so two variants of one dataset name keep their latents apart."""
        return self.manifest_hash()[:12]

    def save(self) -> None:
        """Write ``manifest.jsonl`` and ``dataset.json`` atomically into ``root``."""
        write_atomic(self.root / "manifest.jsonl", ("\n".join(self.manifest_lines()) + "\n").encode())
        meta = {"name": self.name, "info": self.info, "format_version": FORMAT_VERSION,
                "n_items": len(self.items)}
        write_atomic(self.root / "dataset.json", json.dumps(meta, indent=2, sort_keys=True).encode())

    @classmethod
    def load(cls, root: str | Path) -> "PairedDataset":
        """Read a dataset folder written by :meth:`save`."""
        root = Path(root)
        mpath, dpath = root / "manifest.jsonl", root / "dataset.json"
        if not mpath.exists() or not dpath.exists():
            raise MissingDataError(f"no dataset at {root} (expected manifest.jsonl and dataset.json)")
        meta = json.loads(dpath.read_text())
        items = []
        for n, line in enumerate(mpath.read_text().splitlines(), 1):
            if line.strip():
                try:
                    items.append(Item(**json.loads(line)))
                except (json.JSONDecodeError, TypeError) as e:
                    raise ValueError(f"{mpath}:{n}: not a valid item ({e})") from e
        if len(items) != meta.get("n_items", len(items)):
            raise ValueError(f"{mpath} holds {len(items)} items, dataset.json says {meta['n_items']}")
        return cls(meta["name"], root, items, meta.get("info", {}))

    @classmethod
    def from_items(cls, name: str, root: str | Path, items: Iterable[Item], info: dict | None = None,
                   save: bool = True) -> "PairedDataset":
        ds = cls(name, Path(root), list(items), info or {})
        if save:
            ds.save()
        return ds


def assign_splits(labels: list[str], fractions: dict[str, float], seed: int) -> list[str]:
    """Split indices per label (stratified), deterministically from ``seed``.

    Every label's items are shuffled with the seed and cut by ``fractions`` (which must sum to 1).
    """
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    out = [""] * len(labels)
    names = list(fractions)
    for lab in sorted(set(labels)):
        idx = [i for i, l in enumerate(labels) if l == lab]
        rng.shuffle(idx)
        bounds = np.cumsum([fractions[s] for s in names]) * len(idx)
        cuts = np.round(bounds).astype(int)
        start = 0
        for s, end in zip(names, cuts):
            for i in idx[start:end]:
                out[i] = s
            start = end
    return out
