from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter

VERDICTS = ("reproduced", "not reproduced", "no detectable difference")


def expected_verdict(low: float, high: float) -> str:
    return "reproduced" if low > 0 else "not reproduced" if high < 0 else "no detectable difference"


@pytest.mark.slow
def test_training_ablations_executes(book_home, tmp_path):
    v = run_chapter("10_training_ablations", tmp_path, **SMALL_SCENES, n_seeds=3, batch_small=16, batch_large=64,
                    batch_pairs=512, batch_epochs=2, adapter_batch=64, adapter_steps=40, alphas=[0.2, 1.0],
                    alpha_pairs=200, alpha_steps=30)
    chance = v["chance_r1"]
    assert chance == pytest.approx(100 / SMALL_SCENES["n_test"])
    assert v["n_pairs"] == 5 * SMALL_SCENES["n_train"]

    # the scoreboard: one row per finding, each verdict the one its interval gives (never "it reproduced")
    board = v["scoreboard"]
    assert len(board) == 4 and all(r["paper"].startswith("Fig. 5") for r in board[:3])
    keys = ["batch_steps", "batch_epochs", "adapter", "alpha"]
    assert set(v["comparisons"]) == set(keys)
    for key, row in zip(keys, board):
        assert row["n_seeds"] == 3
        assert row["low"] <= row["difference"] <= row["high"]
        assert row["verdict"] == expected_verdict(row["low"], row["high"]), key
        sentence = v[f"scoreboard_{key}"]
        assert sentence.startswith(f"**{row['verdict']}**"), (key, sentence)
        assert f"{row['difference']:+.1f} points" in sentence and f"{row['low']:+.1f} to {row['high']:+.1f}" in sentence
    for rival, s in v["alpha_secondary"].items():
        assert s["verdict"] == expected_verdict(s["low"], s["high"]), rival
    assert set(v["alpha_secondary"]) == {"no augmentation"}

    # matched as claimed: equal steps in the equal-steps comparison, equal epochs in the other
    runs = v["batch_runs"]
    by_arm = {}
    for r in runs:
        by_arm.setdefault(r["arm"], []).append(r)
    small, steps_arm, epochs_arm = "batch 16", "batch 64, equal steps", "batch 64, equal epochs"
    assert set(by_arm) == {small, steps_arm, epochs_arm}
    assert all(len(rs) == 3 for rs in by_arm.values())
    one = {arm: (rs[0]["steps"], rs[0]["epochs"], rs[0]["batch_size"]) for arm, rs in by_arm.items()}
    assert all(len({(r["steps"], r["epochs"], r["batch_size"]) for r in rs}) == 1 for rs in by_arm.values())
    assert one[small] == (2 * 512 // 16, 2, 16)
    assert one[steps_arm][0] == one[small][0] and one[steps_arm][2] == 64        # equal steps
    assert one[epochs_arm][1] == one[small][1] and one[epochs_arm][0] == one[small][0] // 4   # equal epochs
    assert v["comparisons"]["batch_steps"] == "equal steps" and v["comparisons"]["batch_epochs"] == "equal epochs"
    assert v["exercise_2"]["pairs_seen"] == {small: 64 * 16, steps_arm: 64 * 64, epochs_arm: 16 * 64}
    assert v["bs_ratio"] == 4 and v["paper_batch_ratio"] == pytest.approx(20480 / 64)
    for key in ("adapter_runs", "alpha_runs"):
        assert len({(r["steps"], r["batch_size"]) for r in v[key]}) == 1   # every arm: same steps and batch
    assert all(r["steps"] >= 40 for r in v["adapter_runs"])
    assert v["adapter_steps_run"] == v["adapter_runs"][0]["steps"] and v["alpha_steps_run"] == v["alpha_runs"][0]["steps"]
    at_last = v["adapter_best_at_last"]   # share of runs per arm whose best evaluation was the last
    larger = next(arm for arm in at_last if arm.startswith("larger"))
    assert ("still improving" in v["adapter_budget"]) == (at_last[larger] > 0.5)
    assert v["large_params"] > v["small_params"]
    assert all(chance / 2 < r["t2i_R@1"] <= 100 for k in ("batch_runs", "adapter_runs", "alpha_runs") for r in v[k])
    assert Path(v["figure_ablations"]).stat().st_size > 10_000
    all_runs = [r for k in ("batch_runs", "adapter_runs", "alpha_runs") for r in v[k]]
    assert v["n_runs"] == len(all_runs)
    assert v["best_at_last_pct"] == pytest.approx(100 * sum(r["best_epoch"] == r["epochs"] for r in all_runs) / len(all_runs))
    assert ("still improving" in v["budget_verdict"]) == (v["best_at_last_pct"] > 50)

    # exercises
    e1 = {float(k): x for k, x in v["exercise_1"].items()}
    assert e1[1.0] == pytest.approx(0.2)
    assert e1[0.2] > e1[1.0] > e1[5.0]
    assert v["exercise_2"]["halves_negatives"] == 63 and v["exercise_2"]["permute_negatives"] == 127
    e3 = v["exercise_3"]
    assert 0 < e3["relative_image"] and 0 < e3["relative_text"]
    assert e3["low"] <= e3["difference"] <= e3["high"]
    assert e3["verdict"] == expected_verdict(e3["low"], e3["high"])
    # exercise 1's check, 4's decomposition and 5's own paired test: each verdict is its interval's
    e1c = v["exercise_1_check"]
    assert e1c["alpha"] == 0.2 and e1c["verdict"] == expected_verdict(e1c["low"], e1c["high"])
    e4 = v["exercise_4"]
    assert e4["total"]["difference"] == pytest.approx(e4["updates"]["difference"] + e4["batch"]["difference"], abs=1e-9)
    for part in e4.values():
        assert part["low"] <= part["difference"] <= part["high"]
        assert part["verdict"] == expected_verdict(part["low"], part["high"])
    row = next(r for r in board if r["claim"].endswith("at equal steps"))
    assert e4["total"]["difference"] == pytest.approx(row["difference"], abs=1e-9)  # the primary comparison itself
    e5 = v["exercise_5"]
    assert e5["low"] <= e5["difference"] <= e5["high"] and e5["verdict"] == expected_verdict(e5["low"], e5["high"])
    assert chance / 2 < e5["halves_r1"] <= 100
