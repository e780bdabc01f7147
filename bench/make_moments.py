#!/usr/bin/env python3
"""Build the "same moment" development set from real, unedited captures.

    python bench/make_moments.py --out /tmp/bench-moments [--mirror /work/.mirror] [--src DIR]

Every photo comes from a public repository brought here with the `fetch` tool (the list,
with commits and licences, is SOURCES below and bench/README.md). The script reads the files
straight out of the fetched git snapshots (`--mirror`, the folder that holds
`owner+name/repo`), or from `--src DIR` holding `owner+name/<path in the repository>` files.
Nothing here is committed; the output folder is rebuilt the same way every time (--seed).

What it writes (`truth.json`, the benchmark kit's format plus three keys):
- `groups`: one real shot (the first and the last of each moment, the middle frame of each
  panorama sweep) and its copies edited with the kit's own edit functions
  (../shared/bench/make_bench.py: pick_edits + make_variant, imported, not copied); these are
  "the same picture": the duplicate tier must join them.
- `singletons`: every other photo (shots without copies, unrelated photos).
- `moments`: lists of photos of one moment (exposure bracket from a tripod, focus stack, burst
  of video frames); every pair inside one is "similar", and pairs from
  different moments or places are not. A moment's copies belong to it too.
- `places`: lists of photos of one place that are NOT one moment (the frames of a
  panorama sweep, a desk photographed again after its objects were moved, a street shot from
  two spots); pairs inside a place and not inside one moment are left out of the similar
  tier's score (a user may call them either), and must not be duplicates.
- `rearranged_pairs`: `[a, b, kind]` for pairs of one place that share a background but are
  different shots: kind `rearranged` (objects moved), `overlap` (neighbouring panorama
  frames), `viewpoint` (the same street from another spot). None may be a duplicate.
- `transforms`, `source_of`, `meta` as in the kit; `near_miss_pairs` is empty.

A shot keeps its camera file's capture facts (EXIF date-time, sub-second, exposure time,
f-number, ISO, make, model; not the orientation, which is applied), as it would on a user's
disk; the kit's copies carry none, as an exported edit often does.

Exposure brackets keep only frames a person could use: mean luminance 30-225 and at most 40 %
of the pixels clipped (<= 5 or >= 250); nearly black or white frames hold nothing to match.
"""
import argparse
import importlib.util
import io
import json
import os
import random
import subprocess
import sys

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
KIT = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
if not os.path.isdir(KIT):
    KIT = "/work/shared/bench"
MAX_SIDE = 1600

# (repository, commit, licence as stated by the repository)
REPOS = {
    "drakeguan/vfx11spring_project1": ("d4289ae31b871e99ad0539b655811cf0fb006065", "none stated"),
    "ningning1317/VFX2018": ("82cf8f0b5c2694357d0de62a1584e2251a94f5ba", "none stated"),
    "sycLin/VFX-Project-1": ("ba10160fd5ec7e01d1c3fa7f8dd6c05e871792d0", "none stated"),
    "nitishsanghi/Computer-Vision": ("0ba334915f3ca5930fc6394844956f5bbe7051f9", "none stated"),
    "arpesenti/exposure_fusion": ("95f6c2b437766de5dbee3d21aadf7f30a19c2f8f", "GPL-2.0 (LICENSE)"),
    "hoskra/vt": ("bb8d713d214eaced25a18c85c399a1883af8ad62", "none stated"),
    "EliSchwartz/imagenet-sample-images": ("bc69043e2862758a1906c6a24a792bb28c6bb2ff", "none stated; ImageNet images (non-commercial research)"),
}

