"""Rebuild the training pool of diverse real photos from fetched public repositories (issue 17).

The sources are snapshots of public GitHub repositories, brought to this machine as bare git
directories (``/work/.mirror/OWNER+NAME/repo``) by the session's ``fetch`` tool; nothing is
downloaded here. Each source row names the repository, the commit the pool was built from, the
folders taken (a regular expression on the path), an optional cap per folder (so a
thousand near-identical product shots do not outweigh the rest) and the licence as the
repository or the original data set states it.

| repo | commit | taken | licence |
|---|---|---|---|
| EliSchwartz/imagenet-sample-images | bc69043e | all (one photo per ImageNet class) | none stated; ImageNet photos: research/non-commercial use (image-net.org terms) |
| lightly-ai/coco128_yolo | 6d6f7a05 | images/ (first 128 photos of COCO train2017/val2017) | COCO: photos from Flickr under their own CC licences, annotations CC BY 4.0 |
| MachineLearning2020/Homework3-PACS | d586a6cf | PACS/photo/ only (not art, cartoon, sketch) | none stated; PACS: research use |
| MachineLearning2020/Homework2-Caltech101 | 836044dd | 101_ObjectCategories/, at most 40 per category; no BACKGROUND_Google, Faces_easy (crops of Faces) or the cartoon categories | none stated; Caltech 101: CC BY 4.0 (data.caltech.edu) |
| alexeygrigorev/clothing-dataset-small | 11961516 | train/ validation/ test/, at most 60 per class | CC0 1.0 |
| thunderInfy/imagenette | b850f030 | train/, at most 200 per class (Imagenette: 10 ImageNet classes, 224 px) | none stated; ImageNet photos: research/non-commercial |
| nhantd/CMU16720-Scene-Classification | de3679b1 | data/images/ (SUN database scenes: kitchen, auditorium, desert, campus, ...), at most 120 per scene | none stated; SUN database: research use |
| akshay993/Spatial-Pyramid-Matching-for-Scene-Classification | 1460e62a | data/ (SUN scenes: library, ocean, mountain, garden, ...), at most 120 per scene | MIT (code); SUN database: research use |

The whole pipeline: read every matching file with ``git cat-file``; decode it (a file that does not
decode, e.g. a Git LFS pointer, is counted and skipped); drop photos whose short side is under
128 px; drop near-exact duplicates (64-bit dHash, Hamming distance <= 4, also against the
mirrored photo) within the pool and against every image of the benchmark kit (its sources and
its whole unpacked package tree, scikit-image's data) and against any ``--exclude`` folder (the
small-photo benchmark's photos); drop the files a benchmark was built from (``--exclude-truth``:
the same-moment set's 72 ImageNet distractors); resize so the long side is at most 512 px; save JPEG q95 as
``NNNNN.jpg``; write ``manifest.json`` (file, repo, commit, licence, original path, size) and
``dropped.json`` (repo, path and reason of every file left out).

    python bench/make_pool.py --out /work/data/pool --exclude /work/data/bench-small-src \
        --exclude-truth /tmp/bench-moments/truth.json
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps

MIRRORS = Path("/work/.mirror")
IMAGE_EXT = re.compile(r"\.(jpe?g|png|webp|bmp)$", re.IGNORECASE)
CALTECH_SKIP = "BACKGROUND_Google|Faces_easy|garfield|snoopy|yin_yang|dollar_bill|stop_sign"

SOURCES = [
    dict(repo="EliSchwartz/imagenet-sample-images",
         commit="bc69043e2862758a1906c6a24a792bb28c6bb2ff",
         include=r"^[^/]+\.JPEG$", cap=None,
         licence="none stated; ImageNet photos: research/non-commercial (image-net.org terms)"),
    dict(repo="lightly-ai/coco128_yolo",
         commit="6d6f7a059ea63efffdbe48aca2d52c04d4c510e9",
         include=r"^images/", cap=None,
         licence="COCO: Flickr photos under their own CC licences; annotations CC BY 4.0"),
    dict(repo="MachineLearning2020/Homework3-PACS",
         commit="d586a6cf3db84896fb6cc465c7bf51bdaf6d65d8",
         include=r"^PACS/photo/", cap=None,
         licence="none stated; PACS (Li et al. 2017): research use"),
    dict(repo="MachineLearning2020/Homework2-Caltech101",
         commit="836044dd000296b2bb74d0aa4b4e462e459b01d7",
         include=rf"^101_ObjectCategories/(?!({CALTECH_SKIP})/)", cap=40,
         licence="none stated; Caltech 101: CC BY 4.0"),
    dict(repo="alexeygrigorev/clothing-dataset-small",
         commit="11961516512414bf9f6c150a832cfd21b54a6b54",
         include=r"^(train|validation|test)/", cap=60,
         licence="CC0 1.0"),
    dict(repo="thunderInfy/imagenette",
         commit="b850f030ff0701c36a4adc8b928ea9483a46915b",
         include=r"^train/", cap=200,
         licence="none stated; Imagenette (fast.ai subset of ImageNet): research/non-commercial"),
    dict(repo="nhantd/CMU16720-Scene-Classification",
         commit="de3679b1be3e3a0dd77e2170410f54b230adfc78",
         include=r"^data/images/", cap=120,
         licence="none stated; SUN database scenes: research use"),
    dict(repo="akshay993/Spatial-Pyramid-Matching-for-Scene-Classification",
         commit="1460e62af703fb3e3e574ef5a97492d17882456d",
         include=r"^data/", cap=120,
         licence="MIT (the repository's code); SUN database scenes: research use"),
]

# Everything the benchmark kit draws on, and other photos we measure on: never in the pool.
KIT_DIRS = [Path("/tmp/benchwork")]
MIN_SHORT = 128
MAX_LONG = 512
DUP_DIST = 4


def git_dir(repo: str) -> Path:
    base = MIRRORS / repo.replace("/", "+") / "repo"
    return base / ".git" if (base / ".git").is_dir() else base


def list_files(gdir: Path, commit: str, include: str, cap: int | None) -> list[str]:
    out = subprocess.run(["git", "--git-dir", str(gdir), "ls-tree", "-r", "--name-only", commit],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    rx = re.compile(include)
    names = sorted(n for n in out if rx.search(n) and IMAGE_EXT.search(n))
    if cap is None:
        return names
    per_dir: dict[str, list[str]] = defaultdict(list)
    for n in names:
        per_dir[n.rsplit("/", 1)[0]].append(n)
    return [n for group in per_dir.values() for n in group[:cap]]


def read_blobs(gdir: Path, commit: str, names: list[str]):
    """Yield (name, bytes) for each file, through one ``git cat-file --batch`` process."""
    proc = subprocess.Popen(["git", "--git-dir", str(gdir), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for name in names:
            proc.stdin.write(f"{commit}:{name}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) < 3:  # "<rev> missing"
                yield name, b""
                continue
            size = int(header[2])
            data = proc.stdout.read(size)
            proc.stdout.read(1)
            yield name, data
    finally:
        proc.stdin.close()
        proc.wait()


def dhashes(im: Image.Image) -> tuple[int, int]:
    """dHash of the photo and of its mirror image, as 64-bit ints."""
    h = int(str(imagehash.dhash(im)), 16)
    m = int(str(imagehash.dhash(ImageOps.mirror(im))), 16)
    return h, m


class HashSet:
    """64-bit hashes with a Hamming-distance query (numpy popcount over all stored hashes)."""

    def __init__(self):
        self._h = np.zeros(1024, dtype=np.uint64)
        self._n = 0

    def add(self, h: int) -> None:
        if self._n == len(self._h):
            self._h = np.concatenate([self._h, np.zeros_like(self._h)])
        self._h[self._n] = h
        self._n += 1

    def near(self, h: int, dist: int = DUP_DIST) -> bool:
        if self._n == 0:
            return False
        x = np.bitwise_xor(self._h[: self._n], np.uint64(h))
        return bool((np.bitwise_count(x) <= dist).any())


def open_photo(data: bytes) -> Image.Image | None:
    try:
        im = Image.open(io.BytesIO(data))
        im = ImageOps.exif_transpose(im)
        return im.convert("RGB")
    except Exception:  # noqa: BLE001 - any undecodable file (LFS pointer, truncated) is skipped
        return None


def hash_folder(folders: list[Path], into: HashSet) -> int:
    n = 0
    for folder in folders:
        if not folder.exists():
            print(f"note: {folder} is missing; its photos are not excluded", file=sys.stderr)
            continue
        for p in folder.rglob("*"):
            if not (p.is_file() and IMAGE_EXT.search(p.name)):
                continue
            try:
                with Image.open(p) as im:
                    im = ImageOps.exif_transpose(im).convert("RGB")
                    h, m = dhashes(im)
            except Exception:  # noqa: BLE001
                continue
            into.add(h)
            into.add(m)
            n += 1
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--exclude", type=Path, nargs="*", default=[],
                    help="folders of photos (e.g. a benchmark's) that must not enter the pool")
    ap.add_argument("--exclude-truth", type=Path, nargs="*", default=[],
                    help="benchmark truth.json files whose meta.source_of names 'repo:path' sources "
                         "(bench/make_moments.py): those files never enter the pool")
    ap.add_argument("--ready", type=Path, help="write the photo count here when done")
    ap.add_argument("--limit", type=int, help="stop after this many photos (a quick first pool)")
    args = ap.parse_args(argv)

    import skimage
    measured = set()
    for truth in args.exclude_truth:
        if not truth.exists():
            print(f"note: {truth} is missing; its sources are not excluded", file=sys.stderr)
            continue
        measured.update(json.loads(truth.read_text())["meta"]["source_of"].values())
    banned = HashSet()
    kit_dirs = KIT_DIRS + [Path(skimage.__file__).parent / "data"] + list(args.exclude)
    print(f"hashed {hash_folder(kit_dirs, banned)} kit/benchmark images to exclude", flush=True)

    # build beside the output and swap at the end: a training run reading the old pool keeps
    # working (the previous pool stays as OUT.prev until the next rebuild)
    out = args.out.with_name(args.out.name + ".partial")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    seen = HashSet()
    manifest = []
    dropped = []  # (repo, path, reason) of every file left out, written to dropped.json
    for src in SOURCES:
        gdir = git_dir(src["repo"])
        names = list_files(gdir, src["commit"], src["include"], src["cap"])
        counts = defaultdict(int)
        for name, data in read_blobs(gdir, src["commit"], names):
            im = open_photo(data)
            reason = None
            if f"{src['repo']}:{name}" in measured:
                reason = "source of a benchmark"
            elif im is None:
                reason = "undecodable"
            elif min(im.size) < MIN_SHORT:
                reason = "small"
            else:
                h, m = dhashes(im)
                if banned.near(h) or banned.near(m):
                    reason = "kit/benchmark duplicate"
                elif seen.near(h) or seen.near(m):
                    reason = "duplicate"
            if reason:
                counts[reason] += 1
                dropped.append(dict(repo=src["repo"], path=name, reason=reason))
                continue
            seen.add(h)
            im.thumbnail((MAX_LONG, MAX_LONG), Image.Resampling.LANCZOS)
            fname = f"{len(manifest):05d}.jpg"
            im.save(out / fname, quality=95)
            manifest.append(dict(file=fname, repo=src["repo"], commit=src["commit"],
                                 licence=src["licence"], path=name, size=list(im.size)))
            counts["kept"] += 1
            if args.limit and len(manifest) >= args.limit:
                break
        print(f"{src['repo']}: {len(names)} files, {dict(counts)}", flush=True)
        if args.limit and len(manifest) >= args.limit:
            break
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out / "dropped.json").write_text(json.dumps(dropped, indent=1))
    prev = args.out.with_name(args.out.name + ".prev")
    if args.out.exists():
        if prev.exists():
            shutil.rmtree(prev)
        args.out.rename(prev)
    out.rename(args.out)
    print(f"{len(manifest)} photos in {args.out}")
    if args.ready:
        args.ready.write_text(f"{len(manifest)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
