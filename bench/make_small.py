"""Rebuild the small-photo benchmark of issue 17: a few hundred small photos that all show cats.

Source (fetched with the session's ``fetch`` tool as a bare git directory under /work/.mirror;
nothing is downloaded here):

| repo | commit | taken | licence |
|---|---|---|---|
| beyondcodesandalgos/Image_Classifier | 07c8490a | data_set/cats/ (photos from Kaggle's "Dogs vs. Cats", Microsoft Asirra / Petfinder.com) | none stated; Asirra photos: research use |

Steps: take the cat photos, drop those that do not decode or whose short side is under 150 px,
drop near-exact duplicates (64-bit dHash <= 4, also mirrored), shrink so the long side is at most
256 px, pick ``--count`` of them with a fixed seed and write them with a ``manifest.json`` in the
benchmark kit's source format; then the kit's own ``make_bench.py`` turns them into the benchmark
(the kit's edits, ``images/`` + ``truth.json``). The training pool (``bench/make_pool.py``) never
draws on this repository and is also checked against these photos (``--exclude``).

    python bench/make_small.py --src /work/data/bench-small-src --out /work/data/bench-small
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_pool import HashSet, dhashes, git_dir, list_files, open_photo, read_blobs  # noqa: E402

REPO = "beyondcodesandalgos/Image_Classifier"
COMMIT = "07c8490a39d51bf13346f674fe98a6c8068e1825"
INCLUDE = r"^data_set/cats/"
LICENCE = "none stated; Kaggle Dogs vs. Cats (Microsoft Asirra, Petfinder.com photos): research use"
KIT = Path("/work/shared/bench/make_bench.py")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, required=True, help="folder for the chosen source photos")
    ap.add_argument("--out", type=Path, required=True, help="benchmark folder (images/, truth.json)")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--long-side", type=int, default=256)
    ap.add_argument("--min-short", type=int, default=150)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    gdir = git_dir(REPO)
    names = list_files(gdir, COMMIT, INCLUDE, None)
    seen = HashSet()
    photos = []
    for name, data in read_blobs(gdir, COMMIT, names):
        im = open_photo(data)
        if im is None or min(im.size) < args.min_short:
            continue
        h, m = dhashes(im)
        if seen.near(h) or seen.near(m):
            continue
        seen.add(h)
        photos.append((name, im))
    print(f"{len(names)} files, {len(photos)} decodable, distinct, short side >= {args.min_short}")
    chosen = random.Random(args.seed).sample(photos, min(args.count, len(photos)))

    args.src.mkdir(parents=True, exist_ok=True)
    for old in args.src.glob("*.jpg"):
        old.unlink()
    sources = []
    for i, (name, im) in enumerate(sorted(chosen)):
        im.thumbnail((args.long_side, args.long_side), Image.Resampling.LANCZOS)
        fname = f"src_{i:03d}.jpg"
        im.save(args.src / fname, quality=95)
        sources.append(dict(file=fname, origin=f"{REPO}@{COMMIT[:8]}:{name}", size=list(im.size)))
    manifest = dict(repo=REPO, commit=COMMIT, licence=LICENCE, max_side=args.long_side,
                    sources=sources)
    (args.src / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"{len(sources)} photos in {args.src}")

    cmd = [sys.executable, str(KIT), "--sources", str(args.src), "--out", str(args.out),
           "--seed", "1", "--variants", "8", "--profile", "hard"]
    print(" ".join(cmd))
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
