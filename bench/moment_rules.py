#!/usr/bin/env python3
"""Turn moment_probe.py's signals into the two tiers, and score each candidate rule.

    python bench/moment_rules.py --probe /tmp/probe-moments.npz --bench /tmp/bench-moments \
        [--probe /tmp/probe-eval.npz --bench /tmp/bench-eval] [--table]

`--table` prints the signals' quantiles per kind of pair (copy, each kind of moment,
re-arranged, overlap, viewpoint, unrelated). Then each rule gives every pair one score 0-100
and bench/moments.py's `score` measures both tiers at the model's thresholds:
- `engine`: today's verify.adjust on the copy cosine (inliers from the same matches);
- `pooled`: the similar tier from the backbone's pooled features, copy tier unchanged;
- `relation`: a pair is "the same picture" only if, warped by the check's transform, one photo
  covers most of the other and little changes after tone matching; a pair that shares pixels
  otherwise is another shot of the moment (at least "similar", held below the duplicate
  threshold); the similar tier from the pooled features;
- `relation+capture`: as `relation`, and two files whose EXIF capture facts (date-time original,
  sub-second, exposure time) both exist and differ are two shots, never one picture.
The limits are chosen on the first --probe/--bench only (the real-shot set); the others are
scored with the same limits.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import moments as mbench  # noqa: E402


def load(path):
    z = np.load(path, allow_pickle=True)
    cols = list(z["cols"])
    rows = z["rows"]
    data = {c: rows[:, i] for i, c in enumerate(cols)}
    for c in cols[3:]:
        data[c] = data[c].astype(np.float64)
    return data


def table(d):
    kinds = sorted(set(d["kind"]))
    cols = ["copy", "pooled", "inliers", "hom_inliers", "cover_a", "overlap", "overlap_b", "change"]
    print(f"{'kind':20s} {'n':>5s} " + " ".join(f"{c:>18s}" for c in cols))
    for k in kinds:
        m = d["kind"] == k
        if k == "other":
            m &= d["matches"] >= 0
        cells = []
        for c in cols:
            v = d[c][m]
            v = v[np.isfinite(v)]
            q = np.quantile(v, [0.05, 0.5, 0.95]) if len(v) else [np.nan] * 3
            cells.append(f"{q[0]:5.2f}/{q[1]:5.2f}/{q[2]:5.2f}".rjust(18))
        print(f"{k:20s} {m.sum():5d} " + " ".join(cells))


def lift(s, dup, lo):
    t = np.clip((s - lo) / (100.0 - lo), 0, 1)
    return np.maximum(s, dup + (100.0 - dup) * t)


def capture(images):
    """name -> (date-time original, sub-second, exposure time) of the files that carry them."""
    from PIL import Image
    out = {}
    for n in os.listdir(images):
        with Image.open(os.path.join(images, n)) as im:
            sub = im.getexif().get_ifd(0x8769)
        if sub.get(0x9003):
            out[n] = (sub.get(0x9003), sub.get(0x9291), sub.get(0x829A))
    return out


def different_capture(d, cap):
    """Both files say when they were captured, and they disagree: two shots, not one picture."""
    return np.array([a in cap and b in cap and cap[a] != cap[b] for a, b in zip(d["a"], d["b"])])


def rule_scores(d, rule, th, lim):
    dup, sim = th["duplicate"], th["similar"]
    lo = min(dup, sim) - 10.0
    copy = d["copy"]
    checked = (d["matches"] >= 0) & (copy >= lo)
    inl = d["inliers"]
    below = np.nextafter(dup, 0)
    if rule == "engine":
        s = copy.copy()
        up = checked & (inl >= 20)
        down = checked & (inl < 12)
        s[up] = lift(copy[up], dup, lo)
        s[down] = np.minimum(copy[down], sim + (dup - sim) * np.clip((copy[down] - lo) / (100 - lo), 0, 1))
        s[down] = np.minimum(s[down], below)
        return s
    # the similar tier: pooled cosine mapped so that lim["pooled"] lands on the similar threshold
    p = d["pooled"]
    ps = np.where(p >= lim["pooled"],
                  sim + (dup - sim) * (p - lim["pooled"]) / (100 - lim["pooled"]),
                  sim * p / lim["pooled"])
    ps = np.minimum(ps, below)
    if rule == "pooled":
        s = rule_scores(d, "engine", th, lim)
        return np.where(s >= dup, s, np.maximum(s, ps))
    # relation: the same picture only when the matches say so
    cover = np.maximum(d["overlap"], d["overlap_b"])
    same = checked & (inl >= 20) & (cover >= lim["cover"]) & (d["change"] <= lim["change"])
    if rule == "relation+capture":
        same &= ~d["two_shots"]
    s = np.where(same, lift(copy, dup, lo), np.minimum(np.maximum(copy, ps), below))
    # pixels shared but not one picture: another shot of the moment, at least "similar"
    shared = checked & (inl >= 20) & ~same
    t = np.clip((copy - lo) / (100.0 - lo), 0, 1)
    s = np.where(shared, np.minimum(np.maximum(s, sim + (dup - sim) * t), below), s)
    return s


def evaluate(d, truth, rule, th, lim):
    s = rule_scores(d, rule, th, lim)
    pairs = [[a, b, float(x)] for a, b, x in zip(d["a"], d["b"], s) if x > 0]
    return mbench.score(truth, pairs, th["duplicate"], th["similar"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probe", action="append", required=True)
    ap.add_argument("--bench", action="append", required=True)
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--scene", action="append", default=[],
                    help="another probe of the same folder (e.g. a plain ImageNet backbone, --floor 101) "
                         "whose pooled features replace this one's, one per --probe")
    ap.add_argument("--pooled", type=float, default=None, help="pooled cosine at the similar threshold")
    ap.add_argument("--cover", type=float, default=0.8, help="least share of one photo the other covers")
    ap.add_argument("--change", type=float, default=0.05, help="most share that differs after tone matching")
    args = ap.parse_args()
    from lookalike.resources import default_model_dir
    th = json.load(open(os.path.join(default_model_dir(), "model.json")))["thresholds"]
    sets = [(load(p), json.load(open(os.path.join(b, "truth.json"))), b) for p, b in zip(args.probe, args.bench)]
    for (d, _, _), scene in zip(sets, args.scene):
        other = load(scene)
        by_pair = {(a, b): p for a, b, p in zip(other["a"], other["b"], other["pooled"])}
        d["pooled"] = np.array([by_pair[(a, b)] for a, b in zip(d["a"], d["b"])])
    if args.table:
        for d, _, b in sets:
            print(b)
            table(d)
    d0, t0, _ = sets[0]
    lim = {"cover": args.cover, "change": args.change}
    if args.pooled is None:
        # the lowest pooled cosine at which the real-shot set's similar pairs keep precision >= 0.90
        pos, out, _ = mbench.similar_truth(t0)
        sc = {mbench.key(a, b): float(p) for a, b, p in zip(d0["a"], d0["b"], d0["pooled"])}
        curve = mbench.sweep(sc, pos, out, 0)
        ok = [c for c in curve if c[1] >= 0.90]
        lim["pooled"] = min(c[0] for c in ok) if ok else 99.0
    else:
        lim["pooled"] = args.pooled
    print(f"limits: {lim}")
    for d, _, b in sets:
        d["two_shots"] = different_capture(d, capture(os.path.join(b, "images")))
    for rule in ("engine", "pooled", "relation", "relation+capture"):
        for d, t, b in sets:
            print(f"{b} {rule}\n{mbench.fmt(evaluate(d, t, rule, th, lim))}")


if __name__ == "__main__":
    main()
