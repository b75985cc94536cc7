"""COCO captions with the Karpathy splits (train 113,287 incl. restval / val 5,000 / test 5,000 images).

Downloads the 2014 image zips from images.cocodataset.org and the Karpathy splits from the Hugging
Face dataset ``yerevann/coco-karpathy`` (parquet; reading it needs ``pyarrow``; see ``karpathy.py``
for what was verified about it), then writes ``manifest.jsonl`` + ``dataset.json`` into ``--dest``.
Split ``restval`` is merged into ``train``, as everyone training on COCO does; ``test`` is the 5K test
set of the retrieval tables. Each image keeps its first 5 captions (a few COCO images have 6 or 7;
``--all-captions`` keeps them, as LAVIS does: 25,010 test captions instead of 25,000).

    python data_scripts/coco.py                                  # download (~20 GB) and prepare
    python data_scripts/coco.py --images /data/coco --annotations dataset_coco.json --skip-download
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download import (PrepareReport, Remote, base_parser, download, extract, keep_present,  # noqa: E402
                      link_into, save_prepared)
# parse_karpathy is re-exported: coco.parse_karpathy keeps working
from karpathy import COCO_HUB, find_annotations, parse_karpathy, read_annotations  # noqa: E402,F401

from fusemix_lite.data.format import PairedDataset  # noqa: E402

# md5 and size as listed by LAVIS's COCO download script and other widely used loaders.
IMAGES = {
    "train2014": Remote("http://images.cocodataset.org/zips/train2014.zip", "train2014.zip",
                        md5="0da8c0bd3d6becc4dcb32757491aca88", size=13_510_573_713),
    "val2014": Remote("http://images.cocodataset.org/zips/val2014.zip", "val2014.zip",
                      md5="a3d79f5ed8d289b7a7554ce06a5782b3", size=6_645_013_297),
}


def prepare(dest: str | Path, annotations: str | Path | None = None, images: str | Path | None = None,
            splits: tuple[str, ...] = ("train", "val", "test"), max_captions: int | None = 5,
            fetch: bool = True, strict: bool = False, keep_archives: bool = False,
            progress: bool = True) -> tuple[PairedDataset, PrepareReport]:
    """Build the COCO dataset folder ``dest``; returns the dataset and what was skipped."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    ann = find_annotations(dest, Path(annotations) if annotations else None, "dataset_coco.json", COCO_HUB,
                           fetch, progress)
    items = [it for it in read_annotations(ann, max_captions=max_captions) if it.split in splits]
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
    info = {"source": f"COCO 2014 images, Karpathy splits ({ann.name}); restval merged into train",
            "annotations": ann.name, "max_captions": max_captions, "splits": list(splits)}
    return save_prepared("coco", dest, items, report, info), report


def main(argv: list[str] | None = None) -> int:
    p = base_parser("coco", __doc__, "local Karpathy splits: dataset_coco.json, caption_datasets.zip, or the "
                    "parquet file(s) of yerevann/coco-karpathy (a file or a folder); else downloaded from the hub",
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
