#!/usr/bin/env python3
"""The geometric check (core.verify) on the benchmark kit: inliers by kind of pair, and its cost.

    python bench/verify_probe.py --bench /work/bench-eval [--model DIR]

Scans BENCH/images with the real engine in a throw-away library (timing each stage), then reads
the stored checks and prints, for copies (same group), near-miss pairs and unrelated photos,
the inlier counts among the checked pairs (edges at or above the model's check floor), how many
fall on each side of the confirm/refute limits, and the check stage's time.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def main():
    from lookalike.core import verify
    from lookalike.core.library import Library
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--model", help="model bundle (default: the built-in one)")
    args = ap.parse_args()
    truth = json.load(open(os.path.join(args.bench, "truth.json")))
    group_of = {n: i for i, g in enumerate(truth["groups"]) for n in g}
    near = {tuple(sorted(p)) for p in truth["near_miss_pairs"]}
    stages = {}

    def progress(ev):
        first, _ = stages.get(ev.stage, (time.perf_counter(), 0))
        stages[ev.stage] = (first, time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp, Library(tmp, write=True) as lib:
        bundle = lib.bundle(args.model)
        t0 = time.perf_counter()
        stats = lib.scan([os.path.join(args.bench, "images")], bundle=bundle, progress=progress)
        total = time.perf_counter() - t0
        a, b, g = lib.catalog.pair_checks()
        names = {r.id: os.path.basename(r.path) for r in lib.catalog.files()}
    kinds = defaultdict(list)
    for x, y, n in zip(a.tolist(), b.tolist(), g.tolist()):
        gx, gy = group_of.get(names[x]), group_of.get(names[y])
        if gx is not None and gx == gy:
            kinds["copies"].append(n)
        elif gx is not None and gy is not None and tuple(sorted((gx, gy))) in near:
            kinds["near-miss"].append(n)
        else:
            kinds["unrelated"].append(n)
    print(f"{bundle.name}: check floor {verify.floor(bundle.thresholds):.2f}, confirm >= {verify.CONFIRM}, "
          f"refute < {verify.REFUTE} inliers")
    for kind in ("copies", "near-miss", "unrelated"):
        v = np.array(kinds.get(kind, []))
        if not len(v):
            print(f"{kind:10} none checked")
            continue
        ok = v[v >= 0]
        print(f"{kind:10} {len(v):5} pairs: inliers min {ok.min() if len(ok) else '-'}, 5th pct "
              f"{int(np.percentile(ok, 5)) if len(ok) else '-'}, median {int(np.median(ok)) if len(ok) else '-'}, "
              f"max {ok.max() if len(ok) else '-'}; confirmed {(v >= verify.CONFIRM).sum()}, "
              f"refuted {((v >= 0) & (v < verify.REFUTE)).sum()}, inconclusive {(v < 0).sum()}")
    spent = {k: e - s for k, (s, e) in stages.items()}
    print(f"scan of {stats.found} photos: {total:.1f} s, of which checking {stats.verified} pairs "
          f"{spent.get('verify', 0):.1f} s ({stats.verified / max(spent.get('verify', 1e-9), 1e-9):.0f} pairs/s); "
          + ", ".join(f"{k} {v:.1f} s" for k, v in spent.items() if k != "verify"))


if __name__ == "__main__":
    main()
