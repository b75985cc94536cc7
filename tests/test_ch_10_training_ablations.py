from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter


@pytest.mark.slow
def test_training_ablations_executes(book_home, tmp_path):
    v = run_chapter("10_training_ablations", tmp_path, **SMALL_SCENES, n_seeds=2, train_steps=30, batch_size=64,
                    low_data_pairs=300, noise_stds=[0.01, 0.1], alphas=[0.5, 1.0], batch_sizes=[32, 128],
                    batch_study_pairs=500, depths=[1, 2], widths=[128, 256])
    chance = v["chance_r1"]
    assert chance == pytest.approx(100 / SMALL_SCENES["n_test"])
    n_pairs = 5 * SMALL_SCENES["n_train"]
    assert set(v["augmentations"]) == ({f"{m}@300" for m in ("FuseMix", "none", "noise 0.01", "quantize")}
                                       | {f"FuseMix@{n_pairs}", f"none@{n_pairs}"})
    assert v["low_fm"] > 2 * chance and v["all_fm"] > 3 * chance
    assert v["low_fm_gain"] == pytest.approx(v["low_fm"] - v["low_none"])
    # shared settings run once: (4 + 2) augmentation settings x 2 seeds, plus one new value per sweep x 2 seeds
    assert v["n_cached_runs"] == 12 + 2 + 2 + 2 + 2
    assert v["alpha_sweep"]["alpha"] == [0.5, 1.0] and v["noise_sweep"]["noise std"] == [0.01, 0.1]
    assert v["batch_sweep"]["batch size"] == [32, 128]
    assert set(v["adapter_sweep"]) == {"depth=1", "depth=2", "width=128", "width=256"}
    assert all(chance / 2 < r <= 100 for r in v["adapter_sweep"].values())
    for name in ("aug_verdict", "bs_verdict", "size_verdict"):
        assert "reproduced" in v[name]
    for name in ("figure_augmentations", "figure_noise_alpha", "figure_batch_adapter"):
        assert Path(v[name]).stat().st_size > 10_000
    # exercises
    e1 = {float(k): x for k, x in v["exercise_1"].items()}
    assert e1[1.0] == pytest.approx(0.2)
    assert e1[0.2] > e1[1.0] > e1[5.0]
    assert v["exercise_2"] == {"halves_negatives": 63, "permute_negatives": 127, "plain_negatives": 127}
    assert 2 <= v["exercise_3"]["max_distinct"] <= 64
    assert v["exercise_3"]["mean_cosine"] > 0.5
    params = v["exercise_4"]["params_m"]
    assert params == sorted(params) and params[0] < params[-1]