# moments: (name, repo, folder, kind, file filter, how many to keep)
MOMENTS = [
    ("corridor", "drakeguan/vfx11spring_project1", "image/original/corridor", "bracket", None, 6),
    ("desktop01", "drakeguan/vfx11spring_project1", "image/original/desktop01", "bracket", None, 6),
    ("desktop02", "drakeguan/vfx11spring_project1", "image/original/desktop02", "bracket", None, 6),
    ("gate", "drakeguan/vfx11spring_project1", "image/original/digimax_gate", "bracket", None, 6),
    ("restroom", "drakeguan/vfx11spring_project1", "image/original/restroom", "bracket", None, 6),
    ("garden", "drakeguan/vfx11spring_project1", "image/original/scene", "bracket", None, 6),
    ("station", "drakeguan/vfx11spring_project1", "image/original/station", "bracket", None, 6),
    ("street1", "ningning1317/VFX2018", "hw1/jpg", "bracket", "1_", 6),
    ("building", "ningning1317/VFX2018", "hw1/jpg", "bracket", "2_", 6),
    ("street3", "ningning1317/VFX2018", "hw1/jpg", "bracket", "3_", 6),
    ("window", "sycLin/VFX-Project-1", "input/scene1", "bracket", None, 6),
    ("branches", "sycLin/VFX-Project-1", "input/scene2", "bracket", None, 6),
    ("livingroom", "nitishsanghi/Computer-Vision", "HDR/images/source/livingroom", "bracket", None, 6),
    ("hall", "nitishsanghi/Computer-Vision", "HDR/images/source/sample", "bracket", None, 6),
    ("board", "nitishsanghi/Computer-Vision", "EpsilonPhotography", "focus", "image", 6),
    ("candle", "nitishsanghi/Computer-Vision", "VideoTextures/videos/source/candle", "video", None, 6),
    ("peyrou", "arpesenti/exposure_fusion", "samples", "bracket", "peyrou_", 3),
    ("clock", "hoskra/vt", "clock", "video", None, 6),
    # no Middlebury stereo scenes: issue 17 keeps them off limits for training and tuning
]
# panorama sweeps: neighbouring frames overlap, the sweep is one place but no moment
SWEEPS = [
    ("campus", "ningning1317/VFX2018", "hw2/data/example_1", 8),
    ("lawn", "ningning1317/VFX2018", "hw2/data/test_1", 7),
    ("square", "ningning1317/VFX2018", "hw2/data/test_2", 8),
    ("palms", "ningning1317/VFX2018", "hw2/data/test_3", 8),
    ("pond", "ningning1317/VFX2018", "hw2/data/test_4", 8),
    ("office", "nitishsanghi/Computer-Vision", "PanaromicProcessing/source/office", 8),
]
# one place, two moments: (moment a, moment b, kind)
PLACES = [("desktop01", "desktop02", "rearranged"), ("street1", "street3", "viewpoint")]
UNRELATED = ("EliSchwartz/imagenet-sample-images", "", 72)
EXCLUDE = ("fusion", "finalartifact", "output")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


