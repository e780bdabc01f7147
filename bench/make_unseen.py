"""Unrelated photos that no training pool holds: for calibrating the "similar" mark of a model
trained on the whole pool (`bench/calibrate_thresholds.py --pool DIR`, no --exclude). Not a
measurement.

    python bench/make_unseen.py --out /work/data/unseen [--per-source 200] [--pool /work/data/pool]

The same repositories and commits as `bench/make_pool.py` (fetched to /work/.mirror with the
session's fetch tool; nothing is downloaded), the files that the pool's caps leave out:

| repository | taken | licence |
|---|---|---|
| MachineLearning2020/Homework2-Caltech101 | per category, the files after the pool's first 40 (the same skipped categories) | Caltech 101: CC BY 4.0 |
| thunderInfy/imagenette | `val/` (the pool takes `train/` only) | none stated; ImageNet terms |
| nhantd/CMU16720-Scene-Classification | per scene, the files after the pool's first 120 | none stated; SUN database: research use |
| akshay993/Spatial-Pyramid-Matching-for-Scene-Classification | the same | MIT (code); SUN database: research use |

`--per-source` photos from each (a fixed seed), decoded, short side >= 128 px, long side shrunk to
512, JPEG q95; near-exact duplicates (64-bit dHash <= 4, also mirrored) of each other and of
every `--pool` photo are dropped. `manifest.json` lists each file's source.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_pool import (CALTECH_SKIP, SOURCES, HashSet, dhashes, git_dir, hash_folder,  # noqa: E402
                       list_files, open_photo, read_blobs)

PICK = {
    "MachineLearning2020/Homework2-Caltech101": ("after_cap", None),
    "thunderInfy/imagenette": ("include", r"^val/"),
    "nhantd/CMU16720-Scene-Classification": ("after_cap", None),
    "akshay993/Spatial-Pyramid-Matching-for-Scene-Classification": ("after_cap", None),
}


def leftovers(src: dict) -> list[str]:
    """The files of a pool source that the pool's cap leaves out (or another folder of it)."""
    how, include = PICK[src["repo"]]
    gdir = git_dir(src["repo"])
    if how == "include":
        return list_files(gdir, src["commit"], include, None)
    every = list_files(gdir, src["commit"], src["include"], None)
    taken = set(list_files(gdir, src["commit"], src["include"], src["cap"]))
    if "Caltech" in src["repo"]:
        import re
        skip = re.compile(CALTECH_SKIP)
        every = [n for n in every if not skip.search(n)]
    per_dir: dict[str, list[str]] = defaultdict(list)
    for n in every:
        if n not in taken:
            per_dir[n.rsplit("/", 1)[0]].append(n)
    return [n for group in per_dir.values() for n in group]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-source", type=int, default=200)
    ap.add_argument("--pool", type=Path, default=Path("/work/data/pool"), help="photos to stay distinct from")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    seen = HashSet()
    if a.pool.is_dir():
        hash_folder([a.pool], seen)
    a.out.mkdir(parents=True, exist_ok=True)
    manifest, rng = [], random.Random(a.seed)
    for src in SOURCES:
        if src["repo"] not in PICK:
            continue
        names = leftovers(src)
        rng.shuffle(names)
        kept = 0
        for name, data in read_blobs(git_dir(src["repo"]), src["commit"], names[:4 * a.per_source]):
            if kept >= a.per_source:
                break
            im = open_photo(data)
            if im is None or min(im.size) < 128:
                continue
            h, m = dhashes(im)
            if seen.near(h) or seen.near(m):
                continue
            seen.add(h)
            seen.add(m)
            s = 512 / max(im.size)
            if s < 1:
                im = im.resize((round(im.width * s), round(im.height * s)), Image.BICUBIC)
            fname = f"u{len(manifest):05d}.jpg"
            im.save(a.out / fname, quality=95)
            manifest.append({"file": fname, "repo": src["repo"], "commit": src["commit"],
                             "path": name, "licence": src["licence"]})
            kept += 1
        print(f"{src['repo']}: {kept} of {len(names)} left out of the pool", file=sys.stderr)
    (a.out / "manifest.json").write_text(json.dumps(manifest, indent=0))
    print(f"{len(manifest)} photos -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
