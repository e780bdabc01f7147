"""How two photos that share local features relate: the same picture, or two shots?

The geometric check (core.verify) counts the keypoint matches one rotation + scale + shift
explains. That says "these photos share pixels", not "these are one picture": two frames of a
burst, an exposure bracket from a tripod, a panorama's neighbouring frames and a desk shot
again after its objects were moved all share many. This module measures what tells them
apart, from the same ORB matches:

- coverage: the share of each photo's area that the inliers span (convex hull). A copy or a
  crop covers nearly all of at least one of the two photos; neighbouring panorama frames and
  a re-framed scene cover part of each.
- change: after warping one photo onto the other with the fitted transform and matching their
  tones (a monotonic curve fitted on the overlap, so brightness, contrast, gamma and exposure
  differences vanish), the share of the overlap that still differs. A copy differs only where
  its edit did (a caption); another shot differs where something moved or the parallax is.
- homography inliers next to similarity inliers: a camera that moved or turned between two
  shots brings perspective that one similarity transform cannot explain.

`relate` returns these numbers; the thresholds that turn them into a verdict are measured in
bench/moment_rules.py on real shots (bench/make_moments.py) and edited copies (the kit).

The scan's check (core.verify) asks `judge` for every pair it confirms, with the
transform its RANSAC fitted: the overlap is worked out from that transform and the two image
sizes (no pixels), and only when one photo covers most of the other is the change measured,
on luminance images of at most CHANGE_SIDE pixels.

Pixels cannot tell one thing apart: once tones are matched, a tripod exposure bracket or two
frames of a still scene are an exposure edit of each other. The files can: a camera writes
when each shot was taken (to the sub-second) and how long it exposed, and a copy keeps these
or drops them. `two_shots` / `hold_two_shots` apply this: two photos whose capture facts are
known and differ are two shots of a moment, at most "similar", never duplicates. `ShotSplit`
carries it to the copies that dropped them: "one picture" is transitive, so a copy cannot be
the same picture as two shots, nor two copies of two shots the same picture as each other.
"""
from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields

import numpy as np

SIDE = 512              # the long side the keypoints are found on (as core.verify)
N_FEATURES = 1000
FAST_THRESHOLD = 7
RATIO = 0.8
RANSAC_PX = 5.0
CHANGE_LEVEL = 24       # a tone-matched difference above this (of 255) counts as changed
HOLD_MARGIN = 0.01      # held pairs sit this far below the duplicate threshold (scores show 2 decimals)
BLUR_SIGMA = 1.0        # (at half size) smooth noise, JPEG and resampling away before comparing
CHANGE_SIDE = 256       # long side of the luminance images the change is measured on
# the same picture: one photo covers at least SAME_COVER of the other and at most SAME_CHANGE of
# the overlap differs after tone matching (limits measured on the real-shot set only,
# bench/moment_rules.py; the kit's edited copies are the held-out check). The change limit errs
# on the side of "two shots": at 0.10 the kit's training part keeps 0.995 of its copies at the
# duplicate threshold instead of 0.982 (captions, watermarks), but a shot with one small object
# moved (about 9 % of the picture) becomes a duplicate, the mistake that loses a photo
SAME_COVER = 0.8
SAME_CHANGE = 0.05
CLOSE_SECONDS = 30      # shots taken this close by one camera are checked whatever their embedding
CLOSE_PER_PHOTO = 8     # ... each with at most this many of the next shots in time (a long burst)


@dataclass
class View:
    gray: np.ndarray            # CLAHE-equalised luminance, long side SIDE
    plain: np.ndarray           # the luminance without equalisation (for the tone comparison)
    pts: np.ndarray
    desc: np.ndarray | None
    pts_m: np.ndarray
    desc_m: np.ndarray | None


@dataclass
class Relation:
    matches: int = -1           # mutual ratio-test matches (-1: not related)
    inliers: int = 0            # of the best similarity transform (as core.verify)
    hom_inliers: int = 0        # of a homography
    cover_a: float = 0.0        # share of photo a's area spanned by the inliers
    cover_b: float = 0.0
    overlap: float = 0.0        # share of photo a covered by the warped photo b
    overlap_b: float = 0.0      # share of photo b covered by the warped photo a
    change: float = 1.0         # share of the overlap that differs after tone matching
    scale: float = 0.0          # of the similarity transform
    mirrored: bool = False

    @staticmethod
    def fields():
        return [f.name for f in fields(Relation)]

    @staticmethod
    def none():
        return Relation()

    def as_tuple(self):
        return astuple(self)


