"""Real paired data shipped in Debian packages: where the files are, and how to get them.

A package counts as present when its key file exists under a *prefix*: ``/`` when the package is
installed with ``apt-get``, or ``data_dir()/debian/<package>`` when it was unpacked with
``apt-get download`` + ``dpkg-deb -x`` (no root needed). ``python -m fusemix_lite.data.install``
does either. The data is GPL / CC-BY-SA / OFL licensed: never commit it, install it at setup time.
Introduced in chapter 1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import MissingDataError
from ..files import atomic_dir
from ..paths import data_dir
from .format import PairedDataset, assign_splits

# package -> key files (relative to a prefix); the first one that exists is used.
PACKAGES: dict[str, tuple[str, ...]] = {
    "tuxpaint-stamps-default": ("usr/share/tuxpaint/stamps",),
    "fonts-noto-color-emoji": ("usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",),
    "asterisk-core-sounds-en-wav": ("usr/share/asterisk/sounds/en_US_f_Allison",
                                    "usr/share/asterisk/sounds/en"),
    "asterisk-core-sounds-en": ("usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz",
                                "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt"),
}
GET_COMMAND = "python -m fusemix_lite.data.install"


def unpack_dir() -> Path:
    """Where ``python -m fusemix_lite.data.install`` unpacks packages when it cannot (or should not) install them."""
    return data_dir() / "debian"


ROOT_ENV = "FUSEMIX_DEBIAN_ROOT"


def prefixes(package: str, source: str | Path | None = None) -> list[Path]:
    """The prefixes searched for ``package``: ``source`` and ``source/<package>`` if given (a tree
    like ``/``, or a ``--dest`` folder of the script), else ``/`` and ``unpack_dir()/<package>``.
    ``$FUSEMIX_DEBIAN_ROOT``, when set, is the default ``source`` (the tests point it at an empty
    folder to run a chapter as a machine without the data would)."""
    if source is None and os.environ.get(ROOT_ENV):
        source = os.environ[ROOT_ENV]
    if source is not None:
        return [Path(source), Path(source) / package]
    return [Path("/"), unpack_dir() / package]


def find_package_file(package: str, source: str | Path | None = None) -> Path:
    """Path of ``package``'s key file (a folder or file), or a :class:`MissingDataError` saying
    how to get it. ``source`` pins the search to ``source`` and ``source/<package>`` (a fixture
    tree in the tests, or the script's ``--dest`` folder).
    Introduced in chapter 1."""
    if package not in PACKAGES:
        raise ValueError(f"unknown Debian package {package!r}; known: {', '.join(PACKAGES)}")
    tried = []
    for prefix in prefixes(package, source):
        for rel in PACKAGES[package]:
            path = prefix / rel
            if path.exists():
                return path
            tried.append(str(path))
    raise MissingDataError(
        f"Debian package {package!r} not found (looked for {', '.join(tried)}). Get it with "
        f"`{GET_COMMAND}` (apt-get install as root, else apt-get download + dpkg-deb -x into "
        f"{unpack_dir()}), or `sudo apt-get install --no-install-recommends {package}`.")


def staged_dir(root: Path, name: str | None = None):
    """Build a dataset in a temporary sibling folder that replaces ``root`` only on success
    (:func:`fusemix_lite.files.atomic_dir`), so a failed or interrupted build leaves nothing
    half-written. A non-empty ``root`` is replaced only when its ``dataset.json`` names dataset
    ``name`` (one this library built); anything else is refused untouched. Introduced in chapter 1."""
    def owned(folder: Path) -> bool:
        try:
            found = json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            return False
        return found is not None and (name is None or found == name)

    return atomic_dir(root, owned, what=f"a dataset folder of {name or 'this library'!r} (its dataset.json does not name it)")


def resplit(ds: PairedDataset, seed: int, fractions: dict[str, float]) -> PairedDataset:
    """Assign splits stratified by label for ``seed`` (:func:`assign_splits`) and save the
    dataset, unless it already has these splits. Introduced in chapter 1."""
    if ds.info.get("seed") == seed and ds.info.get("fractions") == fractions:
        return ds
    for it, split in zip(ds.items, assign_splits([it.label or "" for it in ds.items], fractions, seed)):
        it.split = split
    ds.info.update(seed=seed, fractions=fractions)
    ds.save()
    return ds


# ---- repeated captions in retrieval ---------------------------------------------------------
def normalise_caption(text: str) -> str:
    """Lower-case, drop punctuation, collapse spaces: "A goat." and "a goat" become "a goat"."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def caption_keys(dataset: PairedDataset) -> np.ndarray:
    """One int per caption of ``dataset.captions()``, equal for identical normalised text: the
    ``text_key`` of :func:`fusemix_lite.retrieval.recall_at_k`, so that retrieving another item
    with the very same caption counts as a hit. Introduced in chapter 5."""
    captions, _ = dataset.captions()
    ids: dict[str, int] = {}
    return np.asarray([ids.setdefault(normalise_caption(c), len(ids)) for c in captions], dtype=np.int64)


# ---- getting the packages ---------------------------------------------------------------------
def have_apt() -> bool:
    """True on Debian/Ubuntu-like machines (``apt-get`` and ``dpkg-deb`` on the PATH)."""
    return shutil.which("apt-get") is not None and shutil.which("dpkg-deb") is not None


def apt_install(packages: list[str], update_first: bool = False) -> None:
    """``apt-get install --no-install-recommends`` (root only). ``apt-get update`` first when
    ``update_first`` (a fresh Colab runtime's lists are stale), else once if the install fails."""
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if update_first:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)
    elif subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)


def unpack(package: str, dest: str | Path | None = None) -> Path:
    """``apt-get download`` + ``dpkg-deb -x`` into ``dest/<package>`` (default the unpack folder),
    atomically: a half-done unpack never looks present. Returns the prefix."""
    dest = Path(dest) if dest is not None else unpack_dir()
    target = dest / package
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=f".{package}.") as tmp:
        subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True)
        debs = sorted(Path(tmp).glob(f"{package}_*.deb"))
        if not debs:
            raise MissingDataError(f"apt-get download {package} left no .deb file in {tmp}")
        tree = Path(tmp) / "tree"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True)
        os.replace(tree, target)
    return target
