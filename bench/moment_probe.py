#!/usr/bin/env python3
"""Prototype signals for the two tiers, per kind of pair, on a benchmark folder.

    python bench/moment_probe.py --bench /tmp/bench-moments --out /tmp/probe-moments.npz

For every photo: the copy embedding (the model's output) and the backbone's pooled features
(the input of the projection head, taken from the same forward pass by adding it as a second
ONNX output in memory). For every pair: both cosines x 100. For the pairs the copy embedding
puts close (>= the engine's check floor, 62.95), the geometric check's matches, classified: inliers of a
similarity transform (what core/verify.py counts), of a homography, the share of the photo's
area the inliers span on each side (convex hull), and the photometric residual after warping
one photo onto the other and matching their tones (a copy differs by its edit only; another
shot of the moment by noise, motion and clipping). Saves everything for `moment_rules.py`.
"""
import argparse
import itertools
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import moments as mbench  # noqa: E402


def kinds(truth):
    """pair -> kind: copy, moment-<kind>, rearranged/overlap/viewpoint, place, other."""
    out = {}
    src = truth["transforms"]
    for m in truth.get("moments") or truth["groups"]:
        for a, b in itertools.combinations(m, 2):
            kind = src[a].split("(")[0] if "(" in src[a] and not src[a].startswith("orig") else "moment"
            out[mbench.key(a, b)] = f"moment-{kind}"
    for p in truth.get("places", []):
        for a, b in itertools.combinations(p, 2):
            out.setdefault(mbench.key(a, b), "place")
    for a, b, k in truth.get("rearranged_pairs", []):
        out[mbench.key(a, b)] = k
    for ga, gb in truth.get("near_miss_pairs", []):
        for a in truth["groups"][ga]:
            for b in truth["groups"][gb]:
                out[mbench.key(a, b)] = "near-miss"
    for g in truth["groups"]:
        for a, b in itertools.combinations(g, 2):
            out[mbench.key(a, b)] = "copy"
    return out


def session_with_pooled(onnx_path):
    import onnx
    import onnxruntime as ort
    m = onnx.load(onnx_path)
    gemm = [n for n in m.graph.node if n.op_type == "Gemm"]
    # a model without a projection head (a plain backbone) is its pooled features
    pooled = gemm[-1].input[0] if gemm else m.graph.output[0].name
    m.graph.output.append(onnx.helper.make_tensor_value_info(pooled, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(m.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--model", default=None, help="model bundle (default: the built-in one)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--floor", type=float, default=62.95,
                    help="relate pairs from this copy score up (the engine's check floor)")
    args = ap.parse_args()
    from lookalike.core import bundle as bmod, decode, relation
    from lookalike.resources import default_model_dir
    b = bmod.load_bundle(args.model or default_model_dir())
    truth = json.load(open(os.path.join(args.bench, "truth.json")))
    images = os.path.join(args.bench, "images")
    names = sorted(os.listdir(images))
    sess = session_with_pooled(str(b.onnx_path))
    emb, pooled, views = [], [], []
    for i in range(0, len(names), 32):
        batch, ims = [], []
        for n in names[i:i + 32]:
            d = decode.load(os.path.join(images, n), target=max(b.input.size))
            batch.append(bmod.to_input(d.image, b.input))
            if args.floor <= 100:
                ims.append(relation.view(decode.load(os.path.join(images, n), target=relation.SIDE).image))
        e, p = sess.run(None, {sess.get_inputs()[0].name: np.stack(batch).astype(np.float32)})
        emb.append(e)
        pooled.append(p.reshape(len(batch), -1))
        views += ims
    emb = np.concatenate(emb)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    pooled = np.concatenate(pooled)
    pooled_c = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    s_copy = emb @ emb.T * 100
    s_pool = pooled_c @ pooled_c.T * 100
    kind = kinds(truth)
    rows = []
    for i, j in itertools.combinations(range(len(names)), 2):
        k = kind.get(mbench.key(names[i], names[j]), "other")
        close = s_copy[i, j] >= args.floor
        rel = relation.relate(views[i], views[j]) if close else None
        rows.append((names[i], names[j], k, s_copy[i, j], s_pool[i, j],
                     *(rel.as_tuple() if rel else relation.Relation.none().as_tuple())))
    cols = ["a", "b", "kind", "copy", "pooled", *relation.Relation.fields()]
    np.savez(args.out, rows=np.array(rows, dtype=object), cols=np.array(cols), pooled=pooled, names=np.array(names))
    print(f"{len(rows)} pairs, {sum(r[5] >= 0 for r in rows)} checked -> {args.out}")


if __name__ == "__main__":
    main()
