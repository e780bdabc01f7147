#!/usr/bin/env python3
"""Calibrate a copy model's two thresholds on data it is not measured on.

    python bench/calibrate_thresholds.py --bundle DIR --bench /tmp/bench-train --pool /work/data/pool \
        [--exclude WORK/split.json] [--photos 600] [--write]

* duplicate = the most alike non-copy pair of BENCH (the kit's --part train folder: near-miss
  crops and unrelated photos), by the embedding alone, rounded up to 0.1: no non-copy of the
  training part reaches it without the check.
* similar = the score that SIMILAR_SHARE (0.05 %) of the pairs of unrelated photos reach: PHOTOS
  photos of POOL (`bench/make_pool.py`) that the model did not train on (`--exclude` the run's
  split.json), every pair. 0.05 % is the share the first copy model's similar mark (50, the
  stored-edge floor) let through, so a new model keeps the "similar" tier as selective on
  unrelated photos; at least 5 below duplicate and never below the stored-edge floor. For a
  model with a scene vector (model.json `input.scene_views`) a pair's score below duplicate is
  the higher of its copy and scene scores (`core.grouping.merge_scene`): the share is counted
  on that.
* `--like OTHER` (a model trained on the whole pool, so no pool photo is unseen): POOL is then a
  set of other unrelated photos (`bench/make_unseen.py`), and the share is the one OTHER's own
  similar mark lets through on it, so the new mark is as selective as OTHER's was calibrated to
  be (a set of a few sources holds more alike pairs than the pool: the default's mark 63.84 is
  the 0.05 % point of its pool pairs, the 0.14 % point of make_unseen's).
With --write both go into the bundle's model.json ("thresholds"; the rest is kept), and run
`bench/calibrate_band.py --write` after it (the band does not depend on them).
"""
import argparse
import json
import os
import random
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

SIMILAR_SHARE = 0.0005


def duplicate_threshold(bundle, bench) -> float:
    from calibrate_band import pair_scores
    s, copy, _ = pair_scores(bundle, bench)
    return float(np.ceil(s[~copy].max() * 10) / 10) if (~copy).any() else 99.0


def unrelated_scores(bundle, pool, photos, exclude=()) -> np.ndarray:
    from lookalike.core import scanner
    from lookalike.core.embed import Embedder
    names = sorted(f for f in os.listdir(pool) if os.path.splitext(f)[1].lower() in (".jpg", ".jpeg", ".png", ".webp")
                   and f not in exclude)
    random.Random(0).shuffle(names)
    inputs = [scanner.prepare(i, os.path.join(pool, f), bundle).input for i, f in enumerate(names[:photos])]
    v, scene = Embedder(bundle).embed_both(np.stack([x for x in inputs if x is not None]))
    iu = np.triu_indices(len(v), 1)
    s = (v @ v.T * 100.0)[iu]
    if scene is not None:      # what the groups show below the duplicate mark
        s = np.maximum(s, (scene @ scene.T * 100.0)[iu])
    return s


def main():
    from lookalike.core.bundle import load_bundle
    from lookalike.core.scanner import EDGE_FLOOR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--bench", required=True, help="the kit's --part train folder")
    ap.add_argument("--pool", required=True, help="folder of diverse photos (bench/make_pool.py)")
    ap.add_argument("--exclude", help="the training run's split.json: its photos are left out")
    ap.add_argument("--photos", type=int, default=600)
    ap.add_argument("--like", help="a bundle whose similar mark's share of POOL's pairs to keep")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    exclude = set()
    if args.exclude:
        split = json.load(open(args.exclude))
        exclude = {os.path.basename(p) for key in ("photos", "val") for p in split.get(key, []) if isinstance(p, str)}
    dup = duplicate_threshold(bundle, args.bench)
    s = unrelated_scores(bundle, args.pool, args.photos, exclude)
    share = SIMILAR_SHARE
    if args.like:
        like = load_bundle(args.like)
        share = float((unrelated_scores(like, args.pool, args.photos, exclude) >= like.thresholds["similar"]).mean())
        print(f"{args.like}: its similar mark {like.thresholds['similar']:.2f} lets {share:.3%} of these pairs through")
    share_sim = float(np.quantile(s, 1.0 - share))
    sim = round(max(EDGE_FLOOR, min(dup - 5.0, share_sim)), 2)
    print(f"{bundle.name}: duplicate {dup:.2f} (most alike non-copy of {args.bench}); similar {sim:.2f} "
          f"({share:.3%} of {len(s)} unrelated pairs reach {share_sim:.2f}; "
          f"{(s >= 50.0).mean():.3%} reach 50)")
    if args.write:
        path = os.path.join(args.bundle, "model.json")
        meta = json.load(open(path, encoding="utf-8"))
        meta["thresholds"] = {"duplicate": dup, "similar": sim}
        with tempfile.NamedTemporaryFile("w", dir=args.bundle, delete=False, suffix=".tmp", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
            fh.write("\n")
        os.replace(fh.name, path)
        print(f"wrote thresholds into {path}")


if __name__ == "__main__":
    main()
