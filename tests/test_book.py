"""The book: the table of contents agrees with book/, every chapter has the required skeleton,
and every chapter executes under papermill at small parameters, leaving results we assert on."""

from __future__ import annotations

import json
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
    return sorted(BOOK.glob("[0-9][0-9]*.ipynb"))


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


# ---- one install for readers (Colab) -----------------------------------------------------------
def install_cell() -> str:
    """The Colab install cell every chapter carries, with the repository URL of ``_config.yml``."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert url.startswith("https://github.com/"), url
    return (f'# Colab: install the library with everything the chapters use, then the Debian data and espeak-ng\n'
            f'# (a no-op elsewhere; about a minute the first time in a fresh runtime).\n'
            f'import sys\n\nif "google.colab" in sys.modules:\n'
            f'    !pip install -q "fusemix-lite[book] @ git+{url}"\n'
            f'    !python -m fusemix_lite.data.install')


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_install_cell_installs_the_book_extra(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "!pip install" in c.source]
    assert cells == [install_cell()], "one Colab install cell, exactly the book's (see install_cell)"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == install_cell(), "the install cell comes before any other code"


def _requirement_names(reqs: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _imported_modules(source: str) -> set[str]:
    import ast

    # IPython magics and shell escapes are not Python: drop those lines before parsing
    code = "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("!", "%"))
                     else line for line in source.splitlines())
    mods = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def test_book_extra_covers_every_import():
    """Every third-party module a chapter or the library imports comes from a distribution named in
    the core dependencies or the ``book`` extra, so that the Colab install cell is enough."""
    import importlib.metadata as md
    import sys
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    allowed = _requirement_names(project["dependencies"] + project["optional-dependencies"]["book"])
    allowed |= {"fusemix-lite"}
    sources = [c.source for p in chapters() for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"]
    sources += [p.read_text() for p in (ROOT / "fusemix_lite").rglob("*.py")]
    dists = md.packages_distributions()
    # imported only where present: ctranslate2 (a reference in tests), google (Colab itself),
    # myst_nb (glue inside a Jupyter Book build; notebook.Results falls back to plain output)
    optional = {"ctranslate2", "google", "myst_nb"}
    missing = {}
    for mod in set().union(*map(_imported_modules, sources)) - set(sys.stdlib_module_names) - optional:
        if mod == "fusemix_lite":
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        assert names, f"module {mod!r} is imported but no installed distribution provides it"
        if not names & allowed:
            missing[mod] = sorted(names)
    assert not missing, f"imported but not in pyproject's dependencies or [book] extra: {missing}"


def test_requirements_is_the_book_extra():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines == ["-e .[book]"], "requirements.txt is the book extra, one list, not two that drift"


COLD = ROOT / "benchmarks" / "cold_chapters.json"
def _cold_bench():
    """benchmarks/bench_cold_chapters.py as a module (it writes the notes this test reads)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_cold_chapters", ROOT / "benchmarks" / "bench_cold_chapters.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_bench = _cold_bench()
minutes_seconds, COLD_NOTE = _bench.minutes_seconds, _bench.NOTE_START


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_run_time_note_gives_the_measured_cold_time(path):
    """Each chapter's run-time note cites its cold time alone, as benchmarks/bench_cold_chapters.py
    measured it (benchmarks/cold_chapters.json), so the two cannot drift apart (#19)."""
    rows = {r["chapter"]: r for r in json.loads(COLD.read_text())["rows"]}
    row = rows.get(path.name)
    assert row is not None and row["ok"], f"{path.name} has no successful cold run in {COLD.name}"
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert COLD_NOTE in text, f"{path.name}: its run-time note lacks '{COLD_NOTE} ...'"
    note = text[text.index(COLD_NOTE):][:300]
    assert f"**{minutes_seconds(row['seconds'])}**" in note, (
        f"{path.name}: the note should cite **{minutes_seconds(row['seconds'])}** from {COLD.name} "
        f"(`make derived` writes it): {note!r}")


def test_minutes_seconds():
    assert minutes_seconds(42.4) == "42 s"
    assert minutes_seconds(59.6) == "1 min 00 s"
    assert minutes_seconds(125.0) == "2 min 05 s"
