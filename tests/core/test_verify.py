"""The geometric check: copies are confirmed, other pixels that look alike are refuted, and the
scores the user sees follow."""
import io
import json
import os

import numpy as np
import pytest
from PIL import Image, ImageOps

from lookalike.app.cli import main
from lookalike.core import verify
from lookalike.core.library import Library

from ..conftest import photo

THRESHOLDS = {"duplicate": 90.0, "similar": 80.0}


def textured(seed, size=(960, 720), base=7):
    """A smooth colour field (the same for every seed with the same `base`) under many small
    random marks (different for each seed): alike to a global embedding, not the same pixels."""
    rng = np.random.default_rng(seed)
    img = np.asarray(photo(base, size), np.float32).copy()
    w, h = size
    for _ in range(2500):
        x, y = rng.integers(0, w - 14), rng.integers(0, h - 14)
        dx, dy = rng.integers(3, 14, 2)
        img[y:y + dy, x:x + dx] += rng.uniform(-70, 70)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def jpeg(im, q=85):
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=q)
    buf.seek(0)
    return Image.open(buf)


@pytest.fixture(scope="module")
def original():
    return textured(1)


def album_of(tmp_path, original, copy=True):
    """a.jpg, its smaller re-compressed copy a-small.jpg (unless copy=False) and look-alike.jpg:
    the same smooth colours under different marks."""
    album = tmp_path / "album"
    album.mkdir()
    original.save(album / "a.jpg", quality=92)
    if copy:
        jpeg(original.resize((720, 540)), 80).save(album / "a-small.jpg", quality=80)
    textured(2).save(album / "look-alike.jpg", quality=92)
    return album


def inliers(a, b):
    return verify.check(verify.features_of_image(a), verify.features_of_image(b))


@pytest.mark.parametrize("edit", [
    lambda im: jpeg(im.resize((480, 360)), 70),
    lambda im: jpeg(im.crop((100, 80, 780, 610)).rotate(90, expand=True)),      # half the area, on its side
    lambda im: jpeg(ImageOps.mirror(im)),
    lambda im: jpeg(ImageOps.autocontrast(ImageOps.grayscale(im), cutoff=5)),
    lambda im: jpeg(im.rotate(180).rotate(3, expand=False)),
], ids=["resized", "cropped+rot90", "mirrored", "grayscale", "rot180+tilt"])
def test_copies_are_confirmed(original, edit):
    assert inliers(original, edit(original)) >= verify.CONFIRM


def test_other_part_of_the_same_picture_is_refuted(original):
    left, right = original.crop((0, 0, 420, 720)), original.crop((540, 0, 960, 720))
    g = inliers(left, right)
    assert 0 <= g < verify.REFUTE                         # refuted, not "inconclusive"


def test_same_look_different_marks_is_refuted(original):
    assert 0 <= inliers(original, textured(2)) < verify.REFUTE


def test_flat_pictures_are_inconclusive_not_refuted():
    a = Image.new("RGB", (640, 480), (120, 140, 160))
    b = Image.new("RGB", (640, 480), (121, 139, 161))
    assert inliers(a, b) == verify.INCONCLUSIVE


def test_adjust_moves_confirmed_up_refuted_down_and_keeps_the_rest():
    floor = verify.floor(THRESHOLDS)
    assert floor == 70.0
    s = np.float32([95, 85, 75, 95, 85, 75, 95, 60, 60, 100])
    g = np.int64([200, 40, 25, 3, 0, 5, verify.INCONCLUSIVE, 200, 0, 3])
    out = verify.adjust(s, g, THRESHOLDS)
    up, down = out[:3], out[3:6]
    assert (up >= 90).all() and (np.diff(up) < 0).all() and (up >= s[:3]).all()
    assert (down < 90).all() and (down <= s[3:6]).all() and (down[:2] >= 80).all()
    assert out[6] == s[6]                                 # inconclusive: the embedding decides
    assert out[7] == 90 and out[8] == s[8]                # below the floor (checked only inside a
                                                          # group): confirmed = just a duplicate,
                                                          # refuted = unchanged
    assert out[9] < 90                                    # even a perfect embedding score


