import pytest

from chapters import run_chapter


@pytest.mark.slow
def test_preface_executes(book_home, tmp_path):
    values = run_chapter("00_preface", tmp_path)
    assert values["active_profile"] == "offline"


def test_scoreboard_pastes_only_findings_the_chapters_record():
    """Every row of the preface's scoreboard pastes sb_<key>_* from a chapter that records that
    finding with glue_finding, directly or through studies.decide (whose values and verdicts the
    chapter's own test checks)."""
    import re

    import nbformat

    from test_book import BOOK

    preface = "\n".join(c.source for c in nbformat.read(BOOK / "00_preface.ipynb", as_version=4).cells)
    refs = set(re.findall(r"`(\d\d_[a-z_]+)\.ipynb::sb_([a-z_]+?)_(diff|low|high|n|verdict)[:`]", preface))
    assert refs, "the preface has a findings scoreboard"
    keys = {(doc, key) for doc, key, _ in refs}
    for doc, key in keys:
        assert {part for d, k, part in refs if (d, k) == (doc, key)} == {"diff", "low", "high", "n", "verdict"}
        src = "\n".join(c.source for c in nbformat.read(BOOK / f"{doc}.ipynb", as_version=4).cells
                        if c.cell_type == "code")
        records = "glue_finding(" in src or "decide(results," in src
        assert records and f'"{key}"' in src, f"{doc} does not record finding {key!r}"
