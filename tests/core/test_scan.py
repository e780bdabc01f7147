import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from lookalike.core.bundle import load_bundle
from lookalike.core.library import Library, compare_files
from lookalike.core.progress import CancelToken, Cancelled


@pytest.fixture
def bundle(tiny_bundle):
    return load_bundle(tiny_bundle)


@pytest.fixture
def album(tmp_path, make_photo):
    """3 originals, each with a resized and a re-compressed copy, one exact copy, 2 others."""
    root = tmp_path / "album"
    (root / "sub").mkdir(parents=True)
    for i in range(3):
        p = make_photo(10 + i)
        p.save(root / f"orig{i}.jpg", quality=95)
        p.resize((160, 120)).save(root / "sub" / f"small{i}.png")
        p.save(root / f"recomp{i}.jpg", quality=40)
    shutil.copy(root / "orig0.jpg", root / "sub" / "exact0.jpg")
    for i in range(2):
        make_photo(100 + i).save(root / f"other{i}.jpg")
    return root


def names(lib, groups):
    return [sorted(os.path.basename(m.path) for m in g) for g in lib.describe_groups(groups)]


def test_scan_groups_copies_and_leaves_others_alone(album, bundle):
    with Library(write=True) as lib:
        stats = lib.scan([album], bundle)
        assert stats.found == 12 and stats.embedded == 12 and stats.failed == 0
        groups = lib.grouper(bundle).groups(bundle.thresholds["duplicate"])
        got = sorted(names(lib, groups))
        assert got == [["exact0.jpg", "orig0.jpg", "recomp0.jpg", "small0.png"],
                       ["orig1.jpg", "recomp1.jpg", "small1.png"],
                       ["orig2.jpg", "recomp2.jpg", "small2.png"]]
        # the exact copy scores 100 and is labelled identical
        members = lib.describe_groups(groups)
        g0 = next(g for g in members if any("exact0" in m.path for m in g))
        by_name = {os.path.basename(m.path): m for m in g0}
        assert by_name["exact0.jpg"].identical and by_name["orig0.jpg"].identical
        assert not by_name["recomp0.jpg"].identical
        assert by_name["exact0.jpg"].score >= 99.9 or g0[0].path.endswith("exact0.jpg")


def test_rescan_of_unchanged_folder_reads_nothing(album, bundle):
    with Library(write=True) as lib:
        lib.scan([album], bundle)
        stats = lib.scan([album], bundle)
    assert (stats.added, stats.changed, stats.removed, stats.embedded, stats.hashed) == (0, 0, 0, 0, 0)
    assert stats.unchanged == 12


def test_rescan_handles_changed_removed_and_added_files(album, bundle, make_photo):
    with Library(write=True) as lib:
        lib.scan([album], bundle)
        os.remove(album / "recomp2.jpg")
        make_photo(55).save(album / "orig1.jpg")            # now a different picture
        os.utime(album / "orig1.jpg", ns=(1, 1))
        make_photo(10).save(album / "new0.webp")             # a new copy of original 0
        stats = lib.scan([album], bundle)
        assert (stats.added, stats.changed, stats.removed, stats.embedded) == (1, 1, 1, 2)
        got = sorted(names(lib, lib.grouper(bundle).groups(bundle.thresholds["duplicate"])))
    assert ["exact0.jpg", "new0.webp", "orig0.jpg", "recomp0.jpg", "small0.png"] in got
    assert ["recomp1.jpg", "small1.png"] in got
    assert ["orig2.jpg", "small2.png"] in got


@pytest.fixture
def many(tmp_path):
    """70 small distinct pictures: more than two batches."""
    root = tmp_path / "many"
    root.mkdir()
    for i in range(70):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40, 3), np.uint8)).save(root / f"{i}.png")
    return root


def test_cancelled_scan_keeps_its_work_and_resumes(many, bundle):
    token = CancelToken()

    def progress(ev):
        if ev.stage == "embed" and ev.done >= 32:
            token.cancel()
    with Library(write=True) as lib:
        with pytest.raises(Cancelled):
            lib.scan([many], bundle, progress=progress, cancel=token)
    with Library(write=True) as lib:
        stats = lib.scan([many], bundle)
        assert stats.embedded == 70 - 32          # the first batch was kept
        assert stats.unchanged == 70