def test_scan_holds_a_look_alike_below_the_duplicate_threshold(tmp_path, tiny_bundle, capsys, original):
    """End to end with the tiny test model, which sees only a 4x4 colour thumbnail: to it the
    look-alike is as close as the real copy, and only the geometric check tells them apart."""
    album = album_of(tmp_path, original)
    lib_dir = tmp_path / "lib"
    assert main(["-q", "--library", str(lib_dir), "--model", tiny_bundle, "scan", str(album)]) == 0
    capsys.readouterr()
    with Library(lib_dir) as lib:
        bundle = lib.bundle()
        raw = lib.catalog.edges(lib.model_key(bundle))[2]
        assert (raw >= bundle.thresholds["duplicate"]).sum() == 3        # the embedding alone: one group of 3
        groups = lib.describe_groups(lib.grouper(bundle).groups(bundle.thresholds["duplicate"]))
    names = [sorted(m.path.rsplit("/", 1)[-1] for m in g) for g in groups]
    assert names == [["a-small.jpg", "a.jpg"]]
    assert main(["--library", str(lib_dir), "--model", tiny_bundle, "compare", str(album / "a.jpg"),
                 str(album / "look-alike.jpg"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "similar" and out["score"] < out["threshold"]


def test_a_subject_model_is_not_checked(tmp_path, tiny_bundle, original):
    """A model trained on labelled subjects matches different photos of one subject; the
    geometric check would wrongly hold them apart, so it is off for such a model."""
    import shutil
    subjects = tmp_path / "subjects-model"
    shutil.copytree(tiny_bundle, subjects)
    meta = json.loads((subjects / "model.json").read_text())
    (subjects / "model.json").write_text(json.dumps(dict(meta, matches="subjects")))
    album = album_of(tmp_path, original, copy=False)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(subjects)
        assert lib.scan([album], bundle=bundle).verified == 0
        groups = lib.grouper(bundle).groups(bundle.thresholds["duplicate"])
        assert len(groups) == 1 and len(groups[0].ids) == 2


def test_checks_are_kept_until_a_file_changes(tmp_path, tiny_bundle, original):
    album = album_of(tmp_path, original)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(tiny_bundle)
        first = lib.scan([album], bundle=bundle)
        assert first.verified == 3
        assert lib.scan([album], bundle=bundle).verified == 0          # nothing changed: nothing re-checked
        original.resize((640, 480)).save(album / "a-small.jpg", quality=70)  # edited again
        again = lib.scan([album], bundle=bundle)
        assert again.changed == 1 and again.verified == 2              # only the changed file's pairs
        a, b, g = lib.catalog.pair_checks()
        assert len(g) == 3 and (g >= 0).all()


def test_checks_per_photo_are_bounded_by_its_best_edges():
    from lookalike.core.scanner import _top_per_photo
    # photo 0 has five neighbours; with k=2 only its two best edges are kept, unless the edge
    # is among the best two of the other photo
    a = np.int64([0, 0, 0, 0, 0, 5, 5, 5])
    b = np.int64([1, 2, 3, 4, 5, 6, 7, 8])
    s = np.float32([90, 95, 80, 85, 70, 99, 98, 97])
    keep = _top_per_photo(a, b, s, 2)
    # (0,1) and (0,2): best of photo 0; (0,3), (0,4): only edge of photos 3 and 4; (0,5): photo 5
    # has better edges and so does photo 0; (5,6), (5,7): best of 5; (5,8): only edge of 8
    assert keep.tolist() == [True, True, True, True, False, True, True, True]
    assert _top_per_photo(a[:0], b[:0], s[:0], 2).tolist() == []


def test_files_forgotten_since_the_last_scan_are_not_checked(tmp_path, tiny_bundle, original):
    """A move out of the library makes the catalog forget a file without touching the stored
    neighbours; the next scan must check only pairs of files it still knows."""
    album = album_of(tmp_path, original)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(tiny_bundle)
        lib.scan([album], bundle=bundle)
        gone = lib.catalog.file_by_path(str(album / "a-small.jpg"))
        with lib.catalog.transaction():
            lib.catalog.delete_files([gone.id])           # what a move to another folder does
        (album / "a-small.jpg").rename(tmp_path / "a-small.jpg")
        assert lib.scan([album], bundle=bundle).verified == 0
        a, b, _ = lib.catalog.pair_checks()
        assert gone.id not in set(a.tolist()) | set(b.tolist())


def test_a_failing_check_leaves_the_pair_to_the_embedding(tmp_path, tiny_bundle, original, monkeypatch):
    album = album_of(tmp_path, original, copy=False)

    def broken(fa, fb):
        raise RuntimeError("OpenCV said no")
    monkeypatch.setattr(verify, "match", broken)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(tiny_bundle)
        stats = lib.scan([album], bundle=bundle)                # completes
        assert stats.verified == 1
        assert lib.catalog.pair_checks()[2].tolist() == [verify.INCONCLUSIVE]
        groups = lib.grouper(bundle).groups(bundle.thresholds["duplicate"])
        assert len(groups) == 1                                 # the embedding alone decides


def test_cancel_during_the_check_keeps_what_was_done_and_resumes(tmp_path, tiny_bundle, original, monkeypatch):
    from lookalike.core import scanner
    from lookalike.core.progress import CancelToken, Cancelled
    monkeypatch.setattr(scanner, "VERIFY_CHUNK", 1)              # commit after every pair
    album = album_of(tmp_path, original)
    token = CancelToken()

    def progress(ev):
        if ev.stage == "verify" and ev.done == 1:
            token.cancel()
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(tiny_bundle)
        with pytest.raises(Cancelled):
            lib.scan([album], bundle=bundle, progress=progress, cancel=token)
        assert len(lib.catalog.pair_checks()[2]) == 1               # the first pair is kept
        assert lib.scan([album], bundle=bundle).verified == 2        # the rest, not the first again


def copies_album(tmp_path, original):
    """album/ with a.jpg and two copies of it: b.jpg (smaller, re-compressed), c.jpg (cropped)."""
    album = tmp_path / "album"
    album.mkdir()
    original.save(album / "a.jpg", quality=92)
    jpeg(original.resize((720, 540)), 80).save(album / "b.jpg", quality=80)
    jpeg(original.crop((40, 30, 920, 690)), 70).save(album / "c.jpg", quality=70)
    return album


def with_band(tiny_bundle, tmp_path, band):
    """A copy of the tiny test bundle whose model.json has the given "check_band"."""
    import shutil
    banded = tmp_path / "banded-model"
    shutil.copytree(tiny_bundle, banded)
    meta = json.loads((banded / "model.json").read_text())
    (banded / "model.json").write_text(json.dumps(dict(meta, check_band=band)))
    return banded


def test_adjust_counts_pairs_above_the_band_as_confirmed_and_leaves_the_rest():
    band = (70.0, 95.0)
    s = np.float32([97, 99, 97, 80, 65])
    g = np.int64([verify.INCONCLUSIVE, verify.INCONCLUSIVE, 3, verify.INCONCLUSIVE, verify.INCONCLUSIVE])
    out = verify.adjust(s, g, THRESHOLDS, band)
    confirmed = verify.adjust(s[:2], np.int64([200, 200]), THRESHOLDS, band)
    assert (out[:2] == confirmed).all() and out[0] < out[1]   # settled: as if confirmed, order kept
    assert out[2] < 90                                    # a stored refutation still holds it down
    assert out[3] == 80 and out[4] == 65                  # unchecked in the band, below the band


def test_pairs_the_embedding_settles_are_not_checked(tmp_path, tiny_bundle, original):
    """All three pairs of the album score above a band of [10, 20): none is checked, and the
    look-alike, which only the check could tell apart, is grouped with the copies."""
    album = album_of(tmp_path, original)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [10, 20]))
        assert bundle.check_band == (10.0, 20.0)
        assert lib.scan([album], bundle=bundle).verified == 0
        groups = lib.grouper(bundle).groups(bundle.thresholds["duplicate"])
        assert [len(g.ids) for g in groups] == [3]


def test_a_broken_check_band_is_a_broken_bundle(tmp_path, tiny_bundle):
    from lookalike.core.bundle import BundleError, load_bundle
    for bad in ([95, 60], [60], "high"):
        with pytest.raises(BundleError, match="check_band"):
            load_bundle(with_band(tiny_bundle, tmp_path / str(bad).replace(" ", ""), bad))


def test_the_check_reads_no_file_the_embedding_decoded_whole(tmp_path, tiny_bundle, original, monkeypatch):
    """PNG (and small) photos are decoded whole for the embedding; the check works on what that
    decode gave, so each file is read once in a scan."""
    from lookalike.core import decode
    album = tmp_path / "album"
    album.mkdir()
    original.save(album / "a.png")
    jpeg(original.resize((720, 540)), 80).save(album / "a-small.png")
    textured(2).save(album / "look-alike.png")
    reads = []
    real = decode.load
    monkeypatch.setattr(decode, "load", lambda path, *a, **k: reads.append(str(path)) or real(path, *a, **k))
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(tiny_bundle)
        assert lib.scan([album], bundle=bundle).verified == 3
        groups = lib.grouper(bundle).groups(bundle.thresholds["duplicate"])
    assert sorted(reads) == sorted(str(p) for p in album.iterdir())
    assert [len(g.ids) for g in groups] == [2]            # and the check still tells them apart


def test_the_progress_bar_of_the_check_counts_pairs(tmp_path, tiny_bundle, original, capsys):
    album = album_of(tmp_path, original)
    assert main(["--library", str(tmp_path / "lib"), "--model", tiny_bundle, "scan", str(album)]) == 0
    err = capsys.readouterr().err
    checking = [part for part in err.replace("\r", "\n").splitlines() if part.startswith("checking pairs")]
    assert checking and all("pair/s" in part or "pair]" in part or "?pair" in part for part in checking)


def test_a_look_alike_below_the_threshold_skips_the_full_step_until_it_scores_higher(tmp_path, original):
    """Below the duplicate threshold only a confirmation could change the decision: a pair the
    quick step finds nothing in keeps its score without the full step. The same files under
    a model that scores them at its threshold get the full step, which refutes them."""
    from ..conftest import make_tiny_bundle
    album = tmp_path / "album"
    album.mkdir()
    original.save(album / "a.png")                      # whole decodes: quick images of 320 pixels
    textured(2).save(album / "look-alike.png")
    strict = make_tiny_bundle(str(tmp_path / "strict"), thresholds=(100.0, 95.0))
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(strict)
        assert lib.scan([album], bundle=bundle).verified == 1
        assert lib.catalog.pair_checks()[2].tolist() == [verify.SHALLOW]
        raw = float(lib.catalog.edges(lib.model_key(bundle))[2][0])
        assert lib.grouper(bundle).groups(0.0)[0].members[1][1] == pytest.approx(raw)
    with Library(tmp_path / "lib", write=True) as lib:
        # the same model with its duplicate threshold just under the pair's score
        bundle = lib.bundle(make_tiny_bundle(str(tmp_path / "looser"), thresholds=(raw - 0.5, raw - 1.0)))
        assert lib.scan([album], bundle=bundle).verified == 1
        g = lib.catalog.pair_checks()[2]
        assert len(g) == 1 and 0 <= g[0] < verify.REFUTE


@pytest.mark.parametrize("size", [(2400, 1600), (500, 400), (300, 200)])
def test_images_kept_from_the_embedding_decode_are_the_ones_the_check_would_make(size):
    """A pair's result must not depend on whether the scan kept a photo's images: what the
    embedding's decode yields equals what the check makes from the file itself."""
    im = textured(3, size=size)
    quick, full = verify.check_images(im, whole=True)
    assert np.array_equal(quick, verify.quick_image(im)) and np.array_equal(full, verify.full_image(im))
    assert verify.check_images(im, whole=False)[1] is None


def test_two_confirmed_copies_of_one_photo_need_no_check_between_them(tmp_path, tiny_bundle, original, monkeypatch):
    """a.jpg with two copies, every pair in the check band: once both copies are confirmed
    against a.jpg, the pair of copies is left unchecked (the group holds it anyway)."""
    from lookalike.core import scanner
    monkeypatch.setattr(scanner, "VERIFY_CHUNK", 1)              # one pair at a time, in id order
    album = copies_album(tmp_path, original)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [10, 99.999]))
        stats = lib.scan([album], bundle=bundle)
        a, b, s, _ = lib.catalog.edges(lib.model_key(bundle))
        assert len(s) == 3 and (s >= bundle.thresholds["duplicate"]).all() and (s < 99.999).all()
        assert stats.verified == 2
        ca, cb, cg = lib.catalog.pair_checks()
        assert sorted(cg.tolist())[0] == verify.SETTLED and (np.sort(cg)[1:] >= verify.CONFIRM).all()
        groups = lib.grouper(bundle).groups(bundle.thresholds["duplicate"])
        assert [len(g.ids) for g in groups] == [3]
        assert lib.scan([album], bundle=bundle).verified == 0     # settled stays settled
        # the pair of copies shows the score compare gives it (compare runs the check)
        from lookalike.core.library import compare_files
        x, y = int(ca[cg == verify.SETTLED][0]), int(cb[cg == verify.SETTLED][0])
        ga, gb, gs = lib.grouper(bundle).pairs()
        shown = float(gs[((ga == x) & (gb == y)) | ((ga == y) & (gb == x))][0])
        paths = [r.path for r in lib.catalog.files([x, y])]
        assert compare_files(*paths, bundle) == pytest.approx(shown, abs=0.01)


