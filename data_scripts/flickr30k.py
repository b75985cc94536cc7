"""Flickr30K with the Karpathy splits (train 29,000 / val 1,014 / test 1,000 images, 5 captions each).

The images are not downloadable by script: request them with the form on the Flickr30K page
(https://shannon.cs.illinois.edu/DenotationGraph/) and accept its terms, then point ``--images``
at the ``flickr30k-images`` folder or at the archive you received (zip or tar.gz). The Karpathy
splits come from ``flickr_annotations_30k.csv`` of the Hugging Face dataset ``nlphuji/flickr30k``
(downloaded unless you pass ``--annotations``; see ``karpathy.py`` for what was verified about it);
Karpathy's own ``dataset_flickr30k.json`` works too. ``test`` is the 1K test set of the retrieval tables.

    python data_scripts/flickr30k.py --images ~/Downloads/flickr30k-images.tar.gz
    python data_scripts/flickr30k.py --images /data/flickr30k-images \\
        --annotations dataset_flickr30k.json --skip-download
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download import (PrepareReport, base_parser, extract, keep_present, link_into,  # noqa: E402
                      save_prepared)
from karpathy import FLICKR_HUB, find_annotations, read_annotations  # noqa: E402

from fusemix_lite.data.format import PairedDataset  # noqa: E402
from fusemix_lite.errors import MissingDataError  # noqa: E402

IMAGE_DIR = "flickr30k-images"
FORM = "https://shannon.cs.illinois.edu/DenotationGraph/"


def place_images(dest: Path, images: Path, progress: bool = True) -> Path:
    """Make ``dest/flickr30k-images`` hold the images: link a folder, or unpack an archive."""
    images = Path(images).expanduser()
    if not images.exists():
        raise FileNotFoundError(f"--images {images} does not exist")
    if images.is_dir():
        inner = images / IMAGE_DIR
        return link_into(dest, IMAGE_DIR, inner if inner.is_dir() else images)
    tops = extract(images, dest, progress)
    target = dest / IMAGE_DIR
    if not target.exists():  # an archive whose folder has another name: use the one holding jpgs
        dirs = [t for t in tops if t.is_dir() and any(t.glob("*.jpg"))]
        if len(dirs) != 1:
            raise ValueError(f"{images.name}: expected one folder of .jpg images, found {[t.name for t in tops]}")
        dirs[0].rename(target)
    return target


def prepare(dest: str | Path, images: str | Path | None = None, annotations: str | Path | None = None,
            splits: tuple[str, ...] = ("train", "val", "test"), fetch: bool = True, strict: bool = False,
            progress: bool = True) -> tuple[PairedDataset, PrepareReport]:
    """Build the Flickr30K dataset folder ``dest``; returns the dataset and what was skipped."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    if images is not None:
        place_images(dest, Path(images), progress)
    elif not (dest / IMAGE_DIR).exists():
        raise MissingDataError(f"Flickr30K images are not in {dest / IMAGE_DIR}. Request them at {FORM}, "
                               f"then run: python data_scripts/flickr30k.py --images PATH --dest {dest}")
    ann = find_annotations(dest, Path(annotations) if annotations else None, "dataset_flickr30k.json",
                           FLICKR_HUB, fetch, progress)
    items = [it for it in read_annotations(ann, image_dir=IMAGE_DIR, max_captions=5) if it.split in splits]
    report = PrepareReport("flickr30k")
    items = keep_present(items, dest, "image", report, strict)
    info = {"source": f"Flickr30K images (user-supplied), Karpathy splits ({ann.name})",
            "annotations": ann.name, "max_captions": 5, "splits": list(splits)}
    return save_prepared("flickr30k", dest, items, report, info), report


def main(argv: list[str] | None = None) -> int:
    p = base_parser("flickr30k", __doc__, "local Karpathy splits: flickr_annotations_30k.csv (nlphuji/flickr30k), "
                    "dataset_flickr30k.json or caption_datasets.zip; else downloaded from the hub")
    p.add_argument("--images", type=Path, default=None,
                   help="your flickr30k-images folder (linked, not copied) or its zip/tar.gz archive (unpacked)")
    a = p.parse_args(argv)
    _, report = prepare(a.dest, a.images, a.annotations, tuple(a.splits), fetch=not a.skip_download,
                        strict=a.strict, progress=not a.quiet)
    print(report.summary())
    print(f"wrote {a.dest / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