def test_killed_scan_resumes_and_catalog_is_intact(many, bundle):
    """A hard kill (os._exit inside the embed stage, no cleanup at all) loses at most a batch."""
    script = textwrap.dedent(f"""
        import os, sys
        from lookalike.core.bundle import load_bundle
        from lookalike.core.library import Library
        def progress(ev):
            if ev.stage == "embed" and ev.done >= 40:
                os._exit(9)
        Library(write=True).scan([{str(many)!r}], load_bundle({str(bundle.path)!r}), progress=progress)
    """)
    r = subprocess.run([sys.executable, "-c", script], env=os.environ.copy())
    assert r.returncode == 9
    lib_dir = os.environ["LOOKALIKE_LIBRARY"]
    db = sqlite3.connect(os.path.join(lib_dir, "catalog.sqlite"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    db.close()
    assert 32 <= kept < 70
    with Library(write=True) as lib:            # the lock died with the process
        stats = lib.scan([many], bundle)
    assert stats.embedded == 70 - kept


def test_second_writer_is_refused_with_a_clear_message(bundle):
    from lookalike.core.library import LibraryBusy
    with Library(write=True):
        with pytest.raises(LibraryBusy, match="in use"):
            Library(write=True)


def test_bad_files_become_problems_and_the_scan_completes(tmp_path, bundle, make_photo):
    root = tmp_path / "bad"
    root.mkdir()
    make_photo(1).save(root / "good.jpg")
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.jpg").write_text("this is not a photo")
    data = (root / "good.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "dir.jpg").mkdir()
    make_photo(2).save(root / "named_wrong.jpg", "PNG")       # a PNG named .jpg is fine
    os.symlink(root, root / "loop")
    with Library(write=True) as lib:
        stats = lib.scan([root], bundle)
        problems = dict((os.path.basename(p), r) for p, r in lib.problems())
    assert stats.embedded == 2
    assert set(problems) == {"zero.jpg", "text.jpg", "truncated.jpg"}
    assert "not a recognised image" in problems["text.jpg"]
    assert "truncated" in problems["truncated.jpg"] or "damaged" in problems["truncated.jpg"]


def test_file_vanishing_between_discovery_and_decode_is_a_problem(tmp_path, bundle, make_photo, monkeypatch):
    from lookalike.core import scanner
    root = tmp_path / "v"
    root.mkdir()
    make_photo(1).save(root / "a.jpg")
    make_photo(2).save(root / "b.jpg")
    real = scanner.hashing.update_hashes

    def remove_then_hash(catalog, *a, **k):
        os.remove(root / "b.jpg")
        return real(catalog, *a, **k)
    monkeypatch.setattr(scanner.hashing, "update_hashes", remove_then_hash)
    with Library(write=True) as lib:
        stats = lib.scan([root], bundle)
        problems = lib.problems()
    assert stats.embedded == 1
    assert [(os.path.basename(p), "vanished" in r) for p, r in problems] == [("b.jpg", True)]


def test_index_is_rebuilt_when_deleted_or_corrupt(album, bundle):
    with Library(write=True) as lib:
        lib.scan([album], bundle)
        index_file = lib.index_for(bundle).path
        expected = [os.path.basename(p) for p, _ in lib.similar(album / "orig1.jpg", bundle, k=2)]
    assert sorted(expected) == ["recomp1.jpg", "small1.png"]
    for damage in ("delete", "garbage"):
        if damage == "delete":
            index_file.unlink()
        else:
            index_file.write_bytes(b"\x00garbage" * 1000)
        with Library() as lib:         # a reader rebuilds it in memory and writes nothing
            got = [os.path.basename(p) for p, _ in lib.similar(album / "orig1.jpg", bundle, k=2)]
        assert got == expected
        assert index_file.is_file() == (damage == "garbage")
        with Library(write=True) as lib:     # the next writer repairs the file
            lib.scan(None, bundle)
            assert [os.path.basename(p) for p, _ in lib.similar(album / "orig1.jpg", bundle, k=2)] == expected
        # repaired: the file loads as it is (its checksum matches). Not "no b'garbage' in it":
        # hnswlib writes its unused slots as they lie in memory, which may hold the bytes read
        # from the damaged file
        from lookalike.core.index import VectorIndex
        assert index_file.is_file() and VectorIndex(index_file, bundle.embedding_dim)._try_load()


def test_compare_scores_copies_high_and_strangers_low(album, bundle):
    assert compare_files(album / "orig0.jpg", album / "sub" / "exact0.jpg", bundle) == 100.0
    assert compare_files(album / "orig0.jpg", album / "recomp0.jpg", bundle) >= bundle.thresholds["duplicate"]
    assert compare_files(album / "orig0.jpg", album / "other0.jpg", bundle) < bundle.thresholds["similar"]


def test_switching_model_reembeds_and_switching_back_costs_nothing(album, bundle, tmp_path):
    from tests.conftest import make_tiny_bundle
    other = load_bundle(make_tiny_bundle(str(tmp_path / "other"), size=48))
    with Library(write=True) as lib:
        lib.scan([album], bundle)
        assert lib.scan([album], other).embedded == 12
        assert lib.scan([album], bundle).embedded == 0


def test_problem_files_are_retried_only_when_changed_or_asked(tmp_path, bundle, make_photo):
    root = tmp_path / "r"
    root.mkdir()
    (root / "bad.jpg").write_bytes(b"not yet a photo")
    with Library(write=True) as lib:
        assert lib.scan([root], bundle).failed == 1
        assert lib.scan([root], bundle).failed == 0             # unchanged: not read again
        assert lib.scan([root], bundle, retry_problems=True).failed == 1
        make_photo(1).save(root / "bad.jpg", "JPEG")             # fixed by the user
        stats = lib.scan([root], bundle)
        assert (stats.changed, stats.embedded) == (1, 1) and lib.problems() == []


def test_face_mode_crops_to_the_face_and_is_a_separate_embedding(tmp_path, bundle, monkeypatch, make_photo):
    import dataclasses
    from lookalike.core import faces
    root = tmp_path / "people"
    root.mkdir()
    make_photo(1).save(root / "a.jpg")
    seen = []

    def fake_face(image):
        seen.append(image.size)
        return (10, 10, 60, 60)
    monkeypatch.setattr(faces, "find_largest_face", fake_face)
    face_bundle = dataclasses.replace(bundle, preprocess="face")
    with Library(write=True) as lib:
        assert lib.scan([root], bundle).embedded == 1 and seen == []
        assert lib.scan([root], face_bundle).embedded == 1 and len(seen) == 1
        assert lib.scan([root], bundle).embedded == 0             # switching back costs nothing
        whole = lib.catalog.vectors(lib.model_key(bundle), bundle.embedding_dim)[2]
        face = lib.catalog.vectors(lib.model_key(face_bundle), bundle.embedding_dim)[2]
    assert not np.allclose(whole, face)
    crop = faces.crop_largest_face(make_photo(1))
    assert crop.size == (75, 75)                    # the 50 px face with a 30% margin, clipped at the edge


def test_haar_cascade_finds_no_face_in_a_landscape(make_photo):
    from lookalike.core import faces
    img = make_photo(3)
    assert faces.crop_largest_face(img) is img


def test_removing_a_folder_forgets_its_photos_but_not_the_files(album, bundle):
    with Library(write=True) as lib:
        lib.scan([album], bundle)
        assert lib.remove_root(album / "sub") == 4
        groups = lib.describe_groups(list(lib.grouper(bundle).groups(bundle.thresholds["duplicate"])))
    assert all("/sub/" not in m.path for g in groups for m in g)
    assert (album / "sub" / "exact0.jpg").exists()


def test_in_face_mode_the_keeper_judges_the_face(tmp_path, bundle, monkeypatch):
    """Two shots of one scene: in one the face is sharp and the background soft, in the other
    the other way round. Whole-photo mode measures the second as the sharper shot; face mode
    measures the face, so the first."""
    import dataclasses

    from PIL import ImageFilter

    from lookalike.core import faces, scanner
    rng = np.random.default_rng(3)
    scene = Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).resize((640, 480))
    face_box = (200, 120, 440, 360)                 # the face with room for the crop's margin
    soft = scene.filter(ImageFilter.GaussianBlur(4))
    face_sharp = soft.copy()
    face_sharp.paste(scene.crop(face_box), face_box[:2])
    background_sharp = scene.copy()
    background_sharp.paste(soft.crop(face_box), face_box[:2])
    face_sharp.save(tmp_path / "face-sharp.jpg", quality=95)
    background_sharp.save(tmp_path / "background-sharp.jpg", quality=95)
    monkeypatch.setattr(faces, "find_largest_face", lambda image: tuple(
        round(v * image.width / 640) for v in (260, 180, 380, 300)))
    face_bundle = dataclasses.replace(bundle, preprocess="face")

    def sharpness(name, b):
        return scanner.prepare(0, str(tmp_path / name), b).quality.sharpness
    assert sharpness("background-sharp.jpg", bundle) > sharpness("face-sharp.jpg", bundle)
    assert sharpness("face-sharp.jpg", face_bundle) > sharpness("background-sharp.jpg", face_bundle)
