import os

from lookalike.core.discover import FileEntry, WalkProblem, walk


def entries(root):
    return sorted(os.path.relpath(e.path, root) for e in walk([root]) if isinstance(e, FileEntry))


def test_walk_finds_photos_by_extension_and_content(tmp_path, make_photo):
    (tmp_path / "a" / "b").mkdir(parents=True)
    make_photo(1).save(tmp_path / "a" / "one.JPG")
    make_photo(2).save(tmp_path / "a" / "b" / "two.png")
    make_photo(3).save(tmp_path / "a" / "no_extension", "JPEG")
    (tmp_path / "a" / "notes.txt").write_text("not a photo")
    (tmp_path / "a" / "blob.bin").write_bytes(b"\x00" * 100)
    assert entries(tmp_path) == ["a/b/two.png", "a/no_extension", "a/one.JPG"]


def test_walk_skips_hidden_and_system_folders(tmp_path, make_photo):
    for d in [".hidden", "@eaDir", "$RECYCLE.BIN", "ok"]:
        (tmp_path / d).mkdir()
        make_photo(1).save(tmp_path / d / "p.jpg")
    make_photo(1).save(tmp_path / ".dotfile.jpg")
    assert entries(tmp_path) == ["ok/p.jpg"]


def test_walk_survives_symlink_loops_and_odd_names(tmp_path, make_photo):
    (tmp_path / "d").mkdir()
    os.symlink(tmp_path, tmp_path / "d" / "loop")
    os.symlink(tmp_path / "d", tmp_path / "d2")
    odd = [b"caf\xe9 \xff.jpg", "space name 📷.jpg".encode(), b"x" * 200 + b".jpg"]
    for name in odd:
        make_photo(2).save(os.path.join(os.fsencode(tmp_path / "d"), name), "JPEG")
    found = [e for e in walk([tmp_path]) if isinstance(e, FileEntry)]
    assert len(found) == 3                       # each file once, no loop, no duplicate via d2
    assert all(os.path.exists(e.path) for e in found)


def test_walk_reports_missing_root(tmp_path):
    out = list(walk([tmp_path / "nope"]))
    assert len(out) == 1 and isinstance(out[0], WalkProblem)