def test_a_pair_settled_through_a_photo_that_is_gone_is_checked_again(tmp_path, tiny_bundle, original, monkeypatch):
    """Two of three copies are settled through the third; once the third is deleted nothing
    says they are one picture (two crops of one photo need not be), so the next scan checks
    them on their own pixels."""
    from lookalike.core import scanner
    monkeypatch.setattr(scanner, "VERIFY_CHUNK", 1)
    album = copies_album(tmp_path, original)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [10, 99.999]))
        assert lib.scan([album], bundle=bundle).verified == 2
        ca, cb, cg = lib.catalog.pair_checks()
        assert (cg == verify.SETTLED).sum() == 1
        x, y = int(ca[cg == verify.SETTLED][0]), int(cb[cg == verify.SETTLED][0])
        third = next(r.path for r in lib.catalog.files() if r.id not in (x, y))
        paths = [r.path for r in lib.catalog.files([x, y])]
        ea, eb, es, _ = lib.catalog.edges(lib.model_key(bundle))
        raw = float(es[(np.minimum(ea, eb) == min(x, y)) & (np.maximum(ea, eb) == max(x, y))][0])
        from lookalike.core import actions
        groups = lib.describe_groups(list(lib.grouper(bundle).groups(0.0)))
        actions.trash(lib, actions.plan_removal(lib, {third}, groups), trash_func=os.remove)
        # until a scan checks them, the two show their embedding score, in the groups and in compare
        ga, gb, gs = lib.grouper(bundle).pairs()
        assert len(gs) == 1 and float(gs[0]) == pytest.approx(raw)
        assert lib.compare(*paths, bundle) == pytest.approx(raw, abs=0.01)
        assert lib.scan([album], bundle=bundle).verified == 1          # on its own pixels
        g = lib.catalog.pair_checks()[2]
        assert len(g) == 1 and g[0] >= verify.CONFIRM
        assert lib.scan([album], bundle=bundle).verified == 0


