"""Checks of the Colab emulation (`make test-colab`), run with the emulation venv's python.

    python colab/check.py url        print the repository URL every chapter's install cell installs from
    python colab/check.py kernel     the kernel papermill starts is the venv's, Colab-like
    python colab/check.py installed COMMIT   fusemix-lite came from the install cell, at COMMIT
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIP_LINE = re.compile(r'^\s*!pip install -q "fusemix-lite\[book\] @ git\+(\S+)"\s*$', re.M)


def install_url() -> str:
    """The one git URL of the chapters' install cells (tests/test_book.py checks the cells)."""
    import nbformat

    urls = set()
    for path in sorted((ROOT / "book").glob("[0-9][0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "code")
        found = PIP_LINE.findall(cell.source)
        assert len(found) == 1, f"{path.name}: its first code cell has no `!pip install` of the book"
        urls.update(found)
    assert len(urls) == 1, f"chapters install from different URLs: {sorted(urls)}"
    return urls.pop()


def kernel() -> None:
    """Run a one-cell notebook under papermill, as the chapter tests do (kernel_name="python3")."""
    import nbformat
    import papermill as pm

    probe = ("import json, shutil, sys\n"
             "print(json.dumps({'executable': sys.executable, 'prefix': sys.prefix,\n"
             "                  'colab': 'google.colab' in sys.modules,\n"
             "                  'pip': shutil.which('pip'), 'python': shutil.which('python')}))")
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "probe.ipynb", Path(tmp) / "out.ipynb"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, src)
        pm.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False)
        text = "".join(o.get("text", "") for o in nbformat.read(out, as_version=4).cells[0].outputs)
    seen = json.loads(text.strip().splitlines()[-1])
    print("kernel:", seen)
    prefix = Path(sys.prefix)
    assert Path(seen["prefix"]) == prefix, f"the kernel runs in {seen['prefix']}, not in {prefix}"
    assert seen["colab"], "google.colab is not imported in the kernel"
    # `!pip` and `!python` in a cell run whatever PATH finds: they must be the venv's, as on Colab
    for tool in ("pip", "python"):
        assert seen[tool] and Path(seen[tool]).parent == prefix / "bin", f"`!{tool}` runs {seen[tool]}"


def installed(commit: str) -> None:
    """fusemix-lite in the venv is what the install cell installed: from its URL, at ``commit``."""
    from importlib.metadata import distribution

    dist = distribution("fusemix-lite")
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    print("fusemix-lite", dist.version, direct)
    assert direct.get("url") == install_url(), f"fusemix-lite was installed from {direct.get('url')}"
    assert direct.get("vcs_info", {}).get("commit_id") == commit, "installed from another commit"
    assert "site-packages" in str(dist.locate_file("fusemix_lite")), "not an installed copy"


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "url":
        print(install_url())
    elif what == "kernel":
        kernel()
    elif what == "installed":
        installed(sys.argv[2])
    else:
        sys.exit(__doc__)
