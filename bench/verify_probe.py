#!/usr/bin/env python3
"""The geometric check (core.verify) on the benchmark kit: inliers by kind of pair, and its cost.

    python bench/verify_probe.py --bench /work/bench-eval [--model DIR]

Scans BENCH/images with the real engine in a throw-away library (timing each stage, wall clock
and CPU time of the process), then reads the stored checks and prints, for copies (same group),
near-miss pairs and unrelated photos, the inlier counts among the checked pairs (edges in the
model's check band), how many fall on each side of the confirm/refute limits, and the check
stage's time.
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
        now = (time.perf_counter(), time.process_time())
        first = stages.get(ev.stage, (now, now))[0]
        stages[ev.stage] = (first, now)

    with tempfile.TemporaryDirectory() as tmp, Library(tmp, write=True) as lib:
        bundle = lib.bundle(args.model)
        t0, c0 = time.perf_counter(), time.process_time()
        stats = lib.scan([os.path.join(args.bench, "images")], bundle=bundle, progress=progress)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
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
    lo, hi = verify.band(bundle.thresholds, bundle.check_band)
    print(f"{bundle.name}: check band [{lo:.2f}, {hi:.2f}), confirm >= {verify.CONFIRM}, "
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
              f"refuted {((v >= 0) & (v < verify.REFUTE)).sum()}, quick step only (below the duplicate "
              f"threshold) {(v == verify.SHALLOW).sum()}, inconclusive {((v < 0) & (v != verify.SHALLOW)).sum()}")
    spent = {k: (e[0] - s[0], e[1] - s[1]) for k, (s, e) in stages.items()}
    wall, busy = spent.get("verify", (1e-9, 1e-9))
    print(f"scan of {stats.found} photos: {total:.1f} s ({cpu:.1f} s CPU), of which checking {stats.verified} "
          f"pairs {wall:.1f} s ({busy:.1f} s CPU, {busy / max(cpu, 1e-9):.0%} of the scan's CPU; "
          f"{stats.verified / max(wall, 1e-9):.0f} pairs/s); "
          + ", ".join(f"{k} {v[0]:.1f} s ({v[1]:.1f} s CPU)" for k, v in spent.items() if k != "verify"))

if __name__ == "__main__":
    main()
