"""How two photos that share keypoints relate: a copy covers the other photo and changes
nothing once tones are matched; neighbouring frames of a sweep cover only part of each other;
a scene whose objects moved changes where they moved."""
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance

from lookalike.core import relation

from ..conftest import shapes


def scene(size=(1200, 600), seed=5):
    """A wide textured scene: many flat shapes plus fine marks, so ORB finds corners everywhere."""
    im = shapes(seed, size, n=160, max_size=(120, 90))
    a = np.asarray(im, np.float32).copy()
    rng = np.random.default_rng(seed)
    for _ in range(3000):
        x, y = rng.integers(0, size[0] - 8), rng.integers(0, size[1] - 8)
        a[y:y + rng.integers(2, 8), x:x + rng.integers(2, 8)] += rng.uniform(-60, 60)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def wide():
    return scene()


def rel(a, b):
    return relation.relate(relation.view(a), relation.view(b))


def test_an_edited_copy_covers_the_photo_and_changes_nothing(wide):
    shot = wide.crop((0, 0, 800, 600))
    copy = ImageEnhance.Brightness(shot.resize((600, 450), Image.LANCZOS)).enhance(1.4)
    r = rel(shot, copy)
    assert r.inliers >= 20
    assert min(r.overlap, r.overlap_b) > 0.9
    assert r.change < 0.05


def test_a_crop_covers_all_of_itself(wide):
    shot = wide.crop((0, 0, 800, 600))
    crop = shot.crop((150, 100, 700, 520))
    r = rel(shot, crop)
    assert r.inliers >= 20
    assert max(r.overlap, r.overlap_b) > 0.9
    assert r.change < 0.02


def test_neighbouring_frames_of_a_sweep_cover_only_part_of_each_other(wide):
    left, right = wide.crop((0, 0, 700, 600)), wide.crop((400, 0, 1100, 600))
    r = rel(left, right)
    assert r.inliers >= 20                  # they share pixels: the old check called this a copy
    assert max(r.overlap, r.overlap_b) < 0.6


def test_an_object_moved_between_two_shots_is_change(wide):
    shot = wide.crop((0, 0, 800, 600))
    before, after = shot.copy(), shot.copy()
    ImageDraw.Draw(before).rectangle((100, 150, 320, 420), fill=(250, 240, 20))
    ImageDraw.Draw(after).rectangle((480, 150, 700, 420), fill=(250, 240, 20))
    moved = rel(before, after)
    same = rel(before, ImageEnhance.Contrast(before).enhance(1.3))
    assert moved.inliers >= 20
    assert moved.change > 0.1 > same.change


def test_unrelated_photos_have_no_relation():
    r = rel(scene(seed=1), scene(seed=2))
    assert r.inliers < 12


def with_capture_time(im, path, when, subsec=None, exposure=None, edited=None, camera=None):
    """Save a JPEG with the EXIF a camera writes: DateTimeOriginal `when`, SubSecTimeOriginal,
    ExposureTime (a fraction (n, d) of a second); `edited`: the DateTime an editor writes."""
    from PIL.TiffImagePlugin import IFDRational
    exif = Image.Exif()
    shot = {}
    if when:
        shot[0x9003] = when
    if subsec:
        shot[0x9291] = subsec
    if exposure:
        shot[0x829A] = IFDRational(*exposure)
    if shot:
        exif[0x8769] = shot
    if edited:
        exif[0x0132] = edited
    if camera:
        exif[0x010F], exif[0x0110] = camera
    im.save(path, quality=93, exif=exif.tobytes())


