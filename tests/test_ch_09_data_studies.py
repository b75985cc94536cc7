from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter

VERDICTS = ("reproduced", "not reproduced", "no detectable difference")


def expected_verdict(low: float, high: float) -> str:
    """The chapter's decision rule, written out independently: the whole interval above zero,
    below zero, or neither."""
    return "reproduced" if low > 0 else "not reproduced" if high < 0 else "no detectable difference"


@pytest.mark.slow
def test_data_studies_executes(book_home, tmp_path):
    # 1,500 training pairs at the shared small sizes: quantity at 256 and 1,280 pairs (2 and 10
    # batches of 128: 100 steps are whole epochs at both), quality at 640 pairs (5 batches) from a
    # pool of 1,280, diversity at 128 pairs (2 batches of 64) of a 500-pair pool
    v = run_chapter("09_data_studies", tmp_path, **SMALL_SCENES, n_seeds=3, train_steps=100, batch_size=128,
                    quantity_sizes=[256, 1280], quality_n=640, pool_size=500, n_popular=10,
                    diversity_k=128)
    chance = v["chance_r1"]
    assert chance == pytest.approx(100 / SMALL_SCENES["n_test"])
    assert v["n_pairs"] == 5 * SMALL_SCENES["n_train"]

    # every finding: a verdict that is the one its interval gives, in the sentence and the scoreboard
    board = v["scoreboard"]
    assert [row["paper"].split(" ")[1] for row in board] == ["3", "3", "3"]
    assert [row["paper"].split(": ")[1] for row in board] == ["quantity", "quality", "diversity"]
    for row, name in zip(board, ("quantity", "quality", "diversity")):
        diff, low, high = v[f"{name}_diff"]
        assert [row["difference"], row["low"], row["high"]] == pytest.approx([diff, low, high])
        assert low <= diff <= high
        assert row["n_seeds"] == 3
        expected = expected_verdict(low, high)
        assert row["verdict"] == v[f"{name}_verdict_word"] == expected, name
        board_sentence = v[f"scoreboard_{name}"]    # studies.decide's sentence, as chapter 10's
        assert board_sentence.startswith(f"**{expected}**"), (name, board_sentence)
        assert f"{diff:+.1f} points" in board_sentence and f"{low:+.1f} to {high:+.1f}" in board_sentence
        sentence = v[f"{name}_verdict"]
        heading = {"reproduced": "**Reproduced.**", "not reproduced": "**Not reproduced",
                   "no detectable difference": "**No detectable difference.**"}[expected]
        assert sentence.startswith(heading), (name, sentence)
        assert f"{diff:+.1f} points" in sentence and f"{low:+.1f} to {high:+.1f}" in sentence
        assert "3 paired seeds" in sentence

    # matched: every arm of a comparison ran the same steps (whole epochs), at least 100
    q_steps = v["quantity_steps"]
    assert sorted(int(n) for n in q_steps) == [256, 1280]
    assert len(set(q_steps.values())) == 1 and min(q_steps.values()) >= 100
    assert v["quantity_steps_sentence"].startswith("every size ran exactly 100 steps")
    assert set(v["quality_steps"]) == {"H (clean)", "W (web-like)"}
    assert len(set(v["quality_steps"].values())) == 1 and min(v["quality_steps"].values()) >= 100
    assert len(v["diversity_steps"]) == 5
    assert len(set(v["diversity_steps"].values())) == 1 and min(v["diversity_steps"].values()) >= 100

    # secondary comparisons: each verdict agrees with its interval too
    for row in v["quantity_adjacent"]:
        assert row["verdict"] == expected_verdict(row["low"], row["high"])
    for name, row in v["diversity_secondary"].items():
        assert row["verdict"] == expected_verdict(row["low"], row["high"]), name
        word = {"reproduced": "lies above zero", "not reproduced": "lies below zero",
                "no detectable difference": "contains zero"}[row["verdict"]]
        assert v[f"dv_{name}_verdict"] == word
    slope, slope_low, slope_high = v["quantity_slope"]
    assert slope_low <= slope <= slope_high

    # the studies learned something (a broken run would sit at chance)
    assert v["quantity"]["1280"] > 3 * chance
    assert min(v["quality"].values()) > chance
    assert v["quality"]["H (clean)"] > 3 * chance

    # the web-like captions: the asked-for share degraded, a third by each kind, all encoded once
    kinds = v["web_kinds"]
    assert sum(kinds.values()) == 2 * 640
    assert sum(kinds[k] for k in ("swap_attribute", "truncate", "generic")) == pytest.approx(0.6 * 1280, abs=3)
    assert v["web_pct"] == pytest.approx(60, abs=0.5)
    assert v["web_store_key"].startswith("scenes-web@")   # their own name and variant in the store
    assert 0 <= v["encoded_captions"] <= 0.6 * 1280      # at most once per distinct degraded caption

    # diversity: the pools and what each selection keeps
    assert v["toy_clusters_dpp"] == 3
    red = {(r["pool"], r["method"]): r for r in v["redundancy"]}
    assert set(red) == {("web-like", "uniform"), ("web-like", "k-DPP (image)"), ("web-like", "k-DPP (text)"),
                        ("curated", "uniform"), ("curated", "k-DPP (image)")}
    assert red[("curated", "uniform")]["near-duplicates (%)"] == 0
    assert red[("web-like", "k-DPP (image)")]["distinct scenes"] <= 128
    assert 0.99 < v["dv_cos_dup"] <= 1.0 and v["dv_cos_other"] < v["dv_cos_dup"]

    for name in ("figure_quantity", "figure_quality", "figure_diversity", "figure_findings"):
        assert Path(v[name]).stat().st_size > 10_000

    # exercises
    assert v["exercise_1"]["diag"] == pytest.approx(4.0)
    assert v["exercise_1"]["det_orthogonal"] == pytest.approx(15.0)
    assert v["exercise_1"]["det_opposite"] == pytest.approx(16.0)
    assert v["exercise_2"] == {"most_linear": 3, "poly2_picked": 8}
    ex3 = v["exercise_3"]
    assert ex3["clean_in_W"] == 640 - round(0.6 * 640) and ex3["quality_n"] == 640
    ex4 = v["exercise_4"]
    assert ex4["one_copy_each_pct"] == pytest.approx(100 * 10 / 128)
    assert ex4["uniform_expected_pct"] == pytest.approx(50)
    assert abs(ex4["uniform_pct"] - ex4["uniform_expected_pct"]) < 15   # hypergeometric, 3 seeds of 128
    from scipy import stats
    for name, row in v["exercise_5"].items():
        n = row["n_needed"]
        if n is None:
            continue
        half = lambda k: stats.t.ppf(0.975, k - 1) * row["sd"] / k ** 0.5  # noqa: E731
        assert half(n) < abs(row["mean"]), name
        assert n == 2 or half(n - 1) >= abs(row["mean"]), name
