from pathlib import Path

import pytest

from chapters import SMALL_AUDIO, check_glued_prose, run_chapter

INSTALL = "python -m fusemix_lite.data.install"


@pytest.mark.slow
def test_audio_meets_text_executes(book_home, tmp_path):
    v = run_chapter("07_audio_meets_text", tmp_path, epochs=20, n_folds=4, **SMALL_AUDIO)
    # Whisper pooling over real frames keeps clips apart better than averaging the padding too
    assert v["cone_real"] < v["cone_all"]
    assert v["stored_diff"] < 1e-4
    assert Path(v["converted_folder"], "model.safetensors").exists()
    # audio-text retrieval: above chance (100 / n_test %) in both directions
    chance = 100 / SMALL_AUDIO["n_audio_test"]
    datasets = ["sounds"] + (["spoken"] if v["have_spoken"] else [])
    for name in datasets:
        assert v[f"{name}_chance"] == pytest.approx(chance)
        assert v[f"{name}_a2t_r1"] > 2 * chance, name
        assert v[f"{name}_t2a_r1"] > 2 * chance, name
    if v["have_spoken"]:  # Whisper hears the words: spoken captions are easy
        assert v["spoken_t2a_r1"] > 20
        assert f"audio-to-text R@1 is {v['spoken_a2t_r1']:.1f} %" in v["spoken_paragraph"]
    check_glued_prose("07_audio_meets_text", v)
    # exercise 2: a 10 s window gives nearly the 30 s latents
    assert 0.9 < v["exercise_2"]["mean_cos_10s_vs_30s"] <= 1.0 + 1e-6
    if v["tuxpaint_present"]:
        assert v["tux_n_sounds"] > 100
        assert f"Only {v['tux_n_sounds']} of the {v['tux_n_stamps']} stamps" in v["tux_count"]
        assert v["tux_n_silent"] == 0 or f"{v['tux_n_silent']} more ship a sound file" in v["tux_count"]
        assert f"for {v['tux_i2t_r1']:.1f} % of the sound stamps' images" in v["tux_i2t_paragraph"]
        fold = v["tux_fold_paragraph"]
        assert f"at rank 1 {v['s2c_r1']:.1f} % of the time (" in fold and f"its *image* {v['s2i_r1']:.1f} %" in fold
        assert f"chance R@1 is {v['fold_chance']:.1f} %" in fold and f"reaches {v['syn_s2c_r1']:.1f} %" in fold
        # the rule written before the run: each rate's wording is its binomial test's, recomputed here
        from scipy.stats import binomtest

        for key, glued in (("s2c", "s2c_r1"), ("s2i", "s2i_r1"), ("syn_s2c", "syn_s2c_r1")):
            t = v["fold_tests"][key]
            assert t["n"] == v["tux_n_sounds"] and t["hits"] == round(v[glued] * t["n"] / 100), key
            p = binomtest(t["hits"], t["n"], v["fold_chance"] / 100, alternative="greater").pvalue
            assert t["p"] == pytest.approx(p) and t["above"] == (p < 0.05), key
            assert t["text"] in fold and t["text"].startswith("above chance" if t["above"] else "not distinguishable")
        assert ("teach nothing" in fold) == (not v["fold_tests"]["syn_s2c"]["above"])
        assert ("though no sound was ever paired" in fold) == v["fold_tests"]["s2i"]["above"]
        # sounds bound to the frozen caption adapter find their captions and images above chance
        assert v["s2c_r1"] > 2 * v["fold_chance"]
        assert v["s2i_r1"] > v["fold_chance"]
        assert v["s2i_r5"] > 5 * v["fold_chance"]
        assert Path(v["figure_example"]).exists()
        # two hops rank each sound's images within its fold, as the bound adapter does: above that chance
        assert v["exercise_1"]["two_hop_s2i_R@1"] > 2 * v["fold_chance"]
        assert (v["exercise_1"]["two_hop_s2i_R@1"] * v["tux_n_sounds"] / 100) == pytest.approx(
            round(v["exercise_1"]["two_hop_s2i_R@1"] * v["tux_n_sounds"] / 100), abs=1e-3)  # a count of sounds
        assert v["exercise_3"]["chance_all"] == pytest.approx(100 / v["tux_n_sounds"])
        # a gallery of all sounds: lower chance than one fold's, and R@1 a percentage
        assert v["exercise_3"]["chance_all"] < v["exercise_3"]["chance_fold"] == pytest.approx(v["fold_chance"])
        assert v["exercise_3"]["s2c_R@1_all"] > 3 * v["exercise_3"]["chance_all"]
        # every caption of a sound's fold is among all captions: a hit against all is a hit in the fold
        # (the fold's R@1 is rounded to 0.1 in the table)
        assert v["exercise_3"]["s2c_R@1_all"] <= v["exercise_3"]["s2c_R@1_fold"] + 0.05 + 1e-6
        assert v["exercise_3"]["s2c_R@1_fold"] == pytest.approx(v["s2c_r1"])
        assert v["exercise_1"]["bound_s2i_R@1"] == pytest.approx(v["s2i_r1"])


@pytest.mark.slow
def test_audio_meets_text_without_the_debian_data(tmp_path, monkeypatch):
    """A fresh machine without Tux Paint and espeak-ng (an empty Debian root, an empty
    FUSEMIX_HOME): the chapter runs, says what is missing and how to install it, and its prose
    cites no NaN."""
    monkeypatch.setenv("FUSEMIX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FUSEMIX_DEBIAN_ROOT", str(tmp_path / "no-debian-data"))
    (tmp_path / "no-debian-data").mkdir()
    v = run_chapter("07_audio_meets_text", tmp_path, epochs=20, n_folds=4, **SMALL_AUDIO)
    assert v["have_spoken"] is False and v["tuxpaint_present"] is False
    assert v["sounds_a2t_r1"] > 2 * v["sounds_chance"]  # the part that needs no Debian data still runs
    cited = check_glued_prose("07_audio_meets_text", v)
    for name in ("spoken_paragraph", "tux_count", "tux_i2t_paragraph", "tux_fold_paragraph"):
        assert name in cited and INSTALL in v[name] and "not installed" in v[name], name