def test_a_low_scoring_pair_inside_a_group_of_copies_is_settled_and_shown_as_a_duplicate(tmp_path, tiny_bundle, original):
    """b and c are both copies of a; the embedding scores b~c below the check band (two hard
    copies). Once a~c is confirmed (a~b is above the band), the group holds b and c anyway:
    the pair is settled unchecked and shows as a duplicate. A look-alike scoring as low
    outside any group is neither checked nor settled."""
    from lookalike.core import scanner
    album = copies_album(tmp_path, original)
    textured(2).save(album / "d.jpg", quality=92)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [80, 99.5]))
        dup = bundle.thresholds["duplicate"]
        lib.scan([album], bundle=bundle)
        key = lib.model_key(bundle)
        ids = {os.path.basename(r.path): r.id for r in lib.catalog.files()}
        a, b, c, d = (ids[n] for n in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"))
        # the embedding's verdicts, as a model that finds these copies hard would give them
        with lib.catalog.transaction():
            lib.catalog.db.execute("DELETE FROM pair_checks")
            lib.catalog.put_edges(key, np.int64([a, a, b, c]), np.int64([b, c, c, d]),
                                  np.float32([99.8, 90.0, 60.0, 60.0]), 50.0)
        assert scanner.verify_edges(lib.catalog, key, bundle) == 1          # a~c in the band
        ca, cb, cg = lib.catalog.pair_checks()
        checked = {frozenset((x, y)): g for x, y, g in zip(ca.tolist(), cb.tolist(), cg.tolist())}
        assert set(checked) == {frozenset((a, c)), frozenset((b, c))}        # never c~d
        assert checked[frozenset((a, c))] >= verify.CONFIRM and checked[frozenset((b, c))] == verify.SETTLED
        ga, gb, gs = lib.grouper(bundle).pairs()
        shown = {frozenset((x, y)): z for x, y, z in zip(ga.tolist(), gb.tolist(), gs.tolist())}
        assert shown[frozenset((b, c))] == pytest.approx(dup) and shown[frozenset((c, d))] == 60.0


def test_a_group_of_copies_is_joined_by_as_few_checks_as_it_has_photos_less_one(tmp_path, tiny_bundle, original):
    """Four copies of one photo with every pair in the check band, and a look-alike: the pairs
    that join the group, best first, are checked (3); the group's other pairs settle through
    them unchecked and show as duplicates. The look-alike is checked against each photo the
    embedding pairs it with, and stays out."""
    from lookalike.core import scanner
    album = copies_album(tmp_path, original)
    jpeg(original.rotate(180), 75).save(album / "d.jpg", quality=75)
    textured(2).save(album / "e.jpg", quality=92)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [80, 99.5]))
        dup = bundle.thresholds["duplicate"]
        lib.scan([album], bundle=bundle)
        key = lib.model_key(bundle)
        ids = {os.path.basename(r.path)[0]: r.id for r in lib.catalog.files()}
        scores = {"bc": 95.0, "cd": 93.0, "ab": 91.0, "ac": 89.0, "ae": 88.0, "ad": 87.0, "bd": 86.0, "be": 85.0}
        with lib.catalog.transaction():
            lib.catalog.db.execute("DELETE FROM pair_checks")
            lib.catalog.put_edges(key, np.int64([ids[p[0]] for p in scores]), np.int64([ids[p[1]] for p in scores]),
                                  np.float32(list(scores.values())), 50.0)
        assert scanner.verify_edges(lib.catalog, key, bundle) == 5
        ca, cb, cg = lib.catalog.pair_checks()
        name = {v: k for k, v in ids.items()}
        got = {"".join(sorted(name[x] + name[y])): g for x, y, g in zip(ca.tolist(), cb.tolist(), cg.tolist())}
        assert {p for p, g in got.items() if g == verify.SETTLED} == {"ac", "ad", "bd"}
        assert all(got[p] >= verify.CONFIRM for p in ("bc", "cd", "ab"))
        assert all(0 <= got[p] < verify.REFUTE for p in ("ae", "be"))
        groups = lib.grouper(bundle).groups(dup)
        assert [sorted(name[i] for i in g.ids) for g in groups] == [["a", "b", "c", "d"]]
        ga, gb, gs = lib.grouper(bundle).pairs()
        shown = {"".join(sorted(name[x] + name[y])): z for x, y, z in zip(ga.tolist(), gb.tolist(), gs.tolist())}
        assert all(shown[p] >= dup for p in ("ac", "ad", "bd")) and shown["ae"] < dup


