"""Run a chapter with papermill at small parameters and return the values it saved.

All chapter tests share one FUSEMIX_HOME (the ``book_home`` fixture in conftest.py) and the same
small dataset sizes, so the latents that one chapter extracts are cache hits for the next, as in
the book.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1] / "book"

# Small sizes shared by every chapter test (keep them identical across chapters: cache hits).
SMALL_SCENES = {"n_train": 300, "n_val": 60, "n_test": 100, "n_compositional": 60}
SMALL_AUDIO = {"n_audio_train": 120, "n_audio_val": 30, "n_audio_test": 40}

# A cell that runs longer than this fails the test instead of stalling CI (a lost kernel reply
# otherwise waits forever); small-parameter cells take seconds to a few minutes.
CELL_TIMEOUT_S = 1200


def run_chapter(stem: str, tmp_path: Path, **params) -> dict:
    """Execute ``book/<stem>.ipynb`` with ``params`` and return its saved ``values`` dict."""
    import papermill as pm

    path = BOOK / f"{stem}.ipynb"
    results = tmp_path / "results.json"
    pm.execute_notebook(str(path), str(tmp_path / path.name), cwd=str(BOOK), kernel_name="python3",
                        parameters={**params, "results_path": str(results)}, progress_bar=False,
                        execution_timeout=CELL_TIMEOUT_S)
    data = json.loads(results.read_text())
    assert data["chapter"] == stem
    assert data["provenance"]["run_time_s"] >= 0
    return data["values"]


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def widget_views(tmp_path: Path, stem: str, marker: str) -> int:
    """How many widget views the cells whose source contains ``marker`` display in the executed
    copy of ``book/<stem>.ipynb`` (progress bars are widgets too, hence the marker)."""
    import nbformat

    nb = nbformat.read(str(tmp_path / f"{stem}.ipynb"), as_version=4)
    return sum(WIDGET_MIME in out.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" and marker in cell.source for out in cell.get("outputs", []))


GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([^`]+?)(?::[^`:]*)?`")
NAN_WORD = re.compile(r"\bnan\b", re.IGNORECASE)


def check_glued_prose(stem: str, values: dict) -> set[str]:
    """Every value that ``book/<stem>.ipynb``'s Markdown cites (``{glue:text}`name:.1f` ``,
    ``{glue:md}`name` ``) was glued by the run, no cited number is NaN and no cited text says
    "nan" (a section whose data is missing must say so in words). Returns the cited names."""
    import math

    import nbformat

    nb = nbformat.read(str(BOOK / f"{stem}.ipynb"), as_version=4)
    cited = {m for c in nb.cells if c.cell_type == "markdown" for m in GLUE_REF.findall(c.source)
             if "::" not in m}  # cross-document glue belongs to the other chapter
    missing = sorted(cited - set(values))
    assert not missing, f"{stem} cites glue it did not set: {missing}"
    for name in cited:
        v = values[name]
        assert not (isinstance(v, float) and math.isnan(v)), f"{stem}: glued {name} is NaN"
        assert not (isinstance(v, str) and NAN_WORD.search(v)), f"{stem}: glued {name} says nan: {v!r}"
    return cited
