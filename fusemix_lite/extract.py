"""Encode a dataset split once with a frozen encoder and keep the latents in the store.

``extract(dataset, split, modality, encoder, store)`` is the whole cost of FuseMix: after it, the
encoders are never needed again. It

* returns the stored latents at once when the store already holds them for the same encoder
  weights, preprocessing and data (the key names the dataset's variant, a hash of its manifest,
  so variants of one dataset keep their own latents); a hit is checked with a CRC-32 of the file;
* logs each real (non-cached) extraction as one line of ``<store>/extractions.jsonl``;
  :func:`extraction_counts` counts them, so a build can check that nothing was encoded twice;
* reads and prepares items in ``DataLoader`` workers, encodes batches under ``inference_mode``;
* writes the rows in shards (``.npy`` files in a hidden partial folder) so that a killed run
  resumes where it stopped and ends bit-identical to an uninterrupted one; at the end it merges
  them into one store entry (atomically) and deletes the partial folder;
* can split the shards over processes started by ``torchrun``/``accelerate launch`` (``RANK``,
  ``WORLD_SIZE``): each rank encodes its share, and the last rank to finish merges;
* names unreadable image/audio files; ``on_error="skip"`` leaves those items out (with a warning),
  and the captions of skipped items are then left out of the text latents too, so pairs stay aligned;
* refuses, before encoding anything, a file path that leads outside the dataset root (absolute,
  ``..`` or a symbolic link out); reads only regular files (a FIFO fails at once, never hangs), and
  refuses images and sounds over the size limits below before decoding them.

Rows: one per item for ``"image"``/``"audio"`` (id = item id); one per caption for ``"text"``
(id = ``"<item id>#<j>"``, ``item_index`` = the row of its item in the item latents).
Command line: ``python -m fusemix_lite.extract --dataset scenes --split train --modality image
--encoder efficientnet-lite0``. Introduced in chapter 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .data.format import PairedDataset, open_regular, resolve_file
from .files import write_atomic
from .encoders import Encoder, get_encoder
from .encoders.base import single_threaded
from .errors import StoreCorruptError, StoreMismatchError
from .store import Latents, LatentStore, StoreKey

MODALITIES = ("image", "text", "audio")

# Size limits, checked from the file's header before decoding (raise them here for bigger media).
MAX_IMAGE_PIXELS = 50_000_000   # width x height (about 150 MB as 8-bit RGB)
MAX_IMAGE_ASPECT = 50           # longer side / shorter side (encoders resize the shorter side)
MAX_AUDIO_SECONDS = 600.0
MAX_AUDIO_SAMPLES = 2 ** 25     # frames x channels (128 MB as float32)
AUDIO_SAMPLE_RATES = (1000, 384_000)


# ---------------------------------------------------------------------------------------------
# Reading raw items (runs in DataLoader workers)
# ---------------------------------------------------------------------------------------------
def _to_8bit(im):
    """A high-bit-depth greyscale image ("I;16*", "I", "F") scaled (not clipped) to 8-bit "L"."""
    from PIL import Image

    a = np.asarray(im)
    if im.mode == "F":
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError("a floating-point image (mode 'F') must hold values in [0, 1]; refused")
        scale = 255.0
    else:  # 16-bit greyscale, stored as "I;16*" or widened to "I" by PIL
        if a.min() < 0 or a.max() > 65535:
            raise ValueError(f"a 32-bit integer image (mode {im.mode!r}) with values outside [0, 65535] "
                             "has no 8-bit equivalent; refused")
        scale = 255.0 / 65535.0
    return Image.fromarray(np.rint(a.astype(np.float64) * scale).astype(np.uint8), mode="L")


def read_image(path: str | Path):
    """Open and fully decode an image (a truncated file raises here, not later).

    Only regular files are read; images over :data:`MAX_IMAGE_PIXELS` or :data:`MAX_IMAGE_ASPECT`
    are refused before decoding, and 16-bit or float greyscale is scaled to 8-bit ("L")."""
    from PIL import Image

    with open_regular(path, "image") as f:
        try:
            im = Image.open(f)
        except Image.DecompressionBombError as e:
            raise ValueError(f"image {path} is too large ({e}); refused") from e
        with im:
            w, h = im.size
            if w < 1 or h < 1 or w * h > MAX_IMAGE_PIXELS or max(w, h) > MAX_IMAGE_ASPECT * min(w, h):
                raise ValueError(f"image {path} is {w} x {h} pixels: over the limits of {MAX_IMAGE_PIXELS} "
                                 f"pixels and an aspect ratio of {MAX_IMAGE_ASPECT} (fusemix_lite.extract."
                                 "MAX_IMAGE_PIXELS / MAX_IMAGE_ASPECT); refused")
            im.load()
            if im.mode.startswith("I") or im.mode == "F":
                return _to_8bit(im)
            return im.copy()


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a sound file as float32; several channels are averaged to mono.

    Only regular files are read; a sample rate outside :data:`AUDIO_SAMPLE_RATES` or a sound over
    :data:`MAX_AUDIO_SECONDS` / :data:`MAX_AUDIO_SAMPLES` is refused from its header."""
    import soundfile as sf

    with open_regular(path, "audio") as f, sf.SoundFile(f) as snd:
        sr, frames, channels = snd.samplerate, snd.frames, snd.channels
        lo, hi = AUDIO_SAMPLE_RATES
        if not lo <= sr <= hi:
            raise ValueError(f"sound {path}: sample rate {sr} Hz outside [{lo}, {hi}]; refused")
        if frames / sr > MAX_AUDIO_SECONDS or frames * channels > MAX_AUDIO_SAMPLES:
            raise ValueError(f"sound {path}: {frames} frames x {channels} channels at {sr} Hz "
                             f"({frames / sr:.0f} s) is over the limits of {MAX_AUDIO_SECONDS:.0f} s and "
                             f"{MAX_AUDIO_SAMPLES} samples (fusemix_lite.extract.MAX_AUDIO_*); refused")
        wave = snd.read(dtype="float32", always_2d=True)
    if wave.shape[0] == 0:
        raise ValueError("the file holds no samples")
    return np.ascontiguousarray(wave.mean(axis=1) if wave.shape[1] > 1 else wave[:, 0]), int(sr)