def test_shots_taken_close_in_time_are_checked_even_inside_a_group_of_copies(tmp_path, tiny_bundle, original):
    """b and c carry one camera's capture times a second apart (the next frame of a burst, to
    the capture facts): joined to a group through a, their pair is still checked on its own
    pixels, never settled."""
    from lookalike.core import scanner

    from .test_relation import with_capture_time
    album = tmp_path / "album"
    album.mkdir()
    original.save(album / "a.jpg", quality=92)
    camera = ("Canon", "Canon EOS 80D")
    with_capture_time(original.resize((720, 540)), album / "b.jpg", "2024:05:01 10:00:01", camera=camera)
    with_capture_time(original.crop((40, 30, 920, 690)), album / "c.jpg", "2024:05:01 10:00:02", camera=camera)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [80, 99.5]))
        lib.scan([album], bundle=bundle)
        key = lib.model_key(bundle)
        ids = {os.path.basename(r.path)[0]: r.id for r in lib.catalog.files()}
        with lib.catalog.transaction():
            lib.catalog.db.execute("DELETE FROM pair_checks")
            lib.catalog.put_edges(key, np.int64([ids["a"], ids["a"], ids["b"]]), np.int64([ids["b"], ids["c"], ids["c"]]),
                                  np.float32([95.0, 93.0, 90.0]), 50.0)
        assert scanner.verify_edges(lib.catalog, key, bundle) == 3
        assert (lib.catalog.pair_checks()[2] >= verify.CONFIRM).all()