class Cli:
    """The command line on one folder of test photos with the tiny model: compare, a scan into
    a library next to them, the stored pairs of `groups --json`, similar."""

    def __init__(self, folder, bundle, capsys):
        self.folder, self.capsys = folder, capsys
        self.args = ["--library", str(folder / "lib"), "--model", bundle]

    def run(self, *args):
        from lookalike.app.cli import main
        assert main([*self.args, *args]) == 0
        return self.capsys.readouterr().out

    def compare(self, x, y) -> dict:
        import json
        return json.loads(self.run("compare", str(self.folder / x), str(self.folder / y), "--json"))

    def groups(self, threshold=None) -> dict:
        """Scan the folder, then the `groups --json` document (names relative to the folder)."""
        import json
        self.run("-q", "scan", str(self.folder))
        extra = ["--threshold", str(threshold)] if threshold is not None else []
        return json.loads(self.run("groups", "--json", "-", "--relative-to", str(self.folder), *extra))

    def pairs(self, threshold=None) -> dict:
        return {frozenset(p[:2]): p[2] for p in self.groups(threshold)["pairs"]}

    def similar(self, x) -> dict:
        import json
        import os
        return {os.path.basename(h["path"]): h["score"]
                for h in json.loads(self.run("similar", str(self.folder / x), "--json"))}


def test_two_shots_taken_at_different_times_are_similar_never_duplicates(tmp_path, tiny_bundle, capsys):
    """A tripod bracket: the same pixels (here: exactly), two capture times. Compare and the
    groups give the pair one score, below the duplicate threshold but still similar; a copy
    that kept the capture time, or one without it, stays a duplicate."""
    shot = scene((640, 480), seed=3)
    with_capture_time(shot, tmp_path / "first.jpg", "2024:05:01 10:00:01")
    with_capture_time(shot, tmp_path / "second.jpg", "2024:05:01 10:00:04")
    with_capture_time(shot.resize((480, 360)), tmp_path / "copy.jpg", "2024:05:01 10:00:01")
    shot.save(tmp_path / "export.png")
    cli = Cli(tmp_path, tiny_bundle, capsys)
    assert cli.compare("first.jpg", "second.jpg")["verdict"] == "similar"
    assert cli.compare("first.jpg", "copy.jpg")["verdict"] == "duplicate"
    assert cli.compare("second.jpg", "export.png")["verdict"] == "duplicate"
    pairs = cli.pairs()
    first_second = pairs[frozenset(["first.jpg", "second.jpg"])]
    assert 90.0 <= first_second < 97.0                     # the tiny model's similar / duplicate
    assert first_second == cli.compare("first.jpg", "second.jpg")["score"]
    assert pairs[frozenset(["first.jpg", "copy.jpg"])] >= 97.0
    assert cli.similar("first.jpg")["second.jpg"] == first_second


def moved_objects(shot):
    """The same tripod view twice, a grey box and a grey disc moved between the shots."""
    before, after = shot.copy(), shot.copy()
    grey = (128, 128, 128)
    ImageDraw.Draw(before).rectangle((60, 120, 200, 220), fill=grey)
    ImageDraw.Draw(before).ellipse((420, 60, 560, 160), fill=grey)
    ImageDraw.Draw(after).rectangle((380, 300, 520, 400), fill=grey)
    ImageDraw.Draw(after).ellipse((80, 330, 220, 430), fill=grey)
    return before, after


def test_objects_moved_between_two_shots_are_similar_never_duplicates(tmp_path, tiny_bundle, capsys):
    """The check finds the pixels the two shots share (the background), which used to lift
    the pair into the duplicate band; the relation says they are two shots, so the groups,
    compare and similar give it one score in the similar band. An edited copy of one shot (no
    capture time to tell) is still a duplicate."""
    import os

    from lookalike.core.library import Library
    before, after = moved_objects(scene((640, 480), seed=3))
    before.save(tmp_path / "before.png")
    after.save(tmp_path / "after.png")
    ImageEnhance.Brightness(before.resize((560, 420), Image.LANCZOS)).enhance(1.3).save(tmp_path / "copy.jpg", quality=90)
    cli = Cli(tmp_path, tiny_bundle, capsys)
    assert cli.compare("before.png", "after.png")["verdict"] == "similar"
    assert cli.compare("before.png", "copy.jpg")["verdict"] == "duplicate"
    pairs = cli.pairs()
    moved = pairs[frozenset(["before.png", "after.png"])]
    assert 90.0 <= moved < 97.0                            # the tiny model's similar / duplicate
    assert round(moved, 2) == cli.compare("before.png", "after.png")["score"]      # (compare shows 2 decimals)
    assert pairs[frozenset(["before.png", "copy.jpg"])] >= 97.0
    assert cli.similar("before.png")["after.png"] == round(moved, 2)
    with Library(tmp_path / "lib") as lib:                 # the verdict is stored with the inliers
        a, b, g, same = lib.catalog.pair_checks(relation=True)
        ids = {os.path.basename(r.path): r.id for r in lib.catalog.files()}
    judged = {frozenset((int(x), int(y))): int(v) for x, y, v in zip(a, b, same)}
    assert judged[frozenset((ids["before.png"], ids["after.png"]))] == 0
    assert judged[frozenset((ids["before.png"], ids["copy.jpg"]))] == 1


