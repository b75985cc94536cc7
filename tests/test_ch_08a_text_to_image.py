from pathlib import Path

import pytest

from chapters import check_glued_prose, run_chapter

PARAMS = dict(n_train=300, n_test=100, gen_steps=60, clf_epochs=15, sample_steps=6)


@pytest.mark.slow
def test_text_to_image_executes(book_home, tmp_path):
    v = run_chapter("08a_text_to_image", tmp_path, **PARAMS)
    check_glued_prose("08a_text_to_image", v)  # every number the prose cites was glued by this part
    # the generator trains (its loss falls), is cached, and a fixed seed gives the same samples
    assert v["loss_last"] < 0.8 * v["loss_first"]
    assert v["second_call_cached"] is True
    assert v["same_seed_same_images"] is True
    # picture-book scenes: even at the test's small sizes the judge reads the colour of real pictures
    # far above chance (1/6)
    assert v["scene_real_colour"] > 50
    assert Path(v["figure_text_to_image"]).stat().st_size > 5_000
    assert v["n_train_scenes"] == PARAMS["n_train"]
    busy = v["busy_judge"]  # the judge on the busy scenes of chapters 1-5 (why picture-book scenes)
    assert busy["busy_shape_chance"] == pytest.approx(12.5)
    assert busy["picture_book_shape"] > busy["busy_shape"]
    assert v["busy_shape"] == pytest.approx(busy["busy_shape"])
    ex1 = v["exercise_1"]  # a weak judge shrinks differences towards chance
    a, k = ex1["judge_accuracy"] / 100, ex1["n_shapes"]
    assert k == 8 and ex1["judge_accuracy"] == pytest.approx(busy["busy_shape"])
    assert ex1["reported_at_60"] == pytest.approx(100 * (0.6 * a + 0.4 * (1 - a) / (k - 1)))
    assert ex1["slope"] == pytest.approx(100 * (a - (1 - a) / (k - 1)))
    assert ex1["reported_at_60"] - ex1["reported_at_50"] < 10  # a 10-point difference shows smaller
