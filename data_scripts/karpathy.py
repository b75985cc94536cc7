"""The Karpathy splits of COCO and Flickr30K: where to get them today, and how to read them.

Karpathy's ``caption_datasets.zip`` (``dataset_coco.json``, ``dataset_flickr30k.json``) at its old
Stanford URL has returned 404 since 2023. The same splits live on the Hugging Face hub, and that is
where the scripts fetch them now (with ``huggingface_hub``, already a dependency of ``transformers``):

* COCO: dataset repo ``yerevann/coco-karpathy``, parquet shards under ``data/``, one row per image
  with the columns of Karpathy's json, ``sentences`` flattened to a list of the raw caption strings:
  ``filepath, filename, sentences, split, cocoid, imgid, sentids, url``. Reading parquet needs
  ``pyarrow`` (``pip install pyarrow``).
* Flickr30K: dataset repo ``nlphuji/flickr30k``, file ``flickr_annotations_30k.csv``, one row per
  image: ``raw`` (a JSON list of the 5 captions), ``sentids`` (JSON list), ``split``
  (train/val/test), ``filename``, ``img_id``.

How that was checked: the repo ids, file names and columns come from the hubs' dataset cards and
loading script (``nlphuji/flickr30k``'s ``flickr30k.py`` reads exactly these CSV columns and
``json.loads`` the first two) and from public code that loads them (``load_dataset(
"yerevann/coco-karpathy")`` with ``example["sentences"]`` a list of strings, ``select_columns([
"filepath", "sentids", "filename", "imgid", "sentences", "cocoid", "url"])``), found with a code
search in December 2026. They were not downloaded from here (no network on the development
machine): the parsers are tested on small files of the same format in ``tests/fixtures/real/hub/``.
The readers only rely on the columns named above and check that they are there, so a change of
shard names upstream does not matter; a change of columns stops with an error naming them.

A local Karpathy json (or ``caption_datasets.zip``) is still accepted with ``--annotations``.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download import clean_captions, extract  # noqa: E402

from fusemix_lite.data.format import Item  # noqa: E402
from fusemix_lite.errors import MissingDataError  # noqa: E402

KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "validation": "val", "test": "test"}


@dataclass(frozen=True)
class HubFiles:
    """Annotation files in a Hugging Face dataset repo (``patterns`` as for ``allow_patterns``)."""

    repo_id: str
    patterns: tuple[str, ...]


COCO_HUB = HubFiles("yerevann/coco-karpathy", ("data/*.parquet",))
FLICKR_HUB = HubFiles("nlphuji/flickr30k", ("flickr_annotations_30k.csv",))


def hub_download(source: HubFiles, folder: Path) -> Path:
    """Download ``source``'s files into ``folder`` (kept: a second call reuses them); return ``folder``."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - huggingface_hub comes with transformers
        raise MissingDataError("fetching the Karpathy splits needs huggingface_hub: pip install huggingface_hub") from e
    try:
        snapshot_download(repo_id=source.repo_id, repo_type="dataset", allow_patterns=list(source.patterns),
                          local_dir=str(folder))
    except Exception as e:  # offline, repo moved, rate limit: say what to do instead
        raise MissingDataError(
            f"could not download {', '.join(source.patterns)} from the Hugging Face dataset {source.repo_id!r} "
            f"({type(e).__name__}: {e}). Check the network (HF_HUB_OFFLINE must be unset), or download the files "
            f"yourself and pass them with --annotations") from e
    return folder


# ---- reading --------------------------------------------------------------------------------------

def _captions(sentences: Any) -> list[str]:
    """Raw captions of one image: Karpathy's json has ``[{"raw": ...}]``, the hub tables plain strings."""
    return [s["raw"] if isinstance(s, dict) else str(s) for s in sentences]


def items_from_rows(rows: Iterable[dict], source: str | Path, image_dir: str | None = None,
                    max_captions: int | None = 5) -> list[Item]:
    """Items of Karpathy rows (one per image: ``filename``, ``split``, ``sentences``, optional
    ``filepath``/``cocoid``), in order. The image path is ``<filepath>/<filename>`` (COCO) or
    ``<image_dir>/<filename>``; the id is ``cocoid`` when present, else the file name stem;
    ``restval`` becomes ``train`` and ``validation`` ``val``."""
    items = []
    for n, row in enumerate(rows):
        try:
            split = KARPATHY_SPLITS[row["split"]]
        except KeyError as e:
            raise ValueError(f"{source}: image {n} has unknown split {row.get('split')!r}; "
                             f"expected one of {sorted(KARPATHY_SPLITS)}") from e
        folder = image_dir if image_dir is not None else row.get("filepath") or ""
        rel = f"{folder}/{row['filename']}" if folder else row["filename"]
        raw = _captions(row["sentences"])
        captions = clean_captions(raw, max_captions)
        if not captions:
            raise ValueError(f"{source}: image {row['filename']} has no non-empty caption")
        meta = {"karpathy_split": row["split"]}
        if len(captions) < len(raw):
            meta["n_raw_captions"] = len(raw)
        item_id = str(row["cocoid"]) if row.get("cocoid") is not None else Path(row["filename"]).stem
        items.append(Item(id=item_id, split=split, captions=captions, image=rel, meta=meta))
    return items


