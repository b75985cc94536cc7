"""AudioCaps (train ~49.8K captions, about one per clip; val 495 / test 975 clips with 5 captions each).

The captions are three CSVs (``audiocap_id,youtube_id,start_time,caption``) from the AudioCaps
GitHub repository, downloaded here. The audio is 10-second clips of YouTube videos: this script
does **not** download from YouTube. Fetch the clips yourself (for instance with yt-dlp and ffmpeg,
see data_scripts/README.md), name them ``<youtube_id>_<start_time>.wav`` or ``<youtube_id>.wav``
(``.flac`` works too, subfolders are searched) and pass the folder with ``--audio``. Clips that
are gone from YouTube are skipped and counted, so your test set will be a little smaller than
the official one: the summary says by how much.

    python data_scripts/audiocaps.py --audio ~/audiocaps_clips
    python data_scripts/audiocaps.py --audio clips/ --annotations audiocaps_csv/ --skip-download
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download import (PrepareReport, Remote, base_parser, clean_caption, download, keep_present,  # noqa: E402
                      link_into, save_prepared)

from fusemix_lite.data.format import Item, PairedDataset  # noqa: E402
from fusemix_lite.errors import MissingDataError  # noqa: E402

BASE_URL = "https://raw.githubusercontent.com/cdjkim/audiocaps/master/dataset"
# No checksums are published; each CSV's sha256 is recorded on first download (see README).
CSVS = {split: Remote(f"{BASE_URL}/{split}.csv", f"{split}.csv") for split in ("train", "val", "test")}
COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
AUDIO_DIR = "audio"
AUDIO_EXTS = (".wav", ".flac")
PRIORITY = {"test": 0, "val": 1, "train": 2}  # a clip listed in two splits stays in the evaluation one


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of one AudioCaps CSV, checking its header."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not an AudioCaps CSV, missing columns {sorted(missing)}")
        return list(reader)


def parse_audiocaps(csvs: dict[str, Path]) -> tuple[list[Item], int]:
    """One item per clip ``(youtube_id, start_time)`` with all its captions, from split -> CSV.

    Items have no audio path yet (see :func:`attach_audio`). Returns the items and how many clips
    were listed in more than one split (each is kept once, in the evaluation split).
    """
    clips: dict[tuple[str, int], Item] = {}
    owner: dict[tuple[str, int], str] = {}  # the split each clip belongs to
    in_two: set[tuple[str, int]] = set()
    for split in sorted(csvs, key=lambda s: PRIORITY.get(s, 3)):
        for n, row in enumerate(read_csv(csvs[split]), 2):
            try:
                key = (row["youtube_id"].strip(), int(float(row["start_time"])))
            except ValueError as e:
                raise ValueError(f"{csvs[split]}:{n}: bad start_time {row['start_time']!r}") from e
            if owner.setdefault(key, split) != split:
                in_two.add(key)
                continue
            caption = clean_caption(row["caption"] or "")
            if not caption:
                continue
            if key in clips:
                clips[key].captions.append(caption)
                clips[key].meta["audiocap_ids"].append(row["audiocap_id"])
            else:
                clips[key] = Item(id=f"{key[0]}_{key[1]}", split=split, captions=[caption],
                                  meta={"youtube_id": key[0], "start_time": key[1],
                                        "audiocap_ids": [row["audiocap_id"]]})
    items = sorted(clips.values(), key=lambda it: -PRIORITY.get(it.split, 3))  # train, val, test
    return items, len(in_two)


def attach_audio(items: list[Item], audio_root: Path, prefix: str = AUDIO_DIR) -> None:
    """Set each item's audio path to its clip under ``audio_root`` (``prefix/...``).

    A clip is ``<youtube_id>_<start_time>`` or ``<youtube_id>`` with a .wav/.flac extension,
    anywhere below ``audio_root``; a clip not found gets the expected path (reported as missing later).
    """
    index: dict[str, str] = {}
    for p in sorted(Path(audio_root).rglob("*")):
        if p.suffix.lower() in AUDIO_EXTS and p.is_file():
            index.setdefault(p.stem, p.relative_to(audio_root).as_posix())
    for it in items:
        yid, start = it.meta["youtube_id"], it.meta["start_time"]
        rel = index.get(f"{yid}_{start}") or index.get(yid)
        it.audio = f"{prefix}/{rel}" if rel else f"{prefix}/{yid}_{start}.wav"


def prepare(dest: str | Path, audio: str | Path | None = None, annotations: str | Path | None = None,
            splits: tuple[str, ...] = ("train", "val", "test"), fetch: bool = True, strict: bool = False,
            progress: bool = True) -> tuple[PairedDataset, PrepareReport]:
    """Build the AudioCaps dataset folder ``dest``; returns the dataset and what was skipped."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    csv_dir = Path(annotations).expanduser() if annotations else dest / "csv"
    csvs = {}
    for split in splits:
        path = csv_dir / f"{split}.csv"
        if not path.exists():
            if annotations or not fetch:
                raise MissingDataError(f"{path} is missing; the AudioCaps CSVs are at {BASE_URL}/")
            path = download(CSVS[split], csv_dir, progress=progress)
        csvs[split] = path
    if audio is not None:
        link_into(dest, AUDIO_DIR, Path(audio))
    elif not (dest / AUDIO_DIR).exists():
        raise MissingDataError(f"no AudioCaps clips in {dest / AUDIO_DIR}: fetch them from YouTube yourself "
                               f"(data_scripts/README.md) and pass --audio DIR")
    items, n_dup = parse_audiocaps(csvs)
    attach_audio(items, dest / AUDIO_DIR)
    report = PrepareReport("audiocaps")
    if n_dup:
        report.notes.append(f"{n_dup} clips were listed in two splits; kept once, in the evaluation split")
    items = keep_present(items, dest, "audio", report, strict)
    info = {"source": "AudioCaps CSVs (github.com/cdjkim/audiocaps), audio fetched from YouTube by the user",
            "splits": list(splits), "n_clips_in_two_splits": n_dup}
    return save_prepared("audiocaps", dest, items, report, info), report


def main(argv: list[str] | None = None) -> int:
    p = base_parser("audiocaps", __doc__, "local folder holding train.csv, val.csv, test.csv (else downloaded)")
    p.add_argument("--audio", type=Path, default=None,
                   help="folder of clips <youtube_id>_<start>.wav or <youtube_id>.wav (linked, not copied)")
    a = p.parse_args(argv)
    _, report = prepare(a.dest, a.audio, a.annotations, tuple(a.splits), fetch=not a.skip_download,
                        strict=a.strict, progress=not a.quiet)
    print(report.summary())
    print(f"wrote {a.dest / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
