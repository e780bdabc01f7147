"""Training data: source photos cached in RAM, identities, edits that mimic real copies,
P x K batches and a fixed validation set.

Two kinds of data:

* labelled: a folder with one subfolder per identity; every photo in a subfolder is a
  positive of every other (plus edited copies); identities are split into train/val.
* no labels: every photo is an identity, and so is every crop *region* of a photo.
  Regions come in pairs of non-overlapping crops of one photo (like the benchmark's
  "near-miss" pairs): they share style but are different identities, which teaches that two
  different crops of one photo are not duplicates. Regions and the whole photo they lie in
  overlap, so such pairs are neither positives nor negatives (`ignore` mask). Photos are
  split into train/val.

Every copy goes through `lookalike.core.bundle.to_input`, the engine's own preprocessing.
"""
from __future__ import annotations

import io
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

FULL = (0.0, 0.0, 1.0, 1.0)
CAPTIONS = ["2019-07-14", "(c) Photo Studio", "IMG_0001", "Best wishes", "copy", "www.site.net",
            "Day 2", "PROOF", "#travel", "Holidays", "Draft v2", "Mom & Dad"]
ORIENTS = [None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270,
           Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM,
           Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE]


def list_images(folder) -> list[Path]:
    """The photos under `folder` as the engine finds them (core.discover: by content too,
    hidden and system folders skipped)."""
    from lookalike.core.discover import FileEntry, walk
    return sorted(Path(e.path) for e in walk([folder]) if isinstance(e, FileEntry))


def list_photos(data) -> list[Path]:
    """A folder (searched recursively) or a text file with one photo path per line."""
    data = Path(data)
    if data.is_file():
        base = data.parent
        out = []
        for line in data.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                out.append(p if p.is_absolute() else base / p)
        return out
    if not data.is_dir():
        raise FileNotFoundError(f"training data not found: {data}")
    return list_images(data)


def list_labelled(folder) -> dict[str, list[Path]]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"training data folder not found: {folder}")
    out = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        imgs = list_images(sub)
        if imgs:
            out[sub.name] = imgs
    return out


class SourceCache:
    """Decoded photos (RGB, orientation applied, optional face crop) kept in RAM with a
    bounded long side. Unreadable files are skipped and recorded in `problems`."""

    def __init__(self, paths, long_side: int = 896, faces: bool = False):
        from lookalike.core.decode import DecodeError, load_rgb
        self.paths, self.images, self.problems = [], [], []
        for p in paths:
            try:
                im = load_rgb(p, target=int(long_side * 0.6))
            except DecodeError as exc:
                self.problems.append((str(p), str(exc)))
                continue
            if faces:
                from lookalike.core.faces import crop_largest_face
                im = crop_largest_face(im)
            s = long_side / max(im.size)
            if s < 1:
                im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))),
                               Image.LANCZOS)
            im.load()
            self.paths.append(str(p))
            self.images.append(im)

    def __len__(self):
        return len(self.images)


@dataclass(frozen=True)
class Identity:
    source: int                                  # index into the cache (no-label mode)
    box: tuple = FULL                            # region in relative coords (x0, y0, x1, y1)
    members: tuple = ()                          # labelled mode: cache indices of its photos

    def overlaps(self, other: "Identity") -> bool:
        """Same photo and intersecting regions: neither a positive nor a negative."""
        if self.members or other.members or self.source != other.source:
            return False
        a, b = self.box, other.box
        return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def ignore_mask(ids: list[Identity], labels: np.ndarray) -> np.ndarray:
    """[n_items, n_items]: True where two items' identities overlap (neither positive nor
    negative); `labels` maps each item to its identity."""
    n = len(ids)
    rel = np.array([[i != j and ids[i].overlaps(ids[j]) for j in range(n)] for i in range(n)],
                   dtype=bool).reshape(n, n)
    return rel[labels][:, labels]


def region_pair(rng: random.Random, w: int, h: int):
    """Two non-overlapping regions from the two halves of the long side, with a gap."""
    horizontal = w >= h
    gap = rng.uniform(0.03, 0.12)
    la, lb = rng.uniform(0.3, 0.47), rng.uniform(0.3, 0.47)
    a0 = rng.uniform(0, max(0.0, 0.5 - gap / 2 - la))
    b0 = rng.uniform(0.5 + gap / 2, max(0.5 + gap / 2, 1 - lb))
    out = []
    for start, length in ((a0, la), (b0, lb)):
        short = rng.uniform(0.7, 1.0)
        s0 = rng.uniform(0, 1 - short)
        box = (start, s0, min(1.0, start + length), s0 + short)
        if not horizontal:
            box = (box[1], box[0], box[3], box[2])
        out.append(box)
    if rng.random() < 0.5:
        out.reverse()
    return out


