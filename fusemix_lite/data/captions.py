"""Shared helpers of the generated datasets (scenes, spoken, sounds).

Two things live here: small grammar helpers for captions (articles, number words, lists,
choosing among synonyms) and :func:`build_or_load`, the "generate once, load afterwards" cache
that every generated dataset's ``build()`` goes through. Introduced in chapter 1.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

import numpy as np

from ..errors import MissingDataError
from ..paths import data_dir
from .format import Item, PairedDataset

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


# ---- grammar --------------------------------------------------------------------------------
def article(phrase: str) -> str:
    """``"a red circle"`` / ``"an orange star"``: the indefinite article for ``phrase``."""
    first = phrase.split()[0].lower() if phrase.strip() else ""
    vowel_sound = first[:1] in "aeio" or (first.startswith("u") and not first.startswith(("uni", "use")))
    return ("an " if vowel_sound else "a ") + phrase


def number_word(n: int) -> str:
    """``3 -> "three"`` for small counts, digits otherwise."""
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def join_list(parts: Sequence[str], conj: str = "and") -> str:
    """``["x", "y", "z"] -> "x, y and z"``."""
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError("join_list needs at least one phrase")
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + f" {conj} " + parts[-1]


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One element of ``options``, chosen with ``rng`` (works for strings and tuples alike)."""
    if len(options) == 0:
        raise ValueError("pick needs at least one option")
    return options[int(rng.integers(len(options)))]


def sentence(text: str, rng: np.random.Generator | None = None) -> str:
    """Tidy a caption: single spaces, first letter upper case, sometimes a full stop (like COCO)."""
    text = " ".join(text.replace(" ,", ",").split())
    text = text[:1].upper() + text[1:]
    if rng is not None and rng.random() < 0.3:
        text += "."
    return text


def distinct(captions: Sequence[str], k: int) -> list[str]:
    """The first ``k`` captions that differ (ignoring case and a final full stop)."""
    seen: set[str] = set()
    out: list[str] = []
    for c in captions:
        key = c.lower().rstrip(".")
        if key not in seen:
            seen.add(key)
            out.append(c)
        if len(out) == k:
            break
    return out


def item_rng(seed: int, split: str, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one item: depends only on (seed, split, index), so items can be
    generated in any order or in parallel and still come out identical."""
    split_code = int.from_bytes(hashlib.sha256(split.encode()).digest()[:4], "little")
    return np.random.default_rng([seed, split_code, index, stream])


# ---- generate once, load afterwards ---------------------------------------------------------
T = TypeVar("T")
R = TypeVar("R")


def thread_map(fn: Callable[[T], R], tasks: Iterable[T], workers: int | None = None) -> list[R]:
    """``[fn(t) for t in tasks]`` on a few threads (PIL, numpy, zlib and subprocesses release the
    GIL). Results keep the order of ``tasks``, so the output does not depend on ``workers``."""
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    tasks = list(tasks)
    if workers <= 1 or len(tasks) < 2:
        return [fn(t) for t in tasks]
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, tasks))


# ---- ---------------------------------------------------------
def config_dict(config: Any) -> dict:
    """A dataclass config as plain JSON types (tuples become lists), for comparison with disk."""
    return json.loads(json.dumps(dataclasses.asdict(config), sort_keys=True))


def config_hash(config: Any, length: int = 10) -> str:
    """Short SHA-256 of a config: names the default folder of a generated dataset."""
    return hashlib.sha256(json.dumps(config_dict(config), sort_keys=True).encode()).hexdigest()[:length]


def make_config(cls: type, **kwargs: Any) -> Any:
    """``cls(**kwargs)`` with a clear error listing the known fields on an unknown keyword."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown parameter(s) {unknown}; known: {sorted(known)}")
    return cls(**kwargs)


def made_by_library(root: Path, name: str) -> bool:
    """True when ``root/dataset.json`` parses and records dataset ``name`` written by the generator
    ``fusemix_lite.data.<name>``: the marker that lets :func:`build_or_load` delete a stale copy."""
    try:
        meta = json.loads((Path(root) / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    info = meta.get("info") if isinstance(meta, dict) else None
    return (meta.get("name") == name and isinstance(info, dict) and isinstance(info.get("generator"), str)
            and info["generator"].startswith(f"fusemix_lite.data.{name} v"))


def build_or_load(name: str, config: Any, root: str | Path | None,
                  generate: Callable[[Path], list[Item]], media: str, info: dict | None = None,
                  version: int = 1) -> PairedDataset:
    """Load the dataset at ``root`` if it was generated with this ``config``, else generate it.

    ``root`` defaults to ``data_dir()/<name>-<config hash>``. ``generate(root)`` writes the media
    files under ``root/<media>/`` and returns the items; the manifest is written last, so an
    interrupted generation is simply redone on the next call. A stale or damaged copy is deleted
    only when its ``dataset.json`` proves this generator made it (:func:`made_by_library`);
    otherwise a ``ValueError`` names the file and nothing is touched. Introduced in chapter 1.
    """
    root = Path(root) if root is not None else data_dir() / f"{name}-{config_hash(config)}"
    want = {"config": config_dict(config), "generator": f"fusemix_lite.data.{name} v{version}"}
    if (root / "dataset.json").exists():
        if not made_by_library(root, name):
            raise ValueError(f"{root / 'dataset.json'} does not record dataset {name!r} made by "
                             f"fusemix_lite.data.{name}; nothing there is touched: pass another root, or "
                             "delete the folder yourself")
        try:
            ds = PairedDataset.load(root)
        except (ValueError, MissingDataError, KeyError):
            ds = None  # our own dataset, half-updated or damaged: generated again below
        if ds is not None and all(ds.info.get(k) == v for k, v in want.items()) and (root / media).is_dir():
            return ds
        # Ours but stale (other config or version): drop the manifest first, then the old media files.
        for f in ("manifest.jsonl", "dataset.json"):
            (root / f).unlink(missing_ok=True)
        shutil.rmtree(root / media, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    items = generate(root)
    return PairedDataset.from_items(name, root, items, {**want, **(info or {})})
