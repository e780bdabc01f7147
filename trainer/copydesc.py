"""The copy descriptor: self-supervised contrastive training of the default model (issue 17).

    python -m lookalike.trainer.copydesc POOL --val-bench BENCH --work DIR --out BUNDLE
           [--config FILE] [--set KEY=VALUE ...] [--init WEIGHTS]

The recipe of the strong copy detectors (SSCD, the DISC21 winners), sized for a CPU:

* every pool photo is its own class, and so is each of a pair of non-overlapping regions of
  it (two crops of one photo are *not* the same picture, like the kit's near-miss pairs; a
  region and its whole photo overlap, so that pair is neither positive nor negative);
* strong copy edits (crops down to 15 % of the area, rotations, mirrors, tone, text, overlays
  of another photo, borders, blur, noise, resizing, JPEG/WebP) rendered through the engine's own
  `core.bundle.to_input`, so training sees the tensors inference sees;
* InfoNCE over two copies per class (pytorch-metric-learning's NTXentLoss, with the
  overlapping pairs taken out of the negatives) plus a KoLeo regulariser that spreads the
  embeddings (Sablayrolles et al., "Spreading vectors for similarity search");
* a feature cache: the frozen first `model.cache_stages` stages run once per edited copy, and
  each step trains only the last backbone blocks, GeM and the projection on the cache. The
  projection starts as the PCA whitening of the pretrained GeM features, so step 0 is the
  plain backbone's descriptor, not a random one;
* or, with `data.online = true`, fresh copies every step, rendered by `train.workers`
  processes, the first `model.cache_stages` stages run frozen in the step (0: the whole network
  trains; a machine with a GPU and many cores: `train.device = "cuda"`, bench/gpu_train.sh).

Checkpoints and the cache live in --work, so a killed run resumes where it stopped (`--resume`).
The checkpoint that scores best on validation (held-out pool photos + a kit folder built from
the kit's --part train photos) is exported as a bundle with thresholds calibrated on it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .train import emit

DEFAULTS = Path(__file__).with_name("copydesc.toml")
WHOLE = 0
LUMA = (0.299, 0.587, 0.114)                   # trainer.model.LUMA (Pillow's "L"); no torch here


# --------------------------------------------------------------------------- copies

def _strong_edit(im: Image.Image, rng: random.Random, a: dict, work_side: int,
                 other: Image.Image | None) -> Image.Image:
    """The trainer's copy edits (data.edit) plus an overlay of another photo and a border."""
    from .data import edit
    im = edit(im, rng, a, work_side)
    if other is not None and rng.random() < a["overlay"]:
        w, h = im.size
        frac = math.sqrt(rng.uniform(0.1, 0.3))
        ow, oh = max(8, round(w * frac * rng.uniform(0.7, 1.3))), max(8, round(h * frac))
        patch = other.resize((min(ow, w), min(oh, h)), Image.BILINEAR)
        im = im.copy()
        im.paste(patch, (rng.randint(0, w - patch.width), rng.randint(0, h - patch.height)))
    if rng.random() < a["border"]:
        w, h = im.size
        pad = max(2, round(min(w, h) * rng.uniform(0.03, 0.15)))
        fill = tuple(rng.randint(0, 255) for _ in range(3)) if rng.random() < 0.5 else (0, 0, 0)
        if rng.random() < 0.5:                 # letterbox: top and bottom only
            im = ImageOps.expand(im, border=(0, pad, 0, pad), fill=fill)
        else:
            im = ImageOps.expand(im, border=pad, fill=fill)
    return im


def class_boxes(size, rng: random.Random, region_pairs: int):
    """[(kind, box)]: the whole photo (kind 0), then region pairs (kinds 1, 2, 3, ...)."""
    from .data import FULL, region_pair
    out = [(WHOLE, FULL)]
    for _ in range(region_pairs):
        for box in region_pair(rng, *size):
            out.append((len(out), box))
    return out


def render_photo(images, index: int, seed: int, cfg, spec, copies: int, region_copies: int):
    """One pool photo's classes: [(kind, [input arrays])], the unedited picture first."""
    from lookalike.core.bundle import to_input
    from .data import crop_box
    rng = random.Random(seed * 1_000_003 + index)
    a = cfg["augment"]
    im = images[index]
    work_side = 2 * int(cfg["model"]["input_size"])
    out = []
    for kind, box in class_boxes(im.size, rng, int(cfg["data"]["region_pairs"])):
        base = crop_box(im, box)
        n = copies if kind == WHOLE else region_copies
        xs = [to_input(base, spec)]
        for _ in range(n):
            other = images[rng.randrange(len(images))] if len(images) > 1 else None
            if other is im:
                other = None
            xs.append(to_input(_strong_edit(base, rng, a, work_side, other), spec))
        out.append((kind, xs))
    return out