@dataclass
class _Row:
    item: int  # index within the split's items
    id: str
    raw: Any  # the caption (text) or the relative file path (image/audio)


class _Rows(torch.utils.data.Dataset):
    """Row -> (row, prepared input or None, error message or None)."""

    def __init__(self, rows: list[_Row], root: Path, modality: str, encoder: Encoder):
        self.rows, self.root, self.modality, self.encoder = rows, root, modality, encoder

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        with single_threaded():
            return self._get(i)

    def _get(self, i: int):
        row = self.rows[i]
        if self.modality == "text":
            try:
                return i, self.encoder.prepare(row.raw), None
            except (ValueError, TypeError) as e:
                return i, None, f"caption {row.id!r} ({row.raw!r}): {e}"
        path = self.root / row.raw
        try:
            path = resolve_file(self.root, row.raw, f"item {row.id!r}")
            raw = read_image(path) if self.modality == "image" else read_audio(path)
            return i, self.encoder.prepare(raw), None
        except Exception as e:  # unreadable, truncated, wrong format: name the file
            return i, None, f"{path}: {type(e).__name__}: {e}"


class _Collate:
    """Drop failed rows and collate the rest with the encoder's own ``collate``."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder

    def __call__(self, samples):
        ok = [(i, p) for i, p, err in samples if err is None]
        failed = [(i, err) for i, _, err in samples if err is not None]
        with single_threaded():
            batch = self.encoder.collate([p for _, p in ok]) if ok else None
        return [i for i, _ in ok], batch, failed


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers only decode and resize; leave the cores to the model


# ---------------------------------------------------------------------------------------------
# The plan: rows, cache key, shards
# ---------------------------------------------------------------------------------------------
def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def data_hash(manifest_hash: str, excluded: Sequence[str]) -> str:
    """The split's manifest hash, or (when items are left out) a hash of it and the left-out ids.

    Item and text latents of one split pair up only when their ``data_manifest_hash`` agree.
    """
    if not excluded:
        return manifest_hash
    return _sha(manifest_hash + "\nexcluded:" + "\n".join(sorted(excluded)))


def _rows(split_ds: PairedDataset, modality: str, excluded: set[str]) -> list[_Row]:
    kept = [(i, it) for i, it in enumerate(split_ds.items) if it.id not in excluded]
    rows: list[_Row] = []
    if modality == "text":
        for new_index, (_, it) in enumerate(kept):
            rows.extend(_Row(new_index, f"{it.id}#{j}", c) for j, c in enumerate(it.captions))
        return rows
    missing = [it.id for _, it in kept if getattr(it, modality) is None]
    if missing:
        raise ValueError(f"dataset {split_ds.name!r}: {len(missing)} items have no {modality} file "
                         f"(first: {missing[:5]}); it is not a {modality}-text dataset")
    for _, it in kept:  # refused even with on_error="skip": a path out of the root is not a bad file
        try:
            resolve_file(split_ds.root, getattr(it, modality), f"dataset {split_ds.name!r}, item {it.id!r}")
        except FileNotFoundError:
            pass  # a missing file is an unreadable item (on_error decides)
    return [_Row(new_index, it.id, getattr(it, modality)) for new_index, (_, it) in enumerate(kept)]


def _auto_excluded(store: LatentStore, dataset: str, split: str, variant: str | None = None) -> list[str]:
    """Ids that item latents of this split (and variant) already in the store skipped (for text extraction)."""
    found: dict[tuple, StoreKey] = {}
    for key in store.keys():
        if (key.dataset == dataset and key.variant == variant and key.split == split
                and key.modality in ("image", "audio")):
            try:
                skipped = tuple(sorted(store.load(key, verify=False).manifest.get("skipped_ids") or ()))
            except Exception:
                continue
            if skipped:
                found.setdefault(skipped, key)
    if len(found) > 1:
        raise ValueError(f"item latents of {dataset}/{split} skipped different items ({list(found.values())}); "
                         "pass exclude_ids= to say which captions to leave out")
    if found:
        ids, key = next(iter(found.items()))
        warnings.warn(f"leaving out the captions of {len(ids)} items that {key} skipped as unreadable: "
                      f"{list(ids)[:20]}", stacklevel=3)
        return list(ids)
    return []


def _world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return rank, world_size


def partial_dir(store: LatentStore, key: StoreKey, plan_hash: str) -> Path:
    """Hidden folder of a run's shards (the store ignores dot-folders)."""
    return store.path(key).parent / f".{key.encoder}.partial-{plan_hash[:16]}"


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------
def extract(dataset: PairedDataset | str, split: str, modality: str, encoder: str | Encoder,
            store: LatentStore | str | Path | None = None, batch_size: int = 64, num_workers: int = 0,
            device: str | torch.device = "auto", dtype: str | torch.dtype | None = None,
            shard_size: int = 1024, rank: int | None = None, world_size: int | None = None,
            progress: bool = True, on_error: str = "raise", exclude_ids: Sequence[str] | None = None,
            unload: bool = True) -> Latents | None:
    """Encode one split and return its stored :class:`~fusemix_lite.store.Latents` (a cache hit
    when the store already holds them). Introduced in chapter 2.

    ``on_error="skip"`` leaves out items whose file cannot be read, with a warning listing them;
    ``exclude_ids`` leaves out items on purpose (for ``"text"``, ``None`` follows the skips recorded
    by item latents of the split already in the store). With several processes (``rank``/
    ``world_size``, read from ``RANK``/``WORLD_SIZE`` by default) each encodes its shards and the
    last to finish merges and returns the latents; the others return ``None``.
    """
    from .paths import latent_dir

    if isinstance(dataset, str):
        from .data.registry import get_dataset

        dataset = get_dataset(dataset)
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if batch_size < 1 or shard_size < 1:
        raise ValueError(f"batch_size and shard_size must be >= 1, got {batch_size}, {shard_size}")
    store = store if isinstance(store, LatentStore) else LatentStore(store if store is not None else latent_dir())
    enc = get_encoder(encoder)
    if enc.modality != modality:
        raise ValueError(f"encoder {enc.name!r} encodes {enc.modality}, not {modality}")
    rank, world_size = _world(rank, world_size)

    split_ds = dataset.split(split)
    key = StoreKey(dataset.name, split, modality, enc.name, dataset.variant)
    source_hash = split_ds.manifest_hash()
    if exclude_ids is None:
        exclude_ids = _auto_excluded(store, dataset.name, split, key.variant) if modality == "text" else []
    unknown = set(exclude_ids) - {it.id for it in split_ds.items}
    if unknown:
        raise ValueError(f"exclude_ids names items not in {dataset.name}/{split}: {sorted(unknown)[:10]}")
    excluded = sorted(set(exclude_ids))
    expect = {"encoder": enc.name, "weights_hash": enc.weights_id, "preprocessing": enc.preprocessing,
              "source_manifest_hash": source_hash, "excluded_ids": excluded}
    if modality == "text":
        expect["data_manifest_hash"] = data_hash(source_hash, excluded)

    # ---- cache hit (manifest, header, size and CRC-32 checked) -----------------------------
    try:
        hit = store.load(key, expect=expect, verify="crc32")
    except (FileNotFoundError, StoreMismatchError):
        hit = None
    except StoreCorruptError as e:
        warnings.warn(f"extracting again: {e}", stacklevel=2)
        hit = None
    if hit is not None:
        skipped = hit.manifest.get("skipped", [])
        if not (skipped and on_error == "raise"):
            if skipped:
                _warn_skipped(key, skipped)
            return hit
    started = time.time()

    rows = _rows(split_ds, modality, set(excluded))
    plan = {"key": list(key.parts), **expect, "rows": len(rows), "row_ids": _sha("\n".join(r.id for r in rows)),
            "shard_size": shard_size, "batch_size": batch_size, "on_error": on_error, "dim": enc.dim}
    plan_hash = _sha(json.dumps(plan, sort_keys=True, default=str))
    part = partial_dir(store, key, plan_hash)
    part.mkdir(parents=True, exist_ok=True)
    write_atomic(part / "plan.json", json.dumps(plan, indent=1, default=str).encode())

    n_shards = -(-len(rows) // shard_size)
    mine = [s for s in range(n_shards) if s % world_size == rank]
    todo = [s for s in mine if not _shard_done(part, s)]
    try:
        if todo:
            _encode_shards(enc, rows, split_ds.root, modality, part, todo, shard_size, batch_size, num_workers,
                           device, dtype, world_size, rank, progress, on_error)
    finally:
        if unload:
            enc.unload()  # release the model (and GPU memory) even when a file fails

    manifest = {"encoder": enc.name, "weights_hash": enc.weights_id, "preprocessing": enc.preprocessing,
                "source_manifest_hash": source_hash, "excluded_ids": excluded,
                "modality": modality, "dim": enc.dim, "dataset": dataset.name, "split": split}
    if torch.distributed.is_available() and torch.distributed.is_initialized() and world_size > 1:
        torch.distributed.barrier()
        if rank == 0:
            _log_extraction(store, merge_shards(store, key, part, rows, manifest, modality), started)
        torch.distributed.barrier()
        return store.load(key, verify=False)
    if world_size == 1:
        out = merge_shards(store, key, part, rows, manifest, modality)
    else:
        out = _merge_if_last(store, key, part, rows, manifest, modality, n_shards)
    if out is not None:
        _log_extraction(store, out, started)
    return out


# ---------------------------------------------------------------------------------------------
# The extraction log: one JSON line per real (non-cached) extraction
# ---------------------------------------------------------------------------------------------
LOG = "extractions.jsonl"


def _log_extraction(store: LatentStore, lat: Latents, started: float) -> None:
    """Append one line to ``<store>/extractions.jsonl`` (a single ``O_APPEND`` write: atomic)."""
    k = lat.key
    line = json.dumps({"dataset": k.dataset, "variant": k.variant, "split": k.split, "modality": k.modality,
                       "encoder": k.encoder, "rows": int(lat.array.shape[0]),
                       "seconds": round(time.time() - started, 3),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"
    fd = os.open(store.root / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def extraction_counts(store: LatentStore | str | Path | None = None) -> Counter:
    """How many times each latent set was really encoded into ``store``: ``Counter[StoreKey]``.

    Read from ``<store>/extractions.jsonl`` (cache hits are not logged). After a cold build every
    count should be 1: a 2 means the same (variant, split, modality, encoder) was encoded twice.
    A line that does not parse raises ``ValueError`` naming the file and line. Introduced in chapter 2.
    """
    from .paths import latent_dir

    store = store if isinstance(store, LatentStore) else LatentStore(store if store is not None else latent_dir())
    path = store.root / LOG
    counts: Counter = Counter()
    if not path.exists():
        return counts
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            counts[StoreKey(rec["dataset"], rec["split"], rec["modality"], rec["encoder"], rec["variant"])] += 1
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}:{n}: not an extraction record ({type(e).__name__}: {e})") from e
    return counts


def _shard_paths(part: Path, s: int) -> tuple[Path, Path]:
    return part / f"shard-{s:06d}.npy", part / f"shard-{s:06d}.json"


def _shard_done(part: Path, s: int) -> bool:
    """A shard is done when its JSON (written after its array) exists and the array loads."""
    arr, meta = _shard_paths(part, s)
    if not meta.exists() or not arr.exists():
        return False
    try:
        info = json.loads(meta.read_text())
        a = np.load(arr, mmap_mode="r", allow_pickle=False)
        return a.shape[0] == len(info["rows"])
    except (ValueError, OSError, KeyError, json.JSONDecodeError):
        return False


def _save_npy(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _encode_shards(enc: Encoder, rows: list[_Row], root: Path, modality: str, part: Path, todo: list[int],
                   shard_size: int, batch_size: int, num_workers: int, device, dtype, world_size: int,
                   rank: int, progress: bool, on_error: str) -> None:
    from tqdm.auto import tqdm

    if device == "auto" and world_size > 1 and torch.cuda.is_available():
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
    enc.load(device, dtype)
    if num_workers > 0 and modality == "text":
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    batches, ends = [], []  # row indices per batch; the shard a batch completes (or None)
    for s in todo:
        lo, hi = s * shard_size, min((s + 1) * shard_size, len(rows))
        for b in range(lo, hi, batch_size):
            batches.append(list(range(b, min(b + batch_size, hi))))
            ends.append(s if b + batch_size >= hi else None)
    loader = torch.utils.data.DataLoader(
        _Rows(rows, root, modality, enc), batch_sampler=batches, num_workers=num_workers,
        collate_fn=_Collate(enc), pin_memory=enc.device.type == "cuda",
        worker_init_fn=_worker_init if num_workers > 0 else None)
    bar = tqdm(total=sum(len(b) for b in batches), desc=f"{enc.name} {modality}" + (f" rank {rank}" if world_size > 1 else ""),
               unit=modality if modality != "text" else "caption", disable=not progress, dynamic_ncols=True)
    outs, kept, failed = [], [], []
    try:
        for (ok, batch, bad), end in zip(loader, ends):
            if bad and (on_error == "raise" or modality == "text"):
                msg = bad[0][1]
                raise ValueError(f"cannot read {msg}" + (" (pass on_error='skip' to leave such items out)"
                                                         if modality != "text" else ""))
            failed += [{"id": rows[i].id, "file": str(root / rows[i].raw), "error": err} for i, err in bad]
            if ok:
                outs.append(enc.encode_batch(batch).numpy())
                kept += ok
            bar.update(len(ok) + len(bad))
            if end is not None:
                arr = np.concatenate(outs) if outs else np.zeros((0, enc.dim), np.float32)
                arr_path, meta_path = _shard_paths(part, end)
                _save_npy(arr_path, np.ascontiguousarray(arr, dtype=np.float32))
                write_atomic(meta_path, json.dumps({"rows": kept, "skipped": failed}).encode())
                outs, kept, failed = [], [], []
    finally:
        bar.close()


def _warn_skipped(key: StoreKey, skipped: list[dict]) -> None:
    files = [s["file"] for s in skipped]
    shown = ", ".join(files[:50]) + (f", ... ({len(files) - 50} more)" if len(files) > 50 else "")
    warnings.warn(f"{key}: skipped {len(files)} unreadable files (their items are left out): {shown}",
                  stacklevel=3)


def merge_shards(store: LatentStore, key: StoreKey, part: Path, rows: list[_Row], manifest: dict,
                 modality: str) -> Latents:
    """Concatenate a finished run's shards into one store entry, then delete the partial folder."""
    n_shards = len(list(part.glob("shard-*.json")))
    plan = json.loads((part / "plan.json").read_text())
    expected = -(-plan["rows"] // plan["shard_size"])
    missing = [s for s in range(expected) if not _shard_done(part, s)]
    if missing:
        raise RuntimeError(f"{key}: shards {missing[:10]} of {expected} are not written yet "
                           f"({n_shards} done in {part}); run the extraction again to finish them")
    arrays, kept, skipped = [], [], []
    for s in range(expected):
        arr_path, meta_path = _shard_paths(part, s)
        info = json.loads(meta_path.read_text())
        arrays.append(np.load(arr_path, allow_pickle=False))
        kept += info["rows"]
        skipped += info["skipped"]
    if not kept:
        raise ValueError(f"{key}: every one of the {len(rows)} items failed to load; first error: "
                         f"{skipped[0]['error'] if skipped else '?'}")
    array = np.concatenate(arrays)
    skipped_ids = sorted({s["id"] for s in skipped})
    excluded = sorted(set(manifest["excluded_ids"]) | set(skipped_ids))
    manifest = {**manifest, "data_manifest_hash": data_hash(manifest["source_manifest_hash"], excluded),
                "skipped": skipped, "skipped_ids": skipped_ids}
    ids = [rows[i].id for i in kept]
    item_index = None
    if modality == "text":
        item_index = np.array([rows[i].item for i in kept], dtype=np.int64)
        manifest["captions"] = [rows[i].raw for i in kept]
    out = store.save(key, array, ids, manifest, item_index=item_index)
    shutil.rmtree(part, ignore_errors=True)
    for stale in part.parent.glob(f".{key.encoder}.partial-*"):  # older plans of the same key
        shutil.rmtree(stale, ignore_errors=True)
    if skipped:
        _warn_skipped(key, skipped)
    return out


def _merge_if_last(store, key, part, rows, manifest, modality, n_shards) -> Latents | None:
    """Without a process group: whichever rank sees all shards first merges (a lock file decides)."""
    if any(not _shard_done(part, s) for s in range(n_shards)):
        return None
    lock = part / "merge.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(lock.read_text() or 0)
            os.kill(pid, 0)
            return None  # another rank is merging
        except (ValueError, ProcessLookupError, PermissionError, FileNotFoundError):
            lock.unlink(missing_ok=True)  # a merger that died: take over
            return _merge_if_last(store, key, part, rows, manifest, modality, n_shards)
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return merge_shards(store, key, part, rows, manifest, modality)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fusemix_lite.extract``: encode one split into the latent store."""
    p = argparse.ArgumentParser(prog="python -m fusemix_lite.extract", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="dataset name (see fusemix_lite.data.registry) or folder")
    p.add_argument("--split", required=True)
    p.add_argument("--modality", required=True, choices=MODALITIES)
    p.add_argument("--encoder", required=True, help="encoder name (fusemix_lite.encoders.list_encoders())")
    p.add_argument("--store", default=None, help="latent store folder (default: fusemix_lite.paths.latent_dir())")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default=None, choices=[None, "fp32", "fp16", "bf16"])
    p.add_argument("--shard-size", type=int, default=1024)
    p.add_argument("--on-error", default="raise", choices=["raise", "skip"])
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--counts", action="store_true",
                   help="print how often each latent set in --store was encoded; exit 1 if any twice")
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--counts" in argv:  # the only flag besides --store that this mode reads
        q = argparse.ArgumentParser(prog="python -m fusemix_lite.extract --counts")
        q.add_argument("--counts", action="store_true")
        q.add_argument("--store", default=None)
        counts = extraction_counts(q.parse_args(argv).store)
        for key, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
            print(f"{n}  {key}")
        twice = sum(n > 1 for n in counts.values())
        print(f"{sum(counts.values())} extractions of {len(counts)} latent sets; {twice} encoded more than once")
        return 1 if twice else 0
    args = p.parse_args(argv)

    if Path(args.dataset).is_dir():
        dataset = PairedDataset.load(args.dataset)
    else:
        from .data.registry import get_dataset

        dataset = get_dataset(args.dataset)
    from .paths import latent_dir

    store = LatentStore(args.store or latent_dir())
    out = extract(dataset, args.split, args.modality, args.encoder, store, batch_size=args.batch_size,
                  num_workers=args.workers, device=args.device, dtype=args.dtype, shard_size=args.shard_size,
                  progress=not args.no_progress, on_error=args.on_error)
    if out is None:
        print(f"rank {os.environ.get('RANK', 0)}: shards written; the last rank to finish merges them")
    else:
        print(f"{out.key}: {out.array.shape[0]} x {out.array.shape[1]} latents in {store.path(out.key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
