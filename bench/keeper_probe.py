#!/usr/bin/env python3
"""The suggested keeper of each moment (core/keeper.py), checked against what is known.

    python bench/keeper_probe.py --bench /tmp/bench-moments [--target 192 --side 256] [--engine]

For every moment of the real-shot set (its shots and the edited copies of two of them):
- the keeper must not be a copy degraded by its edit (blur, noise, JPEG quality < 60, resize
  below half, grayscale, caption) while the shot it was made from is in the moment;
- in an exposure bracket, the keeper's clipped share must be at most the bracket's median.
Prints the keeper of each moment and both rates. `--engine`: the keepers the engine suggests
for its groups at the similar threshold (a kit folder works too: its transforms say which
member is a degraded copy).
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def degraded(desc):
    if re.search(r"\b(blur|noise|grayscale|text)\(", desc):
        return True
    q = re.search(r"jpeg_q\(q=(\d+)\)", desc)
    if q and int(q.group(1)) < 60:
        return True
    r = re.search(r"resize\(x([\d.]+)\)", desc)
    return bool(r and float(r.group(1)) < 0.5)


def engine(bench, threshold=None, verbose=False):
    """The keepers `lookalike groups --json` suggests at the model's similar threshold (or
    `threshold`), after a scan into a throw-away library: how many groups keep a degraded copy
    while a member that is not one is in the group."""
    import subprocess
    import tempfile
    truth = json.load(open(os.path.join(bench, "truth.json")))
    tr = truth["transforms"]
    images = os.path.join(bench, "images")
    with tempfile.TemporaryDirectory() as lib:
        env = dict(os.environ, LOOKALIKE_LIBRARY=lib)
        run = lambda *a: subprocess.run([sys.executable, "-m", "lookalike.app.cli", *a], env=env, check=True,
                                        capture_output=True, text=True)
        run("-q", "scan", images)
        if threshold is None:
            out = json.loads(run("groups", "--json", "-").stdout)
            threshold = out["model"]["thresholds"]["similar"]
        doc = json.loads(run("groups", "--json", "-", "--threshold", str(threshold), "--relative-to", images).stdout)
    bad = judged = by_shot = 0
    for g in doc["groups"]:
        names = [m["path"] for m in g["members"]]
        if not all(n in tr for n in names) or all(degraded(tr[n]) for n in names):
            continue
        judged += 1
        by_shot += g.get("keep_by") == "best shot"
        keep = next(m["path"] for m in g["members"] if m["keep"])
        bad += degraded(tr[keep])
        if verbose and degraded(tr[keep]):
            print(f"  {g.get('keep_by')}: keeps {tr[keep][:60]} among {len(names)}: "
                  + "; ".join(sorted({tr[n][:25] for n in names if n != keep})))
    print(f"{bench} at {threshold}: {judged} groups with a member that is not a degraded copy "
          f"({by_shot} kept as the best shot); the keeper is a degraded copy in {bad}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--target", type=int, help="decode as the scan does for a model of this input "
                    "side (the scan measures the quality on that decode; default: keeper.SIDE)")
    ap.add_argument("--side", type=int, help="measure at this long side (default: keeper.SIDE)")
    ap.add_argument("--verbose", action="store_true", help="with --engine: each group whose keeper is degraded")
    ap.add_argument("--engine", action="store_true", help="judge the keepers of `lookalike groups --json` "
                    "at the model's similar threshold instead (scan into a throw-away library)")
    args = ap.parse_args()
    if args.engine:
        return engine(args.bench, verbose=args.verbose)
    from lookalike.core import decode, keeper
    truth = json.load(open(os.path.join(args.bench, "truth.json")))
    images = os.path.join(args.bench, "images")
    tr = truth["transforms"]
    bad = checked = 0
    clip_ok = brackets = 0
    for name, members in zip(truth["moment_names"], truth["moments"]):
        qs = []
        for n in members:
            d = decode.load(os.path.join(images, n), target=args.target or keeper.SIDE)
            qs.append(keeper.measure(d.image, d.width * d.height, args.side or keeper.SIDE))
        k = keeper.suggest(qs)
        pick = members[k]
        checked += 1
        is_bad = degraded(tr[pick])
        bad += is_bad
        line = f"{name:12s} keeper {pick} ({tr[pick][:60]}){'  DEGRADED COPY' if is_bad else ''}"
        if tr[members[0]].startswith("bracket"):
            shots = [q for n, q in zip(members, qs) if tr[n].startswith("bracket")]
            med = sorted(q.clipped for q in shots)[len(shots) // 2]
            brackets += 1
            clip_ok += qs[k].clipped <= med
            line += f"  clipped {qs[k].clipped:.3f} (bracket median {med:.3f})"
        print(line)
    print(f"keeper is a degraded copy: {bad} of {checked} moments; "
          f"bracket keeper clipped <= median: {clip_ok} of {brackets}")


if __name__ == "__main__":
    main()
