"""Where two photos differ: align one onto the other, outline where it lies, map what changed.

Before deleting a copy, a user wants to see what the copy lost or gained: a caption, a retouch,
a crop, heavier compression. This module aligns photo B onto photo A with the geometric check's
kind of transform (ORB keypoints from `verify.features_of_image`, `relation.mutual_matches`, a
RANSAC similarity: rotation, scale, shift, B possibly mirrored), refines it on the pixels (ECC),
and then compares A with the aligned B after matching their tones, so a global brightness or
contrast edit is not a "difference" but a caption is.

Coordinates are fractions of the picture (0-1 across, 0-1 down), so the result applies to any
decoded size of either photo. The geometric check's scoring (`verify.check`) is not changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import verify
from .relation import mutual_matches

WORK_SIDE = 768          # long side at which B is warped onto A and the differences measured
MIN_INLIERS = 8          # fewer: no transform worth drawing
HOT_LEVELS = 40.0        # a luminance difference (0-255) that shows as fully hot
CHANGED = 0.5            # heat above this counts as a changed pixel


@dataclass
class Alignment:
    b_to_a: np.ndarray         # 2x3 affine: B's (x, y) in fractions -> A's, mirror included
    mirrored: bool             # B is a mirror image of A
    inliers: int               # matches the transform explains
    footprint_in_a: np.ndarray  # [4, 2] B's corners on A (where a crop B came from)
    footprint_in_b: np.ndarray  # [4, 2] A's corners on B
    inliers_a: np.ndarray       # [n, 2] the matched points on A (fractions)

    def a_to_b(self) -> np.ndarray:
        m = np.vstack([self.b_to_a, [0.0, 0.0, 1.0]])
        return np.linalg.inv(m)[:2]


@dataclass
class Difference:
    heat: np.ndarray           # [h, w] float32 0-1 on A's frame: how strongly B differs there
    valid: np.ndarray          # [h, w] bool: where B covers A
    changed: float             # the share of the covered area that differs (heat > CHANGED)
    b_on_a: np.ndarray         # [h, w, 3] uint8: B warped onto A's frame (to blink between them)

    def hot_box(self, level: float = CHANGED):
        """(x0, y0, x1, y1) in fractions around the changed pixels, or None."""
        ys, xs = np.nonzero((self.heat > level) & self.valid)
        if not len(xs):
            return None
        h, w = self.heat.shape
        return xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h


def _fit(image, side):
    """RGB copy of a PIL image whose long side is at most `side`."""
    im = image.convert("RGB")
    if max(im.size) > side:
        im = im.copy()
        im.thumbnail((side, side))
    return im


def _estimate(src, dst):
    """RANSAC similarity dst -> src (B's points onto A's): (2x3 matrix, inlier mask) or None."""
    import cv2
    if len(src) < 4:
        return None
    m, mask = cv2.estimateAffinePartial2D(dst, src, method=cv2.RANSAC, ransacReprojThreshold=verify.RANSAC_PX)
    if m is None or mask is None:
        return None
    return m, mask.ravel().astype(bool)


def align(image_a, image_b) -> Alignment | None:
    """The similarity transform that lays photo B (a PIL image) on photo A, or None when too
    few keypoints agree (different pictures, or too little texture)."""
    a, b = _fit(image_a, verify.SIDE), _fit(image_b, verify.SIDE)
    fa, fb = verify.features_of_image(a), verify.features_of_image(b)
    best = None
    for mirrored, pts, desc in ((False, fb.pts, fb.desc), (True, fb.pts_m, fb.desc_m)):
        src, dst = mutual_matches(fa.pts, fa.desc, pts, desc)
        est = _estimate(src, dst)
        if est is not None and (best is None or est[1].sum() > best[2].sum()):
            best = (mirrored, est[0], est[1], src)
        if best is not None and best[2].sum() >= verify.CONFIRM:
            break                       # as the check: the mirror is tried only when needed
    if best is None or best[2].sum() < MIN_INLIERS:
        return None
    mirrored, m_px, mask, src = best
    (wa, ha), (wb, hb) = a.size, b.size
    # B's fractions -> B's pixels (mirrored as the features were) -> A's pixels -> A's fractions
    to_b_px = np.array([[(-1.0 if mirrored else 1.0) * wb, 0.0, (wb - 1.0) if mirrored else 0.0],
                        [0.0, hb, 0.0], [0.0, 0.0, 1.0]])
    to_a_frac = np.array([[1.0 / wa, 0.0, 0.0], [0.0, 1.0 / ha, 0.0], [0.0, 0.0, 1.0]])
    b_to_a = (to_a_frac @ np.vstack([m_px, [0.0, 0.0, 1.0]]) @ to_b_px)[:2]
    out = Alignment(b_to_a, mirrored, int(mask.sum()), np.zeros((4, 2)), np.zeros((4, 2)),
                    (src[mask] / np.array([wa, ha], np.float32)).astype(np.float32))
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    out.footprint_in_a = _apply(out.b_to_a, corners)
    out.footprint_in_b = _apply(out.a_to_b(), corners)
    return out


def _apply(m, pts):
    return np.asarray(pts, np.float64) @ m[:, :2].T + m[:, 2]


def _pixel_matrix(b_to_a, size_a, size_b):
    """The fraction-space transform as a pixel-space one from B's size to A's."""
    (wa, ha), (wb, hb) = size_a, size_b
    sa = np.array([[wa, 0.0, 0.0], [0.0, ha, 0.0], [0.0, 0.0, 1.0]])
    sb_inv = np.array([[1.0 / wb, 0.0, 0.0], [0.0, 1.0 / hb, 0.0], [0.0, 0.0, 1.0]])
    return (sa @ np.vstack([b_to_a, [0.0, 0.0, 1.0]]) @ sb_inv)[:2].astype(np.float32)


def warp_onto_a(image_a, image_b, alignment: Alignment, side: int = WORK_SIDE):
    """(A, B warped onto A's frame, B's coverage mask) as uint8 RGB arrays at long side `side`;
    the transform is refined on the luminance (ECC) first."""
    import cv2
    a = np.asarray(_fit(image_a, side))
    b = np.asarray(_fit(image_b, side))
    size_a, size_b = (a.shape[1], a.shape[0]), (b.shape[1], b.shape[0])
    m = _pixel_matrix(alignment.b_to_a, size_a, size_b)
    flags = cv2.INTER_LINEAR
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # ECC refines a matrix that maps A's pixels to B's (warpAffine's inverse map)
    inv = cv2.invertAffineTransform(m)
    try:
        _, inv = cv2.findTransformECC(ga, gb, inv.astype(np.float32), cv2.MOTION_AFFINE,
                                      (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5), None, 5)
    except cv2.error:
        pass                                     # no convergence: keep the keypoints' transform
    warped = cv2.warpAffine(b, inv, size_a, flags=flags | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    cover = cv2.warpAffine(np.full(b.shape[:2], 255, np.uint8), inv, size_a,
                           flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0)
    cover = cv2.erode(cover, np.ones((5, 5), np.uint8)) > 0
    return a, warped, cover


def difference(image_a, image_b, alignment: Alignment, side: int = WORK_SIDE) -> Difference:
    """How strongly aligned B differs from A at each point of A, after matching B's tones to
    A's (gain and offset of the luminance, fitted where B covers A)."""
    import cv2
    # compare at the coarser of the two resolutions: an upscaled small copy lacks the fine
    # detail of a large original everywhere, which is not what a user looks for
    m_full = _pixel_matrix(alignment.b_to_a, image_a.size, image_b.size)
    a_per_b = float(np.sqrt(abs(np.linalg.det(m_full[:, :2].astype(np.float64)))))
    side = int(max(128, min(side, max(image_a.size) / max(a_per_b, 1e-6))))
    a, warped, cover = warp_onto_a(image_a, image_b, alignment, side)
    la = cv2.GaussianBlur(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    lb = cv2.GaussianBlur(cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    if cover.sum() >= 16:
        gain, off = _tone_fit(lb[cover], la[cover])
        lb = gain * lb + off
    diff = np.abs(la - lb)
    heat = cv2.GaussianBlur(diff, (0, 0), 2.0) / HOT_LEVELS
    heat = np.clip(heat, 0.0, 1.0).astype(np.float32)
    heat[~cover] = 0.0
    changed = float(((heat > CHANGED) & cover).sum() / max(int(cover.sum()), 1))
    return Difference(heat, cover, changed, warped)


def _tone_fit(x, y):
    """Gain and offset that map B's luminance `x` onto A's `y`: least squares, then again on the
    80% of pixels that fit best, so a caption or a retouch does not bend the fit."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    keep = np.ones(len(x), bool)
    gain, off = 1.0, 0.0
    for _ in range(2):
        if keep.sum() < 16 or np.ptp(x[keep]) < 1e-3:
            break
        gain, off = np.polyfit(x[keep], y[keep], 1)
        res = np.abs(y - (gain * x + off))
        keep = res <= np.percentile(res, 80)
    return float(gain), float(off)


def compare_pictures(image_a, image_b, side: int = WORK_SIDE):
    """(Alignment or None, Difference or None) of two PIL images: what the compare view shows."""
    al = align(image_a, image_b)
    if al is None:
        return None, None
    return al, difference(image_a, image_b, al, side)