_POOL_IMAGES = None


def _render_task(args):
    index, seed, cfg, spec, copies, region_copies = args
    return index, render_photo(_POOL_IMAGES, index, seed, cfg, spec, copies, region_copies)


def render_batch(images, photo_ids, seed: int, batch: int, cfg, spec, anchor: float = 0.0):
    """One step of the online recipe, rendered afresh: `batch` classes (whole photos, and now
    and then both regions of a region pair, as `sample_batch` picks them from the cache), two
    copies each; with probability `anchor` the first copy is the unedited picture.
    Returns (inputs float16 [2 * classes, C, H, W], labels, class_photo, class_kind); for a
    grey model the inputs are the luminance in [0, 1] (C = 1: a third of the bytes to move),
    which `online_input` normalises as the model's own `to_gray` does."""
    from lookalike.core.bundle import to_input
    from .data import FULL, crop_box
    rng = random.Random(seed)
    a = cfg["augment"]
    work_side = 2 * int(cfg["model"]["input_size"])
    regions = int(cfg["data"]["region_pairs"]) > 0
    xs, labels, class_photo, class_kind = [], [], [], []
    for p in rng.sample(list(photo_ids), min(len(photo_ids), batch)):
        if len(class_photo) >= batch:
            break
        im = images[p]
        if regions and rng.random() < 0.35 and len(class_photo) + 2 <= batch:
            boxes = class_boxes(im.size, rng, 1)[1:]
        else:
            boxes = [(WHOLE, FULL)]
        for kind, box in boxes:
            base = crop_box(im, box)

            def edited():
                other = images[photo_ids[rng.randrange(len(photo_ids))]]
                return to_input(_strong_edit(base, rng, a, work_side, None if other is im else other), spec)
            first = to_input(base, spec) if rng.random() < anchor else edited()
            c = len(class_photo)
            class_photo.append(p)
            class_kind.append(kind)
            xs += [first, edited()]
            labels += [c, c]
    x = np.stack(xs)
    if cfg["model"]["color"] == "gray":
        mean = np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)
        luma = np.asarray(LUMA, np.float32).reshape(1, 3, 1, 1)
        x = ((x * std + mean) * luma).sum(axis=1, keepdims=True)
    return (x.astype(np.float16), np.array(labels, dtype=np.int64),
            np.array(class_photo, dtype=np.int64), np.array(class_kind, dtype=np.int64))


def online_input(model, x):
    """The network's input from a `render_batch` array on the model's device: the luminance
    normalised as the model's `to_gray` leaves it, or the colour input as it is."""
    if model.gray:
        return (x - model._mean) / model._std
    return x


def _batch_task(args):
    photo_ids, seed, batch, cfg, spec, anchor = args
    return render_batch(_POOL_IMAGES, photo_ids, seed, batch, cfg, spec, anchor)


class OnlineBatches:
    """Batches for steps start, start + 1, ... rendered ahead by worker processes (forked, so
    they share the decoded pool); at most `ahead` batches wait in memory."""

    def __init__(self, images, photo_ids, seed, batch, cfg, spec, anchor, workers, ahead=None):
        global _POOL_IMAGES
        import collections
        import multiprocessing as mp
        _POOL_IMAGES = images
        self.args = (list(photo_ids), batch, cfg, spec, anchor)
        self.seed, self.next_step = seed, 0
        # forked before the model goes to a GPU: a forked child must not inherit CUDA
        self.pool = mp.get_context("fork").Pool(max(1, workers)) if workers > 0 else None
        self.ahead = ahead or 2 * max(1, workers)
        self.queue = collections.deque()

    def start(self, step: int):
        """Render from this step on (a resumed run starts where it stopped)."""
        self.next_step = step
        self._fill()

    def _task(self, step):
        ids, batch, cfg, spec, anchor = self.args
        return (ids, self.seed * 1_000_003 + step, batch, cfg, spec, anchor)

    def _fill(self):
        while self.pool is not None and len(self.queue) < self.ahead:
            self.queue.append(self.pool.apply_async(_batch_task, (self._task(self.next_step),)))
            self.next_step += 1

    def get(self):
        if self.pool is None:
            self.next_step += 1
            return _batch_task(self._task(self.next_step - 1))
        out = self.queue.popleft().get()
        self._fill()
        return out

    def close(self):
        global _POOL_IMAGES
        if self.pool is not None:
            self.pool.terminate()
            self.pool = None
        _POOL_IMAGES = None


