#!/usr/bin/env python3
"""Would a geometric check tell a near-miss from a copy? (an experiment, not used by the engine)

    python bench/spatial_probe.py --bench /work/bench-eval

For every near-miss pair and every (original, copy) pair of the kit folder: ORB keypoints
(1000, on the luminance at 512 px), ratio-test matches, RANSAC similarity transform
(cv2.estimateAffinePartial2D); prints the inlier counts by kind of pair and by edit.
"""
import argparse
import json
import os
from collections import defaultdict

import cv2
import numpy as np
from PIL import Image, ImageOps


def gray(path, side=512):
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("L")
        im.thumbnail((side, side))
        return np.asarray(im)


def inliers(orb, a, b):
    ka, da = orb.detectAndCompute(a, None)
    kb, db = orb.detectAndCompute(b, None)
    if da is None or db is None or len(ka) < 2 or len(kb) < 2:
        return 0
    good = [m[0] for m in cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
            if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(good) < 4:
        return len(good)
    pa = np.float32([ka[g.queryIdx].pt for g in good])
    pb = np.float32([kb[g.trainIdx].pt for g in good])
    _, mask = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=5)
    return int(mask.sum()) if mask is not None else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True)
    a = ap.parse_args()
    t = json.load(open(os.path.join(a.bench, "truth.json")))
    img = lambda n: gray(os.path.join(a.bench, "images", n))   # noqa: E731
    orb = cv2.ORB_create(1000)
    near = [inliers(orb, img(t["groups"][i][0]), img(t["groups"][j][0])) for i, j in t["near_miss_pairs"]]
    print("near-miss pairs (the two crops' originals):", near)
    by_edit = defaultdict(list)
    for g in t["groups"]:
        if len(g) < 3:
            continue
        base = img(g[0])
        for c in g[1:]:
            edit = t["transforms"].get(c, "?").split("(")[0]
            by_edit[edit].append(inliers(orb, base, img(c)))
    for edit, v in sorted(by_edit.items(), key=lambda kv: np.median(kv[1])):
        print(f"{edit:14} n={len(v):3}  min {min(v):4}  median {int(np.median(v)):4}  below 20: {sum(x < 20 for x in v)}")


if __name__ == "__main__":
    main()
