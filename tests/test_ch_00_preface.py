import pytest

from chapters import run_chapter


@pytest.mark.slow
def test_preface_executes(book_home, tmp_path):
    values = run_chapter("00_preface", tmp_path)
    assert values["active_profile"] == "offline"
