"""One dataset format for every dataset in the book: generated, Debian-packaged and downloaded.

A dataset is a folder with ``manifest.jsonl`` (one :class:`Item` a line) and ``dataset.json``
(name, free-form info, format version). An item is one image or sound with one or more captions.
File paths in items stay inside the dataset root (:func:`resolve_file`) and only regular files are
read (:func:`open_regular`). Introduced in chapter 1.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from ..errors import MissingDataError
from ..files import write_atomic

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
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"an item needs a non-empty string id, got {self.id!r}")
        if not isinstance(self.split, str):
            raise ValueError(f"item {self.id!r}: split must be a string, got {self.split!r}")
        if not isinstance(self.captions, list):
            raise ValueError(f"item {self.id!r}: captions must be a list of strings, "
                             f"got {type(self.captions).__name__} {self.captions!r}")
        if not self.captions or any(not isinstance(c, str) or is_blank(c) for c in self.captions):
            raise ValueError(f"item {self.id!r} has an empty caption (or only whitespace, control or "
                             f"zero-width characters, or not a string): {self.captions!r}")
        for name in ("image", "audio"):
            rel = getattr(self, name)
            if rel is not None:
                check_relative(rel, f"item {self.id!r}: {name}")
        if self.label is not None and not isinstance(self.label, str):
            raise ValueError(f"item {self.id!r}: label must be a string or null, got {self.label!r}")
        if not isinstance(self.meta, dict):
            raise ValueError(f"item {self.id!r}: meta must be a dict, got {self.meta!r}")


def is_blank(text: str) -> bool:
    """True when ``text`` holds only whitespace or Unicode "other" characters (control, format such
    as zero-width spaces, private-use, unassigned): it would encode like an empty caption."""
    if text.isprintable():  # the common case, at C speed: printable and not all spaces
        return not text.strip()
    return all(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in text)


def check_relative(rel: str, what: str) -> None:
    """Refuse a dataset file path that is not a plain relative path (absolute, ``..``, drive)."""
    if not isinstance(rel, str) or not rel.strip() or "\0" in rel:
        raise ValueError(f"{what}: a file path must be a non-empty string, got {rel!r}")
    posix, win = PurePosixPath(rel), PureWindowsPath(rel)
    if posix.is_absolute() or win.is_absolute() or win.drive or rel.startswith(("/", "\\")):
        raise ValueError(f"{what}: file path {rel!r} is absolute; paths must be relative to the dataset root")
    if ".." in posix.parts or ".." in win.parts:
        raise ValueError(f"{what}: file path {rel!r} goes up with '..'; it must stay inside the dataset root")


def resolve_file(root: str | Path, rel: str, what: str = "file") -> Path:
    """``root / rel`` for a path named in a manifest, refused unless it resolves (symbolic links
    followed) inside ``root``, or inside the target of a folder link directly in ``root`` (how
    ``data_scripts`` link a user's media folder in); a :class:`MissingDataError` when it is missing."""
    check_relative(rel, what)
    root = Path(root)
    path, top = root / rel, root / PurePosixPath(rel).parts[0]
    try:
        real, real_root = path.resolve(), root.resolve()
        linked = top.resolve() if top != path and top.is_symlink() and top.is_dir() else real_root
    except (OSError, RuntimeError) as e:  # a symbolic-link loop
        raise ValueError(f"{what}: file path {rel!r} cannot be resolved ({e}); refused") from e
    if not (real.is_relative_to(real_root) or real.is_relative_to(linked)):
        raise ValueError(f"{what}: file path {rel!r} leads outside the dataset root {root} (to {real}); refused")
    if not real.exists():
        raise MissingDataError(f"{what}: file {path} is missing")
    return path


def open_regular(path: str | Path, what: str = "file") -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file: a FIFO, device or folder raises at
    once (opened non-blocking, checked with ``fstat``, so a FIFO never hangs the reader)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "not a plain file"
            raise ValueError(f"{what}: {path} is not a regular file ({kind}); refused")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
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

    def path(self, rel: str | None, item: str | None = None) -> Path:
        """Path of a file named in an item (:func:`resolve_file`): a clear error if it is missing
        or leads outside the dataset root."""
        if rel is None:
            raise ValueError(f"dataset {self.name!r}: this item has no such file")
        return resolve_file(self.root, rel, f"dataset {self.name!r}" + (f", item {item!r}" if item else ""))

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
        """Write ``manifest.jsonl`` and ``dataset.json`` atomically into ``root`` (refused when an
        item's split is not one of :data:`SPLITS`: :meth:`load` would not read it back)."""
        bad = sorted({it.split for it in self.items} - set(SPLITS))
        if bad:
            raise ValueError(f"dataset {self.name!r}: unknown split(s) {bad}; known: {list(SPLITS)}")
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
        meta = read_dataset_json(dpath)
        try:
            text = mpath.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{mpath}: not UTF-8 text ({e})") from e
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    fields = json.loads(line)
                    if not isinstance(fields, dict):
                        raise ValueError(f"expected a JSON object, got {type(fields).__name__}")
                    item = Item(**fields)
                    if item.split not in SPLITS:
                        raise ValueError(f"item {item.id!r}: unknown split {item.split!r}; known: {list(SPLITS)}")
                    items.append(item)
                except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
                    raise ValueError(f"{mpath}:{n}: not a valid item ({e})") from e
        if len(items) != meta.get("n_items", len(items)):
            raise ValueError(f"{mpath} holds {len(items)} items, dataset.json says {meta['n_items']}")
        try:
            return cls(meta["name"], root, items, meta.get("info", {}))
        except ValueError as e:
            raise ValueError(f"{mpath}: {e}") from e

    @classmethod
    def from_items(cls, name: str, root: str | Path, items: Iterable[Item], info: dict | None = None,
                   save: bool = True) -> "PairedDataset":
        ds = cls(name, Path(root), list(items), info or {})
        if save:
            ds.save()
        return ds


def read_dataset_json(path: Path) -> dict:
    """``dataset.json`` as a dict, checked field by field; errors name the file and the field."""
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ValueError(f"{path}: field 'name' must be a non-empty string, got {meta.get('name')!r}")
    if not isinstance(meta.get("info", {}), dict):
        raise ValueError(f"{path}: field 'info' must be an object, got {meta['info']!r}")
    n = meta.get("n_items", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{path}: field 'n_items' must be a non-negative int, got {n!r}")
    version = meta.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: field 'format_version' is {version!r}; this library reads {FORMAT_VERSION}")
    return meta


def assign_splits(labels: list[str], fractions: dict[str, float], seed: int) -> list[str]:
    """Split indices per label (stratified), deterministically from ``seed``.

    Every label's items are shuffled with the seed and cut by ``fractions`` (which must sum to 1).
    """
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    if set(fractions) - set(SPLITS):
        raise ValueError(f"unknown split(s) {sorted(set(fractions) - set(SPLITS))}; known: {list(SPLITS)}")
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