def load_pool(folder, long_side: int, max_photos: int = 0):
    """Pool photos decoded by the engine (orientation applied), long side <= long_side."""
    from lookalike.core.decode import DecodeError, load_rgb
    from .data import list_photos
    paths = list_photos(folder)
    if max_photos:
        import zlib                            # a stable, spread-out choice of photos
        paths = sorted(paths, key=lambda p: zlib.crc32(str(p).encode()))[:max_photos]
        paths.sort()
    images, kept = [], []
    for p in paths:
        try:
            im = load_rgb(p, target=long_side // 2)
        except DecodeError:
            continue
        s = long_side / max(im.size)
        if s < 1:
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BILINEAR)
        im.load()
        images.append(im)
        kept.append(str(p))
    return kept, images


# --------------------------------------------------------------------------- feature cache

class FeatureCache:
    """Cached prefix features (float16) of every copy, with each row's class, the class's
    photo and its kind (0 = whole photo, else a region)."""

    def __init__(self, feats, row_class, class_photo, class_kind):
        self.feats = feats
        self.row_class = np.asarray(row_class, dtype=np.int64)
        self.class_photo = np.asarray(class_photo, dtype=np.int64)
        self.class_kind = np.asarray(class_kind, dtype=np.int64)
        order = np.argsort(self.row_class, kind="stable")
        bounds = np.searchsorted(self.row_class[order], np.arange(len(self.class_photo) + 1))
        self.rows_of = [order[bounds[c]:bounds[c + 1]] for c in range(len(self.class_photo))]
        self.classes_of_photo: dict[int, list[int]] = {}
        for c, p in enumerate(self.class_photo):
            self.classes_of_photo.setdefault(int(p), []).append(c)

    def ignore(self, classes: np.ndarray) -> np.ndarray:
        """[n, n] for items of these classes: overlapping (same photo, one of them the whole
        photo, different classes) = neither positive nor negative."""
        ph, kd = self.class_photo[classes], self.class_kind[classes]
        same_photo = ph[:, None] == ph[None, :]
        one_whole = (kd[:, None] == WHOLE) | (kd[None, :] == WHOLE)
        return same_photo & one_whole & (classes[:, None] != classes[None, :])


def build_cache(model, images, photo_ids, cfg, spec, seed, copies, region_copies, path=None,
                chunk=64, workers=2, progress=None):
    """Render every photo's copies (worker processes), run the frozen prefix once, keep float16.
    With `path`, the cache is saved there (np.savez) and reused when it exists."""
    import torch
    if path is not None and Path(path).is_file():
        z = np.load(path)
        return FeatureCache(z["feats"], z["row_class"], z["class_photo"], z["class_kind"])
    global _POOL_IMAGES
    _POOL_IMAGES = images
    n_stages = int(cfg["model"]["cache_stages"])
    feats, row_class, class_photo, class_kind = [], [], [], []
    tasks = [(i, seed, cfg, spec, copies, region_copies) for i in photo_ids]
    pool = None
    if workers > 1 and len(tasks) > 8:
        import multiprocessing as mp
        pool = mp.get_context("fork").Pool(workers)
        it = pool.imap(_render_task, tasks, chunksize=4)
    else:
        it = map(_render_task, tasks)
    pending, done, t0 = [], 0, time.time()

    def flush():
        x = torch.from_numpy(np.stack(pending))
        with torch.no_grad():
            feats.append(model.prefix(x, n_stages).half().numpy())
        pending.clear()

    try:
        for index, classes in it:
            for kind, xs in classes:
                c = len(class_photo)
                class_photo.append(index)
                class_kind.append(kind)
                for x in xs:
                    pending.append(x)
                    row_class.append(c)
                    if len(pending) >= chunk:
                        flush()
            done += 1
            if progress and done % 25 == 0:
                progress(done, len(tasks), time.time() - t0)
        if pending:
            flush()
    finally:
        if pool is not None:
            pool.terminate()
        _POOL_IMAGES = None
    cache = FeatureCache(np.concatenate(feats), row_class, class_photo, class_kind)
    if path is not None:
        tmp = Path(str(path) + ".tmp.npz")
        np.savez(tmp, feats=cache.feats, row_class=cache.row_class,
                 class_photo=cache.class_photo, class_kind=cache.class_kind)
        os.replace(tmp, path)
    return cache


