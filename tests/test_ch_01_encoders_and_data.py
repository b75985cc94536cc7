from pathlib import Path

import pytest

import nbformat

from chapters import SMALL_SCENES, run_chapter


@pytest.mark.slow
def test_encoders_and_data_executes(book_home, tmp_path):
    v = run_chapter("01_encoders_and_data", tmp_path, **SMALL_SCENES)
    sizes = {k.removeprefix("n_"): n for k, n in SMALL_SCENES.items()}
    assert v["split_sizes"] == sizes
    assert v["n_train_captions"] == 5 * SMALL_SCENES["n_train"]  # five captions per scene
    # the compositional split: 8 held-out (shape, colour) pairs, absent from train/val/test, in every comp item
    assert v["n_heldout_combinations"] == 8
    assert v["heldout_in_standard_splits"] == 0
    assert v["compositional_with_heldout_pct"] == 100.0
    assert v["image_dim"] == 1280 and v["text_dim"] == 384
    assert v["offline_dims"]["minilm-l6"] == 384
    # the frozen text encoder groups captions of one scene
    assert v["sim_same_scene"] > v["sim_other_scene"] + 0.05
    for name in ("pipeline", "scenes_grid", "audio_clips", "caption_similarity", "compositional"):
        assert Path(v[f"figure_{name}"]).stat().st_size > 10_000
    # exercises
    counts = v["exercise_1"]
    assert len(counts) == 8 and sum(counts.values()) >= SMALL_SCENES["n_compositional"]
    ex2 = v["exercise_2"]
    assert -1 <= ex2["paraphrase"] <= 1 and -1 <= ex2["swapped_order"] <= 1
    assert ex2["swapped_order"] > ex2["paraphrase"]  # MiniLM is close to a bag of words
    if "tuxpaint" in v["debian_available"]:
        assert 0 < v["tux_n_with_sound"] < v["tux_n_items"]
        assert 0.05 < v["exercise_3"] < 1
        assert Path(v["figure_debian_grid"]).exists()
    else:
        assert v["exercise_3"] is None
    # each caption is shown right above its own audio player (no stream output to be merged first)
    executed = nbformat.read(str(tmp_path / "01_encoders_and_data.ipynb"), as_version=4)
    cell = next(c for c in executed.cells if c.cell_type == "code" and "Captions are displayed" in c.source)
    kinds = ["caption" if "text/markdown" in o.get("data", {}) else "player" if "text/html" in o.get("data", {})
             else o.output_type for o in cell.outputs]
    shown = [k for k in kinds if k != "stream"]  # a stream only when espeak-ng is missing
    assert shown in (["caption", "player"], ["caption", "player", "caption", "player"]), kinds
