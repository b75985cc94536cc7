"""The real-data scripts on tiny fixtures shaped like the real files; the downloader on a local server.

No network: downloads go to an HTTP server on 127.0.0.1 in a thread (or a file:// URL).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIX = Path(__file__).resolve().parent / "fixtures" / "real"
sys.path.insert(0, str(REPO / "data_scripts"))

import audiocaps  # noqa: E402
import clotho  # noqa: E402
import coco  # noqa: E402
import download as dl  # noqa: E402
import flickr30k  # noqa: E402
import karpathy  # noqa: E402

from fusemix_lite.data import real  # noqa: E402
from fusemix_lite.data.registry import get_dataset  # noqa: E402
from fusemix_lite.errors import MissingDataError, UnknownNameError  # noqa: E402


def touch_all(root: Path, rels, skip=()):
    for rel in rels:
        if rel not in skip:
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x")


# ---- COCO / Flickr30K (Karpathy json) -----------------------------------------------------------

def test_parse_karpathy_coco_splits_captions_and_ids():
    items = coco.parse_karpathy(FIX / "dataset_coco.json")
    by_id = {it.id: it for it in items}
    assert [it.split for it in items] == ["test", "test", "val", "train", "train", "train"]
    assert by_id["318219"].split == "train" and by_id["318219"].meta["karpathy_split"] == "restval"
    assert by_id["391895"].image == "val2014/COCO_val2014_000000391895.jpg"
    assert by_id["554625"].image == "train2014/COCO_train2014_000000554625.jpg"
    assert all(len(it.captions) == 5 for it in items)
    assert by_id["522418"].meta["n_raw_captions"] == 6  # the sixth caption is dropped by default
    assert len(coco.parse_karpathy(FIX / "dataset_coco.json", max_captions=None)[1].captions) == 6


def test_caption_cleaning_only_touches_whitespace():
    items = coco.parse_karpathy(FIX / "dataset_coco.json")
    assert items[0].captions[0] == "A man with a red helmet on a small moped on a dirt road."
    assert "a cat sitting on a wooden surface" in {c for it in items for c in it.captions}
    assert dl.clean_caption("  Two  dogs,\trunning!\n") == "Two dogs, running!"
    assert dl.clean_captions(["ok", "  ", "\n", "fine "], limit=None) == ["ok", "fine"]


def test_parse_karpathy_flickr30k():
    items = coco.parse_karpathy(FIX / "dataset_flickr30k.json", image_dir="flickr30k-images")
    assert [it.id for it in items] == ["1000092795", "10002456", "1007129816", "1009434119"]
    assert items[0].image == "flickr30k-images/1000092795.jpg"
    assert [it.split for it in items].count("test") == 2


def test_parse_karpathy_rejects_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nope": []}))
    with pytest.raises(ValueError, match="not a Karpathy split file"):
        coco.parse_karpathy(bad)
    data = json.loads((FIX / "dataset_coco.json").read_text())
    data["images"][0]["split"] = "holdout"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        coco.parse_karpathy(bad)


def test_coco_prepare_offline_reports_missing_images_and_loads(tmp_path, capsys):
    images, dest = tmp_path / "images", tmp_path / "coco"
    rels = [it.image for it in coco.parse_karpathy(FIX / "dataset_coco.json")]
    touch_all(images, rels, skip={"train2014/COCO_train2014_000000397133.jpg"})
    ds, report = coco.prepare(dest, FIX / "dataset_coco.json", images, fetch=False, progress=False)
    assert report.missing == {"train": ["train2014/COCO_train2014_000000397133.jpg"]}
    assert report.n_items == {"test": 2, "val": 1, "train": 2}
    assert report.n_captions["test"] == 10
    assert "skipped 1 train items" in report.summary()
    assert (dest / "val2014").is_symlink()  # linked, not copied
    loaded = real.build("coco", dest)
    assert len(loaded) == 5 and loaded.info["n_missing"] == {"train": 1}
    assert loaded.path(loaded.items[0].image).is_file()
    assert len(real.build("coco", dest, split="test")) == 2
    assert get_dataset("coco", root=dest).manifest_hash() == loaded.manifest_hash()


def test_coco_prepare_strict_and_nothing_present(tmp_path):
    images = tmp_path / "images"
    rels = [it.image for it in coco.parse_karpathy(FIX / "dataset_coco.json")]
    touch_all(images, rels, skip={rels[0]})
    with pytest.raises(MissingDataError, match="1 image files are missing"):
        coco.prepare(tmp_path / "a", FIX / "dataset_coco.json", images, fetch=False, strict=True, progress=False)
    (images / "empty" / "train2014").mkdir(parents=True)
    (images / "empty" / "val2014").mkdir()
    with pytest.raises(MissingDataError, match="none of the 6 image files"):
        coco.prepare(tmp_path / "b", FIX / "dataset_coco.json", images / "empty", fetch=False, progress=False)


def test_coco_annotations_from_caption_datasets_zip_and_missing(tmp_path):
    z = tmp_path / "caption_datasets.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(FIX / "dataset_coco.json", "dataset_coco.json")
        f.write(FIX / "dataset_flickr30k.json", "dataset_flickr30k.json")
    images = tmp_path / "images"
    touch_all(images, [it.image for it in coco.parse_karpathy(FIX / "dataset_coco.json")])
    ds, _ = coco.prepare(tmp_path / "coco", z, images, splits=("test",), fetch=False, progress=False)
    assert {it.split for it in ds} == {"test"} and len(ds) == 2
    with pytest.raises(MissingDataError, match="--skip-download"):
        coco.prepare(tmp_path / "other", None, images, fetch=False, progress=False)


def test_flickr30k_prepare_from_archive_reports_missing_test_image(tmp_path):
    archive = tmp_path / "flickr30k-images.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        for name in ["1000092795.jpg", "10002456.jpg", "1007129816.jpg"]:  # 1009434119.jpg is missing
            info = tarfile.TarInfo(f"flickr30k-images/{name}")
            info.size = 1
            t.addfile(info, io.BytesIO(b"x"))
    dest = tmp_path / "flickr30k"
    ds, report = flickr30k.prepare(dest, archive, FIX / "dataset_flickr30k.json", fetch=False, progress=False)
    assert report.missing == {"test": ["flickr30k-images/1009434119.jpg"]}
    assert "not comparable" in report.summary()
    assert len(real.build("flickr30k", dest, split="test")) == 1


def test_flickr30k_prepare_from_folder_and_without_images(tmp_path):
    folder = tmp_path / "dl" / "flickr30k-images"
    touch_all(folder, ["1000092795.jpg", "10002456.jpg", "1007129816.jpg", "1009434119.jpg"])
    ds, report = flickr30k.prepare(tmp_path / "f", folder.parent, FIX / "dataset_flickr30k.json",
                                   fetch=False, progress=False)
    assert report.n_missing == 0 and len(ds) == 4
    with pytest.raises(MissingDataError, match="DenotationGraph"):
        flickr30k.prepare(tmp_path / "g", None, FIX / "dataset_flickr30k.json", fetch=False, progress=False)


# ---- the Karpathy splits as the Hugging Face hub carries them ---------------------------------------

HUB = FIX / "hub"  # yerevann/coco-karpathy parquet shards and nlphuji/flickr30k's CSV, same images as the json


def _key(items):
    return sorted((it.id, it.split, it.image, tuple(it.captions), it.meta["karpathy_split"]) for it in items)


def test_coco_hub_parquet_gives_the_same_items_as_karpathy_json():
    pytest.importorskip("pyarrow")
    items = karpathy.read_annotations(HUB / "coco-karpathy")  # a folder of shards
    assert _key(items) == _key(coco.parse_karpathy(FIX / "dataset_coco.json"))
    one = karpathy.read_annotations(HUB / "coco-karpathy" / "data" / "test-00000-of-00001.parquet", max_captions=None)
    assert [len(it.captions) for it in one] == [5, 6]


def test_hub_rows_with_plain_caption_strings_and_validation_split():
    rows = [{"filename": "COCO_val2014_000000000042.jpg", "filepath": "val2014", "split": "validation",
             "sentences": ["  A cat.", "A  dog. "], "cocoid": 42}]
    [it] = karpathy.items_from_rows(rows, "rows")
    assert (it.id, it.split, it.image, it.captions) == ("42", "val", "val2014/COCO_val2014_000000000042.jpg",
                                                        ["A cat.", "A dog."])


def test_flickr_hub_csv_gives_the_same_items_as_karpathy_json():
    items = karpathy.read_annotations(HUB / "flickr_annotations_30k.csv", image_dir="flickr30k-images")
    assert _key(items) == _key(coco.parse_karpathy(FIX / "dataset_flickr30k.json", image_dir="flickr30k-images"))
    assert [it.id for it in items] == ["1000092795", "10002456", "1007129816", "1009434119"]


def test_wrong_or_missing_annotation_files_are_named(tmp_path, monkeypatch):
    bad = tmp_path / "flickr.csv"
    bad.write_text("image,caption\n1.jpg,hello\n")
    with pytest.raises(ValueError, match=r"not a Flickr30K annotation table .*missing columns \['raw', 'split'"):
        karpathy.read_annotations(bad, image_dir="flickr30k-images")
    bad.write_text('raw,split,filename\nnot json,test,1.jpg\n')
    with pytest.raises(ValueError, match="line 2: column 'raw' is not a JSON list"):
        karpathy.read_annotations(bad, image_dir="flickr30k-images")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        karpathy.read_annotations(tmp_path / "nope.json")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown annotation format '.txt'"):
        karpathy.read_annotations(tmp_path / "a.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="no .parquet file"):
        karpathy.read_annotations(tmp_path / "empty")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as on a machine without pyarrow
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingDataError, match="pip install pyarrow"):
        karpathy.read_annotations(tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError, match="--annotations"):
        flickr30k.prepare(tmp_path / "f", tmp_path / "empty", tmp_path / "missing.csv", fetch=False, progress=False)


def test_wrong_parquet_files_are_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="x.parquet is not a readable parquet file"):
        karpathy.read_annotations(tmp_path / "x.parquet")
    pq.write_table(pa.table({"image": ["a.jpg"], "caption": ["hi"]}), tmp_path / "y.parquet")
    with pytest.raises(ValueError, match=r"not a COCO Karpathy table .*missing columns \['filepath', 'filename', "
                                         r"'sentences', 'split', 'cocoid'\]"):
        karpathy.read_annotations(tmp_path / "y.parquet")


# ---- AudioCaps ----------------------------------------------------------------------------------

CSVS = {s: FIX / "audiocaps" / f"{s}.csv" for s in ("train", "val", "test")}


def test_parse_audiocaps_groups_captions_per_clip():
    items, n_dup = audiocaps.parse_audiocaps(CSVS)
    assert n_dup == 0
    counts = {s: [len(it.captions) for it in items if it.split == s] for s in ("train", "val", "test")}
    assert counts == {"train": [1, 1, 1], "val": [5], "test": [5, 5]}
    rain = next(it for it in items if it.id == "-BUWGM7qeUM_0")
    assert rain.captions[-1] == "Steady rainfall" and rain.meta["start_time"] == 0
    assert rain.meta["audiocap_ids"][0] == "103550"
    assert [it.split for it in items] == ["train"] * 3 + ["val"] + ["test"] * 2


def test_parse_audiocaps_clip_in_two_splits_stays_in_test(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text(CSVS["train"].read_text() + "1,--0w1YA1Hm4,30,A car in training data\n")
    items, n_dup = audiocaps.parse_audiocaps({"train": train, "test": CSVS["test"]})
    clip = next(it for it in items if it.id == "--0w1YA1Hm4_30")
    assert n_dup == 1 and clip.split == "test" and len(clip.captions) == 5


def test_parse_audiocaps_rejects_wrong_header(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text("id,caption\n1,hello\n")
    with pytest.raises(ValueError, match="missing columns"):
        audiocaps.parse_audiocaps({"train": bad})


def test_audiocaps_prepare_finds_clips_and_counts_missing(tmp_path):
    clips = tmp_path / "clips"
    touch_all(clips, ["r1nicOVtvkQ_130.wav", "UDGBjjwyaqE.wav", "rqfQRErjfk8_170.wav",
                      "test/--0w1YA1Hm4_30.flac"])  # LKdDjvYbXl8 and -BUWGM7qeUM are gone from YouTube
    dest = tmp_path / "audiocaps"
    ds, report = audiocaps.prepare(dest, clips, FIX / "audiocaps", fetch=False, progress=False)
    assert report.n_missing == 2 and set(report.missing) == {"train", "test"}
    assert report.n_items == {"train": 2, "val": 1, "test": 1}
    by_id = {it.id: it for it in ds}
    assert by_id["UDGBjjwyaqE_20"].audio == "audio/UDGBjjwyaqE.wav"
    assert by_id["--0w1YA1Hm4_30"].audio == "audio/test/--0w1YA1Hm4_30.flac"
    assert real.build("audiocaps", dest, check_files=True).info["n_missing"] == {"train": 1, "test": 1}
    with pytest.raises(MissingDataError, match="YouTube"):
        audiocaps.prepare(tmp_path / "x", None, FIX / "audiocaps", fetch=False, progress=False)


# ---- Clotho -------------------------------------------------------------------------------------

def test_parse_clotho_splits_and_captions():
    dev = clotho.parse_clotho(FIX / "clotho" / "clotho_captions_development.csv", "train")
    assert [it.id for it in dev] == ["Distorted AM Radio noise.wav", "Footsteps, gravel path.wav"]
    assert dev[1].audio == "development/Footsteps, gravel path.wav"
    assert dev[1].captions[0] == "Footsteps crunch on gravel, slowly at first."
    assert all(len(it.captions) == 5 and it.split == "train" for it in dev)
    ev = clotho.parse_clotho(FIX / "clotho" / "clotho_captions_evaluation.csv", "test")
    assert [it.audio.split("/")[0] for it in ev] == ["evaluation", "evaluation"]
    with pytest.raises(ValueError, match="unknown split"):
        clotho.parse_clotho(FIX / "clotho" / "clotho_captions_evaluation.csv", "evaluation")


def test_parse_clotho_rejects_wrong_header(tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text("file_name,caption\nx.wav,hello\n")
    with pytest.raises(ValueError, match="missing columns"):
        clotho.parse_clotho(bad, "train")


def test_clotho_prepare_with_local_audio(tmp_path):
    audio = tmp_path / "clotho_audio"
    touch_all(audio, ["development/Distorted AM Radio noise.wav", "development/Footsteps, gravel path.wav",
                      "validation/birds_morning.wav", "evaluation/city_traffic.wav"])
    dest = tmp_path / "clotho"
    ds, report = clotho.prepare(dest, audio, FIX / "clotho", fetch=False, progress=False)
    assert report.n_items == {"train": 2, "val": 1, "test": 1}
    assert report.missing == {"test": ["evaluation/door_creak.wav"]}
    assert {s: len(real.build("clotho", dest, split=s)) for s in ("train", "val", "test")} == \
        {"train": 2, "val": 1, "test": 1}


def test_7z_without_py7zr_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "py7zr", None)  # import fails even if it gets installed
    archive = tmp_path / "clotho_audio_validation.7z"
    archive.write_bytes(b"7z\xbc\xaf\x27\x1c")
    with pytest.raises(MissingDataError, match="pip install py7zr"):
        dl.extract(archive, tmp_path / "out", progress=False)


# ---- downloader -----------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        st = self.server.state
        st["ranges"].append(self.headers.get("Range"))
        if st["fail"]:
            st["fail"] -= 1
            self.send_error(503)
            return
        data = st["files"].get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        start, rng = 0, self.headers.get("Range")
        if rng and st["honour_range"]:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if st["drop"]:  # promise the whole body, send half, hang up
            st["drop"] -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    payload = os.urandom(300_000)
    httpd.state = {"files": {"data.bin": payload}, "ranges": [], "fail": 0, "drop": 0, "honour_range": True}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state, payload
    httpd.shutdown()
    httpd.server_close()


def remote(url, payload, **kw):
    return dl.Remote(f"{url}/data.bin", "data.bin", sha256=hashlib.sha256(payload).hexdigest(), **kw)


def test_download_verifies_and_renames_atomically(server, tmp_path):
    url, st, payload = server
    out = dl.download(remote(url, payload, size=len(payload)), tmp_path, progress=False)
    assert out.read_bytes() == payload and not (tmp_path / "data.bin.part").exists()
    assert dl.download(remote(url, payload), tmp_path, progress=False) == out  # cached: verified, no request
    assert len(st["ranges"]) == 1


def test_download_resumes_a_partial_file_with_range(server, tmp_path):
    url, st, payload = server
    (tmp_path / "data.bin.part").write_bytes(payload[:100_000])
    out = dl.download(remote(url, payload), tmp_path, progress=False)
    assert st["ranges"] == ["bytes=100000-"]
    assert out.read_bytes() == payload


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    url, st, payload = server
    st["honour_range"] = False
    (tmp_path / "data.bin.part").write_bytes(b"stale bytes")
    assert dl.download(remote(url, payload), tmp_path, progress=False).read_bytes() == payload


def test_download_complete_part_file_gets_416_and_finishes(server, tmp_path):
    url, st, payload = server
    (tmp_path / "data.bin.part").write_bytes(payload)
    assert dl.download(remote(url, payload), tmp_path, progress=False).read_bytes() == payload


def test_download_part_longer_than_file_restarts(server, tmp_path):
    url, st, payload = server
    (tmp_path / "data.bin.part").write_bytes(payload + b"junk")
    waits: list[float] = []
    out = dl.download(remote(url, payload), tmp_path, progress=False, sleep=waits.append)
    assert out.read_bytes() == payload and len(waits) == 1 and st["ranges"][-1] is None


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    url, st, payload = server
    bad = dl.Remote(f"{url}/data.bin", "data.bin", sha256="0" * 64)
    with pytest.raises(dl.ChecksumError, match="sha256"):
        dl.download(bad, tmp_path, progress=False)
    assert not (tmp_path / "data.bin").exists() and not (tmp_path / "data.bin.part").exists()
    wrong_md5 = dl.Remote(f"{url}/data.bin", "data.bin", md5="0" * 32)
    with pytest.raises(dl.ChecksumError, match="md5"):
        dl.download(wrong_md5, tmp_path, progress=False)
    with pytest.raises(dl.ChecksumError, match="size"):
        dl.download(remote(url, payload, size=len(payload) + 1), tmp_path, progress=False)
    assert not (tmp_path / "data.bin").exists()


def test_download_retries_with_backoff_then_succeeds(server, tmp_path):
    url, st, payload = server
    st["fail"] = 2
    waits: list[float] = []
    out = dl.download(remote(url, payload), tmp_path, backoff=0.5, progress=False, sleep=waits.append)
    assert waits == [0.5, 1.0] and out.read_bytes() == payload


def test_download_dropped_connection_resumes_on_retry(server, tmp_path):
    url, st, payload = server
    st["drop"] = 1
    waits: list[float] = []
    out = dl.download(remote(url, payload), tmp_path, progress=False, sleep=waits.append)
    assert out.read_bytes() == payload and len(waits) == 1
    assert st["ranges"][0] is None and st["ranges"][1].startswith("bytes=") and st["ranges"][1] != "bytes=0-"


def test_download_gives_up(server, tmp_path):
    url, st, payload = server
    waits: list[float] = []
    with pytest.raises(dl.DownloadError, match="404"):
        dl.download(dl.Remote(f"{url}/nope.bin", "nope.bin"), tmp_path, progress=False, sleep=waits.append)
    assert waits == []  # a client error is not retried
    st["fail"] = 10
    with pytest.raises(dl.DownloadError, match="503"):
        dl.download(remote(url, payload), tmp_path, retries=2, progress=False, sleep=waits.append)
    assert len(waits) == 2


def test_download_records_checksum_on_first_use_and_checks_later(server, tmp_path):
    url, st, payload = server
    r = dl.Remote(f"{url}/data.bin", "data.bin")  # no published checksum
    dl.download(r, tmp_path, progress=False)
    rec = dl.read_checksums(tmp_path)["data.bin"]
    assert rec["sha256"] == hashlib.sha256(payload).hexdigest() and rec["size"] == len(payload)
    (tmp_path / "data.bin").unlink()
    st["files"]["data.bin"] = payload[::-1]  # upstream changed
    with pytest.raises(dl.ChecksumError, match="recorded on first download"):
        dl.download(r, tmp_path, progress=False)
    assert not (tmp_path / "data.bin").exists()


def test_download_file_url_and_corrupt_cached_file(tmp_path):
    src = tmp_path / "src" / "a.txt"
    src.parent.mkdir()
    src.write_bytes(b"hello world")
    r = dl.Remote(src.as_uri(), "a.txt", sha256=hashlib.sha256(b"hello world").hexdigest())
    out = dl.download(r, tmp_path / "dst", progress=False)
    assert out.read_bytes() == b"hello world"
    out.write_bytes(b"bitrot")
    with pytest.raises(dl.ChecksumError):
        dl.download(r, tmp_path / "dst", progress=False)  # verified again on every call


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _fake_hub(calls, files):
    """Stands in for karpathy.hub_download: copies fixture files where the hub would put them."""
    def fake(source, folder):
        calls.append(source.repo_id)
        for rel, src in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(src.read_bytes())
        return folder
    return fake


def test_coco_end_to_end_download_from_local_server(server, tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    url, st, _ = server
    items = coco.parse_karpathy(FIX / "dataset_coco.json")
    for folder in ("train2014", "val2014"):
        data = _zip_bytes({it.image: b"jpg" for it in items if it.image.startswith(folder)})
        st["files"][f"{folder}.zip"] = data
        monkeypatch.setitem(coco.IMAGES, folder, dl.Remote(f"{url}/{folder}.zip", f"{folder}.zip",
                                                           md5=hashlib.md5(data).hexdigest(), size=len(data)))
    calls: list[str] = []
    shards = {p.relative_to(HUB / "coco-karpathy"): p for p in (HUB / "coco-karpathy" / "data").glob("*.parquet")}
    monkeypatch.setattr(karpathy, "hub_download", _fake_hub(calls, shards))
    dest = tmp_path / "coco"
    ds, report = coco.prepare(dest, progress=False)
    assert calls == ["yerevann/coco-karpathy"]
    assert report.n_missing == 0 and len(ds) == 6 and report.n_items == {"train": 3, "val": 1, "test": 2}
    assert not (dest / "downloads" / "val2014.zip").exists()  # image archives removed after unpacking
    n_requests = len(st["ranges"])
    coco.prepare(dest, progress=False)  # second run: nothing downloaded or unpacked again
    assert len(st["ranges"]) == n_requests and calls == ["yerevann/coco-karpathy"]


def test_flickr30k_fetches_the_hub_csv_once(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(karpathy, "hub_download",
                        _fake_hub(calls, {Path("flickr_annotations_30k.csv"): HUB / "flickr_annotations_30k.csv"}))
    folder = tmp_path / "dl" / "flickr30k-images"
    touch_all(folder, ["1000092795.jpg", "10002456.jpg", "1007129816.jpg", "1009434119.jpg"])
    ds, _ = flickr30k.prepare(tmp_path / "f", folder, progress=False)
    assert calls == ["nlphuji/flickr30k"] and len(ds) == 4
    assert ds.info["source"].endswith("(flickr_annotations_30k.csv)")
    flickr30k.prepare(tmp_path / "f", None, progress=False)  # the CSV is reused
    assert calls == ["nlphuji/flickr30k"]
    with pytest.raises(MissingDataError, match="--skip-download"):
        flickr30k.prepare(tmp_path / "g", folder, fetch=False, progress=False)


def test_hub_download_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # snapshot_download then fails at once, without the network
    with pytest.raises(MissingDataError, match="nlphuji/flickr30k.*--annotations"):
        karpathy.hub_download(karpathy.FLICKR_HUB, tmp_path / "x")


def test_audiocaps_csv_download_from_local_server(server, tmp_path, monkeypatch):
    url, st, _ = server
    for split in ("train", "val", "test"):
        st["files"][f"{split}.csv"] = CSVS[split].read_bytes()
        monkeypatch.setitem(audiocaps.CSVS, split, dl.Remote(f"{url}/{split}.csv", f"{split}.csv"))
    clips = tmp_path / "clips"
    touch_all(clips, ["rqfQRErjfk8_170.wav"])
    ds, report = audiocaps.prepare(tmp_path / "ac", clips, progress=False)
    assert len(ds) == 1 and report.n_missing == 5
    assert set(dl.read_checksums(tmp_path / "ac" / "csv")) == {"train.csv", "val.csv", "test.csv"}


# ---- safe extraction ------------------------------------------------------------------------------

def test_extract_zip_and_marker(tmp_path):
    z = tmp_path / "ok.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("val2014/a.jpg", b"a")
        f.writestr("notes.txt", b"n")
    tops = dl.extract(z, tmp_path / "out", progress=False)
    assert sorted(p.name for p in tops) == ["notes.txt", "val2014"]
    assert (tmp_path / "out" / "val2014" / "a.jpg").read_bytes() == b"a"
    assert dl.extract(z, tmp_path / "out", progress=False) == tops  # second call: nothing to do
    assert not any(p.name.startswith(".extracting") for p in (tmp_path / "out").iterdir())


@pytest.mark.parametrize("name", ["../evil.txt", "ok/../../evil.txt", "/tmp/evil.txt"])
def test_extract_refuses_path_traversal_in_zip(tmp_path, name):
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("fine.txt", b"fine")
        f.writestr(name, b"evil")
    with pytest.raises(dl.UnsafeArchiveError, match="outside"):
        dl.extract(z, tmp_path / "out", progress=False)
    assert not (tmp_path / "evil.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []  # nothing was written, not even fine.txt


def test_extract_refuses_traversal_and_links_in_tar(tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        t.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(dl.UnsafeArchiveError):
        dl.extract(bad, tmp_path / "out", progress=False)
    link = tmp_path / "link.tar"
    with tarfile.open(link, "w") as t:
        info = tarfile.TarInfo("images/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    with pytest.raises(dl.UnsafeArchiveError, match="link"):
        dl.extract(link, tmp_path / "out2", progress=False)
    assert not (tmp_path / "evil.txt").exists()


# ---- fusemix_lite.data.real -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["coco", "flickr30k", "audiocaps", "clotho"])
def test_build_without_data_names_the_command(tmp_path, name):
    with pytest.raises(MissingDataError) as e:
        real.build(name, tmp_path / name)
    assert f"python data_scripts/{name}.py" in str(e.value) and str(tmp_path / name) in str(e.value)


def test_build_default_root_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSEMIX_HOME", str(tmp_path))
    with pytest.raises(MissingDataError, match="licence"):
        get_dataset("flickr30k")
    assert real.prepare_command("coco") == f"python data_scripts/coco.py --dest {tmp_path / 'data' / 'coco'}"
    with pytest.raises(UnknownNameError, match="known: audiocaps"):
        real.build("imagenet")
    items = clotho.parse_clotho(FIX / "clotho" / "clotho_captions_validation.csv", "val")
    from fusemix_lite.data.format import PairedDataset
    PairedDataset.from_items("clotho", tmp_path / "data" / "clotho", items)
    assert len(real.build("clotho")) == 1  # found under $FUSEMIX_HOME/data/clotho
    with pytest.raises(ValueError, match="holds dataset 'clotho'"):
        real.build("audiocaps", tmp_path / "data" / "clotho")
    with pytest.raises(MissingDataError, match="1 files .* are missing"):
        real.build("clotho", check_files=True)


# ---- command line -------------------------------------------------------------------------------------

def test_cli_prepares_and_prints_summary(tmp_path, capsys):
    images = tmp_path / "images"
    touch_all(images, [it.image for it in coco.parse_karpathy(FIX / "dataset_coco.json")])
    rc = coco.main(["--dest", str(tmp_path / "coco"), "--annotations", str(FIX / "dataset_coco.json"),
                    "--images", str(images), "--skip-download", "--quiet", "--splits", "val", "test"])
    out = capsys.readouterr().out
    assert rc == 0 and "test 2 items / 10 captions" in out and "val 1 items" in out
    assert len(real.build("coco", tmp_path / "coco")) == 3


@pytest.mark.parametrize("script", ["coco", "flickr30k", "audiocaps", "clotho"])
def test_scripts_show_help_standalone(script):
    res = subprocess.run([sys.executable, str(REPO / "data_scripts" / f"{script}.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "--skip-download" in res.stdout and "--dest" in res.stdout
