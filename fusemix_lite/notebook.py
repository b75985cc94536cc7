"""Small helpers for the chapters: glued numbers that the tests read back,
and widgets that degrade to nothing on the static site (chapters draw a static figure first).
Introduced in the preface."""

from __future__ import annotations

from pathlib import Path

from .provenance import provenance, save_results


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

    def save_figure(self, fig, name: str, folder: str | Path | None) -> None:
        """Keep a PNG of ``fig`` as ``folder/<name>.png`` (80 dpi) and record its path as
        ``results["figure_<name>"]``, which the chapter tests read; nothing when ``folder`` is None
        (the book shows the figure inline either way). Introduced in chapter 1."""
        if folder is None:
            return
        path = Path(folder) / f"{name}.png"
        fig.savefig(path, dpi=80, bbox_inches="tight")
        self.values[f"figure_{name}"] = str(path)

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




# ---- the instructor page: per chapter its time, objectives, prerequisites and exercises -----------

_EXERCISE = _re.compile(r"\*\*Exercise\s+(\d+)\s*(?:\(([^)]*)\))?\s*[:.]?\s*([^*]*?)\.?\*\*\s*(.*)")


def _field(text: str, name: str) -> str:
    m = _re.search(rf"\*\*{name}(?::\*\*|\*\*:)\s*(.+?)(?:\n\s*\n|\n#|$)", text, _re.S)
    return " ".join(m.group(1).split()) if m else ""


def _section(text: str, heading: str) -> str:
    m = _re.search(rf"^##\s+{heading}\s*$(.*?)(?=^##?\s|\Z)", text, _re.S | _re.M | _re.I)
    return m.group(1) if m else ""


