"""Geometric check: do two photos show the same pixels, or only the same kind of picture?

A global embedding cannot tell a copy from "another part of the same scene" (two crops of one
large photo, a wall of the same bricks): both look alike everywhere. Local features can. For
the few pairs whose embedding score is high enough to matter, we detect ORB keypoints on the
luminance (contrast-equalised with CLAHE, so brightness/contrast/gamma edits and low-texture
photos still give keypoints), keep mutual best matches that pass the ratio test, and count the
matches a RANSAC similarity transform (rotation, scale, translation) explains. The second image
is also tried mirrored, since ORB descriptors are not mirror-invariant.

Measured on the benchmark kit (`bench/verify_probe.py`, development and held-out sets): copies
of a photo (crops to half the area, 90/180 degree rotations, mirrors, grayscale, text, blur,
noise, JPEG/WebP) keep 20 or more inliers (5th percentile 73-92); the kit's near-miss pairs get
2-11 and unrelated photos 2-5.

The result adjusts the pair's score (`adjust`): a confirmed pair is lifted into the duplicate
band, a refuted one is held below it, an inconclusive one keeps its embedding score.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from . import decode

SIDE = 512              # long side of the luminance image the keypoints are found on
N_FEATURES = 1000
FAST_THRESHOLD = 7      # lower than ORB's 20: smooth photos still get enough corners
RATIO = 0.8             # Lowe's ratio test
RANSAC_PX = 5.0         # reprojection tolerance at SIDE pixels
CONFIRM = 20            # >= this many inliers: the same pixels
REFUTE = 12             # < this many inliers (and enough keypoints on both): different pixels
MIN_KEYPOINTS = 100     # fewer on either photo: too little texture to refute anything
FLOOR_BELOW_SIMILAR = 10.0   # pairs are checked from (the model's similar threshold - this) up

# stored results that are not inlier counts
INCONCLUSIVE = -1       # too little texture
UNREADABLE = -2         # one of the files could not be decoded


@dataclass
class Features:
    n: int                      # keypoints on the upright image
    pts: np.ndarray             # [n, 2] float32
    desc: np.ndarray | None     # [n, 32] uint8
    pts_m: np.ndarray           # the same on the mirrored image
    desc_m: np.ndarray | None


_local = threading.local()


def _tools():
    """ORB and CLAHE objects, one set per thread (OpenCV objects are not shared across threads)."""
    if not hasattr(_local, "orb"):
        import cv2
        _local.orb = cv2.ORB_create(N_FEATURES, fastThreshold=FAST_THRESHOLD)
        _local.clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return _local.orb, _local.clahe


def features_of_image(image) -> Features:
    """Keypoints of a PIL image (any mode), upright and mirrored."""
    im = image.convert("L")
    if max(im.size) > SIDE:
        im = im.copy()
        im.thumbnail((SIDE, SIDE))
    g = np.asarray(im, dtype=np.uint8)
    orb, clahe = _tools()
    g = clahe.apply(np.ascontiguousarray(g))
    k, d = orb.detectAndCompute(g, None)
    km, dm = orb.detectAndCompute(np.ascontiguousarray(g[:, ::-1]), None)
    pts = np.float32([p.pt for p in k]).reshape(-1, 2)
    pts_m = np.float32([p.pt for p in km]).reshape(-1, 2)
    return Features(len(k), pts, d, pts_m, dm)


def features(path) -> Features:
    """Keypoints of a photo file; raises decode.DecodeError."""
    return features_of_image(decode.load(path, target=SIDE).image)


def _inliers(pa, da, pb, db) -> int:
    import cv2
    if da is None or db is None or len(pa) < 4 or len(pb) < 4:
        return 0
    bf = cv2.BFMatcher(cv2.NORM_HAMMING)
    good = [m[0] for m in bf.knnMatch(da, db, k=2) if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < 4:
        return len(good)
    back = {m.queryIdx: m.trainIdx for m in bf.match(db, da)}
    good = [m for m in good if back.get(m.trainIdx) == m.queryIdx]    # mutual best matches only
    if len(good) < 4:
        return len(good)
    src = pa[[m.queryIdx for m in good]]
    dst = pb[[m.trainIdx for m in good]]
    _, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
    return int(mask.sum()) if mask is not None else 0


def check(fa: Features, fb: Features) -> int:
    """Inliers of the better of (a, b) and (a, mirrored b), or INCONCLUSIVE. The mirrored
    match is only tried when the upright one does not confirm."""
    n = _inliers(fa.pts, fa.desc, fb.pts, fb.desc)
    if n < CONFIRM:
        n = max(n, _inliers(fa.pts, fa.desc, fb.pts_m, fb.desc_m))
    if n < CONFIRM and min(fa.n, fb.n) < MIN_KEYPOINTS:
        return INCONCLUSIVE
    return n


def pair_keys(a, b) -> np.ndarray:
    """One int64 per (a, b) pair of file ids, for joining stored checks with edges."""
    return np.asarray(a, np.int64) * (1 << 32) + np.asarray(b, np.int64)


def floor(thresholds: dict) -> float:
    """The lowest embedding score at which a pair is checked, for a model's thresholds."""
    dup = float(thresholds["duplicate"])
    return min(dup, float(thresholds.get("similar", dup))) - FLOOR_BELOW_SIMILAR


def adjust(s: np.ndarray, inliers: np.ndarray, thresholds: dict) -> np.ndarray:
    """Scores after the geometric check (scores 0-100; inliers < 0 or unchecked = unchanged).

    Confirmed pairs (>= CONFIRM inliers) have their score mapped from [floor, 100] onto
    [duplicate, 100]: at or above the duplicate threshold, order kept. Refuted pairs (< REFUTE
    inliers) are mapped onto [similar, duplicate): they can still be "similar", never
    duplicates. Pairs below the floor are left alone.
    """
    s = np.asarray(s, np.float32)
    g = np.asarray(inliers)
    dup = float(thresholds["duplicate"])
    sim = min(dup, float(thresholds.get("similar", dup)))
    lo = floor(thresholds)
    t = np.clip((s - lo) / (100.0 - lo), 0.0, 1.0)
    checked = s >= lo
    up = checked & (g >= CONFIRM)
    down = checked & (g >= 0) & (g < REFUTE)
    out = s.copy()
    out[up] = np.maximum(s[up], dup + (100.0 - dup) * t[up])
    held = np.minimum(s[down], sim + (dup - sim) * t[down])
    out[down] = np.minimum(held, np.nextafter(np.float32(dup), np.float32(0)))
    return out.astype(np.float32)
