"""Does the tone-matched change, measured both ways, tell a shot from an edit? (issue 13)

    python bench/change_probe.py --bench /tmp/bench-moments --bench /tmp/bench-eval

An edit is a function of its original: once the original's tones are mapped onto the copy's,
nothing differs except where the edit itself clipped; a second shot (another exposure, a later
video frame) holds detail the first lacks and the other way round. `core/relation.change` maps
b's tones onto a's only; this probe also maps a's onto b's (the same code with the two swapped)
for every pair the check would judge (>= 20 inliers, one photo covering >= 80 % of the other):
the copies of truth's groups, and the shots of one moment (bracket, video, focus frames, with
or without capture facts). Prints, per kind, the engine's change and the larger of the two ways
(10th / 50th / 90th percentiles) and the share a 5 % limit calls the same picture.
"""
import argparse
import collections
import itertools
import json
import os

import numpy as np
from PIL import Image, ImageOps

from lookalike.core import relation


def pairs_of(truth):
    tr = truth["transforms"]
    for g in truth["groups"]:
        for x, y in itertools.combinations(g, 2):
            yield x, y, "copy"
    for m in truth.get("moments", []):
        shots = [n for n in m if tr.get(n, "").startswith(("bracket", "video", "focus"))]
        for x, y in itertools.combinations(shots, 2):
            yield x, y, "shot: " + tr[x].split("(")[0] + (" (capture facts)" if "EXIF" in tr[x] else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", action="append", required=True)
    args = ap.parse_args()
    ways = []
    one_way = relation._tone_change

    def both_ways(a, b, m):
        c = one_way(a, b, m)
        ways.append((c, one_way(b, a, m)))
        return c

    relation._tone_change = both_ways
    for bench in args.bench:
        truth = json.load(open(os.path.join(bench, "truth.json")))
        views, by = {}, collections.defaultdict(list)
        for x, y, kind in pairs_of(truth):
            for n in (x, y):
                if n not in views:
                    with Image.open(os.path.join(bench, "images", n)) as im:
                        views[n] = relation.view(ImageOps.exif_transpose(im))
            ways.clear()
            r = relation.relate(views[x], views[y])
            if r.inliers >= 20 and max(r.overlap, r.overlap_b) >= relation.SAME_COVER and ways:
                by[kind].append((r.change, max(ways[-1])))
        for kind, v in sorted(by.items()):
            v = np.array(v)
            print(f"{os.path.basename(bench)} {kind}: {len(v)} pairs; change p10/50/90 "
                  + " ".join(f"{q:.3f}" for q in np.percentile(v[:, 0], [10, 50, 90]))
                  + "; both ways " + " ".join(f"{q:.3f}" for q in np.percentile(v[:, 1], [10, 50, 90]))
                  + f"; same at {relation.SAME_CHANGE}: {np.mean(v[:, 0] <= relation.SAME_CHANGE):.2f}"
                  + f", both ways {np.mean(v[:, 1] <= relation.SAME_CHANGE):.2f}")


if __name__ == "__main__":
    main()
