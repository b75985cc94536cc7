"""The student edition (``make book-student``): the same sources with every solution left out.
Fast: runs the stripping on all chapters, no build."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from fusemix_lite.notebook import is_solution_cell, strip_solution_blocks, student_edition

ROOT = Path(__file__).resolve().parents[1]
GLUE_CITED = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z0-9_]+)")
GLUE_CALL = re.compile(r"\.(?:glue|verdict)\(\s*(f?)[\"']([^\"']+)[\"']")


def glued_patterns(nb) -> list[re.Pattern]:
    """What the code cells glue: literal names, f-string names as patterns, and any string literal
    (names glued in a loop over a tuple of names)."""
    pats = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for is_f, name in GLUE_CALL.findall(c.source):
            if is_f and len(re.sub(r"\{[^}]*\}", "", name)) < 4:
                continue  # f"{a}_{b}" would match any name: too loose to count
            pats.append(re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(name)) if is_f else re.escape(name)))
        pats += [re.compile(re.escape(s)) for s in re.findall(r"[\"']([A-Za-z0-9_]+)[\"']", c.source)]
    return pats


def resolvable(nb) -> set[str]:
    pats = glued_patterns(nb)
    cited = {n for c in nb.cells if c.cell_type == "markdown" for n in GLUE_CITED.findall(c.source)}
    return {n for n in cited if any(p.fullmatch(n) for p in pats)}


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "src"
    written = student_edition(ROOT, out)
    return out, written


def test_every_chapter_is_written_without_solutions(edition):
    out, written = edition
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]*.ipynb"))
    assert [p.name for p in written] == [p.name for p in chapters]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        original = nbformat.read(ROOT / "book" / path.name, as_version=4)
        for c in nb.cells:
            assert not is_solution_cell(c), (path.name, c.source[:60])
            assert not re.search(r"\{admonition\}\s*solution", c.source, re.I), (path.name, c.source[:80])
            if c.cell_type == "code":
                assert "results[\"exercise_" not in c.source and "results['exercise_" not in c.source, path.name
        had = any(is_solution_cell(c) or re.search(r"\{admonition\}\s*solution", c.source, re.I)
                  for c in original.cells)
        if had:  # the reader is told, once
            assert sum("left out of the student edition" in c.source for c in nb.cells) == 1, path.name
        # nothing but solutions is lost: the exercises' questions stay
        q_before = sum(c.source.lower().count("exercise") for c in original.cells if c.cell_type == "markdown"
                       and not is_solution_cell(c))
        q_after = sum(c.source.lower().count("exercise") for c in nb.cells if c.cell_type == "markdown")
        assert q_after >= 3 or q_before < 3, path.name
        # every number the prose cites is still glued by a remaining cell
        lost = resolvable(original) - resolvable(nb)
        assert not lost, f"{path.name}: the prose cites values only a solution glues: {sorted(lost)}"


def test_the_edition_is_a_buildable_book(edition):
    out, _ = edition
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert "student edition" in config["title"]
    toc = yaml.safe_load((out / "_toc.yml").read_text())
    files = [toc["root"]] + [e["file"] for part in toc["parts"] for e in part["chapters"]]
    assert "book/instructor" not in files  # the instructor page stays with the teachers
    for f in files:
        assert (out / f"{f}.ipynb").exists() or (out / f"{f}.md").exists(), f
    assert (out / "references.bib").exists()


def test_solution_blocks_of_any_fence_are_removed():
    md = ("Question?\n\n```{admonition} Solution 2\n:class: dropdown\nAnswer.\n```\n\n"
          "````{admonition} Solution 5\n:class: dropdown\n```python\ncode()\n```\n````\n\n"
          ":::{admonition} Solution\nx\n:::\nAfter.\n```{note}\nKept.\n```")
    out = strip_solution_blocks(md)
    assert "Answer" not in out and "code()" not in out and "x\n" not in out
    assert out.startswith("Question?") and "After." in out and "Kept." in out
    with pytest.raises(ValueError, match="unclosed"):
        strip_solution_blocks("```{admonition} Solution\nnever closed")


def test_only_solution_cells_are_solution_cells():
    code = nbformat.v4.new_code_cell
    assert is_solution_cell(code("# Solution 3: why\nx = 1", metadata={"tags": ["hide-cell"]}))
    assert not is_solution_cell(code("# Solution 3\nx = 1"))  # not hidden: part of the chapter
    assert not is_solution_cell(code("helper()", metadata={"tags": ["hide-cell"]}))
    assert is_solution_cell(nbformat.v4.new_markdown_cell("anything", metadata={"tags": ["solution"]}))


def test_instructor_page_is_current():
    from fusemix_lite.notebook import instructor_page

    page = (ROOT / "book" / "instructor.md").read_text()
    assert page == instructor_page(ROOT), (
        "book/instructor.md is stale: run `make derived` (or `python -m fusemix_lite.notebook instructor-page "
        "book/instructor.md`)")
    for path in sorted((ROOT / "book").glob("[0-9][0-9]*.ipynb")):
        if path.stem != "00_preface":
            assert f"`book/{path.name}`" in page, path.name
    assert "| yes |" in page  # some answers are checked by the chapter tests


def test_checked_means_the_chapter_test_reads_the_answer():
    from fusemix_lite.notebook import chapter_overview

    ov = chapter_overview(ROOT / "book" / "01_encoders_and_data.ipynb", ROOT / "tests" / "test_ch_01_encoders_and_data.py")
    assert ov["time_to_learn"] and ov["objectives"] and ov["prerequisites"]
    by_n = {e["n"]: e for e in ov["exercises"]}
    assert by_n[1]["checked"] and by_n[1]["kind"] == "computed"
    assert by_n[4]["kind"] == "written" and not by_n[4]["checked"]


@pytest.mark.parametrize("stem", ["01_encoders_and_data", "02_latent_extraction", "07_audio_meets_text",
                                  "08a_text_to_image", "08b_audio_to_image", "11_going_full_scale"])
def test_questionnaire_and_references(stem):
    """Fastbook-style: 5 to 8 questions at the end of the chapter, and a references section."""
    from fusemix_lite.notebook import chapter_overview

    ov = chapter_overview(ROOT / "book" / f"{stem}.ipynb")
    assert 5 <= ov["questions"] <= 8, ov["questions"]
    nb = nbformat.read(ROOT / "book" / f"{stem}.ipynb", as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    refs = md.split("## References", 1)
    assert len(refs) == 2 and "{cite:t}`vouitsis2024fusemix`" in refs[1]
    bib = (ROOT / "references.bib").read_text()
    for key in re.findall(r"\{cite:[pt]\}`([^`]+)`", md):
        for k in key.split(","):
            assert f"{{{k.strip()}," in bib, f"{stem} cites {k}, missing from references.bib"


def test_nothing_after_the_solutions_needs_them():
    """The student edition runs without the solution cells: after the first solution, only the
    closing cell (provenance box, results.save) may run, so nothing can depend on a solution."""
    for path in sorted((ROOT / "book").glob("[0-9][0-9]*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next((i for i, c in enumerate(nb.cells) if is_solution_cell(c)), None)
        if first is None:
            continue
        later = [c for c in nb.cells[first:] if c.cell_type == "code" and not is_solution_cell(c)]
        assert len(later) <= 1 and all("provenance_box" in c.source for c in later), \
            f"{path.name}: code after the solutions: {[c.source[:50] for c in later]}"
