#!/usr/bin/env python3
"""Calibrate a model's check band: the embedding scores at which the geometric check decides.

    python bench/calibrate_band.py --bundle resources/models/default --bench /tmp/bench-train [--write]

Scans BENCH/images with the bundle in a throw-away library, without the check, and reads every
stored pair's embedding score, labelled by BENCH/truth.json: copies (same group) and non-copies
(near-miss pairs and unrelated photos). Then:

* high = the most alike non-copy pair's score + HIGH_MARGIN (3/4) of what is left up to 100.
  From there on the embedding alone settles a pair: it counts as a confirmed copy without a
  check. The margin is wide because the most alike non-copy of photos a model has not seen
  scores higher than those of the training part (default model: 79.96 on the training part,
  89.16 on the eval part, 90.37 for two textures of the dev part).
* low = the score below which lie LOW_SHARE of the copies: pairs below it keep their embedding
  score unchecked. LOW_SHARE is 0, the lowest copy score: since a group of copies costs only
  as many checks as it has photos less one (the rest settles, core.scanner.verify_edges), a
  wide band costs little, and with 2 % the hard copies of the eval part (rotations, strong
  crops) fell below it (bench/README.md).

Use a kit folder made from the photos the model was NOT measured on (`make_bench.py --part
train`); measure the result on `--part eval`. With --write the band goes into the bundle's
model.json as "check_band": [low, high] (the rest of the file is kept). Prints how many pairs of
each kind fall below, in and above the band; run it with --bench on another kit folder (without
--write) to count the pairs there with the bundle's band.
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

LOW_SHARE = 0.0
HIGH_MARGIN = 0.75


def pair_scores(bundle, bench):
    """(scores, is_copy, is_near_miss) of every stored pair below 100 (identical files excluded)."""
    from lookalike.core.library import Library
    truth = json.load(open(os.path.join(bench, "truth.json")))
    group_of = {n: i for i, g in enumerate(truth["groups"]) for n in g}
    near = {tuple(sorted(p)) for p in truth["near_miss_pairs"]}
    plain = dataclasses.replace(bundle, matches="subjects")     # the embedding alone: no check
    with tempfile.TemporaryDirectory() as tmp, Library(tmp, write=True) as lib:
        lib.scan([os.path.join(bench, "images")], bundle=plain)
        a, b, s, _ = lib.catalog.edges(lib.model_key(plain))
        names = {r.id: os.path.basename(r.path) for r in lib.catalog.files()}
    keep = s < 100.0
    ga = [group_of.get(names[x]) for x in a[keep].tolist()]
    gb = [group_of.get(names[y]) for y in b[keep].tolist()]
    copy = np.array([x is not None and x == y for x, y in zip(ga, gb)], bool)
    near_miss = np.array([x is not None and y is not None and tuple(sorted((x, y))) in near
                          for x, y in zip(ga, gb)], bool)
    return s[keep].astype(np.float64), copy, near_miss


def calibrate(s, copy) -> tuple[float, float]:
    if not copy.any() or copy.all():
        raise SystemExit("the kit folder needs both copies and non-copies to calibrate a band")
    worst = float(s[~copy].max())
    high = worst + (100.0 - worst) * HIGH_MARGIN
    low = float(np.quantile(s[copy], LOW_SHARE))
    return round(low, 2), round(min(high, 100.0), 2)


def report(s, copy, near_miss, band):
    low, high = band
    zones = {"below": s < low, "in": (s >= low) & (s < high), "above": s >= high}
    kinds = {"copies": copy, "near-miss": near_miss, "unrelated": ~copy & ~near_miss}
    print(f"check band [{low:.2f}, {high:.2f}): pairs by kind (all stored pairs below 100)")
    print(f"{'':10}" + "".join(f"{z:>8}" for z in zones))
    for kind, m in kinds.items():
        print(f"{kind:10}" + "".join(f"{int((m & z).sum()):8d}" for z in zones.values()))
    if (~copy & zones["above"]).any():
        print(f"WARNING: {int((~copy & zones['above']).sum())} non-copy pairs score above the band "
              f"(they count as copies without a check)")


def write_band(bundle_dir, band):
    path = os.path.join(bundle_dir, "model.json")
    meta = json.load(open(path, encoding="utf-8"))
    meta["check_band"] = list(band)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)


def main():
    from lookalike.core.bundle import load_bundle
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="model bundle folder")
    ap.add_argument("--bench", required=True, help="kit folder (images/, truth.json)")
    ap.add_argument("--write", action="store_true", help="write the calibrated band into the bundle's model.json")
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    s, copy, near_miss = pair_scores(bundle, args.bench)
    print(f"{bundle.name}: {len(s)} pairs ({int(copy.sum())} copies, {int(near_miss.sum())} near-miss, "
          f"{int((~copy & ~near_miss).sum())} unrelated); most alike non-copy {s[~copy].max():.2f}, "
          f"duplicate threshold {bundle.thresholds['duplicate']:g}")
    if args.write:
        band = calibrate(s, copy)
        write_band(args.bundle, band)
        print(f"wrote check_band {list(band)} into {os.path.join(args.bundle, 'model.json')}")
    else:
        band = bundle.check_band or calibrate(s, copy)
        print("the bundle's band" if bundle.check_band else "the band this folder would calibrate (not written)")
    report(s, copy, near_miss, band)


if __name__ == "__main__":
    main()
