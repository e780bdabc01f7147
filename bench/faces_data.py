"""Face data for the Retrain benchmark: labelled folders of people to train on, and
verification pairs of *other* people to measure on.

Sources (public GitHub repositories, brought here as git mirrors, e.g. with the session's
`fetch` tool, or `git clone --mirror`):

* training people: ElisonSherton/Face-Applications, `datasets/celebrity_images/<Name>/*.png`:
  a sample of the Glint360k face dataset (aligned 112 px face crops of 24 celebrities). The
  repository has no licence file; Glint360k is published for non-commercial research.
* verification pairs: krasserm/face-recognition, `images/<Name>/<Name>_000N.jpg`: 10 people x
  10 photos from Labeled Faces in the Wild (LFW, 250 px photos with the face in the middle;
  research data set; the repository's code is Apache-2.0).

The two sets share no person. Jennifer Aniston is left out of the training people because
the face pairs the project measures on (deepface's test images, which are never used here)
may show her.

    python bench/faces_data.py --train-repo /work/.mirror/ElisonSherton+Face-Applications/repo \\
        --pairs-repo /work/.mirror/krasserm+face-recognition/repo --out /tmp/faces

writes OUT/people/<Name>/*.png (--per-person photos each, default 20: 460 photos) and
OUT/pairs/<Name>/*.jpg with OUT/pairs.txt (one "path_a path_b same(1|0)" line per pair: every
pair of the 100 photos).
"""
from __future__ import annotations

import argparse
import itertools
import random
import subprocess
from pathlib import Path

EXCLUDE = {"Jennifer Aniston"}


def _files(repo: Path, prefix: str) -> list[str]:
    out = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "HEAD",
                          prefix], check=True, capture_output=True, text=True).stdout
    return [p for p in out.splitlines() if p.lower().endswith((".png", ".jpg", ".jpeg"))]


def _copy(repo: Path, path: str, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{path}"], check=True,
                          capture_output=True).stdout
    dst.write_bytes(data)


def _by_person(files):
    people: dict[str, list[str]] = {}
    for f in files:
        people.setdefault(f.split("/")[-2], []).append(f)
    return people


def build(train_repo: Path, pairs_repo: Path, out: Path, per_person: int, seed: int):
    rng = random.Random(seed)
    people = _by_person(_files(train_repo, "datasets/celebrity_images"))
    n = 0
    for name in sorted(people):
        if name in EXCLUDE:
            continue
        pick = sorted(people[name], key=lambda p: int(Path(p).stem) if Path(p).stem.isdigit() else p)
        pick = rng.sample(pick, min(per_person, len(pick)))
        for f in pick:
            _copy(train_repo, f, out / "people" / name.replace(" ", "_") / Path(f).name)
            n += 1
    test = _by_person(_files(pairs_repo, "images"))
    overlap = {k.replace("_", " ") for k in test} & set(people)
    assert not overlap, overlap
    paths = []
    for name in sorted(test):
        for f in sorted(test[name]):
            dst = out / "pairs" / name / Path(f).name
            _copy(pairs_repo, f, dst)
            paths.append((name, dst))
    lines = [f"{a} {b} {int(na == nb)}" for (na, a), (nb, b) in itertools.combinations(paths, 2)]
    (out / "pairs.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    same = sum(line.endswith(" 1") for line in lines)
    print(f"{n} training photos of {sum(1 for k in people if k not in EXCLUDE)} people in {out / 'people'}; "
          f"{len(paths)} photos of {len(test)} other people, {same} same and {len(lines) - same} "
          f"different pairs in {out / 'pairs.txt'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-repo", type=Path, required=True)
    ap.add_argument("--pairs-repo", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-person", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    build(a.train_repo, a.pairs_repo, a.out, a.per_person, a.seed)


if __name__ == "__main__":
    main()
