"""The embedding's most alike non-copies and least alike copies on a kit folder: what decides
its recall at precision 0.99 (a handful of pairs, on a small folder).

    python bench/top_pairs.py --bundle DIR --bench /tmp/bench-eval [--k 8]

Each pair with its score, its kind (near-miss: two crops of one photo; distractor; other) and the
kit's record of each photo's edits; and how many copy pairs score below each of the five most
alike non-copies.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--bench", required=True, type=Path)
    ap.add_argument("--k", type=int, default=8)
    a = ap.parse_args(argv)
    from lookalike.trainer.benchmark import embed_folder
    t = json.loads((a.bench / "truth.json").read_text())
    group = {m: i for i, g in enumerate(t["groups"]) for m in g}
    near = {frozenset(p) for p in t.get("near_miss_pairs", [])}
    edits = t.get("transforms", {})
    names, v, _ = embed_folder(a.bundle, a.bench / "images")
    lab = np.array([group.get(n, -1 - i) for i, n in enumerate(names)])
    iu = np.triu_indices(len(names), 1)
    s = (v @ v.T * 100.0)[iu]
    same = lab[iu[0]] == lab[iu[1]]
    print("most alike non-copies:")
    for o in np.argsort(-s[~same])[:a.k]:
        i, j = iu[0][~same][o], iu[1][~same][o]
        kind = ("near-miss" if frozenset((int(lab[i]), int(lab[j]))) in near
                else "distractor" if lab[i] < 0 or lab[j] < 0 else "other")
        print(f"  {s[~same][o]:6.2f} {kind:10s} {names[i]} [{edits.get(names[i], '')}] ~ {names[j]} [{edits.get(names[j], '')}]")
    negs = np.sort(s[~same])[::-1]
    pos = s[same]
    print(f"copy pairs: {len(pos)}; below each of the 5 most alike non-copies: "
          f"{[int((pos < negs[k]).sum()) for k in range(min(5, len(negs)))]}")
    print("least alike copies:")
    for o in np.argsort(pos)[:a.k]:
        i, j = iu[0][same][o], iu[1][same][o]
        print(f"  {pos[o]:6.2f} {edits.get(names[i], '')} ~ {edits.get(names[j], '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
