from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter


@pytest.mark.slow
def test_latent_extraction_executes(book_home, tmp_path):
    v = run_chapter("02_latent_extraction", tmp_path, **SMALL_SCENES, throughput_sample=16)
    assert v["image_per_s"] > 0 and v["text_per_s"] > 0
    assert v["n_images"] == sum(SMALL_SCENES.values())
    # the second run finds every key in the cache, and is fast
    assert v["second_run_all_hits"] is True
    assert v["second_run_s"] < 30
    if not v["first_run_all_hits"]:
        assert v["second_run_s"] < v["first_run_s"]
    assert "manifest field" in v["mismatch_error"]
    assert v["norm_image_mean"] > 0 and v["norm_text_mean"] > 0
    for name in ("norms", "pca"):
        assert Path(v[f"figure_{name}"]).stat().st_size > 10_000
    shares = v["pca_explained"]["image latents"]
    assert all(0 <= s <= 1 for s in shares.values())
    assert v["pca_colour_image"] == pytest.approx(100 * shares["first object's colour"])  # the glued numbers
    assert v["pca_best_image"] == pytest.approx(100 * max(shares.values()))
    # exercises
    assert v["exercise_1"]["cache_hit"] is True  # the batch size is not part of the cache key
    assert v["exercise_2"] > 0.15  # colour from image latents, chance 0.1
    assert v["exercise_3"]["bytes_per_image_latent"] == 1280 * 4
    assert 0 < v["exercise_3"]["latent_mib"] < v["exercise_3"]["png_mib"] * 10
