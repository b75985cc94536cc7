"""The book: the table of contents agrees with book/, every chapter has the required skeleton,
and every chapter executes under papermill at small parameters, leaving results we assert on."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections", []))
            walk(e.get("chapters", []))

    for part in toc.get("parts", []):
        walk(part["chapters"])
    walk(toc.get("chapters", []))
    return files


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


def test_toc_and_book_agree():
    listed = toc_files()
    for f in listed:
        hits = [p for p in (ROOT / f"{f}.ipynb", ROOT / f"{f}.md") if p.exists()]
        assert len(hits) == 1, f"_toc.yml names {f}, found {hits} (exactly one .ipynb or .md expected)"
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in BOOK.glob("*") if p.suffix in (".ipynb", ".md")}
    orphans = on_disk - set(listed)
    assert not orphans, f"chapters missing from _toc.yml: {sorted(orphans)}"


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "kernelspec must be python3"
    outputs = [c for c in nb.cells if c.cell_type == "code" and c.get("outputs")]
    assert not outputs, "commit chapters without outputs; the build executes them"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters' (papermill)"
    src = params[0].source
    assert "profile" in src and "results_path" in src
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    assert "learning objectives" in text
    assert "google.colab" in "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if path.stem != "00_preface":
        assert "prerequisites" in text
        assert "run time" in text
        assert text.count("exercise") >= 3, "3 or more exercises"
        assert "solution" in text or any("hide-cell" in c.metadata.get("tags", []) for c in nb.cells)
        assert "summary" in text


# ---- executing chapters --------------------------------------------------------------------
# Each chapter's execution test lives in tests/test_ch_NN_*.py and uses tests/chapters.py.


def test_every_chapter_has_an_execution_test():
    tests = {p.name for p in (ROOT / "tests").glob("test_ch_*.py")}
    for path in chapters():
        assert f"test_ch_{path.stem}.py" in tests, f"no tests/test_ch_{path.stem}.py executes {path.name}"
