import pytest

from chapters import SMALL_SCENES, run_chapter


@pytest.mark.slow
def test_going_full_scale_executes(book_home, tmp_path):
    v = run_chapter("11_going_full_scale", tmp_path, step_batch=32, **SMALL_SCENES)
    # the paper's adapter pair: about 110 M parameters (1536-d and 1024-d sides, 4 blocks, 512-d out)
    assert 105 < v["paper_params_M"] < 115
    assert v["paper_img_params_M"] > v["paper_txt_params_M"]
    # DINOv2 ViT-g/14 is about 1.1 B parameters, BGE-large about 335 M (meta-device builds)
    assert 1000 < v["dinov2_params_M"] < 1200
    assert 300 < v["bge_params_M"] < 360
    # 5 M pairs x 1536 fp32 = 30.72 GB; with the 1024-d captions 51.2 GB
    assert v["cache_5m_images_gb"] == pytest.approx(30.72, abs=0.01)
    assert v["cache_5m_total_gb"] == pytest.approx(51.2, abs=0.01)
    assert v["cache_coco_ours_gb"] < v["cache_coco_official_gb"]
    # training state: 16 bytes per parameter
    assert v["train_state_gb"] == pytest.approx(16 * v["paper_params_M"] * 1e6 / 1e9, rel=1e-6)
    assert v["act_per_pair_kb"] > 0 and v["act_paper_gb"] > 1
    assert v["step_seconds"] > 0 and v["measured_tflops"] > 0
    # the tiny random encoders ran through the paper's encoder classes
    assert v["tiny_encoders_ran"] == 3
    # torchrun-sharded extraction equals the single-process latents
    assert v["sharded_same_ids"] is True
    assert v["sharded_rows"] == SMALL_SCENES["n_val"] * 5
    assert v["sharded_max_diff"] < 1e-4
    # the pitfalls are guarded
    assert v["refuses_test_selection"] is True
    assert v["strict_load_raises"] is True
    assert v["strict_false_missing"] > 0
    # the official noise, noise_std * rand_like: uniform on [0, sigma), mean sigma / 2, std sigma / sqrt(12)
    assert v["official_noise_mean"] == pytest.approx(0.005, rel=0.01)
    assert v["official_noise_std"] == pytest.approx(0.01 / 12 ** 0.5, rel=0.01)
    assert v["official_noise_min"] >= 0
    assert v["gauss_noise_std"] == pytest.approx(0.01, rel=0.01) and 49 < v["gauss_negative_pct"] < 51
    assert any("full training run" in s for s in v["skipped"])
    # exercises
    assert v["exercise_1"] == pytest.approx((1000 * 1536 + 5000 * 1024) * 4 / 1e6)
    e1 = v["exercise_1_budget"]   # the sentence's facts, from the chapter's own budget table
    bf16_row = v["budget_table"][2]
    assert e1["bf16_peak_gb"] == pytest.approx(bf16_row["peak, lower bound (GB)"])
    assert e1["fits_32gb"] == (bf16_row["peak, lower bound (GB)"] < 32)
    assert e1["largest_part"] == "latents on GPU (GB)" and 0.5 < e1["share"] < 1
    assert 50e6 < v["exercise_2"] < v["paper_params_M"] * 1e6
    assert v["exercise_3"]["steps_per_epoch"] == 566435 // 40960
    assert v["exercise_3"]["total_steps"] == (566435 // 40960) * 500
