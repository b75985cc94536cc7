from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter


def tuxpaint_installed() -> bool:
    from fusemix_lite.data import debian, tuxpaint
    from fusemix_lite.errors import MissingDataError

    try:
        debian.find_package_file(tuxpaint.PACKAGE)
    except MissingDataError:
        return False
    return True


@pytest.mark.slow
def test_shared_space_umap_executes(book_home, tmp_path):
    # epochs and batch_size as in chapter 4's test: in one session, chapter 4's run is reused
    v = run_chapter("06_shared_space_umap", tmp_path, epochs=6, batch_size=256, n_plot=80, n_neighbors=10, **SMALL_SCENES)
    assert v["dims"][1] == 384
    # the short FuseMix run aligns: test text->image R@1 well above chance (100 / n_test %)
    assert v["chance_r1"] == pytest.approx(100 / SMALL_SCENES["n_test"])
    assert v["t2i_r1"] > 3 * v["chance_r1"]
    # before training a matching pair is no closer than a random one; after, clearly closer
    assert abs(v["margin_before"]) < 0.05
    assert v["margin_after"] > v["margin_before"] + 0.03
    # the modality gap exists at initialisation (Liang et al.)
    assert v["gap_before"] > 0.1
    # the sentence about the gap agrees with the numbers it reports
    shrink = 1 - v["gap_after"] / v["gap_before"]
    assert v["gap_shrink"] == pytest.approx(shrink)
    expected = "most of the gap" if shrink > 0.5 else "only a little" if shrink > 0 else "did not shrink"
    assert expected in v["gap_sentence"]
    assert ("spread out" in v["gap_sentence"]) == (v["ii_after"] < v["ii_before"])
    # raw latents sit in a cone: unrelated inputs have a clearly positive mean cosine
    assert v["cone_raw_img"] > 0.2
    # UMAP ran (the second call skips the compilation) and the figure was written
    assert v["umap_second_call_s"] < v["umap_first_call_s"]
    assert Path(v["figure_umap"]).stat().st_size > 10_000
    assert Path(v["figure_gap"]).stat().st_size > 10_000
    # cross-modal neighbours share the shape of the first object more often than untrained ones do
    knn = v["attribute_knn"]
    assert knn["shape"]["aligned (caption -> images, cross-modal)"] > knn["shape"]["untrained adapters (caption -> images)"]
    # exercises
    ex1 = v["exercise_1"]
    assert ex1["gap_centred"] < 0.05 < v["gap_after"]
    assert ex1["t2i_R@1_centred"] > 3 * v["chance_r1"]
    ex2 = v["exercise_2"]  # the stacked-PCA picture mixes modalities but pairs nothing
    assert 0.2 < ex2["fraction_images"] < 0.8
    assert ex2["own_image_in_top10"] < 3 * ex2["chance_own_image"]
    assert v["exercise_3"]["n_single"] > 10
    assert 0.5 < v["exercise_5"]["umap"] <= 1.0 and 0.5 < v["exercise_5"]["pca"] <= 1.0
    # where the Tux Paint package is installed, the three-modality part must run, not skip
    assert v["tuxpaint_present"] == tuxpaint_installed()
    if v["tuxpaint_present"]:
        assert v["n_tux_sounds"] > 50
        assert set(v["tux_centroid_gaps"]) == {"image-caption", "sound-caption", "sound-image"}
        assert all(g > 0 for g in v["tux_centroid_gaps"].values())
        assert Path(v["figure_tux"]).stat().st_size > 10_000
        # a sound's nearest images (no sound-image pair was trained on) share its category more
        # often than always guessing the most frequent category
        knn = v["tux_knn"]
        assert knn["sound -> images (never trained on such pairs)"] > knn["most frequent category (baseline)"] + 5
        carries = knn["sound -> images (never trained on such pairs)"] > knn["most frequent category (baseline)"] + 10
        assert ("Yet the categories carry across" in v["tux_paragraph"]) == carries
    else:
        assert "is not installed" in v["tux_paragraph"]
