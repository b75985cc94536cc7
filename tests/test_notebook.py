"""Results: the values a chapter glues into its prose and saves for its test."""

import json

import numpy as np
import pytest
import torch

from fusemix_lite.notebook import Results, as_python_scalar


@pytest.mark.parametrize("value, expected", [(np.float64(37.5), 37.5), (np.int64(4), 4),
                                             (torch.tensor(2.5), 2.5), (np.bool_(True), True)])
def test_scalars_become_python_numbers(value, expected):
    out = as_python_scalar(value)
    assert out == expected and type(out) is type(expected)
    if not isinstance(expected, bool):  # the book formats glued numbers from their repr
        assert float(repr(out)) == float(expected)


def test_arrays_and_containers_are_left_alone():
    arr = np.arange(3)
    assert as_python_scalar(arr) is arr
    assert as_python_scalar({"a": 1}) == {"a": 1}


def test_glue_records_python_values_and_saves(tmp_path, capsys, monkeypatch):
    r = Results("ch", {"seed": 0})
    assert r.glue("r1", np.float64(41.9)) is None  # no echo when a cell ends with a glue call
    assert r["r1"] == 41.9 and type(r["r1"]) is float
    r["n"] = 3
    path = tmp_path / "results.json"
    r.save(path)
    data = json.loads(path.read_text())
    assert data["chapter"] == "ch" and data["values"] == {"r1": 41.9, "n": 3}
    monkeypatch.chdir(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*")}
    r["n"] = 4
    r.save("")  # an empty path is a no-op, as in the book: nothing written anywhere
    assert {p: p.read_bytes() for p in tmp_path.rglob("*")} == before


def test_verdict_records_the_sentence():
    r = Results("ch", {})
    assert r.verdict("v", "**was reproduced**.") is None
    assert r["v"] == "**was reproduced**."