def test_compare_in_a_library_gives_the_score_the_groups_show(tmp_path, tiny_bundle, original):
    """compare uses the check the scan stored for the pair (the scan may check pairs compare
    alone would not, and the other way round); a file changed since is compared afresh."""
    from lookalike.core.library import compare_files, compare_in_library
    album = album_of(tmp_path, original, copy=True)
    a, b = album / "a.jpg", album / "a-small.jpg"
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [10, 99.999]))
        lib.scan([album], bundle=bundle)
        ids = [lib.catalog.file_by_path(str(p)).id for p in (a, b)]
        assert lib.catalog.pair_check(*ids)[0] >= verify.CONFIRM
        with lib.catalog.transaction():          # as if the scan had found the pair different
            lib.catalog.put_pair_checks([(min(ids), max(ids), 3)])
        ga, gb, gs = lib.grouper(bundle).pairs()
        shown = float(gs[(np.minimum(ga, gb) == min(ids)) & (np.maximum(ga, gb) == max(ids))][0])
        assert shown < bundle.thresholds["duplicate"]
    assert compare_in_library(tmp_path / "lib", a, b, bundle) == pytest.approx(shown, abs=0.01)
    assert compare_files(a, b, bundle) > bundle.thresholds["duplicate"]       # checked afresh: a copy
    b.write_bytes(b.read_bytes() + b"\0")                                     # changed since the scan
    assert compare_in_library(tmp_path / "lib", a, b, bundle) > bundle.thresholds["duplicate"]


