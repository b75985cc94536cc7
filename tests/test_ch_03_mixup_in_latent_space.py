import math
from pathlib import Path

import pytest

from chapters import SMALL_SCENES, run_chapter, widget_views


@pytest.mark.slow
def test_mixup_in_latent_space_executes(book_home, tmp_path):
    v = run_chapter("03_mixup_in_latent_space", tmp_path, **SMALL_SCENES, compare_epochs=4, n_batches=10)
    assert v["matches_library"] is True
    # the CCA judge works on clean pairs
    assert v["cca_val_t2i_r1"] > 3 * v["val_chance_r1"]
    # shared mixing keeps pairs aligned; breaking lambda or the partner does not
    assert abs(v["pos_shared"] - v["pos_clean"]) < 0.1
    assert v["pos_shared"] > v["pos_indep_lambda"] > v["pos_both"]
    assert v["pos_shared"] > v["pos_indep_partner"] > v["pos_both"]
    assert v["r1_shared"] > v["r1_indep_partner"] and v["r1_shared"] > v["r1_both"]
    assert v["r1_both"] > v["inbatch_chance"] * 0.5
    assert v["near_edge"]["0.2"] > v["near_edge"]["1.0"] > v["near_edge"]["8.0"]
    losses = v["training_comparison"]["last-epoch train loss"]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses.values())
    # shared mixing trains; broken mixing trains worse (lower val R@1, higher loss)
    r1 = v["training_comparison"]["val t2i R@1"]
    assert r1["FuseMix (shared)"] > r1["independent partner"] + 5
    assert r1["FuseMix (shared)"] > 3 * v["val_chance_r1"]
    assert losses["FuseMix (shared)"] < min(losses["independent lambda"], losses["independent partner"])
    assert v["loss_shared"] < v["loss_chance"]
    # the rule written before the run: paired over the 5 seeds (the default), one difference per
    # question, the answer sentence computed from its interval and recomputed here from the seeds
    from scipy import stats

    runs = v["training_per_seed"]
    assert len(runs) == 3 * 5 and len({r["seed"] for r in runs}) == 5
    by = {(r["variant"], r["seed"]): r["val t2i R@1"] for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    answer = {"reproduced": "**yes**", "not reproduced": "**no**:", "no detectable difference": "**no detectable difference**:"}
    for key, other, sentence in (("lambda", "independent lambda", "lambda_sentence"),
                                 ("partner", "independent partner", "partner_sentence")):
        d = [by["FuseMix (shared)", s] - by[other, s] for s in seeds]
        half = stats.t.ppf(0.975, len(d) - 1) * stats.tstd(d) / math.sqrt(len(d))
        dec = v["decisions"][key]
        assert dec["n"] == 5 and dec["mean"] == pytest.approx(sum(d) / len(d))
        assert (dec["low"], dec["high"]) == pytest.approx((dec["mean"] - half, dec["mean"] + half))
        expected = "reproduced" if dec["low"] > 0 else "not reproduced" if dec["high"] < 0 else "no detectable difference"
        assert dec["verdict"] == expected, key
        assert v[sentence].startswith(answer[expected]), sentence
        assert f"{dec['mean']:+.1f} points (95 % CI {dec['low']:+.1f} to {dec['high']:+.1f}" in v[sentence], sentence
        assert r1[other] == pytest.approx(sum(by[other, s] for s in seeds) / 5)   # the table shows seed means
    assert widget_views(tmp_path, "03_mixup_in_latent_space", "slider_out") == 1  # the lambda slider
    for name in ("lambda_hist", "lambda_sweep", "mixed_pair_path", "training_comparison"):
        assert Path(v[f"figure_{name}"]).stat().st_size > 10_000
    # the pictured pair: at lambda = 0 the FuseMix caption matches the mixed image, the wrong-partner
    # caption does not; at lambda = 1 nothing is mixed and both captions are the same
    mp = v["mixed_pair"]
    assert mp["cos_fusemix"]["0.00"] > mp["cos_wrong"]["0.00"] + 0.2
    assert mp["cos_fusemix"]["1.00"] == pytest.approx(mp["cos_wrong"]["1.00"], abs=1e-5)
    assert len({mp["i"], mp["j"], mp["k"]}) == 3
    # exercises
    assert v["exercise_1"]["permute"] == 2 * v["exercise_1"]["halves"]
    # about one clean row (a fixed point of the permutation) per batch, whatever its size; each latent in ~2 mixtures
    for b, c in v["exercise_1"]["clean_rows"].items():
        assert 0.8 < c < 1.2, (b, c)
        assert v["exercise_1"]["mixtures_per_latent"][b] == pytest.approx(2 - c / int(b), abs=1e-6)
    assert abs(v["exercise_2"]["exact"] - 0.673) < 0.01
    assert abs(v["exercise_2"]["exact"] - v["exercise_2"]["sampled"]) < 0.04
    assert v["exercise_3"]["clean"] > v["inbatch_chance"] and v["exercise_3"]["mixed_0.5"] > v["inbatch_chance"]
