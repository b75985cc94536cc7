"""The file helpers' guarantees (fusemix_lite/files.py): atomic file, atomic folder, file hashes."""

import hashlib
import os
import zlib

import pytest

from fusemix_lite import files


def test_write_atomic_leaves_no_temporary(tmp_path, monkeypatch):
    files.write_atomic(tmp_path / "a.txt", b"old")
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(tmp_path / "a.txt", b"new")
    monkeypatch.setattr(os, "replace", real)
    assert (tmp_path / "a.txt").read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_atomic_dir_replaces_on_success_and_keeps_old_on_error(tmp_path):
    final = tmp_path / "key"
    with files.atomic_dir(final) as tmp:
        (tmp / "f").write_text("1")
    with pytest.raises(RuntimeError):
        with files.atomic_dir(final) as tmp:
            (tmp / "f").write_text("2")
            raise RuntimeError("interrupted")
    assert (final / "f").read_text() == "1" and sorted(os.listdir(tmp_path)) == ["key"]
    with files.atomic_dir(final) as tmp:
        (tmp / "g").write_text("3")
    assert sorted(os.listdir(final)) == ["g"] and sorted(os.listdir(tmp_path)) == ["key"]


def test_atomic_dir_refuses_a_folder_it_does_not_own(tmp_path):
    final = tmp_path / "mine"
    final.mkdir()
    (final / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="nothing was touched"):
        with files.atomic_dir(final, owned=lambda p: (p / "made-by-us").exists()):
            pass
    assert os.listdir(final) == ["keep.txt"] and sorted(os.listdir(tmp_path)) == ["mine"]
    (final / "made-by-us").write_text("")
    with files.atomic_dir(final, owned=lambda p: (p / "made-by-us").exists()) as tmp:
        (tmp / "new").write_text("")
    assert os.listdir(final) == ["new"]


def test_hashes_match_hashlib_and_zlib(tmp_path):
    data = os.urandom(files.BLOCK + 123)
    (tmp_path / "a").write_bytes(data[:1000])
    (tmp_path / "b").write_bytes(data[1000:])
    assert files.file_sha256(tmp_path / "a", tmp_path / "b") == hashlib.sha256(data).hexdigest()
    assert files.checksums(tmp_path / "b") == (hashlib.sha256(data[1000:]).hexdigest(), zlib.crc32(data[1000:]))
    assert files.checksums(tmp_path / "b", sha=False) == (None, zlib.crc32(data[1000:]))
