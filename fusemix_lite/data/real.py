"""The paper's real datasets (full profile): COCO, Flickr30K, AudioCaps, Clotho.

The library never downloads them. ``data_scripts/<name>.py`` downloads and prepares a dataset
folder once (``manifest.jsonl`` + ``dataset.json``); :func:`build` only loads that folder, and says
which command to run when it is not there. Introduced in the chapter on scaling up to real data.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingDataError, UnknownNameError
from ..paths import data_dir
from .format import PairedDataset

# name -> (command that prepares it, what the reader must obtain by hand, if anything)
COMMANDS: dict[str, tuple[str, str]] = {
    "coco": ("python data_scripts/coco.py --dest {root}", ""),
    "flickr30k": ("python data_scripts/flickr30k.py --images PATH/TO/flickr30k-images --dest {root}",
                  "the images need the Flickr30K licence form (see data_scripts/README.md)"),
    "audiocaps": ("python data_scripts/audiocaps.py --audio PATH/TO/CLIPS --dest {root}",
                  "the clips must be fetched from YouTube first (see data_scripts/README.md)"),
    "clotho": ("python data_scripts/clotho.py --dest {root}", ""),
}


def prepare_command(name: str, root: str | Path | None = None) -> str:
    """The shell command that prepares dataset ``name`` in ``root`` (default: data_dir()/name)."""
    if name not in COMMANDS:
        raise UnknownNameError(f"unknown real dataset {name!r}; known: {', '.join(sorted(COMMANDS))}")
    root = Path(root) if root is not None else data_dir() / name
    return COMMANDS[name][0].format(root=root)


def build(name: str, root: str | Path | None = None, *, split: str | None = None,
          check_files: bool = False, seed: int | None = None) -> PairedDataset:
    """Load the prepared dataset ``name`` from ``root`` (default ``data_dir()/name``).

    ``split`` returns one split only; ``check_files`` also checks that every image/audio file named
    in the manifest exists. ``seed`` is accepted for a uniform call with the generated datasets and
    ignored: the real splits are fixed. Raises :class:`MissingDataError` naming the data_scripts
    command when the folder is not prepared.
    """
    cmd = prepare_command(name, root)
    root = Path(root) if root is not None else data_dir() / name
    if not (root / "manifest.jsonl").exists() or not (root / "dataset.json").exists():
        hint = COMMANDS[name][1]
        raise MissingDataError(f"dataset {name!r} is not prepared in {root}. Run (from the repository root):\n"
                               f"    {cmd}\n" + (f"Note: {hint}." if hint else ""))
    ds = PairedDataset.load(root)
    if ds.name != name:
        raise ValueError(f"{root} holds dataset {ds.name!r}, not {name!r}")
    if check_files:
        missing = [rel for it in ds for rel in (it.image, it.audio) if rel and not (root / rel).is_file()]
        if missing:
            raise MissingDataError(f"dataset {name!r}: {len(missing)} files named in {root / 'manifest.jsonl'} "
                                   f"are missing (e.g. {missing[0]}); re-run: {cmd}")
    return ds.split(split) if split is not None else ds