def chapter_overview(path: str | Path, test_path: str | Path | None = None) -> dict:
    """What a teacher needs from one chapter notebook: title, time to learn, run time, learning
    objectives, prerequisites (concept, need) and exercises (number, title, how the answer is
    given, whether the chapter test checks ``results["exercise_N"]``)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    md = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    head = nb.cells[0].source
    title = head.split("\n", 1)[0].lstrip("# ").strip()
    objectives = [_re.sub(r"\s+", " ", o).strip()
                  for o in _re.split(r"\n\s*\d+\.\s+", "\n" + _section(head, "Learning objectives"))
                  if o.strip() and not o.strip().lower().startswith("after this chapter")]
    prereq = []
    for line in _section(head, "Prerequisites").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and not set(cells[0]) <= set("-: ") and cells[0].lower() != "concept":
            prereq.append(tuple(cells))
    checked = set()
    if test_path is not None and Path(test_path).exists():
        checked = {int(n) for n in _re.findall(r"exercise_(\d+)", Path(test_path).read_text())}
    code_solutions = {int(n) for c in nb.cells if c.cell_type == "code"
                      for n in _re.findall(r"results\[[\"']exercise_(\d+)[\"']\]\s*=", c.source)}
    exercises, seen = [], set()
    joined = _re.sub(r"\n(?!\s*(?:\d+\.\s|\*\*Exercise|\n|#|```|\||-\s))", " ", md)  # one line per paragraph/item
    for line in joined.splitlines():
        m = _EXERCISE.search(line)
        if not m or int(m.group(1)) in seen:
            continue
        n = int(m.group(1))
        seen.add(n)
        title_ = m.group(3).strip() or _re.split(r"(?<=[.?!])\s", m.group(4).strip())[0]
        # a glued number belongs to its chapter's page: name it here instead of pasting it
        title_ = _re.sub(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`", r"`\1`", " ".join(title_.split()))
        if len(title_) > 120:
            title_ = title_[:117].rsplit(" ", 1)[0] + " ..."
        exercises.append({"n": n, "title": title_.rstrip(".") if title_ else f"Exercise {n}",
                          "kind": "computed" if n in code_solutions else "written",
                          "checked": n in checked})
    questions = len(_re.findall(r"^\s*\d+\.\s", _section(md, "Questionnaire"), _re.M))
    return {"stem": Path(path).stem, "title": title, "questions": questions, "time_to_learn": _field(head, "Time to learn"),
            "run_time": _field(head, "Estimated run time"), "objectives": objectives,
            "prerequisites": prereq, "exercises": exercises}


def instructor_page(root: str | Path) -> str:
    """The instructor page (``book/instructor.md``) as MyST Markdown, computed from the chapters
    and their tests: ``python -m fusemix_lite.notebook instructor-page book/instructor.md``."""
    root = Path(root)
    out = ["# For instructors", "",
           "This page is generated from the chapters and their tests "
           "(`python -m fusemix_lite.notebook instructor-page book/instructor.md`; a test fails when "
           "it is stale). Each chapter is one session: the time to learn is reading and running it, the "
           "run time is what the machine needs. The **student edition** (`make book-student`) is built "
           "from the same sources with every solution left out; it does not contain this page.", "",
           "An exercise is *computed* when its solution stores its answer in `results[\"exercise_N\"]` "
           "and *written* when the answer is a text in a dropdown. **Checked** means the chapter's test "
           "(`tests/test_ch_*.py`) asserts on that answer every time the book is tested, so the "
           "published solution cannot silently go wrong.", ""]
    for path in sorted((root / "book").glob("[0-9][0-9]*.ipynb")):
        ov = chapter_overview(path, root / "tests" / f"test_ch_{path.stem}.py")
        if not ov["exercises"]:
            continue
        number = int(path.stem[:2])
        title = ov["title"] if _re.match(r"\d+\.", ov["title"]) else f"{number}. {ov['title']}"
        out += [f"## {title}", "", f"Source: `book/{path.name}`", ""]
        if ov["time_to_learn"]:
            out.append(f"- **Time to learn:** {ov['time_to_learn']}")
        if ov["run_time"]:
            out.append(f"- **Run time:** {ov['run_time']}")
        out.append("")
        if ov["objectives"]:
            out += ["**Objectives**", ""] + [f"{i}. {o}" for i, o in enumerate(ov["objectives"], 1)] + [""]
        if ov["prerequisites"]:
            out += ["**Prerequisites**", "", "| concept | needed? |", "|---|---|"]
            out += [f"| {c} | {n} |" for c, n in ov["prerequisites"]] + [""]
        if ov["questions"]:
            out += [f"A questionnaire of {ov['questions']} questions closes the chapter (for discussion; "
                    "no answers are given).", ""]
        out += ["**Exercises**", "", "| # | exercise | answer | checked automatically |", "|---|---|---|---|"]
        for e in ov["exercises"]:
            title = e["title"].replace("|", "\\|")
            out.append(f"| {e['n']} | {title} | {e['kind']} | {'yes' if e['checked'] else 'no'} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # python -m fusemix_lite.notebook {student-edition,instructor-page} OUT
    import argparse

    parser = argparse.ArgumentParser(description="The student edition's sources (no solutions), or the "
                                                 "instructor page.")
    parser.add_argument("command", choices=["student-edition", "instructor-page"])
    parser.add_argument("out", help="student-edition: folder to write, e.g. _build/student-src (replaced); "
                                    "instructor-page: the file, e.g. book/instructor.md")
    parser.add_argument("--root", default=".", help="the book's root (holds _config.yml)")
    args = parser.parse_args()
    if args.command == "student-edition":
        for p in student_edition(args.root, args.out):
            print("wrote", p)
    else:
        Path(args.out).write_text(instructor_page(args.root))
        print("wrote", args.out)


def show_images(rows, row_titles, col_titles=None, path=None, scale: float = 1.1):
    """Show a grid of images in [0, 1], one row per tensor [N, 3, H, W], with a title per row (and
    per column, optionally); saved to ``path`` when given. Returns None, so a cell that ends with it
    shows the grid once (a returned figure would be displayed a second time). Introduced in chapter 8a."""
    import matplotlib.pyplot as plt

    n = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n, scale * len(rows) + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.axis("off")
            if j < len(row):
                ax.imshow(row[j].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
            if j == 0:
                ax.text(-0.1, 0.5, row_titles[i], transform=ax.transAxes, ha="right", va="center", fontsize=9)
            if col_titles and i == 0 and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.show()
