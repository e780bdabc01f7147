"""Training loop, pretrained export and the bundle/report writing around them."""
from __future__ import annotations

import json
import math
import os
import pickle
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .config import dump_toml
from .export import PARITY_LIMIT, export_onnx, manifest, parity, write_bundle
from .model import EmbeddingNet


def emit(**event):
    """One JSON object per line on stdout (the app parses these)."""
    print(json.dumps(event), flush=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def input_spec(cfg):
    from lookalike.core.bundle import InputSpec
    s = int(cfg["model"]["input_size"])
    return InputSpec(size=(s, s))


def build_model(cfg, pretrained=True, embedding_dim="cfg"):
    m = cfg["model"]
    dim = int(m["embedding_dim"]) if embedding_dim == "cfg" else embedding_dim
    return EmbeddingNet(backbone=m["backbone"], image_size=int(m["input_size"]),
                        embedding_dim=dim or None, gem_p=float(m["gem_p"]),
                        learn_p=bool(m["learn_p"]), pretrained=pretrained,
                        views=int(m["views"]) or 1, gray=m.get("color") == "gray")


def _command(argv):
    args = sys.argv[1:] if argv is None else list(argv)
    return "python -m lookalike.trainer " + " ".join(args)


def finish_bundle(model, cfg, out, *, name, thresholds, metrics, trained_on,
                  report_files=None, checkpoint=None, scene_views=()):
    """Export, check parity, and write the bundle atomically. Returns the parity diff.
    `scene_views`: model.json `input.scene_views` (the engine's scene vector)."""
    spec = input_spec(cfg)
    with tempfile.TemporaryDirectory(prefix="lookalike-export-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(model, onnx_path, spec.size)
        diff = parity(model, onnx_path, spec.size)
        emit(event="export", parity_max_abs_diff=diff, onnx_bytes=os.path.getsize(onnx_path))
        if not diff < PARITY_LIMIT:
            raise ValueError(f"ONNX parity check failed: max abs diff {diff:.3g} >= {PARITY_LIMIT}")
        metrics = dict(metrics, onnx_parity_max_abs_diff=diff)
        files = {"model.onnx": str(onnx_path), "config.toml": dump_toml(cfg).encode("utf-8")}
        files.update(report_files or {})
        if checkpoint is not None:
            ck = Path(tmp) / "checkpoint.pt"
            torch.save(checkpoint, ck)
            files["checkpoint.pt"] = str(ck)
        preprocess = "face" if cfg["data"]["faces"] else "whole"
        # labelled folders teach "the same subject"; no-label training teaches "the same picture"
        matches = "copies" if cfg["data"]["no_labels"] else "subjects"
        man = manifest(name, "1", spec, model.embedding_dim, preprocess, thresholds,
                       metrics, trained_on, matches=matches, scene_views=scene_views)
        write_bundle(out, files, man)
    return diff


def export_pretrained(cfg, out, data=None, argv=None):
    """The plain ImageNet backbone + GeM (p fixed), no projection, no training."""
    seed_everything(int(cfg["seed"]))
    cfg = json.loads(json.dumps(cfg))
    cfg["model"]["embedding_dim"] = 0
    cfg["model"]["learn_p"] = False
    model = build_model(cfg, pretrained=True).eval()
    thresholds = {"duplicate": 90.0, "similar": 80.0}
    metrics, report_files, report = {}, {}, None
    if data:
        thresholds, metrics, report_files, report = calibrate_on_data(model, cfg, data)
    diff = finish_bundle(
        model, cfg, out, name=f"{cfg['model']['backbone']}-imagenet-gem",
        thresholds=thresholds, metrics=metrics, report_files=report_files,
        trained_on="ImageNet classification weights only (no metric training); "
                   f"exported with: {_command(argv)}")
    if report is not None:
        report["onnx_parity_max_abs_diff"] = diff
        _write_reports(out, report)
    emit(event="done", out=str(out), parity_max_abs_diff=diff)


def calibrate_on_data(model, cfg, data):
    """For --export-pretrained with DATA: calibrate thresholds on a validation set built from
    the data (no training). Returns (thresholds, metrics, report files)."""
    from .evaluate import embed, metrics, report_images
    xv, lv, iv, _ = build_eval_set(cfg, data, input_spec(cfg), all_photos=True)
    emb = embed(model, xv)
    m = metrics(emb, lv, iv, cfg["thresholds"])
    thresholds = m.pop("thresholds")
    rep = {"name": f"{cfg['model']['backbone']} ImageNet + GeM (no metric training)",
           "trained_on": "ImageNet classification weights only", "input_size": cfg["model"]["input_size"],
           "embedding_dim": int(emb.shape[1]), "backbone": cfg["model"]["backbone"],
           "views": int(cfg["model"]["views"]) or 1, "thresholds": thresholds, "validation": m}
    return thresholds, {"validation": m}, report_images(emb, lv, iv, thresholds), rep


# --------------------------------------------------------------------------- data setup

def _split(items, frac, seed):
    items = list(items)
    rng = random.Random(seed)
    rng.shuffle(items)
    n_val = int(round(frac * len(items)))
    if len(items) >= 3:
        n_val = max(1, n_val)
    n_val = min(n_val, len(items) - 1)
    return sorted(items[n_val:]), sorted(items[:n_val])


def prepare_data(cfg, data):
    """-> (cache, train_sources, val_sources, train_labelled, val_labelled)."""
    from .data import SourceCache, list_labelled, list_photos
    d = cfg["data"]
    seed = int(cfg["seed"])
    if d["no_labels"]:
        photos = list_photos(data)
        if not photos:
            raise ValueError(f"no photos found in {data}")
        cache = SourceCache(photos, int(d["cache_side"]), faces=bool(d["faces"]))
        if len(cache) < 2:
            raise ValueError(f"need at least 2 readable photos, found {len(cache)} in {data}")
        tr, va = _split(range(len(cache)), float(d["val_fraction"]), seed)
        return cache, tr, va, None, None
    groups = list_labelled(data)
    if len(groups) < 2:
        raise ValueError(f"{data}: need at least 2 identity subfolders with photos "
                         "(or use --no-labels)")
    owner = {str(p): name for name, ps in groups.items() for p in ps}
    cache = SourceCache(list(owner), int(d["cache_side"]), faces=bool(d["faces"]))
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(cache.paths):              # unreadable photos are not in the cache
        by_name.setdefault(owner[p], []).append(i)
    names = sorted(by_name)
    tr, va = _split(names, float(d["val_fraction"]), seed)
    return (cache, [], [], {n: tuple(by_name[n]) for n in tr},
            {n: tuple(by_name[n]) for n in va})


def build_eval_set(cfg, data, spec, all_photos=False):
    from .data import validation_set
    cache, tr, va, ltr, lva = prepare_data(cfg, data)
    if all_photos:
        va, lva = sorted(tr + va), ({**ltr, **lva} if lva is not None else None)
    return validation_set(cache, cfg, spec, va, int(cfg["seed"]), lva)


# --------------------------------------------------------------------------- checkpoints

CKPT_FORMAT = "lookalike-trainer-checkpoint/1"


def load_init(cfg, path):
    """A checkpoint dict from a checkpoint file or a bundle folder, or None (with a notice)
    when a bundle has no checkpoint.pt."""
    p = Path(path)
    if p.is_dir():
        ck = p / "checkpoint.pt"
        if not ck.is_file():
            emit(event="notice", message=f"{p} has no checkpoint.pt; starting from the "
                                         "pretrained backbone instead")
            return None
        p = ck
    if not p.is_file():
        raise FileNotFoundError(f"--init-from: {path} is neither a bundle folder nor a checkpoint")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)     # tensors and plain data, never code
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{p} is not a Lookalike trainer checkpoint: {exc}") from None
    if not isinstance(ck, dict) or ck.get("format") != CKPT_FORMAT:
        raise ValueError(f"{p} is not a Lookalike trainer checkpoint")
    return ck


def triplet_step(emb, labels, triplets, loss_fn, opt) -> float:
    """One optimiser step on the mined triplets; 0.0 (and no step) when none were mined."""
    if not len(triplets[0]):
        return 0.0
    loss = loss_fn(emb, labels, triplets)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def inherit_model(cfg, ck):
    """Take the starting checkpoint's architecture; views 0 and color "auto" mean "as the
    starting model" (a retrained default model stays rotation-invariant and luminance-only)."""
    if ck is not None:
        for k in ("backbone", "embedding_dim", "gem_p"):
            cfg["model"][k] = ck["model"][k]
    if int(cfg["model"]["views"]) == 0:
        cfg["model"]["views"] = int(ck["model"].get("views", 1)) if ck is not None else 1
    if cfg["model"]["color"] == "auto":
        cfg["model"]["color"] = ck["model"].get("color", "rgb") if ck is not None else "rgb"


def make_checkpoint(model, cfg, metrics, half=True):
    sd = {k: (v.half() if half and v.is_floating_point() else v).clone()
          for k, v in model.state_dict().items()}
    return {"format": CKPT_FORMAT, "model": dict(cfg["model"]), "state_dict": sd,
            "metrics": metrics}


# --------------------------------------------------------------------------- training

def train(cfg, data, out, argv=None):
    if not cfg["data"]["no_labels"]:
        from .finetune import run                # labelled folders: the time-budgeted recipe
        return run(cfg, data, out, argv)
    from pytorch_metric_learning import distances, losses, miners
    from .data import Sampler, validation_set
    from .evaluate import embed, metrics as val_metrics, report_images, report_md

    t_start = time.time()
    seed = int(cfg["seed"])
    seed_everything(seed)
    cfg = json.loads(json.dumps(cfg))
    ck = load_init(cfg, cfg["model"]["init_from"]) if cfg["model"]["init_from"] else None
    inherit_model(cfg, ck)
    if cfg["model"]["color"] not in ("rgb", "gray"):
        raise ValueError(f"model.color must be auto, rgb or gray, not {cfg['model']['color']!r}")
    spec = input_spec(cfg)

    emit(event="load", message="reading photos")
    cache, tr, va, ltr, lva = prepare_data(cfg, data)
    for path, why in cache.problems:
        emit(event="problem", path=path, message=why)
    sampler = Sampler(cache, cfg, spec, tr, seed, ltr)
    xv, lv, iv, _ = validation_set(cache, cfg, spec, va, seed, lva)
    n_train = len(ltr) if ltr else len(tr)
    n_val = len(lva) if lva else len(va)
    emit(event="data", photos=len(cache), train_identities=n_train, val_identities=n_val,
         val_images=int(len(lv)), skipped=len(cache.problems))

    model = build_model(cfg, pretrained=True)
    if ck is not None:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in ck["state_dict"].items()})
    model.freeze(int(cfg["model"]["freeze_stages"]))

    tc = cfg["train"]
    head = list(model.pool.parameters()) + list(model.proj.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    opt = torch.optim.AdamW([
        {"params": [p for p in head if p.requires_grad], "lr": float(tc["lr_head"])},
        {"params": body, "lr": float(tc["lr"])}], weight_decay=float(tc["weight_decay"]))
    epochs, spe = int(tc["epochs"]), int(tc["steps_per_epoch"])
    total = max(1, epochs * spe)
    warm = min(20, total // 10)
    base = [g["lr"] for g in opt.param_groups]

    def set_lr(step):
        f = (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * max(f, 0.02)

    dist = distances.CosineSimilarity()
    loss_fn = losses.TripletMarginLoss(margin=float(tc["margin"]), distance=dist)
    miner_type = str(tc["miner"])
    miner = miners.BatchHardMiner(distance=dist) if miner_type == "batchhard" else \
        miners.TripletMarginMiner(margin=float(tc["margin"]), type_of_triplets=miner_type, distance=dist)

    before = val_metrics(embed(model, xv), lv, iv)
    emit(event="epoch", epoch=0, step=0, loss=None, metric=before["metric"],
         val=_short(before), eta_s=None)
    # a freshly initialised projection is random: epoch 0 may only win when resuming
    fresh_head = ck is None and int(cfg["model"]["embedding_dim"]) > 0
    best = (-math.inf if fresh_head else before["metric"], 0,
            {k: v.clone() for k, v in model.state_dict().items()})
    bad, step, history, ran = 0, 0, [], 0
    limit = float(tc["time_limit_s"])
    t_loop = time.time()
    stop = None
    for epoch in range(1, epochs + 1):
        model.train()
        losses_ep = []
        for _ in range(spe):
            set_lr(step)
            x, lab, ign = sampler.batch()
            x, lab_t = torch.from_numpy(x), torch.from_numpy(lab)
            emb = model.embed_one_view(x)
            a, p, n = miner(emb, lab_t)
            if len(a):
                keep = ~torch.from_numpy(ign)[a, n]
                a, p, n = a[keep], p[keep], n[keep]
            lv_ = triplet_step(emb, lab_t, (a, p, n), loss_fn, opt)
            losses_ep.append(lv_)
            step += 1
            el = time.time() - t_loop
            eta = el / step * (total - step)
            if step % 5 == 0 or step == 1:
                emit(event="step", epoch=epoch, step=step, total_steps=total, loss=lv_,
                     triplets=int(len(a)), metric=None, eta_s=round(eta, 1))
            if limit and time.time() - t_start > limit:
                stop = "time limit"
                break
        ran = epoch
        m = val_metrics(embed(model, xv), lv, iv)
        history.append({"epoch": epoch, "loss": float(np.mean(losses_ep)), **_short(m)})
        improved = m["metric"] > best[0] + 1e-6
        if improved:
            best = (m["metric"], epoch, {k: v.clone() for k, v in model.state_dict().items()})
            bad = 0
        else:
            bad += 1
        el = time.time() - t_loop
        emit(event="epoch", epoch=epoch, step=step, loss=float(np.mean(losses_ep)),
             metric=m["metric"], best_epoch=best[1], val=_short(m),
             eta_s=round(el / step * (total - step), 1))
        if stop:
            break
        if bad >= int(tc["patience"]):
            stop = "early stopping"
            break
    seconds = time.time() - t_start
    model.load_state_dict(best[2])
    model.eval()
    emb = embed(model, xv)
    final = val_metrics(emb, lv, iv, cfg["thresholds"])
    thresholds = final.pop("thresholds")
    emit(event="evaluate", val=_short(final), thresholds=thresholds)

    kind = "no labels (self-supervised: photos and crop regions as identities)" if cfg["data"]["no_labels"] \
        else "labelled identity folders"
    trained_on = (f"{n_train} training {'photos' if cfg['data']['no_labels'] else 'identities'} from "
                  f"{Path(data).resolve()} ({kind}); {n_val} held out for validation; "
                  f"command: {_command(argv)}")
    training = {"epochs_run": ran, "steps": step, "seconds": round(seconds, 1),
                "best_epoch": best[1], "stopped": stop or "max epochs", "history": history}
    name = f"{cfg['model']['backbone']}-gem{model.embedding_dim}-triplet"
    if int(cfg["model"]["views"]) > 1:
        name += f"-{int(cfg['model']['views'])}views"
    if cfg["model"]["color"] == "gray":
        name += "-gray"
    report = {"name": name, "trained_on": trained_on, "input_size": list(spec.size),
              "embedding_dim": model.embedding_dim, "backbone": cfg["model"]["backbone"],
              "views": int(cfg["model"]["views"]), "thresholds": thresholds,
              "validation_before": before, "validation": final, "training": training}
    metrics_out = {"validation": _short(final), "validation_before": _short(before),
                   "training_seconds": round(seconds, 1), "best_epoch": best[1]}
    ckpt = make_checkpoint(model, cfg, metrics_out) if cfg["train"].get("save_checkpoint", True) else None
    files = report_images(emb, lv, iv, thresholds)
    # parity is known only after export: write the report, then patch it in
    diff = finish_bundle(model, cfg, out, name=name, thresholds=thresholds, metrics=metrics_out,
                         trained_on=trained_on, report_files=files, checkpoint=ckpt)
    report["onnx_parity_max_abs_diff"] = diff
    _write_reports(out, report)
    emit(event="done", epoch=ran, step=step, loss=history[-1]["loss"] if history else None,
         metric=final["metric"], eta_s=0, out=str(out), thresholds=thresholds,
         parity_max_abs_diff=diff, seconds=round(seconds, 1))
    return report


def _write_reports(out, report):
    from .evaluate import report_md
    out = Path(out)
    for name, text in (("report.json", json.dumps(report, indent=1) + "\n"),
                       ("report.md", report_md(report))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)


def _short(m):
    keys = ("metric", "val_at_far_0.01", "val_at_far_0.001", "recall_at_1",
            "recall_at_precision_0.99", "threshold_at_precision_0.99", "auc", "pos_mean", "neg_mean",
            "neg_max")
    return {k: (round(m[k], 4) if isinstance(m.get(k), float) else m.get(k)) for k in keys if k in m}