def parse_karpathy(path: str | Path, image_dir: str | None = None, max_captions: int | None = 5) -> list[Item]:
    """Items of Karpathy's ``dataset_{coco,flickr30k}.json``, in file order."""
    path = Path(path)
    try:
        images = json.loads(path.read_text(encoding="utf-8"))["images"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a Karpathy split file (a JSON object with 'images')") from e
    return items_from_rows(images, path, image_dir, max_captions)


def _require(columns: Iterable[str], needed: tuple[str, ...], path: Path, what: str) -> None:
    missing = [c for c in needed if c not in set(columns)]
    if missing:
        raise ValueError(f"{path} is not {what}: missing columns {missing} (has {sorted(columns)})")


COCO_COLUMNS = ("filepath", "filename", "sentences", "split", "cocoid")


def parse_coco_parquet(paths: Iterable[str | Path], max_captions: int | None = 5) -> list[Item]:
    """Items of the ``yerevann/coco-karpathy`` parquet shards, in shard order (needs ``pyarrow``)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise MissingDataError("reading the COCO Karpathy parquet files needs pyarrow: pip install pyarrow") from e
    items = []
    for path in sorted(Path(p) for p in paths):
        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises ArrowInvalid and OSError subclasses for non-parquet files
            raise ValueError(f"{path} is not a readable parquet file ({e})") from e
        _require(table.column_names, COCO_COLUMNS, path, "a COCO Karpathy table (yerevann/coco-karpathy)")
        items += items_from_rows(table.select(list(COCO_COLUMNS)).to_pylist(), path, max_captions=max_captions)
    return items


FLICKR_COLUMNS = ("raw", "split", "filename")


def parse_flickr_csv(path: str | Path, image_dir: str, max_captions: int | None = 5) -> list[Item]:
    """Items of ``nlphuji/flickr30k``'s ``flickr_annotations_30k.csv``, in file order."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _require(reader.fieldnames or [], FLICKR_COLUMNS, path, "a Flickr30K annotation table (nlphuji/flickr30k)")
        rows = []
        for n, row in enumerate(reader, start=2):
            try:
                sentences = json.loads(row["raw"])
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {n}: column 'raw' is not a JSON list of captions") from e
            rows.append({"filename": row["filename"], "split": row["split"], "sentences": sentences})
    return items_from_rows(rows, path, image_dir, max_captions)


def read_annotations(path: Path, image_dir: str | None = None, max_captions: int | None = 5) -> list[Item]:
    """Items of any supported annotation file: Karpathy json, hub parquet (a file or a folder of
    shards), or the Flickr30K hub CSV. The format is chosen by the file name's extension."""
    path = Path(path)
    if path.is_dir():
        shards = sorted(path.rglob("*.parquet"))
        if not shards:
            raise MissingDataError(f"no .parquet file under {path}")
        return parse_coco_parquet(shards, max_captions)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    if path.suffix == ".json":
        return parse_karpathy(path, image_dir, max_captions)
    if path.suffix == ".parquet":
        return parse_coco_parquet([path], max_captions)
    if path.suffix == ".csv":
        if image_dir is None:
            raise ValueError(f"{path}: a CSV of Karpathy splits is read for Flickr30K only")
        return parse_flickr_csv(path, image_dir, max_captions)
    raise ValueError(f"{path}: unknown annotation format {path.suffix!r}; expected a Karpathy .json, "
                     f"caption_datasets.zip, a .parquet file or folder (COCO), or a .csv (Flickr30K)")


def find_annotations(dest: Path, annotations: Path | None, karpathy_json: str, hub: HubFiles,
                     fetch: bool, progress: bool = True) -> Path:
    """Where the annotations are: ``annotations`` (a file or folder; ``caption_datasets.zip`` is
    unpacked into ``dest/karpathy`` and its ``karpathy_json`` used), or the hub copy in
    ``dest/karpathy/<repo>`` (downloaded when ``fetch`` and not there yet)."""
    if annotations is not None:
        annotations = Path(annotations).expanduser()
        if not annotations.exists():
            raise FileNotFoundError(f"--annotations {annotations} does not exist")
        if annotations.suffix != ".zip":
            return annotations
        extract(annotations, dest / "karpathy", progress)
        found = sorted((dest / "karpathy").rglob(karpathy_json))
        if not found:
            raise MissingDataError(f"no {karpathy_json} inside {annotations.name}")
        return found[0]
    local = dest / "karpathy" / hub.repo_id.replace("/", "--")
    have = [p for pattern in hub.patterns for p in local.glob(pattern)]
    if not have:
        if not fetch:
            raise MissingDataError(f"the Karpathy splits ({hub.repo_id}) are not in {local}; pass "
                                   f"--annotations FILE or run without --skip-download")
        hub_download(hub, local)
        have = [p for pattern in hub.patterns for p in local.glob(pattern)]
        if not have:
            raise MissingDataError(f"{hub.repo_id} has no file matching {list(hub.patterns)} any more; "
                                   f"download the Karpathy splits yourself and pass --annotations")
    return local if have[0].suffix == ".parquet" else have[0]
