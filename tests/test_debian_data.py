"""The Debian-packaged datasets (tuxpaint, emoji, asterisk) on small fixture trees shaped like the
installed packages, and once over the real packages where they are installed."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from fusemix_lite.data import asterisk, debian, emoji, tuxpaint
from fusemix_lite.data.format import Item, PairedDataset
from fusemix_lite.errors import MissingDataError

ROOT = Path(__file__).resolve().parents[1]
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")


# ---- fixture trees --------------------------------------------------------------------------
def write_ogg(path: Path, seconds: float = 0.25, sr: int = 16000, amplitude: float = 0.2) -> None:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format="OGG", subtype="VORBIS")


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
       '<rect x="10" y="5" width="20" height="20" fill="#c00"/></svg>')


def make_tuxpaint(prefix: Path, per_category: int = 10) -> Path:
    """stamps/<category>/<sub>/... with RGBA, LA, P and RGB PNGs, SVGs, captions, sounds."""
    stamps = prefix / "usr/share/tuxpaint/stamps"
    for c, category in enumerate(["animals", "food", "town"]):
        folder = stamps / category / "sub"
        folder.mkdir(parents=True)
        for i in range(per_category):
            stem = folder / f"{category}{i}"
            img = Image.new("RGBA", (8 + i, 6), (200, 30 * c, 10, 255))
            img.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent: must become white
            img.convert(["RGBA", "LA", "P", "RGB"][i % 4]).save(stem.with_suffix(".png"))
            stem.with_suffix(".txt").write_text(f"A {category} number {i}.\nde.utf8=Nummer {i}.\n"
                                                f"en_GB.utf8=A {category} no. {i}.\n", encoding="utf-8")
    animals = stamps / "animals/sub"
    write_ogg(animals / "animals0.ogg")
    write_ogg(animals / "animals0_desc.ogg")
    write_ogg(animals / "animals0_desc_fr.ogg")  # a translation: ignored
    write_ogg(animals / "animals2.ogg", amplitude=0.0)  # all zeros, as the package's iguana.ogg: no sound
    (animals / "animals1.txt").write_text("A animals number 0\n")  # same caption as animals0 but "."
    (animals / "mirror_only.png").write_bytes((animals / "animals0.png").read_bytes())  # no .txt
    food = stamps / "food/sub"
    (food / "cake.svg").write_text(SVG)  # SVG-only stamp: rendered or skipped
    (food / "cake.txt").write_text("A cake.\n")
    (food / "food0.svg").write_text(SVG)  # PNG and SVG: the PNG is used
    (food / "broken.svg").write_text("<svg this is not xml")
    (food / "broken.txt").write_text("A broken picture.\n")
    return prefix


def make_asterisk(prefix: Path) -> Path:
    sounds = prefix / "usr/share/asterisk/sounds/en_US_f_Allison"
    (sounds / "digits").mkdir(parents=True)
    (sounds / "letters").mkdir()
    lines = ["; Core Asterisk Sounds in English", ""]
    for i, word in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven"]):
        lines.append(f"digits/{i}: {word}")
    for ch in "abcdef":
        lines.append(f"letters/{ch}: {ch}")
    lines += ["letters/at: at [@]", "vm-intro: Please leave your message. (simple tone sound plays)",
              "vm-goodbye: Goodbye.", "goodbye: Goodbye", "beep: [this is a simple beep tone]",
              "no-file-here: This prompt has no recording."]
    for line in lines[2:]:
        key = line.split(":")[0]
        if key != "no-file-here":
            sf.write(sounds / f"{key}.wav", np.zeros(1600, dtype=np.int16), 8000, subtype="PCM_16")
    doc = prefix / "usr/share/doc/asterisk-core-sounds-en"
    doc.mkdir(parents=True)
    with gzip.open(doc / "core-sounds-en.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return prefix


@pytest.fixture(scope="module")
def emoji_prefix(tmp_path_factory) -> Path:
    """The real Noto font cut down (fontTools.subset) to a few code points, some of them skipped."""
    if not EMOJI_FONT.exists():
        pytest.skip(f"{EMOJI_FONT} is not installed (python data_scripts/get_debian_data.py)")
    from fontTools import subset
    from fontTools.ttLib import TTFont

    prefix = tmp_path_factory.mktemp("emoji_src")
    out = prefix / debian.PACKAGES["fonts-noto-color-emoji"][0]
    out.parent.mkdir(parents=True)
    font = TTFont(str(EMOJI_FONT))
    sub = subset.Subsetter(subset.Options())
    sub.populate(unicodes=[0x1F682, 0x1F920, 0x1F600, 0x1F436, 0x1F34E, 0x2764, 0x1F3C1,
                           0x1F1E6, 0x1F3FB, 0x23, 0x200D])
    sub.subset(font)
    font.save(str(out))
    return prefix


# ---- tuxpaint -------------------------------------------------------------------------------
def test_tuxpaint_older_version_is_rebuilt(tmp_path, monkeypatch):
    src = make_tuxpaint(tmp_path / "src")
    assert tuxpaint.build(tmp_path / "ds", source=src).info["version"] == tuxpaint.VERSION
    monkeypatch.setattr(tuxpaint, "VERSION", tuxpaint.VERSION + 1)  # the next release of the converter
    assert tuxpaint.build(tmp_path / "ds", source=src).info["version"] == tuxpaint.VERSION


def test_tuxpaint_fixture_build(tmp_path):
    src = make_tuxpaint(tmp_path / "src")
    ds = tuxpaint.build(tmp_path / "ds", seed=0, source=src)
    ids = {it.id for it in ds}
    assert len(ds) == 31  # 30 PNG stamps + cake.svg; broken.svg and the caption-less one left out
    assert "food/sub/cake" in ids and "animals/sub/mirror_only" not in ids
    assert ds.info["no_caption"] == ["animals/sub/mirror_only"]
    assert list(ds.info["svg_left_out"]) == ["food/sub/broken"]
    goat = next(it for it in ds if it.id == "animals/sub/animals0")
    assert goat.captions == ["A animals number 0."] and goat.label == "animals"
    assert goat.meta["caption_variants"] == {"en_GB": "A animals no. 0."}
    assert goat.audio == "audio/animals/sub/animals0.ogg" and ds.path(goat.audio).exists()
    assert goat.meta["desc_audio"] == "audio/animals/sub/animals0_desc.ogg"
    assert goat.meta["sample_rate"] == 16000 and goat.meta["subcategory"] == "sub"
    assert sum(it.audio is not None for it in ds) == ds.info["n_with_audio"] == 1
    assert ds.info["silent_sounds"] == ["animals/sub/animals2"]  # the stamp stays, its silent file does not
    assert "animals/sub/animals2" in ids and not (ds.root / "audio/animals/sub/animals2.ogg").exists()
    food0 = next(it for it in ds if it.id == "food/sub/food0")
    assert food0.meta["source"] == "png"
    for it in ds:  # every image is an RGB PNG of the recorded size, transparent corner now white
        img = Image.open(ds.path(it.image))
        assert img.mode == "RGB" and list(img.size) == it.meta["size"]
        if it.meta["mode"] in ("RGBA", "LA", "P"):
            assert img.getpixel((0, 0)) == (255, 255, 255), it.meta["mode"]
    # cake.svg renders as RGBA
    assert Counter(it.meta["mode"] for it in ds) == {"RGBA": 10, "LA": 9, "P": 6, "RGB": 6}
    cake = Image.open(ds.path(next(it for it in ds if it.id == "food/sub/cake").image))
    assert cake.size == (40, 30) and cake.getpixel((0, 0)) == (255, 255, 255)
    assert cake.getpixel((20, 15))[0] > 150 and cake.getpixel((20, 15))[1] < 50
    assert PairedDataset.load(tmp_path / "ds").manifest_hash() == ds.manifest_hash()


def test_tuxpaint_svg_skip_and_bad_option(tmp_path):
    src = make_tuxpaint(tmp_path / "src", per_category=2)
    ds = tuxpaint.build(tmp_path / "ds", source=src, svg="skip")
    assert all(it.meta["source"] == "png" for it in ds)
    assert set(ds.info["svg_left_out"]) == {"food/sub/cake", "food/sub/broken"}
    with pytest.raises(ValueError, match="svg=.*rebuild"):
        tuxpaint.build(tmp_path / "ds", source=src, svg="render")
    with pytest.raises(ValueError, match="'render' or 'skip'"):
        tuxpaint.build(tmp_path / "other", source=src, svg="yes")


def test_on_white_composites_transparency():
    img = Image.new("RGBA", (2, 1), (0, 0, 255, 255))
    img.putpixel((0, 0), (255, 0, 0, 0))
    out = tuxpaint.on_white(img)
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 0)) == (0, 0, 255)
    half = tuxpaint.on_white(Image.new("LA", (1, 1), (0, 128)))
    assert 120 <= half.getpixel((0, 0))[0] <= 135


def test_splits_deterministic_and_stratified(tmp_path):
    src = make_tuxpaint(tmp_path / "src")
    a = tuxpaint.build(tmp_path / "a", seed=0, source=src)
    b = tuxpaint.build(tmp_path / "b", seed=0, source=src)
    assert [it.split for it in a] == [it.split for it in b]
    assert set(a.splits) == {"train", "val", "test"}
    for split in ("train", "val", "test"):  # 10-11 per category -> 8/1/1 or 9/1/1 in every category
        assert set(Counter(it.label for it in a.split(split))) == {"animals", "food", "town"}
    before = [it.split for it in a]
    c = tuxpaint.build(tmp_path / "a", seed=1, source=src)  # same root, other seed: only re-split
    assert c.info["seed"] == 1 and [it.split for it in c] != before
    assert [it.split for it in tuxpaint.build(tmp_path / "a", seed=1)] == [it.split for it in c]


def test_second_build_loads_without_source(tmp_path):
    src = make_tuxpaint(tmp_path / "src", per_category=2)
    first = tuxpaint.build(tmp_path / "ds", source=src)
    again = tuxpaint.build(tmp_path / "ds", source=tmp_path / "nowhere")  # source not needed now
    assert again.manifest_hash() == first.manifest_hash()
    assert not list(tmp_path.glob(".ds.*.tmp"))  # the staging folder is gone


def test_caption_keys_group_identical_captions(tmp_path):
    items = [Item("a", "test", ["A goat.", "A red car"]), Item("b", "test", ["a goat"]),
             Item("c", "test", ["A  red car!"]), Item("d", "test", ["A cat."])]
    ds = PairedDataset("t", tmp_path, items)
    keys = tuxpaint.caption_keys(ds)
    assert keys.dtype == np.int64 and keys.shape == (5,)
    assert keys[0] == keys[2] and keys[1] == keys[3] and len(set(keys.tolist())) == 3
    assert (emoji.caption_keys(ds) == keys).all() and (asterisk.caption_keys(ds) == keys).all()
    src = make_tuxpaint(tmp_path / "src", per_category=2)
    tp = tuxpaint.build(tmp_path / "ds", source=src)
    k = dict(zip([it.id for it in tp], tuxpaint.caption_keys(tp)))
    assert k["animals/sub/animals0"] == k["animals/sub/animals1"] != k["food/sub/food0"]


# ---- missing data ---------------------------------------------------------------------------
@pytest.mark.parametrize("module", [tuxpaint, emoji, asterisk])
def test_missing_package_names_the_command(tmp_path, module):
    with pytest.raises(MissingDataError, match="fusemix_lite.data.install") as e:
        module.build(tmp_path / "ds", source=tmp_path / "empty")
    assert "not found" in str(e.value)
    assert not (tmp_path / "ds").exists()


def test_find_package_file_default_search(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSEMIX_HOME", str(tmp_path))
    unpacked = tmp_path / "data/debian/asterisk-core-sounds-en/usr/share/doc/asterisk-core-sounds-en"
    unpacked.mkdir(parents=True)
    (unpacked / "core-sounds-en.txt").write_text("digits/1: one\n")
    assert debian.find_package_file("asterisk-core-sounds-en") in (
        unpacked / "core-sounds-en.txt", Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"))
    with pytest.raises(ValueError, match="unknown Debian package"):
        debian.find_package_file("no-such-package")


def test_debian_root_variable_hides_or_points_at_the_data(tmp_path, monkeypatch):
    """``$FUSEMIX_DEBIAN_ROOT`` replaces ``/`` (and the unpack folder): a chapter test points it at
    an empty folder to run as a machine without the data, espeak-ng included."""
    from fusemix_lite.data import spoken

    monkeypatch.setenv(debian.ROOT_ENV, str(tmp_path))
    with pytest.raises(MissingDataError, match="fusemix_lite.data.install"):
        debian.find_package_file(tuxpaint.PACKAGE)
    with pytest.raises(MissingDataError, match="fusemix_lite.data.install"):
        spoken.espeak_executable()
    stamps = tmp_path / "usr/share/tuxpaint/stamps"
    stamps.mkdir(parents=True)
    assert debian.find_package_file(tuxpaint.PACKAGE) == stamps
    fake_espeak = tmp_path / "usr/bin/espeak-ng"
    fake_espeak.parent.mkdir(parents=True)
    fake_espeak.write_text("#!/bin/sh\n")
    fake_espeak.chmod(0o755)
    assert spoken.espeak_executable() == str(fake_espeak)


def test_build_refuses_a_foreign_folder(tmp_path):
    src = make_tuxpaint(tmp_path / "src", per_category=1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a dataset folder"):
        tuxpaint.build(tmp_path / "mine", source=src)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# ---- emoji ----------------------------------------------------------------------------------
def test_emoji_fixture_build(tmp_path, emoji_prefix):
    ds = emoji.build(tmp_path / "ds", seed=0, source=emoji_prefix)
    by_cp = {it.meta["codepoint"]: it for it in ds}
    assert set(by_cp) == {"U+1F682", "U+1F920", "U+1F600", "U+1F436", "U+1F34E", "U+2764", "U+1F3C1"}
    assert by_cp["U+1F682"].captions == ["steam locomotive"]
    assert by_cp["U+1F920"].captions == ["face with cowboy hat"]
    assert {k: by_cp[k].label for k in ("U+1F682", "U+1F436", "U+1F34E", "U+1F3C1", "U+1F600")} == {
        "U+1F682": "travel & places", "U+1F436": "animals & nature", "U+1F34E": "food & drink",
        "U+1F3C1": "flags", "U+1F600": "smileys & emotion"}
    img = Image.open(ds.path(by_cp["U+1F682"].image))
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255)
    colours = np.asarray(img).reshape(-1, 3)
    assert (colours.std(axis=1) > 40).mean() > 0.05  # drawn in colour, not a black outline
    assert emoji.build(tmp_path / "ds", seed=0).manifest_hash() == ds.manifest_hash()


def test_emoji_groups_cover_the_ranges():
    assert emoji.group_of(0x1F600) == "smileys & emotion" and emoji.group_of(0x1F64F) == "people & body"
    assert emoji.group_of(0x1F98A) == "animals & nature" and emoji.group_of(0x1F355) == "food & drink"
    assert emoji.group_of(0x1F6A9) == "flags" and emoji.group_of(0x2705) == "symbols"


# ---- asterisk -------------------------------------------------------------------------------
def test_asterisk_fixture_build(tmp_path):
    src = make_asterisk(tmp_path / "src")
    ds = asterisk.build(tmp_path / "ds", seed=0, source=src)
    by_id = {it.id: it for it in ds}
    assert len(ds) == 18 and "beep" not in by_id and "no-file-here" not in by_id
    assert ds.info["left_out_nonspeech"] == ["beep"] and ds.info["no_audio"] == ["no-file-here"]
    assert by_id["letters/at"].captions == ["at"] and by_id["letters/at"].meta["transcript"] == "at [@]"
    assert by_id["vm-intro"].captions == ["Please leave your message."]
    assert by_id["digits/3"].label == "digits" and by_id["vm-goodbye"].label == "voicemail"
    assert by_id["goodbye"].label == "general"
    assert by_id["digits/3"].meta["sample_rate"] == 8000 and by_id["digits/3"].meta["duration"] == 0.2
    assert sf.info(str(ds.path(by_id["digits/3"].audio))).samplerate == 8000  # copied unchanged
    keys = dict(zip([it.id for it in ds], asterisk.caption_keys(ds)))
    assert keys["vm-goodbye"] == keys["goodbye"] != keys["digits/1"]
    assert {it.label for it in ds.split("train")} == {it.label for it in ds}
    with_tones = asterisk.build(tmp_path / "all", source=src, nonspeech=True)
    beep = next(it for it in with_tones if it.id == "beep")
    assert beep.captions == ["this is a simple beep tone"] and beep.meta["speech"] is False


def test_asterisk_bad_transcript_line(tmp_path):
    bad = tmp_path / "core-sounds-en.txt"
    bad.write_text("; comment\ndigits/1 one\n")
    with pytest.raises(ValueError, match=r"core-sounds-en.txt:2: expected"):
        asterisk.read_transcripts(bad)


# ---- getting the packages ----------------------------------------------------------------------
def load_script():
    from fusemix_lite.data import install

    return install


def fake_apt(bin_dir: Path) -> None:
    """apt-get/dpkg-deb stand-ins: 'download' makes an empty .deb, '-x' makes a package tree."""
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text('#!/bin/sh\n[ "$1" = download ] || exit 1\ntouch "$3_1.0_all.deb"\n')
    (bin_dir / "dpkg-deb").write_text('#!/bin/sh\nd="$3/usr/share/doc/asterisk-core-sounds-en"\n'
                                      'mkdir -p "$d" && echo "digits/1: one" > "$d/core-sounds-en.txt"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)


def test_unpack_is_atomic_and_idempotent(tmp_path, monkeypatch):
    fake_apt(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    prefix = debian.unpack("asterisk-core-sounds-en", tmp_path / "deb")
    assert prefix == tmp_path / "deb" / "asterisk-core-sounds-en"
    assert debian.find_package_file("asterisk-core-sounds-en", tmp_path / "deb").name == "core-sounds-en.txt"
    assert [p.name for p in (tmp_path / "deb").iterdir()] == ["asterisk-core-sounds-en"]  # no temp left
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no apt now: a second call must not need it
    assert debian.unpack("asterisk-core-sounds-en", tmp_path / "deb") == prefix


def test_script_skips_present_and_explains_missing_apt(tmp_path, monkeypatch, capsys):
    script = load_script()
    monkeypatch.setattr(script, "present", lambda pkg, dest: Path("/somewhere") / pkg)
    assert script.main(["--dest", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("already there") == len(debian.PACKAGES)
    monkeypatch.setattr(script, "present", lambda pkg, dest: None)
    monkeypatch.setattr(script, "have_apt", lambda: False)
    assert script.main(["--dest", str(tmp_path), "--packages", "fonts-noto-color-emoji"]) == 2
    err = capsys.readouterr().err
    assert "no apt-get" in err and "packages.debian.org" in err and "fonts-noto-color-emoji" in err


def test_script_unpacks_with_dest(tmp_path, monkeypatch, capsys):
    script = load_script()
    fake_apt(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setattr(script, "present", lambda pkg, dest: (
        debian.find_package_file(pkg, dest) if (dest / pkg).exists() else None))
    assert script.main(["--dest", str(tmp_path / "deb"), "--packages", "asterisk-core-sounds-en"]) == 0
    assert (tmp_path / "deb/asterisk-core-sounds-en/usr/share/doc").is_dir()
    assert "ok (" in capsys.readouterr().out
    for cmd in (["-m", "fusemix_lite.data.install"], [str(ROOT / "data_scripts/get_debian_data.py")]):
        assert subprocess.run([sys.executable, *cmd, "--help"], capture_output=True, text=True).returncode == 0


def test_install_as_root_updates_first_and_adds_espeak(monkeypatch, capsys):
    """Colab (root, apt, stale lists, no espeak-ng): one apt-get update, then one install of the
    missing packages and espeak-ng."""
    script = load_script()
    calls = []
    monkeypatch.setattr(script.os, "geteuid", lambda: 0)
    monkeypatch.setattr(script, "have_apt", lambda: True)
    monkeypatch.setattr(script.shutil, "which", lambda name: None)
    got = set()
    monkeypatch.setattr(script, "present", lambda pkg, dest: Path("/x") / pkg if pkg in got else None)

    def fake_install(pkgs, update_first=False):
        calls.append((list(pkgs), update_first))
        got.update(pkgs)

    monkeypatch.setattr(script, "apt_install", fake_install)
    assert script.main(["--packages", "fonts-noto-color-emoji"]) == 0
    assert calls == [(["fonts-noto-color-emoji", "espeak-ng"], True)]
    calls.clear()
    assert script.main(["--packages", "fonts-noto-color-emoji", "--no-speech"]) == 0
    assert calls == []  # present now, and no speech asked for: nothing to do


def test_apt_install_updates_first_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$1" >> {log}\n')
    (bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    debian.apt_install(["espeak-ng"], update_first=True)
    assert log.read_text().split() == ["update", "install"]
    log.write_text("")
    debian.apt_install(["espeak-ng"])  # the install succeeds: no update
    assert log.read_text().split() == ["install"]


# ---- the real packages ----------------------------------------------------------------------
def _require(*packages: str) -> None:
    for package in packages:
        try:
            debian.find_package_file(package)
        except MissingDataError:
            pytest.skip(f"Debian package {package} is not installed or unpacked "
                        "(run python data_scripts/get_debian_data.py)")


@pytest.mark.realdata
def test_real_packages_counts(tmp_path):
    _require(*debian.PACKAGES)
    stamps = tuxpaint.find_stamps(debian.find_package_file(tuxpaint.PACKAGE))
    captioned = [p for p in stamps.values() if p.with_suffix(".txt").exists()
                 and tuxpaint.read_caption(p.with_suffix(".txt"))[0]]
    with_sound = [p for p in captioned if p.with_name(p.stem + ".ogg").exists()]
    assert 900 <= len(stamps) <= 1000 and 900 <= len(captioned) <= 1000 and 110 <= len(with_sound) <= 160
    cps = emoji.emoji_code_points(debian.find_package_file(emoji.PACKAGE))
    assert 1200 <= len(cps) <= 1450
    assert len(set(map(emoji.group_of, cps))) == 9
    ds = asterisk.build(tmp_path / "asterisk")
    assert 530 <= len(ds) <= 570 and {it.meta["sample_rate"] for it in ds} == {8000}
    assert 520 <= len(ds) + len(ds.info["left_out_nonspeech"]) <= 570


@pytest.mark.realdata
@pytest.mark.slow
def test_real_tuxpaint_and_emoji_builds(tmp_path):  # about a minute on 2 CPU cores
    _require("tuxpaint-stamps-default", "fonts-noto-color-emoji")
    tp = tuxpaint.build(tmp_path / "tuxpaint")
    assert 900 <= len(tp) <= 1000 and 110 <= tp.info["n_with_audio"] <= 160
    assert all(it.meta["peak"] > 0 for it in tp if it.audio)  # no all-zero file is kept as a sound
    assert "animals/lizards/iguana" in tp.info["silent_sounds"] and len(tp.info["silent_sounds"]) < 10
    assert len(set(it.label for it in tp)) >= 14
    assert set(it.label for it in tp.split("train")) == set(it.label for it in tp)
    assert len(set(tuxpaint.caption_keys(tp).tolist())) < len(tp)  # captions repeat
    em = emoji.build(tmp_path / "emoji")
    assert 1200 <= len(em) <= 1450 and len({it.captions[0] for it in em}) == len(em)
    assert tuxpaint.build(tmp_path / "tuxpaint").manifest_hash() == tp.manifest_hash()