def test_the_overlap_comes_from_the_transform():
    """Two 400x300 photos, b shifted 100 px right of a at the same scale: each covers 3/4 of
    the other. a at half scale on a b of twice its size: b covers all of a, a covers a
    sixteenth of b."""
    shift = np.float64([[1, 0, -100], [0, 1, 0]])         # a's pixel (x, y) is b's (x - 100, y)
    assert relation.overlaps(shift, (300, 400), (300, 400)) == pytest.approx((0.75, 0.75))
    half = np.float64([[0.5, 0, 0], [0, 0.5, 0]])
    assert relation.overlaps(half, (300, 400), (600, 800)) == pytest.approx((1.0, 0.0625))


def test_adjust_holds_two_shots_in_the_similar_band():
    from lookalike.core import verify
    th = {"duplicate": 90.0, "similar": 80.0}
    s = np.float32([99, 85, 72, 85])
    g = np.int64([200, 200, 200, 200])
    same = np.int64([0, 0, 0, 1])
    out = verify.adjust(s, g, th, same=same)
    assert 80 <= out[0] < 90 and out[1] == s[1] and out[2] == 80    # two shots: similar, never more
    assert out[3] >= 90                                             # one picture: a duplicate
    assert (verify.adjust(s, g, th) >= 90).all()                    # not judged: as before


def test_capture_facts_tell_a_burst_and_a_bracket_from_a_copy(tmp_path, tiny_bundle, capsys):
    """The same tripod view, pixel for pixel: two frames of a burst within one second (their
    sub-seconds differ), two frames of a bracket taken in one second (their exposure times
    differ) are two shots; a copy an editor saved again, which kept no DateTimeOriginal and
    wrote its own DateTime, is still the same picture."""
    shot = scene((640, 480), seed=3)
    with_capture_time(shot, tmp_path / "burst-1.jpg", "2024:05:01 10:00:01", subsec="120", exposure=(1, 250))
    with_capture_time(shot, tmp_path / "burst-2.jpg", "2024:05:01 10:00:01", subsec="57", exposure=(1, 250))
    with_capture_time(shot, tmp_path / "bracket-dark.jpg", "2024:05:01 10:00:01", exposure=(1, 1000))
    with_capture_time(shot, tmp_path / "edited.jpg", None, edited="2025:01:02 18:30:00")
    with_capture_time(shot, tmp_path / "same-frame.jpg", "2024:05:01 10:00:01", subsec="12", exposure=(1, 250))

    cli = Cli(tmp_path, tiny_bundle, capsys)
    verdict = lambda x, y: cli.compare(x, y)["verdict"]
    assert verdict("burst-1.jpg", "burst-2.jpg") == "similar"
    assert verdict("burst-1.jpg", "bracket-dark.jpg") == "similar"
    assert verdict("burst-1.jpg", "edited.jpg") == "duplicate"
    assert verdict("burst-1.jpg", "same-frame.jpg") == "duplicate"     # "120" and "12": both 0.12 s
    pairs = cli.pairs()
    assert pairs[frozenset(["burst-1.jpg", "burst-2.jpg"])] < 97.0
    assert pairs[frozenset(["burst-2.jpg", "bracket-dark.jpg"])] < 97.0
    # in the library the copy is the same picture as one of the three shots, not all of them
    # (relation.ShotSplit), and compare now says what the groups say
    shots = ("burst-1.jpg", "burst-2.jpg", "bracket-dark.jpg", "same-frame.jpg")
    dup_of = {x for x in shots if pairs.get(frozenset([x, "edited.jpg"]), 0.0) >= 97.0}
    assert dup_of in ({"burst-1.jpg", "same-frame.jpg"}, {"burst-2.jpg"}, {"bracket-dark.jpg"})
    for x in shots:
        assert (verdict(x, "edited.jpg") == "duplicate") == (x in dup_of)


