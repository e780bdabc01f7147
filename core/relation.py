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

Pixels cannot tell one thing apart: once tones are matched, a tripod exposure bracket or two
frames of a still scene are an exposure edit of each other. The files can: a camera writes
when each shot was taken, and a copy keeps that time or drops it. `two_shots` /
`hold_two_shots` apply this: two photos whose capture times are both known and differ are two
shots of a moment, at most "similar", never duplicates.
"""
from __future__ import annotations

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


def _tone_change(a, b_warped, mask) -> float:
    """Share of the overlap that differs once b's tones are mapped onto a's."""
    import cv2
    if mask.sum() < 100:
        return 1.0
    a = cv2.GaussianBlur(a.astype(np.float32), (0, 0), BLUR_SIGMA)
    b = cv2.GaussianBlur(b_warped.astype(np.float32), (0, 0), BLUR_SIGMA)
    m = mask > 0
    m = cv2.erode(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if m.sum() < 100:
        return 1.0
    av, bv = a[m], b[m]
    # monotonic tone curve b -> a: median of a in each of 32 bins of b, then cumulative max
    edges = np.quantile(bv, np.linspace(0, 1, 33))
    idx = np.clip(np.searchsorted(edges, bv, side="right") - 1, 0, 31)
    med = np.array([np.median(av[idx == i]) if np.any(idx == i) else np.nan for i in range(32)])
    ok = ~np.isnan(med)
    med = np.interp(np.arange(32), np.flatnonzero(ok), med[ok])
    med = np.maximum.accumulate(med)
    return float(np.mean(np.abs(av - med[idx]) > CHANGE_LEVEL))


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
        # compared at half size: the change that matters is larger than a few pixels
        a_small = cv2.resize(va.plain, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        b_small = cv2.resize(b_plain, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        Ms = M.copy()
        Ms[:, 2] *= 0.5
        h, w = a_small.shape
        inv = cv2.invertAffineTransform(Ms)
        warped = cv2.warpAffine(b_small, inv, (w, h), flags=cv2.INTER_LINEAR)
        valid = cv2.warpAffine(np.full(b_small.shape, 255, np.uint8), inv, (w, h), flags=cv2.INTER_NEAREST)
        r.overlap = float((valid > 0).mean())
        back = cv2.warpAffine(np.full(a_small.shape, 255, np.uint8), Ms, b_small.shape[::-1],
                              flags=cv2.INTER_NEAREST)
        r.overlap_b = float((back > 0).mean())
        r.change = _tone_change(a_small, warped, valid)
    return r


def relate(va: View, vb: View) -> Relation:
    """The relation of two views: the upright match, or the mirrored one if it explains more."""
    r = _relate_side(va, vb.pts, vb.desc, vb.plain, False)
    if r.inliers < 20:
        m = _relate_side(va, vb.pts_m, vb.desc_m, np.ascontiguousarray(vb.plain[:, ::-1]), True)
        if m.inliers > r.inliers:
            r = m
    return r


def two_shots(taken_a: str | None, taken_b: str | None) -> bool:
    """Both photos say when they were taken (EXIF, as the catalog stores it), and the times
    differ: two shots, not one picture."""
    return bool(taken_a) and bool(taken_b) and taken_a != taken_b


def hold_two_shots(s: np.ndarray, taken_a, taken_b, thresholds: dict) -> np.ndarray:
    """Scores with every pair of two shots held just below the duplicate threshold, by a margin
    that survives the 2-decimal display (so it can still be "similar"); taken_a/taken_b: the capture times of each pair's photos (or None)."""
    s = np.asarray(s, np.float32).copy()
    two = np.fromiter((two_shots(x, y) for x, y in zip(taken_a, taken_b)), bool, len(s))
    s[two] = np.minimum(s[two], float(thresholds["duplicate"]) - HOLD_MARGIN)
    return s
