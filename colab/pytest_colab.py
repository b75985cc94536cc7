"""pytest plugin of `make test-colab` (``-p colab.pytest_colab``): every chapter starts as in a fresh
Colab runtime, with Colab's versions of the packages Colab preinstalls.

A chapter's install cell may upgrade some of them (pip satisfies the book's lower bounds); on Colab
the next chapter would start in a new runtime, with Colab's versions again. So before each test,
whatever the previous install cell changed among the pins of requirements-colab.txt is put back,
and at the end the changes are listed: each is something a reader's install cell changes in Colab.
fusemix-lite itself is uninstalled before each test, so that every chapter's install cell installs the
checkout afresh. (Other packages that Colab lacks stay installed: every chapter's install cell is the
same line, and the first chapter's has shown that it brings them into a pristine environment.)
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

REQUIREMENTS = Path(__file__).with_name("requirements-colab.txt")
_changed: dict[str, tuple[str, str]] = {}
_restored: list[str] = []


def pins() -> dict[str, str]:
    out = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            out[req.name] = next(iter(req.specifier)).version
    return out


def drifted() -> dict[str, str]:
    """Pinned packages whose installed version is not the pin: name -> installed version."""
    out = {}
    for name, pin in pins().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "(missing)"
        if have != pin:
            out[name] = have
    return out


def pytest_runtest_setup(item):
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "fusemix-lite"], check=True,
                   stderr=subprocess.DEVNULL)
    moved = drifted()
    if not moved:
        return
    p = pins()
    for name, have in moved.items():
        _changed[name] = (p[name], have)
    _restored.append(f"before {item.nodeid}: {', '.join(f'{n}=={p[n]}' for n in moved)}")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *(f"{n}=={p[n]}" for n in moved)],
                   check=True)


def pytest_terminal_summary(terminalreporter):
    for name, have in drifted().items():
        _changed[name] = (pins()[name], have)
    if _restored:
        terminalreporter.write_sep("-", "Colab's versions put back")
        for line in _restored:
            terminalreporter.write_line(line)
    if _changed:
        terminalreporter.write_sep("-", "Colab packages that the chapters' install cell changed")
        for name, (pin, have) in sorted(_changed.items()):
            terminalreporter.write_line(f"{name}: Colab {pin} -> {have}")
