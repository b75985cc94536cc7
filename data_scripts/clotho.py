"""Clotho v2.1 (development 3,839 / validation 1,045 / evaluation 1,045 clips, 5 captions each).

Downloads the audio archives ``clotho_audio_{development,validation,evaluation}.7z`` and the
caption CSVs ``clotho_captions_{...}.csv`` (``file_name,caption_1..caption_5``) from Zenodo record
4783391, checks their md5, unpacks the audio (with py7zr if installed; otherwise unpack them
yourself with ``7z x`` and re-run with ``--skip-download``) and writes the dataset. Splits map
development -> train, validation -> val, evaluation -> test.

    python data_scripts/clotho.py                        # download (several GB) and prepare
    python data_scripts/clotho.py --annotations clotho_csvs/ --audio clotho_audio/ --skip-download
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download import (PrepareReport, Remote, base_parser, clean_captions, download, extract,  # noqa: E402
                      keep_present, link_into, save_prepared)

from fusemix_lite.data.format import Item, PairedDataset  # noqa: E402
from fusemix_lite.errors import MissingDataError  # noqa: E402

RECORD = "https://zenodo.org/records/4783391/files"
FOLDERS = {"train": "development", "val": "validation", "test": "evaluation"}
CAPTION_COLUMNS = tuple(f"caption_{i}" for i in range(1, 6))
# md5 as listed by the aac-datasets package for Clotho v2.1 (not re-checked by us; see README).
MD5 = {
    "clotho_audio_development.7z": "c8b05bc7acdb13895bb3c6a29608667e",
    "clotho_audio_validation.7z": "7dba730be08bada48bd15dc4e668df59",
    "clotho_audio_evaluation.7z": "4569624ccadf96223f19cb59fe4f849f",
    "clotho_captions_development.csv": "d4090b39ce9f2491908eebf4d5b09bae",
    "clotho_captions_validation.csv": "5879e023032b22a2c930aaa0528bead4",
    "clotho_captions_evaluation.csv": "1b16b9e57cf7bdb7f13a13802aeb57e2",
}
REMOTES = {name: Remote(f"{RECORD}/{name}?download=1", name, md5=md5) for name, md5 in MD5.items()}


def parse_clotho(path: str | Path, split: str) -> list[Item]:
    """Items of one ``clotho_captions_<folder>.csv``: audio ``<folder>/<file_name>``, 5 captions."""
    path = Path(path)
    if split not in FOLDERS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(FOLDERS)}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"file_name", *CAPTION_COLUMNS} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not a Clotho captions CSV, missing columns {sorted(missing)}")
        items = []
        for n, row in enumerate(reader, 2):
            captions = clean_captions(row[c] or "" for c in CAPTION_COLUMNS)
            if not captions:
                raise ValueError(f"{path}:{n}: {row['file_name']!r} has no caption")
            items.append(Item(id=row["file_name"], split=split, captions=captions,
                              audio=f"{FOLDERS[split]}/{row['file_name']}"))
    return items


def prepare(dest: str | Path, audio: str | Path | None = None, annotations: str | Path | None = None,
            splits: tuple[str, ...] = ("train", "val", "test"), fetch: bool = True, strict: bool = False,
            keep_archives: bool = False, progress: bool = True) -> tuple[PairedDataset, PrepareReport]:
    """Build the Clotho dataset folder ``dest``; returns the dataset and what was skipped."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    csv_dir = Path(annotations).expanduser() if annotations else dest / "csv"
    items: list[Item] = []
    for split in splits:
        folder = FOLDERS[split]
        path = csv_dir / f"clotho_captions_{folder}.csv"
        if not path.exists():
            if annotations or not fetch:
                raise MissingDataError(f"{path} is missing; the Clotho v2.1 CSVs are at {RECORD}")
            path = download(REMOTES[path.name], csv_dir, progress=progress)
        items += parse_clotho(path, split)
        if audio is not None:
            link_into(dest, folder, Path(audio).expanduser() / folder)
        elif not (dest / folder).exists() and fetch:
            archive = download(REMOTES[f"clotho_audio_{folder}.7z"], dest / "downloads", progress=progress)
            extract(archive, dest, progress)  # MissingDataError explains what to do without py7zr
            if not keep_archives:
                archive.unlink()
    report = PrepareReport("clotho")
    items = keep_present(items, dest, "audio", report, strict)
    info = {"source": "Clotho v2.1 (zenodo.org/records/4783391); development/validation/evaluation "
                      "-> train/val/test", "splits": list(splits)}
    return save_prepared("clotho", dest, items, report, info), report


def main(argv: list[str] | None = None) -> int:
    p = base_parser("clotho", __doc__, "local folder holding the clotho_captions_*.csv files (else downloaded)",
                    archives=True)
    p.add_argument("--audio", type=Path, default=None,
                   help="local folder holding development/ validation/ evaluation/ (linked, not copied)")
    a = p.parse_args(argv)
    _, report = prepare(a.dest, a.audio, a.annotations, tuple(a.splits), fetch=not a.skip_download,
                        strict=a.strict, keep_archives=a.keep_archives, progress=not a.quiet)
    print(report.summary())
    print(f"wrote {a.dest / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