def view(image) -> View:
    import cv2
    im = image.convert("L")
    if max(im.size) > SIDE:
        im = im.copy()
        im.thumbnail((SIDE, SIDE))
    plain = np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    g = clahe.apply(plain)
    orb = cv2.ORB_create(N_FEATURES, fastThreshold=FAST_THRESHOLD)
    k, d = orb.detectAndCompute(g, None)
    km, dm = orb.detectAndCompute(np.ascontiguousarray(g[:, ::-1]), None)
    return View(g, plain, np.float32([p.pt for p in k]).reshape(-1, 2), d,
                np.float32([p.pt for p in km]).reshape(-1, 2), dm)


def mutual_matches(pa, da, pb, db):
    """Mutual best ORB matches passing the ratio test: (points on a, points on b)."""
    import cv2
    if da is None or db is None or len(pa) < 4 or len(pb) < 4:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    bf = cv2.BFMatcher(cv2.NORM_HAMMING)
    good = [m[0] for m in bf.knnMatch(da, db, k=2) if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    back = {m.queryIdx: m.trainIdx for m in bf.match(db, da)} if good else {}
    good = [m for m in good if back.get(m.trainIdx) == m.queryIdx]
    return pa[[m.queryIdx for m in good]].reshape(-1, 2), pb[[m.trainIdx for m in good]].reshape(-1, 2)


def _hull_share(pts, shape) -> float:
    import cv2
    if len(pts) < 3:
        return 0.0
    hull = cv2.convexHull(pts.astype(np.float32))
    return float(cv2.contourArea(hull)) / float(shape[0] * shape[1])


TONE_BINS = 32          # the tone curve: one level per this many equal-count bins of b's tones
ALIGN_SLACK = 1         # pixels (at CHANGE_SIDE) the two photos may be misaligned by: a pixel
                        # counts as changed only when no b pixel this close matches it


def _tone_change(a, b_warped, mask) -> float:
    """Share of the overlap that differs once b's tones are mapped onto a's: a monotonic tone
    curve b -> a (the median of a in each of TONE_BINS equal-count bins of b's tones, then a
    running maximum), on both images blurred a little and rounded to 256 levels (histograms
    instead of sorting: this runs for every pair the check confirms)."""
    import cv2
    m = cv2.erode((mask > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    a = cv2.GaussianBlur(a, (0, 0), BLUR_SIGMA)
    b = cv2.GaussianBlur(b_warped, (0, 0), BLUR_SIGMA)
    b_levels = cv2.calcHist([b], [0], m, [256], [0, 256]).ravel().astype(np.int64)
    n = int(b_levels.sum())
    if n < 100:
        return 1.0
    below = np.cumsum(b_levels) - b_levels
    level_bin = np.minimum(TONE_BINS - 1, below * TONE_BINS // n).astype(np.uint8)   # b's level -> its bin
    hist = cv2.calcHist([cv2.LUT(b, level_bin), a], [0, 1], m, [TONE_BINS, 256],
                        [0, TONE_BINS, 0, 256]).astype(np.int64)
    counts = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    med = np.argmax(cum * 2 >= counts[:, None], axis=1).astype(np.float64)   # each bin's median of a
    ok = counts > 0
    med = np.maximum.accumulate(np.interp(np.arange(TONE_BINS), np.flatnonzero(ok), med[ok]))
    # b in a's tones; a pixel changed when a is off every b tone within ALIGN_SLACK pixels (the
    # transform of a few dozen inliers is that coarse)
    tone = cv2.LUT(b, np.clip(np.rint(med[level_bin]), 0, 255).astype(np.uint8))
    k = np.ones((2 * ALIGN_SLACK + 1,) * 2, np.uint8)
    low = cv2.subtract(cv2.erode(tone, k), CHANGE_LEVEL)
    high = cv2.add(cv2.dilate(tone, k), CHANGE_LEVEL)
    off = cv2.bitwise_or(cv2.compare(a, low, cv2.CMP_LT), cv2.compare(a, high, cv2.CMP_GT))
    return cv2.countNonZero(cv2.bitwise_and(off, off, mask=m)) / n


def _relate_side(va: View, pb, db, b_plain, mirrored) -> Relation:
    import cv2
    src, dst = mutual_matches(va.pts, va.desc, pb, db)
    r = Relation(matches=len(src), mirrored=mirrored)
    if len(src) < 4:
        return r
    M, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
    if M is None or mask is None:
        return r
    inl = mask.ravel() > 0
    r.inliers = int(inl.sum())
    H, hmask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX)
    r.hom_inliers = int(hmask.sum()) if hmask is not None else 0
    r.cover_a = _hull_share(src[inl], va.plain.shape)
    r.cover_b = _hull_share(dst[inl], b_plain.shape)
    r.scale = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
    if r.inliers >= 8:
        r.overlap, r.overlap_b = overlaps(M, va.plain.shape, b_plain.shape)
        r.change = change(M, va.plain.shape, b_plain.shape, small(va.plain), small(b_plain))
    return r


def small(gray: np.ndarray) -> np.ndarray:
    """A luminance image reduced to at most CHANGE_SIDE pixels on the long side (what `change`
    compares)."""
    import cv2
    h, w = gray.shape
    f = CHANGE_SIDE / max(h, w)
    if f >= 1.0:
        return gray
    return cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def _rect(shape) -> np.ndarray:
    h, w = shape[:2]
    return np.float32([[0, 0], [w, 0], [w, h], [0, h]])


def overlaps(M: np.ndarray, shape_a, shape_b) -> tuple[float, float]:
    """(share of photo a that photo b covers, share of b that a covers) when M (2x3, a
    similarity transform from a's pixel coordinates to b's) lays one onto the other; from the
    two rectangles alone."""
    import cv2
    a_on_b = cv2.transform(_rect(shape_a)[None], np.asarray(M, np.float64))[0].astype(np.float32)
    area, _ = cv2.intersectConvexConvex(a_on_b, _rect(shape_b))
    scale2 = abs(float(np.linalg.det(np.asarray(M, np.float64)[:, :2])))
    (ha, wa), (hb, wb) = shape_a[:2], shape_b[:2]
    on_b = float(area) / float(hb * wb)
    on_a = float(area) / max(scale2, 1e-12) / float(ha * wa)
    return min(1.0, on_a), min(1.0, on_b)


def change(M: np.ndarray, shape_a, shape_b, small_a: np.ndarray, small_b: np.ndarray) -> float:
    """Share of the overlap of a and b that differs once b's tones are mapped onto a's. M maps
    a's pixel coordinates (an image of shape_a) to b's (shape_b); small_a/small_b are the two
    luminance images at a reduced size (`small`)."""
    import cv2
    fa = np.float64([small_a.shape[1] / shape_a[1], small_a.shape[0] / shape_a[0]])
    fb = np.float64([small_b.shape[1] / shape_b[1], small_b.shape[0] / shape_b[0]])
    M = np.asarray(M, np.float64)
    Ms = np.empty((2, 3))
    Ms[:, :2] = fb[:, None] * M[:, :2] / fa[None, :]
    Ms[:, 2] = fb * M[:, 2]
    h, w = small_a.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP      # Ms maps a's pixels to where they are on b
    warped = cv2.warpAffine(small_b, Ms, (w, h), flags=flags)
    valid = cv2.warpAffine(np.full(small_b.shape, 255, np.uint8), Ms, (w, h),
                           flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return _tone_change(small_a, warped, valid)


def judge(M: np.ndarray, shape_a, shape_b, small_a, small_b) -> tuple[bool, float | None]:
    """Do two photos that share pixels (M: the fitted transform from a to b) show one picture?
    (same picture, change): one of them covers most of the other and, tones matched, nothing
    else changed; `change` is None when the cover already decided."""
    if max(overlaps(M, shape_a, shape_b)) < SAME_COVER:
        return False, None
    c = change(M, shape_a, shape_b, small_a, small_b)
    return c <= SAME_CHANGE, c


def relate(va: View, vb: View) -> Relation:
    """The relation of two views: the upright match, or the mirrored one if it explains more."""
    r = _relate_side(va, vb.pts, vb.desc, vb.plain, False)
    if r.inliers < 20:
        m = _relate_side(va, vb.pts_m, vb.desc_m, np.ascontiguousarray(vb.plain[:, ::-1]), True)
        if m.inliers > r.inliers:
            r = m
    return r


def _fraction(subsec: str) -> str:
    """SubSecTimeOriginal digits as a decimal fraction ("120" and "12" are both 0.12 s)."""
    return subsec.rstrip("0") or "0"


def two_shots(a, b) -> bool:
    """Two photos whose capture facts (core.decode.Capture: what the camera wrote) say they are
    two shots, not one picture: both say when they were taken (EXIF DateTimeOriginal) and the
    times differ, or within the same second their sub-seconds differ (a burst) or their
    exposure times do (a bracket). A copy keeps its original's facts or has none; the file's
    DateTime, which editors rewrite, is not used."""
    if not (a.original and b.original):
        return False
    if a.original != b.original:
        return True
    if a.subsec and b.subsec and _fraction(a.subsec) != _fraction(b.subsec):
        return True
    return bool(a.exposure and b.exposure and not math.isclose(a.exposure, b.exposure, rel_tol=1e-3))


def _seconds(when: str | None) -> float | None:
    if not when:
        return None
    try:
        return float(np.datetime64(when[:19], "s").astype(np.int64))
    except ValueError:
        return None


def close_in_time(a, b) -> bool:
    """Two shots taken within CLOSE_SECONDS of each other (EXIF DateTimeOriginal) by the same
    camera where both name it: a burst, a bracket, a re-take, which no global embedding need
    join, so the check looks for the pixels they share."""
    ta, tb = _seconds(a.original), _seconds(b.original)
    if ta is None or tb is None or abs(ta - tb) > CLOSE_SECONDS:
        return False
    return not (a.camera and b.camera and a.camera != b.camera)


def close_pairs(ids, captures) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) file ids of the shots `close_in_time`, each with at most CLOSE_PER_PHOTO of the
    shots taken next after it by its camera (photos that do not name their camera are one
    camera); `captures`: each id's core.decode.Capture."""
    cams, times, keep = [], [], []
    for i, c in zip(ids, captures):
        t = _seconds(c.original)
        if t is not None:
            keep.append(int(i)); times.append(t); cams.append(c.camera or "")
    if len(keep) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ids, times = np.asarray(keep, np.int64), np.asarray(times)
    cam_code = np.unique(np.asarray(cams), return_inverse=True)[1].ravel()
    order = np.lexsort((times, cam_code))
    ids, times, cam_code = ids[order], times[order], cam_code[order]
    aa, bb = [], []
    for k in range(1, CLOSE_PER_PHOTO + 1):
        ok = (cam_code[k:] == cam_code[:-k]) & (times[k:] - times[:-k] <= CLOSE_SECONDS)
        aa.append(ids[:-k][ok]); bb.append(ids[k:][ok])
    a, b = np.concatenate(aa), np.concatenate(bb)
    return np.minimum(a, b), np.maximum(a, b)


def hold_two_shots(s: np.ndarray, taken_a, taken_b, thresholds: dict) -> np.ndarray:
    """Scores with every pair of two shots held just below the duplicate threshold, by a margin
    that survives the 2-decimal display (so it can still be "similar"); taken_a/taken_b: the
    capture facts (core.decode.Capture) of each pair's photos."""
    s = np.asarray(s, np.float32).copy()
    two = np.fromiter((two_shots(x, y) for x, y in zip(taken_a, taken_b)), bool, len(s))
    s[two] = np.minimum(s[two], float(thresholds["duplicate"]) - HOLD_MARGIN)
    return s


class ShotSplit:
    """The duplicate pairs of a library cut so that no picture holds two shots.

    "The same picture" is transitive; two shots (`two_shots`) are not one picture, so a copy
    that dropped its capture facts (an export, a web download) can be the same picture as one
    of them only, and a copy of one shot is not the same picture as a copy of the other. The
    pairs at or above the duplicate threshold are joined strongest first (Kruskal); a join
    that would put two shots in one picture is refused, so each copy goes with the shot it
    matches best (ties by the embedding's own score) and every refused pair is held below the
    duplicate threshold: "similar". Without them a copy of one bracket frame that matches its
    neighbour frame too made one duplicate group of two shots, and `dedupe` kept one of them.

    a, b: file ids; s: the pair scores after the check and `hold_two_shots`; raw: the
    embedding's scores (the order among equal checked scores); captures: {id: Capture}.
    """

    def __init__(self, a, b, s, raw, captures: dict, duplicate: float):
        self.duplicate = float(duplicate)
        self.parent: dict[int, int] = {}
        self.label = {int(i): c for i, c in captures.items() if c is not None and c.original}
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        s, raw = np.asarray(s, np.float32), np.asarray(raw, np.float32)
        high = np.flatnonzero(s >= self.duplicate)
        if not self.label or not len(high):
            return
        order = high[np.lexsort((-raw[high], -s[high]))]
        for x, y in zip(a[order].tolist(), b[order].tolist()):
            rx, ry = self.find(x), self.find(y)
            if rx == ry:
                continue
            lx, ly = self.label.get(rx), self.label.get(ry)
            if lx is not None and ly is not None and two_shots(lx, ly):
                continue
            self.parent[ry] = rx
            if lx is None and ly is not None:
                self.label[rx] = ly

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:                          # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def split(self, x: int, y: int, cap_x=None, cap_y=None) -> bool:
        """Are x and y in two pictures of two shots? cap_x/cap_y: the capture facts of a photo
        the split has not seen (a file outside the library)."""
        rx, ry = self.find(int(x)), self.find(int(y))
        if rx == ry:
            return False
        lx = self.label.get(rx, cap_x if cap_x is not None and cap_x.original else None)
        ly = self.label.get(ry, cap_y if cap_y is not None and cap_y.original else None)
        return lx is not None and ly is not None and two_shots(lx, ly)

    def hold(self, a, b, s) -> np.ndarray:
        """Scores with every pair at or above the duplicate threshold whose photos the split
        put in two pictures held just below it."""
        s = np.asarray(s, np.float32).copy()
        for k in np.flatnonzero(s >= self.duplicate).tolist():
            if self.split(int(a[k]), int(b[k])):
                s[k] = self.duplicate - HOLD_MARGIN
        return s
