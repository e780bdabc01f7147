#!/usr/bin/env python3
"""The suggested keeper of each moment (core/keeper.py), checked against what is known.

    python bench/keeper_probe.py --bench /tmp/bench-moments

For every moment of the real-shot set (its shots and the edited copies of two of them):
- the keeper must not be a copy degraded by its edit (blur, noise, JPEG quality < 60, resize
  below half, grayscale, caption) while the shot it was made from is in the moment;
- in an exposure bracket, the keeper's clipped share must be at most the bracket's median.
Prints the keeper of each moment and both rates.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    args = ap.parse_args()
    from lookalike.core import decode, keeper
    truth = json.load(open(os.path.join(args.bench, "truth.json")))
    images = os.path.join(args.bench, "images")
    tr = truth["transforms"]
    bad = checked = 0
    clip_ok = brackets = 0
    for name, members in zip(truth["moment_names"], truth["moments"]):
        qs = []
        for n in members:
            d = decode.load(os.path.join(images, n), target=keeper.SIDE)
            qs.append(keeper.measure(d.image, d.width * d.height))
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
