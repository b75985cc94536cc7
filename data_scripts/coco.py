"""COCO captions with the Karpathy splits (train 113,287 incl. restval / val 5,000 / test 5,000 images).

Downloads the 2014 image zips from images.cocodataset.org and Karpathy's ``caption_datasets.zip``
(which holds ``dataset_coco.json``), then writes ``manifest.jsonl`` + ``dataset.json`` into
``--dest``. Split ``restval`` is merged into ``train``, as everyone training on COCO does; ``test`` is
the 5K test set of the retrieval tables. Each image keeps its first 5 captions (a few COCO images
have 6 or 7; ``--all-captions`` keeps them, as LAVIS does: 25,010 test captions instead of 25,000).

    python data_scripts/coco.py                                  # download (~20 GB) and prepare
    python data_scripts/coco.py --images /data/coco --annotations dataset_coco.json --skip-download
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download import (PrepareReport, Remote, base_parser, clean_captions, download, extract,  # noqa: E402
                      keep_present, link_into, save_prepared)

from fusemix_lite.data.format import Item, PairedDataset  # noqa: E402
from fusemix_lite.errors import MissingDataError  # noqa: E402

# No checksum is published for Karpathy's zip: it is recorded on first download (see README).
KARPATHY = Remote("https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip",
                  "caption_datasets.zip")
# md5 and size as listed by LAVIS's COCO download script and other widely used loaders.
IMAGES = {
    "train2014": Remote("http://images.cocodataset.org/zips/train2014.zip", "train2014.zip",
                        md5="0da8c0bd3d6becc4dcb32757491aca88", size=13_510_573_713),
    "val2014": Remote("http://images.cocodataset.org/zips/val2014.zip", "val2014.zip",
                      md5="a3d79f5ed8d289b7a7554ce06a5782b3", size=6_645_013_297),
}
KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "test": "test"}


def parse_karpathy(path: str | Path, image_dir: str | None = None, max_captions: int | None = 5) -> list[Item]:
    """Items of a Karpathy ``dataset_{coco,flickr30k}.json``, in file order.

    The image path is ``<filepath>/<filename>`` (COCO) or ``<image_dir>/<filename>`` when
    ``image_dir`` is given (Flickr30K has no ``filepath``). The id is ``cocoid`` when present,
    else the file name without extension. ``restval`` becomes ``train``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = data["images"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a Karpathy split file (a JSON object with 'images')") from e
    items = []
    for n, im in enumerate(images):
        try:
            split = KARPATHY_SPLITS[im["split"]]
        except KeyError as e:
            raise ValueError(f"{path}: image {n} has unknown split {im.get('split')!r}; "
                             f"expected one of {sorted(KARPATHY_SPLITS)}") from e
        folder = image_dir if image_dir is not None else im.get("filepath", "")
        rel = f"{folder}/{im['filename']}" if folder else im["filename"]
        raw = [s["raw"] for s in im["sentences"]]
        captions = clean_captions(raw, max_captions)
        if not captions:
            raise ValueError(f"{path}: image {im['filename']} has no non-empty caption")
        meta = {"karpathy_split": im["split"]}
        if len(captions) < len(raw):
            meta["n_raw_captions"] = len(raw)
        item_id = str(im["cocoid"]) if "cocoid" in im else Path(im["filename"]).stem
        items.append(Item(id=item_id, split=split, captions=captions, image=rel, meta=meta))
    return items


def find_annotation(dest: Path, annotations: Path | None, filename: str, fetch: bool,
                    progress: bool = True) -> Path:
    """The Karpathy json: ``annotations`` (a .json, or caption_datasets.zip), or one in ``dest``,
    else (when ``fetch``) downloaded and unpacked into ``dest/karpathy``."""
    if annotations is not None:
        annotations = Path(annotations).expanduser()
        if not annotations.exists():
            raise FileNotFoundError(f"--annotations {annotations} does not exist")
        if annotations.suffix != ".zip":
            return annotations
        extract(annotations, dest / "karpathy", progress)
    elif not list((dest / "karpathy").rglob(filename)):
        if not fetch:
            raise MissingDataError(f"{filename} is not in {dest / 'karpathy'}; pass --annotations FILE "
                                   f"or run without --skip-download")
        zipped = download(KARPATHY, dest / "downloads", progress=progress)
        extract(zipped, dest / "karpathy", progress)
    found = sorted((dest / "karpathy").rglob(filename))
    if not found:
        raise MissingDataError(f"no {filename} inside the Karpathy archive unpacked in {dest / 'karpathy'}")
    return found[0]


def prepare(dest: str | Path, annotations: str | Path | None = None, images: str | Path | None = None,
            splits: tuple[str, ...] = ("train", "val", "test"), max_captions: int | None = 5,
            fetch: bool = True, strict: bool = False, keep_archives: bool = False,
            progress: bool = True) -> tuple[PairedDataset, PrepareReport]:
    """Build the COCO dataset folder ``dest``; returns the dataset and what was skipped."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    ann = find_annotation(dest, Path(annotations) if annotations else None, "dataset_coco.json", fetch, progress)
    items = [it for it in parse_karpathy(ann, max_captions=max_captions) if it.split in splits]
    folders = sorted({it.image.split("/")[0] for it in items})
    for folder in folders:
        if images is not None:
            src = Path(images).expanduser() / folder
            if not src.is_dir():
                raise FileNotFoundError(f"{src} is missing: --images must hold {' and '.join(folders)} "
                                        f"(only val2014? use --splits val test)")
            link_into(dest, folder, src)
        elif not (dest / folder).exists() and fetch:
            if folder not in IMAGES:
                raise ValueError(f"no download known for image folder {folder!r}")
            archive = download(IMAGES[folder], dest / "downloads", progress=progress)
            extract(archive, dest, progress)
            if not keep_archives:
                archive.unlink()
    report = PrepareReport("coco")
    items = keep_present(items, dest, "image", report, strict)
    truncated = sum("n_raw_captions" in it.meta for it in items)
    if truncated:
        report.notes.append(f"{truncated} images had more than {max_captions} captions; "
                            f"kept the first {max_captions}")
    info = {"source": "COCO 2014 images, Karpathy splits (dataset_coco.json); restval merged into train",
            "annotations": ann.name, "max_captions": max_captions, "splits": list(splits)}
    return save_prepared("coco", dest, items, report, info), report


def main(argv: list[str] | None = None) -> int:
    p = base_parser("coco", __doc__, "local dataset_coco.json or caption_datasets.zip (else downloaded)",
                    archives=True)
    p.add_argument("--images", type=Path, default=None,
                   help="local folder holding train2014/ and val2014/ (linked, not copied; no image download)")
    p.add_argument("--all-captions", action="store_true", help="keep all captions (default: first 5 per image)")
    a = p.parse_args(argv)
    _, report = prepare(a.dest, a.annotations, a.images, tuple(a.splits), None if a.all_captions else 5,
                        fetch=not a.skip_download, strict=a.strict, keep_archives=a.keep_archives,
                        progress=not a.quiet)
    print(report.summary())
    print(f"wrote {a.dest / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