def test_two_shots_needs_both_capture_times():
    from lookalike.core.decode import Capture
    a = Capture("2024-05-01T10:00:01", "2024-05-01T10:00:01", "12", 0.004)
    assert relation.two_shots(a, Capture("2024-05-01T10:00:02", "2024-05-01T10:00:02"))
    assert relation.two_shots(a, Capture(a.taken_at, a.original, "13", 0.004))
    assert relation.two_shots(a, Capture(a.taken_at, a.original, None, 0.001))
    assert not relation.two_shots(a, Capture(a.taken_at, a.original, "120", 0.004))
    assert not relation.two_shots(a, Capture("2025-01-02T18:30:00"))      # an editor's DateTime only
    assert not relation.two_shots(a, Capture())


def test_a_bracket_no_embedding_joins_is_similar_when_shot_seconds_apart(tmp_path, tiny_bundle, capsys):
    """A tripod bracket's darkest and brightest frames score below where the check starts;
    taken two seconds apart by one camera they are checked all the same, share their pixels
    and are similar. The same frames an hour apart, or another scene
    shot in the same seconds, stay different."""
    shot = np.asarray(scene((640, 480), seed=3), np.float32)
    dark = Image.fromarray((255 * (shot / 255) ** 3.0).astype(np.uint8))      # the bracket's ends
    bright = Image.fromarray((255 * (shot / 255) ** 0.25).astype(np.uint8))
    cam = ("Canon", "Canon EOS 80D")
    with_capture_time(dark, tmp_path / "dark.jpg", "2024:05:01 10:00:01", exposure=(1, 1000), camera=cam)
    with_capture_time(bright, tmp_path / "bright.jpg", "2024:05:01 10:00:03", exposure=(1, 15), camera=cam)
    with_capture_time(bright, tmp_path / "later.jpg", "2024:05:01 11:00:00", exposure=(1, 15), camera=cam)
    with_capture_time(scene((640, 480), seed=8), tmp_path / "other.jpg", "2024:05:01 10:00:05", camera=cam)
    cli = Cli(tmp_path, tiny_bundle, capsys)
    assert cli.compare("dark.jpg", "bright.jpg")["verdict"] == "similar"
    assert cli.compare("dark.jpg", "later.jpg")["verdict"] == "different"
    assert cli.compare("dark.jpg", "other.jpg")["verdict"] == "different"
    doc = cli.groups(threshold=90)
    pairs = {frozenset(p[:2]): p[2] for p in doc["pairs"]}
    assert 90.0 <= pairs[frozenset(["dark.jpg", "bright.jpg"])] < 97.0
    assert round(pairs[frozenset(["dark.jpg", "bright.jpg"])], 2) == cli.compare("dark.jpg", "bright.jpg")["score"]
    assert pairs.get(frozenset(["dark.jpg", "later.jpg"]), 0) < 90.0
    assert pairs.get(frozenset(["dark.jpg", "other.jpg"]), 0) < 50.0
    groups = [{m["path"] for m in g["members"]} for g in doc["groups"]]
    assert any({"dark.jpg", "bright.jpg"} <= g for g in groups)           # one group at the similar mark
    assert not any("other.jpg" in g for g in groups)