def test_two_shots_that_share_pixels_do_not_settle_a_third_pair(tmp_path, tiny_bundle, monkeypatch):
    """Three shots of one desk, the objects moved each time: every pair shares the background.
    Two shots confirmed that way are not copies of each other, so the third pair is not
    settled through them unchecked (a duplicate); it is checked and held as two shots too."""
    from lookalike.core import scanner

    from .test_relation import moved_objects, scene
    monkeypatch.setattr(scanner, "VERIFY_CHUNK", 1)               # each pair sees the ones before
    album = tmp_path / "album"
    album.mkdir()
    from PIL import ImageDraw
    desk = scene((640, 480), seed=3)
    first, second = moved_objects(desk)
    third = desk.copy()                                          # the objects elsewhere again
    ImageDraw.Draw(third).rectangle((250, 180, 390, 280), fill=(128, 128, 128))
    ImageDraw.Draw(third).ellipse((470, 320, 610, 420), fill=(128, 128, 128))
    for name, im in (("1.png", first), ("2.png", second), ("3.png", third)):
        im.save(album / name)
    with Library(tmp_path / "lib", write=True) as lib:
        bundle = lib.bundle(with_band(tiny_bundle, tmp_path, [80, 99.5]))
        dup = bundle.thresholds["duplicate"]
        lib.scan([album], bundle=bundle)
        ids = sorted(r.id for r in lib.catalog.files())
        with lib.catalog.transaction():
            lib.catalog.db.execute("DELETE FROM pair_checks")
            lib.catalog.put_edges(lib.model_key(bundle), np.int64(ids[:2] + ids[:1]), np.int64(ids[1:] + ids[2:]),
                                  np.float32([99.0, 99.0, 99.0]), 50.0)
        assert scanner.verify_edges(lib.catalog, lib.model_key(bundle), bundle) == 3    # none settled
        a, b, g, same = lib.catalog.pair_checks(relation=True)
        assert (g >= verify.CONFIRM).all() and same.tolist() == [0, 0, 0]


