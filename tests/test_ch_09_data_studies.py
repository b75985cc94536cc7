from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter


@pytest.mark.slow
def test_data_studies_executes(book_home, tmp_path):
    v = run_chapter("09_data_studies", tmp_path, **SMALL_SCENES, n_seeds=2, train_steps=30, batch_size=64,
                    quantity_sizes=[100, 300, 100000], quality_n=200, shuffle_rates=[0.5],
                    diversity_sizes=[100])
    chance = v["chance_r1"]
    assert chance == pytest.approx(100 / SMALL_SCENES["n_test"])
    assert v["n_pairs"] == 5 * SMALL_SCENES["n_train"]
    # quantity: sizes capped at what exists; every size learns something, and all pairs beat 100
    q = v["quantity"]
    assert q["pairs"] == [100, 300, v["n_pairs"]]
    assert min(q["t2i_R@1_mean"]) > chance
    assert q["t2i_R@1_mean"][-1] > q["t2i_R@1_mean"][0]
    assert v["q_large_r1"] > 3 * chance
    # quality: all conditions ran; corrupted captions were encoded (or found in the store)
    assert set(v["quality"]) == {"clean", "swap_attribute 50%", "truncate 50%", "generic 50%", "shuffle_pairs 50%"}
    assert all(0 <= r <= 100 for r in v["quality"].values())
    assert v["quality"]["clean"] > chance
    # diversity: the toy k-DPP covers all three clusters; gains are finite numbers
    assert v["toy_clusters_dpp"] == 3
    assert set(v["diversity_gain"]) == {"k-DPP (image)@100", "k-DPP (text)@100"}
    assert v["dv_distinct_image"] == 100          # the image-side k-DPP: one caption per chosen image
    assert v["dv_distinct_uniform"] <= 100 and v["dv_distinct_text"] <= 100
    for name in ("q_verdict", "ql_verdict", "dv_verdict"):
        assert "reproduced" in v[name]
    for name in ("figure_quantity", "figure_quality", "figure_diversity"):
        assert Path(v[name]).stat().st_size > 10_000
    # exercises
    assert v["exercise_1"]["diag"] == pytest.approx(4.0)
    assert v["exercise_1"]["det_orthogonal"] == pytest.approx(15.0)
    assert v["exercise_1"]["det_opposite"] == pytest.approx(16.0)
    assert v["exercise_2"] == {"most_linear": 3, "poly2_picked": 8}
    assert v["exercise_3"]["correct_pairs"] == [100]
    assert v["exercise_4"]["dup_share_dpp"] == 0.0
    assert v["exercise_4"]["n_distinct"] <= v["n_pairs"]