def test_close_pairs_are_the_next_shots_of_one_camera():
    from lookalike.core.decode import Capture
    cam = lambda when, camera="A": Capture(when, when, None, None, camera)
    ids = [1, 2, 3, 4, 5, 6]
    caps = [cam("2024-05-01T10:00:00"), cam("2024-05-01T10:00:20"), cam("2024-05-01T10:00:45"),
            cam("2024-05-01T10:00:10", "B"), cam("2024-05-01T11:00:00"), Capture()]
    a, b = relation.close_pairs(ids, caps)
    assert sorted(zip(a.tolist(), b.tolist())) == [(1, 2), (2, 3)]       # 25 s apart; 45 s is too far
    assert relation.close_in_time(caps[0], caps[1]) and not relation.close_in_time(caps[0], caps[3])


def test_a_transform_a_few_pixels_off_does_not_make_a_copy_changed():
    """The quick step fits its transform to a few dozen keypoints on a small image, which can
    be off by a pixel or two: the copy's pixels must still count as unchanged, while an object
    that moved still changes the picture."""
    shot = scene((640, 480), seed=4)
    gray = np.asarray(shot.convert("L"))
    off = np.float64([[1, 0, 4], [0, 1, 0]])                  # 4 px at 640: 1.6 px where compared
    assert relation.change(off, gray.shape, gray.shape, relation.small(gray), relation.small(gray)) \
        <= relation.SAME_CHANGE
    before, after = moved_objects(scene((640, 480), seed=3))
    b, a = (np.asarray(x.convert("L")) for x in (before, after))
    assert relation.change(off, b.shape, a.shape, relation.small(b), relation.small(a)) > relation.SAME_CHANGE


def test_a_copy_without_capture_facts_never_joins_two_shots(tmp_path, tiny_bundle, capsys):
    """A tripod bracket (two exposures, two capture times) and an export of each frame that
    dropped its EXIF. Pixels cannot tell an exposure edit from the other frame, so each export
    matched both frames, and the duplicate groups put both frames in one group, where `dedupe`
    keeps one photo: a real shot went to the trash. Now each export is the same picture as the
    frame it matches best, "similar" to the other, and no duplicate group holds both frames;
    groups, compare and similar agree."""
    shot = scene((640, 480), seed=3)
    dark = shot.point(lambda v: round(255 * (v / 255) ** 1.8))     # under-exposed: a darker tone curve
    with_capture_time(shot, tmp_path / "frame-0ev.jpg", "2024:05:01 10:00:01", exposure=(1, 250))
    with_capture_time(dark, tmp_path / "frame-dark.jpg", "2024:05:01 10:00:01", exposure=(1, 500))
    shot.resize((560, 420), Image.LANCZOS).save(tmp_path / "export-0ev.png")
    dark.resize((560, 420), Image.LANCZOS).save(tmp_path / "export-dark.png")
    cli = Cli(tmp_path, tiny_bundle, capsys)
    doc = cli.groups()
    dup = doc["model"]["thresholds"]["duplicate"]
    pairs = {frozenset(p[:2]): p[2] for p in doc["pairs"]}
    for group in cli.groups(dup)["groups"]:
        names = {m["path"] for m in group["members"]}
        assert not {"frame-0ev.jpg", "frame-dark.jpg"} <= names
    for export, frame, other in (("export-0ev.png", "frame-0ev.jpg", "frame-dark.jpg"),
                                 ("export-dark.png", "frame-dark.jpg", "frame-0ev.jpg")):
        assert pairs[frozenset([export, frame])] >= dup
        assert pairs.get(frozenset([export, other]), 0.0) < dup
        for x in (frame, other):
            assert cli.compare(x, export)["score"] == round(pairs.get(frozenset([x, export]), 0.0), 2)
    assert pairs.get(frozenset(["export-0ev.png", "export-dark.png"]), 0.0) < dup
    assert cli.similar("export-0ev.png")["frame-dark.jpg"] < dup
