"""Face verification with a model bundle: AUC and accuracy on a list of photo pairs.

    python bench/faces_pairs.py --pairs /tmp/faces/pairs.txt --model DIR [--faces]

`pairs.txt` has one "path_a path_b same(1|0)" line per pair (bench/faces_data.py writes one
of people no training set here contains). Every photo goes through the engine's own
decoding, face crop and embedding (core.scanner.prepare, core.embed.Embedder); `--faces`
crops the largest face even when the bundle embeds whole photos (the app's face mode).
Prints AUC, the best accuracy over all thresholds, the accuracy at the bundle's own
thresholds and that of always answering "different".
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np


def scores(model, pairs, faces: bool, threads: int = 2):
    from lookalike.core.bundle import load_bundle
    from lookalike.core.embed import Embedder
    from lookalike.core.scanner import prepare
    b = load_bundle(model)
    if faces:
        b = dataclasses.replace(b, preprocess="face")
    paths = sorted({p for a, c, _ in pairs for p in (a, c)})
    xs = {}
    for p in paths:
        r = prepare(0, p, b)
        if r.error:
            print(f"skip {p}: {r.error}", file=sys.stderr)
            continue
        xs[p] = r.input
    keys = list(xs)
    emb = Embedder(b, threads=threads)
    vec = np.concatenate([emb.embed_arrays(np.stack([xs[k] for k in keys[i:i + 16]]))
                          for i in range(0, len(keys), 16)])
    row = {k: i for i, k in enumerate(keys)}
    s, y = [], []
    for a, c, same in pairs:
        if a in row and c in row:
            s.append(float(vec[row[a]] @ vec[row[c]]) * 100)
            y.append(same)
    return np.array(s), np.array(y, dtype=bool), b


def summary(s, y, thresholds):
    order = np.argsort(-s, kind="stable")
    ys = y[order]
    # accuracy when the threshold sits just below the k-th highest score, k = 0..n
    tp = np.concatenate([[0], np.cumsum(ys)])
    fp = np.concatenate([[0], np.cumsum(~ys)])
    acc = (tp + (len(y) - y.sum() - fp)) / len(y)
    ranks = s.argsort().argsort() + 1
    npos, nneg = int(y.sum()), int((~y).sum())
    auc = (ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg)
    out = {"pairs": len(y), "same": npos, "different": nneg, "auc": round(float(auc), 4),
           "best_accuracy": round(float(acc.max()), 4),
           "always_different": round(nneg / len(y), 4)}
    for k, t in thresholds.items():
        out[f"accuracy_at_{k}_{t}"] = round(float(np.mean((s >= t) == y)), 4)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--faces", action="store_true")
    a = ap.parse_args(argv)
    pairs = []
    for line in open(a.pairs, encoding="utf-8"):
        parts = line.split()
        if len(parts) == 3:
            pairs.append((parts[0], parts[1], parts[2] == "1"))
    s, y, b = scores(a.model, pairs, a.faces)
    print(json.dumps({"model": a.model, "preprocess": b.preprocess, **summary(s, y, b.thresholds)}))


if __name__ == "__main__":
    main()
