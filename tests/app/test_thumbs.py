"""Thumbnails: built off the GUI thread, cached on disk, placeholders for unreadable files."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")


def test_thumbnails_are_cached_on_disk_and_unreadable_files_are_marked(qtbot, tmp_path, make_photo, monkeypatch):
    from lookalike.app.thumbs import THUMB_PX, ThumbLoader, make_thumbnail
    from lookalike.core import decode
    photo, bad = tmp_path / "a.jpg", tmp_path / "bad.jpg"
    make_photo(1, (640, 480)).save(photo)
    bad.write_bytes(b"not a picture")
    cache = tmp_path / "cache"
    loader = ThumbLoader(cache)
    try:
        assert loader.get(str(photo)) is None                    # never blocks the caller
        qtbot.waitUntil(lambda: loader.get(str(photo)) is not None, timeout=10000)
        pm = loader.get(str(photo))
        assert max(pm.width(), pm.height()) == THUMB_PX
        loader.get(str(bad))
        qtbot.waitUntil(lambda: loader.is_broken(str(bad)), timeout=10000)
        assert loader.get(str(bad)) is None
        assert len(list(cache.rglob("*.jpg"))) == 1
    finally:
        assert loader.shutdown()
    # the next run reads the disk cache instead of decoding the photo again
    def no_decoding(*a, **k):
        raise RuntimeError("decoded again")
    monkeypatch.setattr(decode, "load", no_decoding)
    assert not make_thumbnail(str(photo), cache).isNull()
    # an edited photo gets a new thumbnail (the key has the size and mtime)
    os.utime(photo, ns=(1, 1))
    with pytest.raises(RuntimeError, match="decoded again"):
        make_thumbnail(str(photo), cache)