# --------------------------------------------------------------------------- losses

def info_nce(emb, labels, ignore, temperature: float):
    """InfoNCE (NT-Xent) over all positive pairs, negatives = different class and not ignored."""
    import torch
    from pytorch_metric_learning import losses
    from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
    a1, p, a2, n = lmu.get_all_pairs_indices(labels)
    keep = ~ignore[a2, n]
    return losses.NTXentLoss(temperature=temperature)(emb, labels, (a1, p, a2[keep], n[keep]))


def region_margin(emb, labels, classes, cache: "FeatureCache", margin: float):
    """Mean squared excess of the cosine over `margin` between copies of the two regions of
    one region pair (two parts of one photo: alike in look, never the same picture, like the
    kit's near-miss crops). InfoNCE counts them as one negative among hundreds; this term
    pushes them apart directly."""
    import torch
    cls = np.asarray(classes)[np.asarray(labels)]
    ph, kd = cache.class_photo[cls], cache.class_kind[cls]
    pair = np.where(kd == WHOLE, -1, (kd - 1) // 2)
    mask = (ph[:, None] == ph[None, :]) & (pair[:, None] == pair[None, :]) & (pair[:, None] >= 0)
    mask &= cls[:, None] != cls[None, :]
    if not mask.any():
        return emb.sum() * 0.0
    i, j = np.nonzero(np.triu(mask, 1))
    i, j = torch.as_tensor(i, device=emb.device), torch.as_tensor(j, device=emb.device)
    cos = (emb[i] * emb[j]).sum(1)
    return torch.relu(cos - margin).pow(2).mean()


def koleo(emb, eps: float = 1e-8):
    """KoLeo: -mean log(distance to the nearest other vector); spreads the embeddings."""
    import torch
    d = torch.cdist(emb, emb)
    d = d + torch.eye(len(emb), dtype=emb.dtype, device=emb.device) * 1e3
    return -torch.log(d.min(dim=1).values + eps).mean()


# --------------------------------------------------------------------------- validation

def _pr_at(pos, neg, target=0.99):
    from .evaluate import _precision_threshold
    t, r = _precision_threshold(np.asarray(pos), np.asarray(neg), target)
    return r, t


def _best_f1(pos, neg):
    s = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    o = np.argsort(-s)
    tp, fp = np.cumsum(y[o]), np.cumsum(1 - y[o])
    f1 = 2 * tp / (tp + fp + len(pos))
    return float(f1.max()) if len(f1) else 0.0


class KitValidation:
    """A kit folder (images/ + truth.json) preprocessed by the engine, cached at the prefix."""

    def __init__(self, model, bench, cfg, spec):
        import torch
        from lookalike.core.bundle import Bundle
        from lookalike.core.scanner import prepare
        bench = Path(bench)
        truth = json.loads((bench / "truth.json").read_text())
        group_of = {m: gi for gi, g in enumerate(truth["groups"]) for m in g}
        names = sorted(p for p in os.listdir(bench / "images") if not p.startswith("."))
        fake = _FakeBundle(spec)
        xs, kept = [], []
        for nm in names:
            p = prepare(0, str(bench / "images" / nm), fake)
            if p.error is None:
                xs.append(p.input)
                kept.append(nm)
        self.names = kept
        lab = np.array([group_of.get(n, -1 - i) for i, n in enumerate(kept)])
        self.labels = lab
        # near_miss_pairs: pairs of group indices (two crops of one photo, not duplicates)
        nm = {frozenset(p) for p in truth.get("near_miss_pairs", [])}
        iu = np.triu_indices(len(kept), 1)
        self.iu = iu
        self.same = lab[iu[0]] == lab[iu[1]]
        self.near = np.array([frozenset((int(lab[i]), int(lab[j]))) in nm for i, j in zip(*iu)],
                             dtype=bool)
        n_stages = int(cfg["model"]["cache_stages"])
        with torch.no_grad():
            self.feats = torch.cat([model.prefix(torch.from_numpy(np.stack(xs[i:i + 64])), n_stages)
                                    for i in range(0, len(xs), 64)])

    def scores(self, model, n_stages):
        import torch
        model.eval()
        dev = _device_of(model)
        with torch.no_grad():
            e = torch.cat([model.embed_from(self.feats[i:i + 64].to(dev), n_stages).float().cpu()
                           for i in range(0, len(self.feats), 64)]).numpy()
        sim = (e @ e.T * 100.0)[self.iu]
        return sim[self.same], sim[~self.same], sim[self.near]


class _FakeBundle:
    """What core.scanner.prepare needs of a bundle: the input spec and the preprocess mode."""

    def __init__(self, spec):
        self.input = spec
        self.preprocess = "whole"


def pool_scores(model, cache: FeatureCache, n_stages: int):
    """(positive, negative) pair scores over a validation cache (overlapping pairs left out)."""
    import torch
    model.eval()
    dev = _device_of(model)
    with torch.no_grad():
        f = torch.from_numpy(cache.feats.astype(np.float32))
        e = torch.cat([model.embed_from(f[i:i + 64].to(dev), n_stages).float().cpu()
                       for i in range(0, len(f), 64)]).numpy()
    lab = cache.row_class
    sim = e @ e.T * 100.0
    iu = np.triu_indices(len(lab), 1)
    ign = cache.ignore(lab)[iu]
    same = lab[iu[0]] == lab[iu[1]]
    s = sim[iu]
    return s[same], s[~same & ~ign]


def validate(model, n_stages, val_cache, kit):
    pos, neg = pool_scores(model, val_cache, n_stages)
    r_pool, _ = _pr_at(pos, neg)
    out = {"pool_r_at_p99": round(r_pool, 4), "pool_best_f1": round(_best_f1(pos, neg), 4)}
    kpos = kneg = np.zeros(0)
    if kit is not None:
        kpos, kneg, knear = kit.scores(model, n_stages)
        r_kit, _ = _pr_at(kpos, kneg)
        out.update(kit_r_at_p99=round(r_kit, 4), kit_best_f1=round(_best_f1(kpos, kneg), 4),
                   kit_near_miss_max=round(float(knear.max()), 2) if len(knear) else None)
        out["metric"] = round(0.5 * r_pool + 0.5 * r_kit, 4)
    else:
        out["metric"] = round(r_pool, 4)
    return out, (np.concatenate([pos, kpos]), np.concatenate([neg, kneg]))


# --------------------------------------------------------------------------- model

def _device_of(model):
    return next(model.parameters()).device


def build(cfg, pretrained=True):
    from .model import EmbeddingNet
    m = cfg["model"]
    return EmbeddingNet(backbone=m["backbone"], image_size=int(m["input_size"]),
                        embedding_dim=int(m["embedding_dim"]), gem_p=float(m["gem_p"]),
                        learn_p=bool(m["learn_p"]), pretrained=pretrained, views=1,
                        gray=m["color"] == "gray")


def whiten_init(model, cache: FeatureCache, n_stages: int, max_rows: int = 4000, seed: int = 0):
    """Set the projection to the PCA whitening of the pretrained GeM features of the cache's
    unedited rows (so training starts from the plain backbone's descriptor)."""
    import torch
    rng = np.random.default_rng(seed)
    rows = np.array([r[0] for r in cache.rows_of])
    if len(rows) > max_rows:
        rows = rng.choice(rows, max_rows, replace=False)
    with torch.no_grad():
        f = torch.from_numpy(cache.feats[np.sort(rows)].astype(np.float32)).to(_device_of(model))
        g = torch.cat([model.pool(model.backbone.run_stages(f[i:i + 64], n_stages))
                       for i in range(0, len(f), 64)]).double()
        g = torch.nn.functional.normalize(g, dim=1)
        mu = g.mean(0)
        u, s, vt = torch.linalg.svd(g - mu, full_matrices=False)
        k = min(model.proj.out_features, len(s))
        ev = (s[:k] ** 2) / max(1, len(g) - 1)
        w = vt[:k] / torch.sqrt(ev + 1e-3 * ev.max())[:, None]
        model.proj.weight[:k] = w.float()        # with fewer photos than dimensions, the
        model.proj.bias[:k] = (-(w @ mu)).float()  # rest keeps its random initialisation


# --------------------------------------------------------------------------- training

def sample_batch(cache: FeatureCache, photos, batch: int, rng: np.random.Generator, anchor: float = 0.0):
    """Classes for one step: whole photos, and region pairs (both regions) for variety. Each
    class gives two of its rows; with probability `anchor` one of them is the unedited picture,
    so the pair always shares pixels (two strong crops of one photo may not overlap at all, and
    must not teach that two parts of a photo are the same picture)."""
    classes = []
    for p in rng.permutation(photos):
        cs = cache.classes_of_photo[int(p)]
        if len(cs) > 1 and rng.random() < 0.35 and len(classes) + 2 <= batch:
            pair = [cs[1 + 2 * int(rng.integers(0, (len(cs) - 1) // 2)) + k] for k in (0, 1)]
            classes += pair
        else:
            classes.append(cs[0])
        if len(classes) >= batch:
            break
    rows, labels = [], []
    for li, c in enumerate(classes):
        r = cache.rows_of[c]
        if len(r) > 1 and rng.random() < anchor:
            two = [r[0], r[1 + int(rng.integers(0, len(r) - 1))]]
        else:
            two = rng.choice(r, 2, replace=len(r) < 2)
        rows += list(two)
        labels += [li, li]
    return np.array(rows), np.array(labels), np.array(classes)


def _init_weights(path):
    """A state dict from a run's best.pt or state.pt, or a bundle's checkpoint.pt."""
    import torch
    st = torch.load(path, map_location="cpu", weights_only=False)
    if "state_dict" in st:                       # a bundle's checkpoint.pt (float16 weights)
        return {k: v.float() if v.is_floating_point() else v for k, v in st["state_dict"].items()}
    return st["model"] if "model" in st else st


def train(cfg, pool_dir, work, out, val_bench=None, resume=True, argv=None, use="best", init=None):
    """Train (resuming from --work), then export the best validated weights (`use="best"`)
    or the last ones (`use="last"`). With train.steps at the saved step, this only exports.
    `init`: a run's best.pt or state.pt to start from instead of the whitened plain backbone
    (the same model.* settings; a grey model's weights start a colour run too)."""
    import torch
    from .config import dump_toml
    from .train import input_spec, seed_everything

    t_start = time.time()
    seed = int(cfg["seed"])
    seed_everything(seed)
    torch.set_num_threads(int(cfg["threads"]))
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "config.toml").write_text(dump_toml(cfg), encoding="utf-8")
    spec = input_spec(cfg)
    n_stages = int(cfg["model"]["cache_stages"])
    d, tc = cfg["data"], cfg["train"]
    online = bool(d.get("online", False))
    device = torch.device(str(tc.get("device", "cpu")))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is cuda but torch sees no GPU")
    workers = int(tc.get("workers", 2))

    emit(event="load", message="reading the pool")
    paths, images = load_pool(pool_dir, int(d["long_side"]), int(d["max_photos"]))
    if len(images) < 10:
        raise ValueError(f"{pool_dir}: need at least 10 readable photos, found {len(images)}")
    order = list(range(len(images)))
    random.Random(seed).shuffle(order)
    n_val = min(int(d["val_photos"]), len(images) // 5)
    val_ids, train_ids = sorted(order[:n_val]), sorted(order[n_val:])
    (work / "split.json").write_text(json.dumps({"pool": str(pool_dir), "photos": paths,
                                                 "val": val_ids}), encoding="utf-8")
    emit(event="data", photos=len(images), train_photos=len(train_ids), val_photos=len(val_ids))

    state_path, best_path = work / "state.pt", work / "best.pt"
    resuming = resume and state_path.is_file()
    # weights to start from need no ImageNet weights package (a GPU machine may lack it); they
    # are loaded before the caches, which hold the output of the frozen stages
    model = build(cfg, pretrained=not (init or resuming))
    st = None
    if resuming:
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(st["model"])
    elif init:
        model.load_state_dict(_init_weights(init))
    model.freeze(n_stages)
    prog = lambda done, total, el: emit(event="cache", done=done, total=total,
                                        eta_s=round(el / done * (total - done), 1))
    val_cache = build_cache(model, images, val_ids, cfg, spec, seed + 1, 4, 1,
                            path=work / "val_cache.npz", progress=prog, workers=workers)
    if online:
        # no cache to train on: only the unedited photos, for the whitening at step 0
        train_cache = None if (init or resuming) else build_cache(
            model, images, train_ids[:4000], cfg, spec, seed, 0, 0, workers=workers)
    else:
        train_cache = build_cache(model, images, train_ids, cfg, spec, seed, int(d["copies"]),
                                  int(d["region_copies"]), path=work / "train_cache.npz",
                                  progress=prog, workers=workers)
        del images
        emit(event="cache", rows=int(len(train_cache.feats)), classes=len(train_cache.class_photo),
             bytes=int(train_cache.feats.nbytes), seconds=round(time.time() - t_start, 1))
    kit = KitValidation(model, val_bench, cfg, spec) if val_bench else None
    batches = OnlineBatches(images, train_ids, seed, int(tc["batch"]), cfg, spec,
                            float(tc.get("anchor_original", 0.0)), workers) if online else None
    model.to(device)
    amp = device.type == "cuda"
    if amp:
        torch.backends.cudnn.benchmark = True

    head = list(model.pool.parameters()) + list(model.proj.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    opt = torch.optim.AdamW([{"params": [p for p in head if p.requires_grad], "lr": float(tc["lr_head"])},
                             {"params": body, "lr": float(tc["lr"])}],
                            weight_decay=float(tc["weight_decay"]))
    total = int(tc["steps"])
    base = [g["lr"] for g in opt.param_groups]
    warm = min(100, total // 10)
    step, best, history = 0, None, []
    if st is not None:
        opt.load_state_dict(st["opt"])
        step, best, history = st["step"], st["best"], st["history"]
        emit(event="resume", step=step, best=best)
    else:
        if init:
            emit(event="init", path=str(init))
        else:
            whiten_init(model, train_cache, n_stages, seed=seed)
        m0, _ = validate(model, n_stages, val_cache, kit)
        history.append({"step": 0, **m0})
        best = {"step": 0, **m0}
        torch.save(model.state_dict(), best_path)
        emit(event="eval", step=0, **m0)

    rng = np.random.default_rng(seed + step)
    limit = float(tc["minutes"]) * 60
    t_loop, losses = time.time(), []
    stop = "steps"
    anchor = float(tc.get("anchor_original", 0.0))
    if online:
        del train_cache
        batches.start(step)
    else:
        feats = train_cache.feats
    while step < total:
        done = (step - warm) / max(1, total - warm)
        if limit:                               # under a time budget the schedule ends with it
            done = max(done, (time.time() - t_start) / limit)
        f = (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * max(f, 0.02)
        model.train()
        if online:
            xb, labels, class_photo, class_kind = batches.get()
            info = FeatureCache(np.zeros((0, 1), np.float16), [], class_photo, class_kind)
            classes = np.arange(len(class_photo))
            x = online_input(model, torch.from_numpy(xb).to(device, non_blocking=True).float())
            if n_stages:                        # the frozen stages, run afresh (no cache online)
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    x = model.backbone.run_stages(x, 0, n_stages).float()
        else:
            rows, labels, classes = sample_batch(train_cache, train_ids, int(tc["batch"]), rng, anchor)
            info = train_cache
            x = torch.from_numpy(feats[rows].astype(np.float32)).to(device)
        lab = torch.from_numpy(labels).to(device)
        ign = torch.from_numpy(info.ignore(classes)[labels][:, labels]).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            emb = model.embed_from(x, n_stages)
        emb = torch.nn.functional.normalize(emb.float(), dim=1)
        loss = info_nce(emb, lab, ign, float(tc["temperature"]))
        if float(tc["koleo"]):
            loss = loss + float(tc["koleo"]) * koleo(emb[0::2])
        if float(tc.get("region_margin", 0.0)):
            loss = loss + float(tc["region_margin"]) * region_margin(
                emb, labels, classes, info, float(tc.get("region_margin_cos", 0.5)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 10 == 0:
            el = time.time() - t_loop
            emit(event="step", step=step, total_steps=total, loss=round(float(np.mean(losses[-10:])), 4),
                 eta_s=round(el / max(1, len(losses)) * (total - step), 1))
        over = limit and time.time() - t_start > limit
        if step % int(tc["eval_every"]) == 0 or step == total or over:
            m, _ = validate(model, n_stages, val_cache, kit)
            history.append({"step": step, "loss": round(float(np.mean(losses[-50:])), 4), **m})
            emit(event="eval", step=step, **m)
            if m["metric"] > best["metric"] + 1e-6:
                best = {"step": step, **m}
                torch.save(model.state_dict(), best_path)
            if tc.get("keep_states", False):    # every validated state, for later exports
                torch.save(model.state_dict(), work / f"weights-{step:05d}.pt")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "best": best, "history": history}, Path(str(state_path) + ".tmp"))
            os.replace(Path(str(state_path) + ".tmp"), state_path)
        if over:
            stop = "time limit"
            break
    if online:
        batches.close()
        del images
    seconds = time.time() - t_start
    model.cpu()
    if use == "best":
        model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True))
    else:
        best = {"step": step, **history[-1]}
    return export(model, cfg, out, val_cache, kit, best, history, seconds, stop, len(train_ids),
                  len(val_ids), pool_dir, argv)


def export(model, cfg, out, val_cache, kit, best, history, seconds, stop, n_train, n_val,
           pool_dir, argv):
    from .evaluate import choose_thresholds
    n_stages = int(cfg["model"]["cache_stages"])
    final, (pos, neg) = validate(model, n_stages, val_cache, kit)
    dup, sim = choose_thresholds(pos, neg, cfg["thresholds"])
    thresholds = {"duplicate": dup, "similar": sim}
    cmd = "python -m lookalike.trainer.copydesc " + " ".join(sys.argv[1:] if argv is None else argv)
    trained_on = (f"Self-supervised contrastive copy training (trainer/copydesc.py) on {n_train} photos "
                  f"of {Path(pool_dir).resolve()} (bench/make_pool.py), {n_val} held out for "
                  f"validation with the kit's --part train folder; best of {history[-1]['step']} "
                  f"steps at step {best['step']}; command: {cmd}")
    metrics = {"validation": final, "validation_before": history[0], "training_seconds": round(seconds, 1),
               "best_step": best["step"], "history": history}
    diff = write_copy_bundle(model, cfg, out, thresholds, metrics, trained_on,
                             report_files=_report_files(pos, neg, thresholds),
                             checkpoint_metrics={"validation": final})
    emit(event="done", out=str(out), thresholds=thresholds, parity_max_abs_diff=diff,
         seconds=round(seconds, 1), stopped=stop, **final)
    return final


def write_copy_bundle(model, cfg, out, thresholds, metrics, trained_on, report_files=None,
                      checkpoint_metrics=None):
    """A copy model as a bundle (ONNX, parity checked, fp16 checkpoint), named after its
    backbone, with the engine's scene vector (the similar tier: the equalised view)."""
    from .train import finish_bundle, make_checkpoint
    bcfg = json.loads(json.dumps(cfg))
    bcfg["model"]["views"] = 1
    bcfg["data"].update(faces=False, no_labels=True)
    name = f"{cfg['model']['backbone']}-gem{model.embedding_dim}-copydesc"
    if cfg["model"]["color"] == "gray":
        name += "-gray"
    return finish_bundle(model, bcfg, out, name=name, thresholds=thresholds, metrics=metrics,
                         trained_on=trained_on, report_files=report_files,
                         checkpoint=make_checkpoint(model, bcfg, checkpoint_metrics or {}),
                         scene_views=("equalized",))


def _report_files(pos, neg, thresholds):
    """roc.png and scores.png of the validation pair scores, as bytes for the bundle."""
    import tempfile
    from .evaluate import score_plots
    with tempfile.TemporaryDirectory(prefix="lookalike-report-") as tmp:
        score_plots([("after", pos, neg, thresholds)], tmp)
        return {name: (Path(tmp) / name).read_bytes() for name in ("roc.png", "scores.png")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lookalike.trainer.copydesc", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pool", help="folder of training photos (each photo its own class)")
    ap.add_argument("--out", required=True, help="bundle folder to write")
    ap.add_argument("--work", required=True, help="folder for the feature cache and checkpoints")
    ap.add_argument("--val-bench", help="a kit folder from the kit's --part train photos")
    ap.add_argument("--config", help="TOML overriding trainer/copydesc.toml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--fresh", action="store_true", help="ignore a checkpoint in --work")
    ap.add_argument("--init", help="start from these weights (another run's best.pt or state.pt) "
                                   "instead of the plain backbone; a checkpoint in --work still wins")
    ap.add_argument("--use", choices=("best", "last"), default="best",
                    help="export the best validated weights (default) or the last ones")
    a = ap.parse_args(argv)
    from .config import load_config
    try:
        cfg = load_config(a.config, overrides=a.set, base=DEFAULTS)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: bad config: {exc}", file=sys.stderr)
        return 2
    try:
        train(cfg, a.pool, a.work, a.out, val_bench=a.val_bench, resume=not a.fresh, argv=argv,
              use=a.use, init=a.init)
    except KeyboardInterrupt:
        emit(event="cancelled")
        return 130
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
