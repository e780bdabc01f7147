"""Score a model bundle on a benchmark-kit folder (images/ + truth.json).

    python -m lookalike.trainer.benchmark --bundle DIR --bench /work/bench-eval [--views 8]

Every image is decoded and embedded by the engine's own code (core.scanner.prepare: JPEG
draft decoding, orientation, optional face crop, core.bundle.to_input; core.embed.Embedder);
all pairs with score (cosine x 100) >= 30 go to pred.json with the bundle's
duplicate threshold as the default, and the kit's evaluate.py scores it.
`--views N` averages the embeddings of N rotations/mirrors of the input (test-time, outside
the model) to show what orientation averaging would give.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

EVALUATE = os.environ.get("LOOKALIKE_BENCH_EVALUATE", "/work/shared/bench/evaluate.py")
MIN_SCORE = 30.0
KEY_TRANSFORMS = ["rot90", "rot180", "hflip", "exif_orient", "grayscale", "crop", "crop_strong"]


def _views(a: np.ndarray, n: int):
    """n orientations of a CHW array, or of each view of a [views, C, H, W] one (square
    inputs): 1, 2 (+mirror), 4 (rotations), 8 (D4)."""
    if n == 1:
        return [a]
    if n == 2:
        return [a, a[..., ::-1]]
    rots = [np.rot90(a, k, axes=(-2, -1)) for k in range(4)]
    if n == 4:
        return rots
    return rots + [r[..., ::-1] for r in rots]


def embed_folder(bundle_dir, folder, views: int = 1, batch: int = 16, threads: int = 2):
    """(file names, unit vectors, bundle): decoded and embedded by the engine's own code."""
    from lookalike.core.bundle import load_bundle
    from lookalike.core.embed import Embedder
    from lookalike.core.scanner import prepare
    b = load_bundle(bundle_dir)
    embedder = Embedder(b, threads=threads)
    names = sorted(p for p in os.listdir(folder) if not p.startswith("."))
    inputs, kept = [], []
    for n in names:
        p = prepare(0, os.path.join(folder, n), b)
        x, error = p.input, p.error
        if error is not None:
            print(f"skip {n}: {error}", file=sys.stderr)
            continue
        inputs.append(_views(x, views))
        kept.append(n)
    vecs = []
    for i in range(0, len(inputs), batch):
        chunk = inputs[i:i + batch]
        e = np.mean([embedder.embed_arrays(np.stack([per_image[v] for per_image in chunk]))
                     for v in range(views)], axis=0)
        vecs.append(e / np.linalg.norm(e, axis=1, keepdims=True))
    return kept, np.concatenate(vecs).astype(np.float32), b


def score(bundle_dir, bench, out_dir=None, views: int = 1, threshold: float | None = None):
    bench = Path(bench)
    names, vecs, b = embed_folder(bundle_dir, bench / "images", views=views)
    sim = vecs @ vecs.T * 100.0
    thr = float(threshold if threshold is not None else b.thresholds["duplicate"])
    iu = np.triu_indices(len(names), 1)
    keep = sim[iu] >= MIN_SCORE
    pairs = [[names[i], names[j], round(float(s), 3)]
             for i, j, s in zip(iu[0][keep], iu[1][keep], sim[iu][keep])]
    # never the bundle folder itself: a shipped bundle must not collect benchmark files
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="lookalike-bench-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"-views{views}" if views != 1 else ""
    pred = out_dir / f"bench_pred{tag}.json"
    pred.write_text(json.dumps({"pairs": pairs, "meta": {"default_threshold": thr,
                                                         "model": b.name, "views": views}}))
    ev = out_dir / f"bench_eval{tag}.json"
    proc = subprocess.run([sys.executable, EVALUATE, "--truth", str(bench / "truth.json"),
                           "--pred", str(pred), "--json", str(ev)],
                          capture_output=True, text=True, check=True)
    res = json.loads(ev.read_text())
    return summarize(res, thr), proc.stdout


def summarize(res, thr):
    s = res.get("scored") or {}
    per = res.get("per_transform_recall", {})
    nm = res.get("near_miss", {})
    return {
        "default_threshold": thr,
        "default_precision": res["default"]["precision"], "default_recall": res["default"]["recall"],
        "default_f1": res["default"]["f1"],
        "best_f1": s.get("best_f1"), "best_threshold": s.get("best_threshold"),
        "recall_at_precision_0.99": s.get("recall_at_precision_0.99"),
        "near_miss_fp_default": nm.get("false_positives_default"),
        "near_miss_pairs": nm.get("n_pairs"),
        "distractor_fp_default": res.get("distractor_false_positives_default"),
        "per_transform_recall_default": {t: round(per[t]["default"], 3) for t in KEY_TRANSFORMS if t in per},
        "per_transform_recall_default_all": {t: round(v["default"], 3) for t, v in per.items()},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lookalike.trainer.benchmark", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--bench", required=True, help="folder with images/ and truth.json")
    ap.add_argument("--out", help="where pred/eval files go (default: a new temporary folder)")
    ap.add_argument("--views", type=int, default=1, choices=(1, 2, 4, 8))
    ap.add_argument("--threshold", type=float, help="default threshold (default: the bundle's)")
    a = ap.parse_args(argv)
    summary, table = score(a.bundle, a.bench, a.out, a.views, a.threshold)
    print(table, file=sys.stderr)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
