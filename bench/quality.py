#!/usr/bin/env python3
"""Matching quality on the benchmark kit, through the real command line.

    python bench/quality.py --bench /tmp/bench-eval [--model DIR] [--thresholds 85,90] [--rules rep,single]

Runs `lookalike scan` on BENCH/images in a throw-away library, then `lookalike groups
--json --bench-format` at each threshold and rule, and scores each with the kit's
evaluate.py (../shared/bench/evaluate.py by default). Prints one line per setting and the
per-transform recall of the first one.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KIT = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))


def lookalike(*args, env):
    return subprocess.run([sys.executable, "-m", "lookalike.app.cli", *args], env=env, check=True,
                          capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="folder with images/ and truth.json")
    ap.add_argument("--model", help="model bundle (default: the built-in one)")
    ap.add_argument("--thresholds", help="comma-separated scores (default: the model's duplicate threshold)")
    ap.add_argument("--rules", default="rep", help="comma-separated grouping rules: rep,single")
    ap.add_argument("--kit", default=KIT, help="the benchmark kit folder (evaluate.py)")
    ap.add_argument("--json", help="write all results here")
    args = ap.parse_args()
    sys.path.insert(0, args.kit)
    import evaluate

    images = os.path.join(args.bench, "images")
    truth = json.load(open(os.path.join(args.bench, "truth.json")))
    results = []
    with tempfile.TemporaryDirectory() as lib:
        env = dict(os.environ, LOOKALIKE_LIBRARY=lib)
        model = ["--model", args.model] if args.model else []
        scan = lookalike("-q", *model, "scan", images, env=env)
        print(scan.stdout.strip())
        thresholds = [None] if not args.thresholds else [float(t) for t in args.thresholds.split(",")]
        for rule in args.rules.split(","):
            for t in thresholds:
                out = os.path.join(lib, "pred.json")
                extra = [] if t is None else ["--threshold", str(t)]
                lookalike("groups", *extra, "--rule", rule, "--json", out, "--relative-to", images,
                          "--bench-format", env=env)
                pred = json.load(open(out))
                res = evaluate.evaluate(truth, pred)
                d, s = res["default"], res["scored"]
                nm = res.get("near_miss", {})
                row = {"rule": rule, "threshold": pred["threshold"], "model": pred["model"]["name"],
                       "precision": d["precision"], "recall": d["recall"], "f1": d["f1"],
                       "best_f1": s["best_f1"], "best_threshold": s["best_threshold"],
                       "recall_at_p99": s["recall_at_precision_0.99"],
                       "near_miss_fp": nm.get("false_positives_default"), "near_miss_pairs": nm.get("n_pairs"),
                       "per_transform": {k: v["default"] for k, v in res["per_transform_recall"].items()}}
                results.append(row)
                print(f"{row['model']} rule={rule} t={row['threshold']:g}: P={d['precision']:.3f} "
                      f"R={d['recall']:.3f} F1={d['f1']:.3f} | best F1={s['best_f1']:.3f} "
                      f"@{s['best_threshold']:.1f} R@P0.99={row['recall_at_p99']:.3f} | "
                      f"near-miss matched {row['near_miss_fp']}/{row['near_miss_pairs']}")
    first = results[0]["per_transform"]
    print("recall at the default decision, by edit: " +
          ", ".join(f"{k} {v:.2f}" for k, v in sorted(first.items(), key=lambda kv: kv[1])))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
