"""Where does a model's embedding lose its copies: on grey copies, or elsewhere? (issue 17)

    python bench/grey_copies.py --bench /tmp/bench-eval --bundle resources/models/default --bundle OTHER

For every copy pair of a kit folder (truth's groups), the embedding alone (the engine's own
code, `lookalike.trainer.benchmark.embed_folder`) scores the pair; prints how many copy pairs
fall below 80 and 85, and how many of those have a grey copy (a `grayscale` edit) in them. A
colour model sees what a grey copy lost; a grey model does not.
"""
import argparse
import itertools
import json
import os

from lookalike.trainer.benchmark import embed_folder


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--bundle", action="append", required=True)
    a = ap.parse_args()
    truth = json.load(open(os.path.join(a.bench, "truth.json")))
    group = {n: i for i, g in enumerate(truth["groups"]) for n in g}
    edits = truth.get("transforms", {})
    for bundle in a.bundle:
        names, V, _ = embed_folder(bundle, os.path.join(a.bench, "images"))
        S = V @ V.T * 100
        pos = [(S[i, j], "grayscale" in edits.get(names[i], "") or "grayscale" in edits.get(names[j], ""))
               for i, j in itertools.combinations(range(len(names)), 2)
               if group.get(names[i]) is not None and group.get(names[i]) == group.get(names[j])]
        grey = sum(g for _, g in pos)
        for t in (80, 85):
            low = [g for s, g in pos if s < t]
            print(f"{bundle} on {a.bench}: {len(pos)} copy pairs ({grey} with a grey copy); below {t}: "
                  f"{len(low)}, of which with a grey copy {sum(low)}")


if __name__ == "__main__":
    main()