def test_a_pair_gets_one_check_result_whichever_way_it_is_asked(tmp_path, monkeypatch):
    """The check's matching starts from the first photo's keypoints, so it can give a pair two
    results by order (a real bracket pair: 28 inliers, "two shots" one way; 40, "one picture" the
    other). Here the matching is made to favour its first photo; the check, and so `compare A B`
    and `compare B A`, must still give one result."""
    from lookalike.core.bundle import load_bundle
    from lookalike.core.library import compare_files
    from ..conftest import detailed_photo, make_tiny_bundle
    album = copies_album(tmp_path, detailed_photo(4))
    a, b = str(album / "a.jpg"), str(album / "b.jpg")
    owner = {}

    def recorded(step):
        def keypoints(self):
            f = step(self)
            owner[id(f)] = os.path.basename(self.path)
            return f
        return keypoints

    def lopsided(fa, fb):            # many inliers when b.jpg leads, few when a.jpg does
        assert id(fa) in owner
        return verify.Match(60 if owner[id(fa)] == "b.jpg" else 14, None)
    monkeypatch.setattr(verify.Photo, "quick", recorded(verify.Photo.quick))
    monkeypatch.setattr(verify.Photo, "full", recorded(verify.Photo.full))
    monkeypatch.setattr(verify, "match", lopsided)
    monkeypatch.setattr(verify, "_judge", lambda fa, fb, m: (True, 0.0))
    monkeypatch.setattr(verify, "same_picture", lambda fa, fb, m: None)
    one = verify.check_photos(verify.Photo(a, 32), verify.Photo(b, 32), 95.0, THRESHOLDS)
    other = verify.check_photos(verify.Photo(b, 32), verify.Photo(a, 32), 95.0, THRESHOLDS)
    assert one == other
    bundle = load_bundle(make_tiny_bundle(str(tmp_path / "model"), thresholds=(99.9, 90.0)))
    assert compare_files(a, b, bundle) == compare_files(b, a, bundle)


def test_every_pair_of_a_large_group_of_copies_gets_the_score_compare_gives_it(tmp_path, tiny_bundle, monkeypatch):
    """Each photo has at most CHECKS_PER_PHOTO pairs checked; in a group of more copies than that,
    the other pairs used to keep their embedding score in the groups while `compare` checked them
    afresh. They are settled through the group now: every pair has a stored result, and the
    groups and `compare` agree on each."""
    from itertools import combinations

    from ..conftest import detailed_photo
    from lookalike.core import scanner
    monkeypatch.setattr(scanner, "CHECKS_PER_PHOTO", 2)     # a group of 6 copies is then "large"
    album = tmp_path / "album"
    album.mkdir()
    original = detailed_photo(6)
    for i in range(6):
        jpeg(original.resize((960 - 40 * i, 720 - 30 * i)), 95 - 5 * i).save(album / f"c{i}.jpg", quality=95 - 5 * i)
    banded = with_band(tiny_bundle, tmp_path, [50.0, 100.0])      # every pair of copies is in the band
    with Library(tmp_path / "lib", write=True) as lib:
        b = lib.bundle(banded)
        lib.scan([album], bundle=b)
        names = {r.id: r.path for r in lib.catalog.files()}
        a, bb, s = lib.grouper(b).pairs()
        scores = {frozenset((names[int(x)], names[int(y)])): float(v) for x, y, v in zip(a, bb, s)}
        paths = sorted(names.values())
        assert len(scores) == 15                                  # every pair is an edge
        for x, y in combinations(paths, 2):
            assert lib.stored_check(x, y) is not None, (x, y)
            assert lib.compare(x, y, b) == pytest.approx(scores[frozenset((x, y))], abs=0.01)