def load_kit(kit):
    spec = importlib.util.spec_from_file_location("make_bench", os.path.join(kit, "make_bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Source:
    """Files of the fetched repositories: from git snapshots (--mirror) or a plain folder (--src)."""

    def __init__(self, mirror, src):
        self.mirror, self.src = mirror, src

    def _gitdir(self, repo):
        d = os.path.join(self.mirror, repo.replace("/", "+"), "repo")
        return os.path.join(d, ".git") if os.path.isdir(os.path.join(d, ".git")) else d

    def list(self, repo, folder):
        if self.src:
            base = os.path.join(self.src, repo.replace("/", "+"), folder)
            names = sorted(os.listdir(base))
            return [f"{folder}/{n}".lstrip("/") for n in names if n.lower().endswith(IMAGE_EXT)]
        commit = REPOS[repo][0]
        out = subprocess.run(["git", f"--git-dir={self._gitdir(repo)}", "ls-tree", "--name-only",
                              f"{commit}:{folder}" if folder else commit],
                             check=True, capture_output=True, text=True).stdout
        return [f"{folder}/{n}".lstrip("/") for n in out.split() if n.lower().endswith(IMAGE_EXT)]

    def read(self, repo, path):
        if self.src:
            with open(os.path.join(self.src, repo.replace("/", "+"), path), "rb") as fh:
                return fh.read()
        commit = REPOS[repo][0]
        return subprocess.run(["git", f"--git-dir={self._gitdir(repo)}", "cat-file", "blob",
                               f"{commit}:{path}"], check=True, capture_output=True).stdout


def natural(name):
    digits = "".join(c if c.isdigit() else " " for c in os.path.basename(name)).split()
    return [int(d) for d in digits] or [0], name


def capture_exif(src):
    """The capture facts of a camera file (time, sub-second, exposure, camera), orientation dropped:
    a real shot keeps them, as it would on a user's disk."""
    ex = src.getexif()
    out = Image.Exif()
    for tag in (0x010F, 0x0110, 0x0132):            # make, model, date-time
        if tag in ex:
            out[tag] = ex[tag]
    sub = ex.get_ifd(0x8769)
    keep = {t: sub[t] for t in (0x9003, 0x9291, 0x829A, 0x829D, 0x8827) if t in sub}
    if keep:
        out[0x8769] = keep
    return out.tobytes() if len(out) else b""


def open_image(data, with_exif=False):
    src = Image.open(io.BytesIO(data))
    exif = capture_exif(src) if with_exif else b""
    im = ImageOps.exif_transpose(src).convert("RGB")
    if with_exif:
        im.info["capture_exif"] = exif
    if max(im.size) > MAX_SIDE:
        s = MAX_SIDE / max(im.size)
        im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.LANCZOS)
        if with_exif:
            im.info["capture_exif"] = exif
    return im


def usable(im):
    """An exposure a person could use: not nearly black or white."""
    y = np.asarray(im.convert("L"), dtype=np.float32)
    clipped = np.mean((y <= 5) | (y >= 250))
    return 30 <= y.mean() <= 225 and clipped <= 0.40


def spread(items, k):
    """k items evenly spread over the list (first and last included)."""
    if len(items) <= k:
        return list(items)
    idx = np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in sorted(set(idx))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mirror", default="/work/.mirror", help="folder of fetched snapshots (owner+name/repo)")
    ap.add_argument("--src", help="instead of --mirror: a folder with owner+name/<path> files")
    ap.add_argument("--kit", default=KIT, help="the benchmark kit folder (make_bench.py)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--copies", type=int, default=3, help="edited copies of the first and the last shot of each moment")
    args = ap.parse_args()
    if os.path.isdir(os.path.join(args.out, "images")) and os.listdir(os.path.join(args.out, "images")):
        ap.error(f"{args.out}/images is not empty: choose a new folder (old photos would join the set)")
    kit = load_kit(args.kit)
    src = Source(args.mirror, args.src)
    rng = random.Random(args.seed)

    items = []  # (bytes, ext, description, source "repo:path")

    def add(data, ext, desc, origin):
        items.append((data, ext, desc, origin))
        return len(items) - 1

    def add_shot(im, origin, desc):
        exif = im.info.get("capture_exif")
        if not exif:
            data, ext, enc = kit.encode(im, rng, {}, fmt="jpeg")
            return add(data, ext, f"{desc} -> {enc}", origin)
        q = rng.randint(85, 95)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q, exif=exif)
        return add(buf.getvalue(), "jpg", f"{desc} -> jpeg q{q} + capture EXIF", origin)

    def add_copies(im, origin, n):
        out = []
        for _ in range(n):
            data, ext, desc = kit.make_variant(im, kit.pick_edits(rng, "hard"), rng)
            out.append(add(data, ext, desc, origin))
        return out

    groups, moments, places, rearranged, dropped = [], {}, [], [], {}
    for name, repo, folder, kind, prefix, keep in MOMENTS:
        files = sorted((p for p in src.list(repo, folder)
                        if (prefix is None or os.path.basename(p).startswith(prefix))
                        and not any(x in p.lower() for x in EXCLUDE)), key=natural)
        shots = []
        for p in files:
            im = open_image(src.read(repo, p), with_exif=True)
            if kind == "bracket" and not usable(im):
                dropped[name] = dropped.get(name, 0) + 1
                continue
            shots.append((p, im))
        shots = spread(shots, keep)
        members = []
        for i, (p, im) in enumerate(shots):
            idx = add_shot(im, f"{repo}:{p}", f"{kind}({name} {i + 1}/{len(shots)})")
            members.append(idx)
            if i in (0, len(shots) - 1) and args.copies:
                copies = add_copies(im, f"{repo}:{p}", args.copies)
                groups.append([idx] + copies)
                members += copies
        moments[name] = members
    for name, repo, folder, keep in SWEEPS:
        files = spread(sorted(src.list(repo, folder), key=natural), keep)
        frames = []
        for i, p in enumerate(files):
            im = open_image(src.read(repo, p), with_exif=True)
            idx = add_shot(im, f"{repo}:{p}", f"panorama({name} {i + 1}/{len(files)})")
            frames.append(idx)
            if i == len(files) // 2:
                groups.append([idx] + add_copies(im, f"{repo}:{p}", 2))
        places.append(frames)
        rearranged += [(a, b, "overlap") for a, b in zip(frames, frames[1:])]
    for a, b, kind in PLACES:
        places.append(moments[a] + moments[b])
        rearranged += [(x, y, kind) for x in moments[a] for y in moments[b]]
    repo, folder, n = UNRELATED
    pool = sorted(src.list(repo, folder))
    for p in sorted(random.Random(args.seed).sample(pool, n)):
        add_shot(open_image(src.read(repo, p)), f"{repo}:{p}", "unrelated()")

    numbers = rng.sample(range(10000, 99999), len(items))
    names = [f"IMG_{numbers[i]:05d}.{items[i][1]}" for i in range(len(items))]
    img_dir = os.path.join(args.out, "images")
    os.makedirs(img_dir, exist_ok=True)
    for name, (data, _, _, _) in zip(names, items):
        with open(os.path.join(img_dir, name), "wb") as fh:
            fh.write(data)
    in_group = {i for g in groups for i in g}
    truth = {
        "groups": [[names[i] for i in g] for g in groups],
        "singletons": [names[i] for i in range(len(items)) if i not in in_group],
        "moments": [[names[i] for i in m] for m in moments.values()],
        "moment_names": list(moments),
        "places": [[names[i] for i in p] for p in places],
        "rearranged_pairs": [[names[a], names[b], kind] for a, b, kind in rearranged],
        "transforms": {names[i]: items[i][2] for i in range(len(items))},
        "anchors": [names[g[0]] for g in groups],
        "near_miss_pairs": [],
        "meta": {"seed": args.seed, "n_images": len(items), "dropped_exposures": dropped,
                 "repos": {r: {"commit": c, "licence": lic} for r, (c, lic) in REPOS.items()},
                 "source_of": {names[i]: items[i][3] for i in range(len(items))}},
    }
    with open(os.path.join(args.out, "truth.json"), "w") as fh:
        json.dump(truth, fh, indent=1)
    n_sim = sum(len(m) * (len(m) - 1) // 2 for m in truth["moments"])
    print(f"{len(items)} images: {len(moments)} moments ({n_sim} similar pairs), {len(groups)} duplicate "
          f"groups, {len(places)} places, {len(rearranged)} re-arranged/overlap pairs, "
          f"{n} unrelated -> {img_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