def crop_box(im: Image.Image, box) -> Image.Image:
    if box == FULL:
        return im
    w, h = im.size
    l, t, r, b = (round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h))
    return im.crop((l, t, max(r, l + 1), max(b, t + 1)))


_FONT_CACHE = {}


def _font(size):
    f = _FONT_CACHE.get(size)
    if f is None:
        f = None
        for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                  "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"):
            if os.path.exists(p):
                f = ImageFont.truetype(p, size)
                break
        if f is None:
            f = ImageFont.load_default(size=size)
        _FONT_CACHE[size] = f
    return f


def _two_sided(rng, lo, hi):
    f = rng.uniform(lo, hi)
    return f if rng.random() < 0.5 else 1.0 / f


def edit(im: Image.Image, rng: random.Random, a: dict, work_side: int) -> Image.Image:
    """One edited copy: crop, small/90-degree rotation, mirror, tone, grayscale, text,
    noise, blur, resize and re-encoding (JPEG q30-95, PNG, WebP)."""
    if rng.random() < a["crop"]:
        area = rng.uniform(a["crop_min_area"], 0.97)
        fw = min(1.0, math.sqrt(area) * rng.uniform(0.85, 1.15))
        fh = min(1.0, area / fw)
        w, h = im.size
        cw, ch = max(1, round(w * fw)), max(1, round(h * fh))
        x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
        im = im.crop((x0, y0, x0 + cw, y0 + ch))
    # work at about twice the input size, as the engine's draft decoding does
    s = work_side / min(im.size)
    if s < 1:
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BILINEAR)
    if rng.random() < a["rotate_small"]:
        ang = rng.uniform(1.0, 5.0) * rng.choice([-1, 1])
        w, h = im.size
        r = im.rotate(ang, resample=Image.BICUBIC, expand=False)
        rad = math.radians(abs(ang))
        sc = 1.0 / (math.cos(rad) + max(w / h, h / w) * math.sin(rad))
        cw, ch = int(w * sc), int(h * sc)
        im = r.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
    if rng.random() < a["orient"]:
        im = im.transpose(ORIENTS[rng.randint(1, 7)])
    if a.get("mirror") and rng.random() < a["mirror"]:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < a["brightness"]:
        im = ImageEnhance.Brightness(im).enhance(_two_sided(rng, 1.1, 1.6))
    if rng.random() < a["contrast"]:
        im = ImageEnhance.Contrast(im).enhance(_two_sided(rng, 1.1, 1.6))
    if rng.random() < a["gamma"]:
        g = _two_sided(rng, 1.2, 1.8)
        lut = [min(255, round(255 * (i / 255) ** g)) for i in range(256)]
        im = im.point(lut * 3)
    if rng.random() < a["grayscale"]:
        im = im.convert("L").convert("RGB")
    if rng.random() < a["text"]:
        im = im.copy()
        w, h = im.size
        size = max(10, int(h * rng.uniform(0.04, 0.1)))
        f = _font(size)
        cap = rng.choice(CAPTIONS)
        ov = Image.new("RGBA", im.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(ov)
        tw, th = d.textbbox((0, 0), cap, font=f)[2:]
        x, y = rng.randint(0, max(0, w - tw)), rng.randint(0, max(0, h - th))
        if rng.random() < 0.5:
            d.rectangle((x - 6, y - 4, x + tw + 6, y + th + 6), fill=(0, 0, 0, 160))
            d.text((x, y), cap, font=f, fill=(255, 255, 255, 255))
        else:
            d.text((x, y), cap, font=f, fill=(255, 255, 255, rng.randint(90, 200)))
        im = Image.alpha_composite(im.convert("RGBA"), ov).convert("RGB")
    if rng.random() < a["noise"]:
        arr = np.asarray(im, dtype=np.float32)
        nrng = np.random.default_rng(rng.getrandbits(32))
        arr = np.clip(arr + nrng.normal(0, rng.uniform(3, 14), arr.shape), 0, 255).astype(np.uint8)
        im = Image.fromarray(arr)
    if rng.random() < a["blur"]:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    if rng.random() < a["resize"]:
        s = rng.uniform(0.3, 0.9)
        im = im.resize((max(16, round(im.width * s)), max(16, round(im.height * s))),
                       rng.choice([Image.BILINEAR, Image.LANCZOS, Image.BICUBIC]))
    r = rng.random()
    if r < a["jpeg"] + a["webp"]:
        buf = io.BytesIO()
        if r < a["jpeg"]:
            im.save(buf, "JPEG", quality=rng.randint(int(a["jpeg_min_q"]), 95))
        else:
            im.save(buf, "WEBP", quality=rng.randint(60, 92))
        buf.seek(0)
        im = Image.open(buf).convert("RGB")
    return im


class Sampler:
    """Builds P x K training batches (P identities, K edited copies each)."""

    def __init__(self, cache: SourceCache, cfg: dict, spec, source_ids, seed: int,
                 labelled: dict | None = None):
        self.cache, self.cfg, self.spec = cache, cfg, spec
        self.a = cfg["augment"]
        self.d = cfg["data"]
        self.P, self.K = int(cfg["train"]["P"]), int(cfg["train"]["K"])
        self.source_ids = list(source_ids)
        self.labelled = labelled      # {name: tuple(cache indices)} for labelled training
        self.rng = random.Random(seed)
        self.work_side = 2 * min(spec.size)

    def identities(self) -> list[Identity]:
        rng = self.rng
        if self.labelled:
            names = sorted(self.labelled)
            pick = rng.sample(names, min(self.P, len(names)))
            return [Identity(-1, FULL, tuple(self.labelled[n])) for n in pick]
        ids: list[Identity] = []
        order = self.source_ids[:]
        rng.shuffle(order)
        i = 0
        while len(ids) < self.P:
            src = order[i % len(order)]
            i += 1
            w, h = self.cache.images[src].size
            if self.P - len(ids) >= 2 and rng.random() < self.d["region_prob"] and not self.d["faces"]:
                ids += [Identity(src, b) for b in region_pair(rng, w, h)]
            else:
                ids.append(Identity(src, FULL))
        return ids[:self.P]

    def render(self, ident: Identity, rng: random.Random, augment: bool = True) -> np.ndarray:
        from lookalike.core.bundle import to_input
        if ident.members:
            im = self.cache.images[rng.choice(ident.members)]
        else:
            im = crop_box(self.cache.images[ident.source], ident.box)
        if augment:
            im = edit(im, rng, self.a, self.work_side)
        return to_input(im, self.spec)

    def batch(self):
        """(inputs float32 [P*K,3,H,W], labels int64 [P*K], ignore bool [P*K, P*K])."""
        ids = self.identities()
        xs, labels = [], []
        for li, ident in enumerate(ids):
            for _ in range(self.K):
                xs.append(self.render(ident, self.rng))
                labels.append(li)
        lab = np.asarray(labels)
        return np.stack(xs), lab, ignore_mask(ids, lab)


def validation_set(cache: SourceCache, cfg: dict, spec, source_ids, seed: int,
                   labelled: dict | None = None):
    """A fixed set: (inputs, labels, ignore matrix, identity descriptions).

    No labels: per held-out photo, the whole photo and one pair of non-overlapping regions,
    each as the unedited picture plus `val_copies` edited copies. Labelled: every photo of
    each held-out identity, unedited and once edited.
    """
    rng = random.Random(seed + 7919)
    s = Sampler(cache, cfg, spec, source_ids, seed, labelled)
    ids: list[Identity] = []
    if labelled:
        ids = [Identity(-1, FULL, tuple(labelled[n])) for n in sorted(labelled)]
    else:
        for src in source_ids:
            w, h = cache.images[src].size
            ids.append(Identity(src, FULL))
            if not cfg["data"]["faces"]:
                ids += [Identity(src, b) for b in region_pair(rng, w, h)]
    xs, labels = [], []
    for li, ident in enumerate(ids):
        if ident.members:
            for m in ident.members:
                one = Identity(-1, FULL, (m,))
                xs.append(s.render(one, rng, augment=False))
                xs.append(s.render(one, rng, augment=True))
                labels += [li, li]
        else:
            xs.append(s.render(ident, rng, augment=False))
            labels.append(li)
            for _ in range(int(cfg["data"]["val_copies"])):
                xs.append(s.render(ident, rng, augment=True))
                labels.append(li)
    lab = np.asarray(labels)
    return np.stack(xs), lab, ignore_mask(ids, lab), ids
