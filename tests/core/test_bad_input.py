"""The bad-input corpus: every strange file is either read or listed as a problem with a
reason, and the scan always completes."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from lookalike.core.bundle import load_bundle
from lookalike.core.library import Library


@pytest.fixture
def corpus(tmp_path, make_photo):
    root = tmp_path / "corpus"
    root.mkdir()
    base = make_photo(1)
    good = {}

    def add_good(name, save):
        save(root / name)
        good[name] = True

    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    buf = io.BytesIO()
    base.save(buf, "PNG")
    png = buf.getvalue()
    bad = {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "zero.jpg": b"",
        "text.jpg": b"just some text, not a photo\n" * 20,
    }
    for name, data in bad.items():
        (root / name).write_bytes(data)
    add_good("broken_exif.jpg", lambda p: base.save(p, "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"))
    add_good("cmyk.jpg", lambda p: base.convert("CMYK").save(p, "JPEG"))
    add_good("16bit.png", lambda p: Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257)).save(p))
    add_good("alpha.png", lambda p: base.convert("RGBA").save(p))
    add_good("palette.gif", lambda p: base.convert("P", palette=Image.Palette.ADAPTIVE).save(p))
    add_good("animated.gif", lambda p: base.save(p, save_all=True, append_images=[make_photo(2)], duration=50))
    add_good("gray.jpg", lambda p: base.convert("L").save(p))
    add_good("one_pixel.png", lambda p: Image.new("RGB", (1, 1), (9, 9, 9)).save(p))
    add_good("wrong_name.jpg", lambda p: base.save(p, "PNG"))
    add_good("space name 📷 émoji.webp", lambda p: base.save(p, "WEBP"))
    Image.new("1", (20000, 20000)).save(root / "bomb.png")
    try:
        import pillow_heif
        pillow_heif.register_heif_opener()
        add_good("phone.heic", lambda p: base.save(p, quality=80))
    except ImportError:
        pass
    (root / "folder.jpg").mkdir()
    os.symlink(root, root / "loop")
    deep = root
    for i in range(8):
        deep = deep / (f"level{i}_" + "d" * 100)
    deep.mkdir(parents=True)
    add_good(os.path.relpath(deep / ("long_" + "n" * 200 + ".jpg"), root), lambda p: base.save(p))
    raw = os.path.join(os.fsencode(root), b"latin1_\xe9\xff.jpg")
    base.save(raw, "JPEG")
    good[os.fsdecode(b"latin1_\xe9\xff.jpg")] = True
    (root / "locked.jpg").write_bytes(jpeg)
    return root, good


def test_bad_input_corpus_is_read_or_reported(corpus, tiny_bundle, monkeypatch):
    root, good = corpus
    from lookalike.core import decode
    real_open = decode.Image.open

    def guarded_open(fp, *a, **k):      # root may read anything: simulate a file without permission
        if str(fp).endswith("locked.jpg"):
            raise PermissionError(13, "Permission denied")
        return real_open(fp, *a, **k)
    monkeypatch.setattr(decode.Image, "open", guarded_open)
    bundle = load_bundle(tiny_bundle)
    with Library(write=True) as lib:
        stats = lib.scan([root], bundle)
        problems = {os.path.relpath(p, root): r for p, r in lib.problems()}
        _, ids, _ = lib.catalog.vectors(lib.model_key(bundle), bundle.embedding_dim)
        embedded = {os.path.relpath(r.path, root) for r in lib.catalog.files(ids.tolist())}
    assert embedded == set(good)
    assert set(problems) == {"truncated.jpg", "truncated.png", "zero.jpg", "text.jpg", "bomb.png", "locked.jpg"}
    assert "too large" in problems["bomb.png"]
    assert "permission denied" in problems["locked.jpg"]
    assert all(problems.values())
    assert stats.found == len(good) + len(problems)
