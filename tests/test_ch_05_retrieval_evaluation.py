from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter, widget_views

TUXPAINT = Path("/usr/share/tuxpaint/stamps")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")


@pytest.mark.slow
def test_retrieval_evaluation_executes(book_home, tmp_path):
    v = run_chapter("05_retrieval_evaluation", tmp_path, **SMALL_SCENES, epochs=6, batch_size=256, n_seeds=3,
                    study_sizes=[100, 10_000], study_steps=2, real_epochs=12, real_batch_size=128, top_k=3,
                    explorer=True)
    chance = 100 / SMALL_SCENES["n_test"]
    assert v["chance_r1"] == pytest.approx(chance)
    m = v["test_metrics"]
    assert m["t2i_R@1"] > 3 * chance and m["i2t_R@1"] > 3 * chance
    assert m["t2i_R@1"] <= m["t2i_R@5"] <= m["t2i_R@10"] <= 100
    assert 1 <= m["t2i_median_rank"] <= SMALL_SCENES["n_test"]
    # the matched study: every method at a size ran the same steps (at least 100, a quarter at most
    # in warm-up by construction), and each verdict is the one its interval gives
    base = v["baselines_t2i_r1"]
    assert set(base) == {"FuseMix", "no augmentation", "Gaussian noise", "random quantisation", "Procrustes", "CCA"}
    assert all(r > 2 * chance for r in base.values())
    steps = v["study_steps"]
    sizes = {n for per_arm in steps.values() for n in per_arm}
    assert sizes == {"100", "1500"} or sizes == {100, 1500}
    for n in sizes:
        assert len({steps[arm][n] for arm in steps}) == 1 and steps["FuseMix"][n] >= 100
    assert len(v["study_verdicts"]) == 2 * 3
    for key, (diff, low, high) in v["study_diffs"].items():
        assert low <= diff <= high
        expected = "reproduced" if low > 0 else "not reproduced" if high < 0 else "no detectable difference"
        assert v["study_verdicts"][key] == expected, key
    primary = {k.split("|")[0]: vd for k, vd in v["study_verdicts"].items() if k.endswith("|no augmentation")}
    helps = [n for n, vd in primary.items() if vd == "reproduced"]
    hurts = [n for n, vd in primary.items() if vd == "not reproduced"]
    head = v["study_headline"]
    assert ("FuseMix helps at" in head) == bool(helps) and ("hurts" in head) == bool(hurts)
    assert ("no detectable difference" in head) == (not helps and not hurts)
    assert "3 seeds per method and size" in head
    assert v["closed_form_dim"]["Procrustes"] >= 1
    # the scoreboard rows pasted by the preface: each verdict is the one its interval gives
    rows = {r["key"]: r for r in v["scoreboard"]}
    assert set(rows) == {"fm_none_small", "fm_none_full", "fm_noise", "fm_quant"}
    for key, r in rows.items():
        expected = "reproduced" if r["low"] > 0 else "not reproduced" if r["high"] < 0 else "no detectable difference"
        assert r["verdict"] == v[f"sb_{key}_verdict"] == expected and r["n_seeds"] == 3
    assert rows["fm_none_small"]["difference"] == pytest.approx(v["study_diffs"]["100|no augmentation"][0])
    ex5 = v["exercise_5"]
    assert ex5["paired_width"] > 0 and ex5["unpaired_width"] > 0
    # compositional split evaluated at the same gallery size as test
    comp = v["compositional"]
    comp_chance = 100 / SMALL_SCENES["n_compositional"]  # a gallery of the compositional split's size
    assert comp["test_same_size_t2i_R@1"] > 3 * comp_chance and comp["compositional_t2i_R@1"] > 3 * comp_chance
    assert v["comp_r1"] == pytest.approx(comp["compositional_t2i_R@1"]) and v["comp_n"] == SMALL_SCENES["n_compositional"]
    # the explorer widget was displayed; its callback ranks top_k distinct test images per query
    for key in ("explorer_query", "explorer_typed"):
        ranked = v[key]
        assert len(ranked) == 3 and len(set(ranked)) == 3 and all(0 <= j < SMALL_SCENES["n_test"] for j in ranked)
    assert widget_views(tmp_path, "05_retrieval_evaluation", "gallery_out") == 1
    for key in ("figure_baselines", "figure_gallery"):
        assert Path(v[key]).stat().st_size > 10_000
    # exercises: an independent Recall@1; smaller galleries can only help; R@1 by scene size
    assert v["exercise_1"]["brute"] == pytest.approx(v["exercise_1"]["library"], abs=1e-4)
    assert v["exercise_1"]["library"] == pytest.approx(m["t2i_R@1"])
    assert v["exercise_2"]["quarters"] >= v["exercise_2"]["full"]
    ex3 = v["exercise_3"]
    assert set(ex3) == {"1", "2", "3"}
    # the groups partition the test captions: the overall R@1 is their weighted mean, so it lies between them
    assert min(ex3.values()) - 1e-3 <= m["t2i_R@1"] <= max(ex3.values()) + 1e-3
    assert max(ex3.values()) > 3 * chance
    # real data, where the Debian packages are installed
    expected = {n for n, p in (("tuxpaint", TUXPAINT), ("emoji", EMOJI_FONT)) if p.exists()}
    assert set(v["real_datasets"]) == expected
    for name in expected:
        strict, same = v[f"{name}_strict"], v[f"{name}_identical"]
        assert same["t2i_R@1"] >= strict["t2i_R@1"] and same["i2t_R@1"] >= strict["i2t_R@1"]
        assert strict["t2i_R@10"] > 0
    if "tuxpaint" in expected:
        assert v["tuxpaint_repeated"] > 0  # Tux Paint repeats captions ("A goat.")
        assert f"{v['tuxpaint_strict']['t2i_R@1']:.1f} % under the strict" in v["real_paragraph"]
    if expected:
        assert ("far above chance" in v["real_paragraph"]) == (v["real_vs_chance_min"] >= 3)
    else:
        assert "is not installed" in v["real_paragraph"] and "nan" not in v["real_paragraph"]
