"""Small helpers for the chapters: Colab detection, glued numbers that the tests read back,
and widgets that degrade to nothing on the static site (chapters draw a static figure first).
Introduced in the preface."""

from __future__ import annotations

import sys
from pathlib import Path

from .provenance import provenance, save_results


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


class Results:
    """Numbers a chapter computes: glued into the prose with MyST-NB and saved as JSON for tests.

    ``results.glue("t2i_r1", 41.2)`` shows nothing by itself; the text cites it as
    ``{glue:text}`t2i_r1:.1f` ``, so prose and results cannot drift apart.
    """

    def __init__(self, chapter: str, params: dict):
        self.chapter = chapter
        self.params = dict(params)
        self.values: dict = {}

    def glue(self, name: str, value, display: bool = False) -> None:
        """Record ``value`` under ``name`` and glue it for the book's prose.

        NumPy and 0-d torch scalars become Python numbers first: the book formats glued numbers
        (``{glue:text}`name:.1f` ``) from their text form, and ``np.float64(3.2)`` is not a float.
        Returns None, so a cell whose last line is a ``glue`` call does not echo the bare value
        into the page; read it back as ``results[name]``.
        """
        value = as_python_scalar(value)
        self.values[name] = value
        try:
            from myst_nb import glue
        except ImportError:  # running outside the book toolchain, e.g. plain Colab
            return None
        glue(name, value, display=display)
        return None

    def verdict(self, name: str, text: str) -> None:
        """Record a sentence decided by the numbers and glue it as Markdown: the prose cites it
        as ``{glue:md}`name` ``, so a claim cannot outlive the numbers it rests on. Returns None
        (no echo as a cell's last line); read it back as ``results[name]``."""
        self.values[name] = text
        try:
            from IPython.display import Markdown
            from myst_nb import glue
        except ImportError:
            return None
        glue(name, Markdown(text), display=False)
        return None

    def __setitem__(self, name: str, value) -> None:
        self.values[name] = value

    def __getitem__(self, name: str):
        return self.values[name]

    def save(self, path: str | Path | None) -> None:
        """Write values and provenance to ``path`` (no-op for an empty path)."""
        save_results(path, {"chapter": self.chapter, "values": self.values,
                            "provenance": provenance(self.params)})


def as_python_scalar(value):
    """``value`` as a Python int/float/bool if it is a NumPy or 0-d torch scalar, else unchanged."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def widgets_available() -> bool:
    """Whether ipywidgets (7 or 8) can be imported."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


# ---- the student edition: the same sources with the solutions left out ---------------------------
# A solution is (a) a code cell tagged ``hide-cell`` whose first line is a ``# Solution ...`` comment,
# or any cell tagged ``solution``; (b) a ```{admonition} Solution ...``` block (any fence length,
# backticks or colons) inside a Markdown cell. Everything else is kept as it is.

import re as _re

_SOLUTION_COMMENT = _re.compile(r"^\s*#\s*solution\b", _re.IGNORECASE)
_FENCE_OPEN = _re.compile(r"^(?P<fence>`{3,}|:{3,})\s*\{admonition\}\s*solution\b", _re.IGNORECASE)
STUDENT_NOTE = "```{note}\nThe solutions are left out of the student edition.\n```"


def is_solution_cell(cell) -> bool:
    """Whether a notebook cell (an nbformat node or a plain dict) holds an exercise's solution."""
    tags = cell.get("metadata", {}).get("tags", [])
    if "solution" in tags:
        return True
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    return (cell.get("cell_type") == "code" and "hide-cell" in tags
            and bool(_SOLUTION_COMMENT.match(source.lstrip("\n").split("\n", 1)[0])))


def strip_solution_blocks(markdown: str) -> str:
    """``markdown`` without its ```{admonition} Solution``` blocks (a fence closes on a line of the
    same character, at least as long as the opening one)."""
    out, lines, i = [], markdown.split("\n"), 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i].strip())
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence = m.group("fence")
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close and set(close) == {fence[0]} and len(close) >= len(fence):
                break
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed solution block starting with {lines[i]!r}")
        i = j + 1
    return "\n".join(out).strip("\n")


def strip_solutions(nb):
    """A copy of notebook ``nb`` (nbformat) with its solutions removed; a short note replaces the
    first one. Outputs and the other cells' tags are kept."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    cells, noted = [], False
    for cell in nb.cells:
        if is_solution_cell(cell):
            if not noted:
                cells.append(nbformat.v4.new_markdown_cell(STUDENT_NOTE))
                noted = True
            continue
        if cell.cell_type == "markdown" and "{admonition}" in cell.source:
            stripped = strip_solution_blocks(cell.source)
            if stripped != cell.source.strip("\n"):
                if not noted:
                    stripped = (stripped + "\n\n" + STUDENT_NOTE).strip("\n")
                    noted = True
                if not stripped.strip():
                    continue
                cell.source = stripped
        cells.append(cell)
    nb.cells = cells
    return nb


def student_edition(root: str | Path, out: str | Path, drop: tuple[str, ...] = ("book/instructor",)) -> list[Path]:
    """Write the book's sources to ``out`` with every solution removed: ``_config.yml`` (titled as
    the student edition), ``_toc.yml`` (without the pages in ``drop``), ``references.bib`` and
    ``book/``. Returns the chapter notebooks written. ``make book-student`` builds the copy."""
    import shutil

    import nbformat
    import yaml

    root, out = Path(root), Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["title"] = f"{config.get('title', 'The book')} (student edition)"
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    toc = yaml.safe_load((root / "_toc.yml").read_text())

    def keep(entries):
        kept = []
        for e in entries:
            if e.get("file") in drop:
                continue
            for key in ("sections", "chapters"):
                if key in e:
                    e[key] = keep(e[key])
            kept.append(e)
        return kept

    for part in toc.get("parts", []):
        part["chapters"] = keep(part["chapters"])
    if "chapters" in toc:
        toc["chapters"] = keep(toc["chapters"])
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    for extra in ("references.bib",):
        if (root / extra).exists():
            shutil.copy2(root / extra, out / extra)
    written = []
    for path in sorted((root / "book").iterdir()):
        if f"book/{path.stem}" in drop or path.name.startswith("."):
            continue
        if path.suffix == ".ipynb":
            nb = strip_solutions(nbformat.read(path, as_version=4))
            nbformat.write(nb, out / "book" / path.name)
            written.append(out / "book" / path.name)
        elif path.suffix == ".md":
            (out / "book" / path.name).write_text(strip_solution_blocks(path.read_text()) + "\n")
        elif path.is_file():
            shutil.copy2(path, out / "book" / path.name)
    return written


if __name__ == "__main__":  # python -m fusemix_lite.notebook student-edition OUT
    import argparse

    parser = argparse.ArgumentParser(description="Write the student edition's sources (no solutions).")
    parser.add_argument("command", choices=["student-edition"])
    parser.add_argument("out", help="folder to write, e.g. _build/student-src (replaced)")
    parser.add_argument("--root", default=".", help="the book's root (holds _config.yml)")
    args = parser.parse_args()
    for p in student_edition(args.root, args.out):
        print("wrote", p)
