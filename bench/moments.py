#!/usr/bin/env python3
"""The two tiers, "duplicate" (the same picture) and "similar" (the same moment), measured.

    python bench/moments.py --bench /tmp/bench-moments [--bench /tmp/bench-eval] [--model DIR] [--phash]

For each benchmark folder (images/ + truth.json; bench/make_moments.py builds the real-shot
set, the kit's make_bench.py the edited-copy set) it runs the real command line (`lookalike
scan`, then `groups --json`: every stored pair with its score) and scores the pairs:
- duplicate tier: the kit's evaluate.py (best F1, recall at precision 0.99, precision/recall at
  the model's duplicate threshold, near-miss pairs), plus how many `rearranged_pairs` (same
  place, different shot) score at or above the duplicate threshold;
  and how many groups at the duplicate threshold hold photos of two pictures (by the truth)
  or two photos whose capture facts say two shots (what `dedupe` would wrongly thin out);
- similar tier: positives are the pairs inside one of truth's `moments` (on a kit folder: its
  groups), pairs of one `places` entry that are not one moment are left out (on a kit folder:
  the near-miss crop pairs), every other pair is a negative. Precision and recall at the
  model's similar threshold, best F1 and recall at precision 0.90 / 0.99.
A pair the engine did not store counts as score 0. `--phash` adds ImageHash's pHash (64-bit,
after the EXIF orientation; score = 100 x (1 - Hamming distance / 64)) as the reference.
`score(truth, pairs, duplicate, similar)` is importable for prototype scores.
"""
import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KIT = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
if not os.path.isdir(KIT):
    KIT = "/work/shared/bench"


def key(a, b):
    return (a, b) if a < b else (b, a)


def similar_truth(truth):
    """(positive pairs, left-out pairs, all images) of the similar tier."""
    moments = truth.get("moments")
    places = truth.get("places", [])
    if moments is None:  # a kit folder: a group of copies is one moment, near-miss crops one place
        moments = truth["groups"]
        places = [truth["groups"][a] + truth["groups"][b] for a, b in truth.get("near_miss_pairs", [])]
    # the same picture is also the same moment
    pos = {key(a, b) for m in list(moments) + truth["groups"] for a, b in itertools.combinations(m, 2)}
    out = {key(a, b) for p in places for a, b in itertools.combinations(p, 2)} - pos
    images = set(truth["singletons"]) | {x for g in truth["groups"] for x in g} | {x for m in moments for x in m}
    return pos, out, images


def sweep(scores, pos, left_out, n_images):
    """Precision/recall curve over the scored pairs: [(threshold, precision, recall)]."""
    ranked = sorted(((s, k in pos) for k, s in scores.items() if k not in left_out), reverse=True)
    tp = fp = 0
    curve = []
    for i, (s, is_pos) in enumerate(ranked):
        tp += is_pos
        fp += not is_pos
        if i + 1 == len(ranked) or ranked[i + 1][0] != s:
            curve.append((s, tp / (tp + fp), tp / max(1, len(pos))))
    return curve


def at(scores, pos, left_out, t):
    hits = [k for k, s in scores.items() if s >= t and k not in left_out]
    tp = sum(k in pos for k in hits)
    p = tp / len(hits) if hits else 1.0
    r = tp / max(1, len(pos))
    return p, r


def summary(curve):
    best = max(curve, key=lambda c: 2 * c[1] * c[2] / max(1e-9, c[1] + c[2]), default=(0, 0, 0))
    f1 = 2 * best[1] * best[2] / max(1e-9, best[1] + best[2])
    r90 = max((c[2] for c in curve if c[1] >= 0.90), default=0.0)
    r99 = max((c[2] for c in curve if c[1] >= 0.99), default=0.0)
    return {"best_f1": f1, "best_threshold": best[0], "recall_at_p90": r90, "recall_at_p99": r99}


def score(truth, pairs, duplicate=None, similar=None, kit=KIT):
    """Both tiers for one scorer. pairs: [[a, b, score], ...] with names relative to images/."""
    sys.path.insert(0, kit)
    import evaluate
    scores = {}
    for a, b, s in pairs:
        a, b = os.path.basename(a), os.path.basename(b)
        scores[key(a, b)] = max(s, scores.get(key(a, b), 0.0))
    pred = {"pairs": [[a, b, s] for (a, b), s in scores.items()]}
    if duplicate is not None:
        pred["meta"] = {"default_threshold": duplicate}
    ev = evaluate.evaluate(truth, pred)
    dup = {"best_f1": ev["scored"]["best_f1"], "recall_at_p99": ev["scored"]["recall_at_precision_0.99"]}
    if duplicate is not None:
        dup.update(threshold=duplicate, precision=ev["default"]["precision"], recall=ev["default"]["recall"])
        rp = truth.get("rearranged_pairs", [])
        dup["rearranged_matched"] = sum(scores.get(key(a, b), 0) >= duplicate for a, b, _ in rp)
        dup["rearranged_pairs"] = len(rp)
        if "near_miss" in ev:
            dup["near_miss_matched"] = ev["near_miss"]["false_positives_default"]
            dup["near_miss_pairs"] = ev["near_miss"]["n_pairs"]
    pos, out, images = similar_truth(truth)
    scores = {k: s for k, s in scores.items() if k[0] in images and k[1] in images}
    curve = sweep(scores, pos, out, len(images))
    sim = summary(curve)
    sim["positives"] = len(pos)
    if similar is not None:
        p, r = at(scores, pos, out, similar)
        sim.update(threshold=similar, precision=p, recall=r)
    return {"duplicate": dup, "similar": sim}


