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
