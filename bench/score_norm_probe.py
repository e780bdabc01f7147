"""Score normalisation against a background set: does it lift the embedding alone? (issue 17)

    python bench/score_norm_probe.py --bundle resources/models/default --pool /work/data/pool \
        --exclude /work/ckpt/desc6/split.json --tune /tmp/bench-train \
        --bench /tmp/bench-eval --bench /work/data/bench-small

The copy detectors of DISC21 (SSCD among them) subtract from a pair's cosine how close each
photo comes to photos it is *not* a copy of: s'(a, b) = s(a, b) - beta * (n_k(a) + n_k(b)) / 2,
n_k(x) = x's k-th highest cosine to a background set of unrelated photos. A photo that looks
like many others (a "hub": a plain scene, a common kind of picture) then needs more to match.
Background: `--n` pool photos the model never trained on (not listed in `--exclude`, the
training run's split.json), chosen by a fixed shuffle. (k, beta) are chosen on `--tune` (the
kit's training part) by recall at precision 0.99, then applied unchanged to every `--bench`.
Prints R@P0.99 and best F1 of the plain and the normalised scores (every pair of a folder,
truth's groups as positives), embedded by the engine's own code.
"""
import argparse
import json
import os
import random
import tempfile

import numpy as np

from lookalike.trainer.benchmark import embed_folder

KS = (1, 2, 3, 5, 10)
BETAS = (0.25, 0.5, 0.75, 1.0)


def labels(bench, names):
    truth = json.load(open(os.path.join(bench, "truth.json")))
    g = {n: i for i, grp in enumerate(truth["groups"]) for n in grp}
    iu = np.triu_indices(len(names), 1)
    lab = np.array([g.get(names[i]) is not None and g.get(names[i]) == g.get(names[j]) for i, j in zip(*iu)])
    return iu, lab


def r99_f1(scores, lab):
    o = np.argsort(-scores, kind="stable")
    tp, fp = np.cumsum(lab[o]), np.cumsum(~lab[o])
    p, r = tp / (tp + fp), tp / max(1, lab.sum())
    ok = p >= 0.99
    return (float(r[ok].max()) if ok.any() else 0.0), float((2 * p * r / np.maximum(p + r, 1e-9)).max())


def kth(V, BG, k):
    return np.sort(V @ BG.T, axis=1)[:, -k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--pool", required=True)
    ap.add_argument("--exclude", help="the training run's split.json: its photos are not background")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--tune", required=True, help="kit folder (--part train) to choose k and beta on")
    ap.add_argument("--bench", action="append", required=True)
    a = ap.parse_args()
    used = set()
    if a.exclude:
        used = {os.path.basename(p) for p in json.load(open(a.exclude))["photos"]}
    pool = sorted(p for p in os.listdir(a.pool) if p not in used and not p.startswith("."))
    random.Random(0).shuffle(pool)
    with tempfile.TemporaryDirectory() as bg:
        for p in pool[:a.n]:
            os.symlink(os.path.join(os.path.abspath(a.pool), p), os.path.join(bg, p))
        _, BG, _ = embed_folder(a.bundle, bg)
    print(f"background: {len(BG)} pool photos")
    names, V, _ = embed_folder(a.bundle, os.path.join(a.tune, "images"))
    iu, lab = labels(a.tune, names)
    S = (V @ V.T)[iu]
    best = max(((r99_f1(S - beta * (kth(V, BG, k)[iu[0]] + kth(V, BG, k)[iu[1]]) / 2, lab), k, beta)
                for k in KS for beta in BETAS), key=lambda t: t[0])
    (r, f), k, beta = best
    print(f"{a.tune} (tuning): plain R@P0.99 {r99_f1(S, lab)[0]:.3f}; best k={k} beta={beta}: {r:.3f}")
    for bench in a.bench:
        names, V, _ = embed_folder(a.bundle, os.path.join(bench, "images"))
        iu, lab = labels(bench, names)
        S = (V @ V.T)[iu]
        n = kth(V, BG, k)
        plain, norm = r99_f1(S, lab), r99_f1(S - beta * (n[iu[0]] + n[iu[1]]) / 2, lab)
        print(f"{bench}: R@P0.99 / best F1 plain {plain[0]:.3f} / {plain[1]:.3f}, "
              f"normalised (k={k}, beta={beta}) {norm[0]:.3f} / {norm[1]:.3f}")


if __name__ == "__main__":
    main()