def engine_pairs(images, model=None):
    """Scan into a throw-away library; return (pairs, model thresholds)."""
    with tempfile.TemporaryDirectory() as lib:
        env = dict(os.environ, LOOKALIKE_LIBRARY=lib)
        m = ["--model", model] if model else []
        run = lambda *a: subprocess.run([sys.executable, "-m", "lookalike.app.cli", *m, *a], env=env,
                                        check=True, capture_output=True, text=True)
        run("-q", "scan", images)
        out = os.path.join(lib, "pred.json")
        run("groups", "--json", out, "--relative-to", images)
        pred = json.load(open(out))
        th = pred["model"].get("thresholds", {})
        run("groups", "--json", out, "--relative-to", images, "--threshold", str(th.get("duplicate", pred["threshold"])))
        groups = [[m["path"] for m in g["members"]] for g in json.load(open(out))["groups"]]
    return pred["pairs"], th.get("duplicate", pred["threshold"]), th.get("similar"), groups


def mixed_groups(truth, groups, images):
    """(duplicate groups, those holding photos of two pictures by the truth, those holding two
    photos whose capture facts say two shots: what `dedupe` would wrongly thin out)."""
    from lookalike.core import decode
    from lookalike.core.relation import two_shots
    picture = {}
    for i, g in enumerate(truth["groups"]):
        picture.update((n, i) for n in g)
    mixed = shots = 0
    for g in groups:
        names = [os.path.basename(n) for n in g]
        mixed += len({picture.get(n, n) for n in names}) > 1
        caps = [decode.load(os.path.join(images, n), target=32).capture for n in names]
        shots += any(two_shots(x, y) for x, y in itertools.combinations(caps, 2))
    return len(groups), mixed, shots


def phash_pairs(images):
    import imagehash
    from PIL import Image, ImageOps
    hashes = {}
    for n in sorted(os.listdir(images)):
        with Image.open(os.path.join(images, n)) as im:
            hashes[n] = imagehash.phash(ImageOps.exif_transpose(im))
    names = sorted(hashes)
    return [[a, b, 100.0 * (1 - (hashes[a] - hashes[b]) / 64)] for a, b in itertools.combinations(names, 2)]


def fmt(res):
    d, s = res["duplicate"], res["similar"]
    line = f"  duplicate: best F1 {d['best_f1']:.3f}, R@P0.99 {d['recall_at_p99']:.3f}"
    if "threshold" in d:
        line += f"; at {d['threshold']:.2f}: P {d['precision']:.3f} R {d['recall']:.3f}"
        line += f", re-arranged matched {d['rearranged_matched']}/{d['rearranged_pairs']}"
        if "near_miss_matched" in d:
            line += f", near-miss {d['near_miss_matched']}/{d['near_miss_pairs']}"
    if "groups" in d:
        line += (f"\n  duplicate groups at the mark: {d['groups']}, holding two pictures {d['mixed_groups']}, "
                 f"two shots by their capture facts {d['two_shot_groups']}")
    line += f"\n  similar ({s['positives']} pairs): best F1 {s['best_f1']:.3f} (at {s['best_threshold']:.1f}), "
    line += f"R@P0.90 {s['recall_at_p90']:.3f}, R@P0.99 {s['recall_at_p99']:.3f}"
    if "threshold" in s:
        line += f"; at {s['threshold']:.2f}: P {s['precision']:.3f} R {s['recall']:.3f}"
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", action="append", required=True, help="folder with images/ and truth.json")
    ap.add_argument("--model", help="model bundle (default: the built-in one)")
    ap.add_argument("--phash", action="store_true", help="also score pHash (needs imagehash)")
    ap.add_argument("--no-engine", action="store_true", help="only the reference")
    ap.add_argument("--kit", default=KIT)
    ap.add_argument("--json", help="write all results here")
    args = ap.parse_args()
    results = {}
    for bench in args.bench:
        truth = json.load(open(os.path.join(bench, "truth.json")))
        images = os.path.join(bench, "images")
        results[bench] = {}
        if not args.no_engine:
            pairs, dup, sim, groups = engine_pairs(images, args.model)
            res = score(truth, pairs, dup, sim, args.kit)
            n, mixed, shots = mixed_groups(truth, groups, images)
            res["duplicate"].update(groups=n, mixed_groups=mixed, two_shot_groups=shots)
            results[bench]["lookalike"] = dict(res, pairs=pairs)
            print(f"{bench}: lookalike\n{fmt(res)}")
        if args.phash:
            res = score(truth, phash_pairs(images), None, None, args.kit)
            results[bench]["phash"] = res
            print(f"{bench}: pHash\n{fmt(res)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
