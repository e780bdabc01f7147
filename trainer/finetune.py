"""Fine-tuning on labelled folders within a time budget (the Retrain recipe).

1. read the photos, split subjects into training and validation;
2. run the frozen first stages once over the validation photos and over a pool of edited
   copies of every training photo (featcache), as many copies as the budget allows;
3. train the last stages and the head on cached features: the number of steps is sized to
   the data and to the time left, validation every few steps keeps the best weights, and
   it stops early when validation stops improving (or on SIGTERM: the Retrain dialog's
   "Stop" keeps the best model so far);
4. optionally a small hyperparameter search (`--search N`): N trials share the training time;
5. export, with a before/after report on the held-out subjects.
"""
from __future__ import annotations

import json
import math
import random
import signal
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .featcache import FeaturePool, frozen
from .train import (_command, _short, _write_reports, build_model, emit, finish_bundle,
                    inherit_model, input_spec, load_init, make_checkpoint, prepare_data,
                    seed_everything, triplet_step)


@dataclass(frozen=True)
class Trial:
    lr: float
    margin: float
    miner: str
    freeze: int

    @property
    def lr_head_factor(self):
        return 3.0


SEARCH_SPACE = {"lr": (3e-5, 1e-4, 3e-4), "margin": (0.1, 0.2, 0.3),
                "miner": ("semihard", "hard", "batchhard"), "freeze": (16, 17, 18)}


def trials(cfg, n: int, seed: int) -> list[Trial]:
    """The configured trial first, then up to n-1 distinct random draws from SEARCH_SPACE."""
    r, t = cfg["retrain"], cfg["train"]
    first = Trial(float(r["lr"]), float(t["margin"]), str(t["miner"]), int(r["freeze_stages"]))
    out = [first]
    rng = random.Random(seed + 31)
    grid = [Trial(lr, m, mi, f) for lr in SEARCH_SPACE["lr"] for m in SEARCH_SPACE["margin"]
            for mi in SEARCH_SPACE["miner"] for f in SEARCH_SPACE["freeze"]]
    rng.shuffle(grid)
    for g in grid:
        if len(out) >= n:
            break
        if g not in out:
            out.append(replace(g, lr=g.lr * float(r["lr"]) / 1e-4))
    return out


class StopRequest:
    """SIGTERM asks the run to finish with the best model so far (the dialog's Stop)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:                       # not the main thread (tests)
            self._old = None
        return self

    def _handle(self, *_):
        if not self.requested:
            emit(event="notice", message="stopping: finishing with the best model so far")
        self.requested = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)

    def __call__(self):
        return self.requested


def labelled_config(cfg) -> dict:
    """The effective configuration of a labelled run: the retrain edits (no 90-degree turns,
    mirrors) replace the copy-matching ones."""
    cfg = json.loads(json.dumps(cfg))
    cfg["augment"]["orient"] = float(cfg["retrain"]["orient"])
    cfg["augment"]["mirror"] = float(cfg["retrain"]["mirror"])
    return cfg


def _init_checkpoint(cfg):
    src = cfg["model"]["init_from"]
    if not src and cfg["retrain"]["init_default"]:
        from lookalike.core.library import default_model_dir
        src = str(default_model_dir())
        cfg["model"]["init_from"] = src
    if not src:
        return None, None
    ck = load_init(cfg, src)
    thr = None
    man = Path(src) / "model.json"
    if Path(src).is_dir() and man.is_file():
        thr = json.loads(man.read_text(encoding="utf-8")).get("thresholds")
    return ck, thr


class Clock:
    """Deadlines of the run and the ETA shown while it works."""

    EXPORT_S = 25.0                         # evaluation, ONNX export, parity check, report

    def __init__(self, budget_s: float, reserve_s: float):
        self.t0 = time.time()
        self.cpu0 = time.process_time()
        self.budget = budget_s if budget_s > 0 else math.inf
        self.reserve = reserve_s
        self.planned_end = None             # predicted end of training, once it can be predicted

    @property
    def elapsed(self):
        return time.time() - self.t0

    def deadline(self, share=1.0):
        return self.t0 + self.budget * share

    def train_end(self):
        return self.t0 + self.budget - self.reserve

    def training_until(self, min_share=0.2):
        """The end of training: the budget less the export reserve, but at least `min_share`
        of the budget from now, so a slow start (a loaded machine) still trains."""
        return max(self.train_end(), time.time() + min_share * self.budget)

    def eta(self, predicted_end=None):
        end = predicted_end if predicted_end is not None else self.planned_end
        if end is None or not math.isfinite(end):
            end = self.train_end()
        if not math.isfinite(end):
            return None
        return max(0.0, end - time.time()) + self.EXPORT_S

    def event(self, predicted_end=None):
        eta = self.eta(predicted_end)
        frac = None if eta is None else min(1.0, self.elapsed / max(1e-6, self.elapsed + eta))
        return {"eta_s": None if eta is None else round(eta, 1),
                "elapsed_s": round(self.elapsed, 1),
                "fraction": None if frac is None else round(frac, 4)}


def _val_embed(model, fv, stages, batch=64):
    model.eval()
    with torch.no_grad():
        return torch.cat([model.embed_from(fv[i:i + batch].float(), stages)
                          for i in range(0, len(fv), batch)]).numpy()


def fit(model, pool, fv, lv, iv, trial: Trial, cfg, *, cache_stage, end_time, clock,
        stopped, tag=None, trials_after=0):
    """Train one trial until its steps, its end time, early stopping or a stop request.
    Returns (best metric, best step, best state, history, steps, why it stopped)."""
    from pytorch_metric_learning import distances, losses, miners
    from .evaluate import metrics as val_metrics
    r, t = cfg["retrain"], cfg["train"]
    model.freeze(trial.freeze)
    head = list(model.pool.parameters()) + list(model.proj.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups = [{"params": [p for p in head if p.requires_grad], "lr": trial.lr * trial.lr_head_factor}]
    if body:
        groups.append({"params": body, "lr": trial.lr})
    opt = torch.optim.AdamW(groups, weight_decay=float(t["weight_decay"]))
    base = [g["lr"] for g in opt.param_groups]
    dist = distances.CosineSimilarity()
    loss_fn = losses.TripletMarginLoss(margin=trial.margin, distance=dist)
    miner = miners.BatchHardMiner(distance=dist) if trial.miner == "batchhard" else \
        miners.TripletMarginMiner(margin=trial.margin, type_of_triplets=trial.miner, distance=dist)
    P, K = int(t["P"]), int(t["K"])
    n_photos = len(pool.rows)
    want = int(np.clip(int(r["steps_per_photo"]) * n_photos, int(r["min_steps"]), int(r["max_steps"])))
    if int(t["epochs"]) == 0:
        want = 0

    def evaluate():
        return val_metrics(_val_embed(model, fv, cache_stage), lv, iv)

    t_eval = time.time()
    start = evaluate()
    t_eval = time.time() - t_eval
    best = (start["metric"], 0, {k: v.clone() for k, v in model.state_dict().items()})
    history, bad, planned, why = [], 0, want, None
    every = max(5, want // max(1, int(r["evals"])))
    t_loop, losses_run = time.time(), []
    step = 0
    while step < planned:
        if stopped():
            why = "stopped by the user"
            break
        if time.time() >= end_time:
            why = "time budget"
            break
        model.train()
        warm = max(1, planned // 20)
        f = step / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, planned - warm)))
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * max(f, 0.02)
        x, lab = pool.batch(P, K)
        if trial.freeze > cache_stage:
            with torch.no_grad():
                x = model.backbone.run_stages(x, cache_stage, trial.freeze)
        emb = model.embed_from(x, trial.freeze)
        a, p, n = miner(emb, lab)
        lv_ = triplet_step(emb, lab, (a, p, n), loss_fn, opt)
        losses_run.append(lv_)
        step += 1
        per_step = (time.time() - t_loop) / step
        if step == 5 and want:
            # size the run to the time left: steps plus the validations they bring
            left = end_time - time.time()
            fit_steps = int(left / (per_step + t_eval / every)) + step
            planned = max(step, min(want, fit_steps))
            every = max(5, planned // max(1, int(r["evals"])))
        predicted = min(end_time, time.time() + (planned - step) * (per_step + t_eval / every))
        predicted += trials_after * (predicted - t_loop)
        if step % 5 == 0 or step == 1:
            emit(event="step", stage="train", step=step, total_steps=planned, loss=lv_,
                 triplets=int(len(a)), trial=tag, **clock.event(predicted))
        if step % every == 0 or step == planned:
            m = evaluate()
            history.append({"step": step, "loss": float(np.mean(losses_run)), **_short(m)})
            losses_run = []
            if m["metric"] > best[0] + 1e-6:
                best, bad = (m["metric"], step, {k: v.clone() for k, v in model.state_dict().items()}), 0
            else:
                bad += 1
            emit(event="epoch", epoch=len(history), step=step, loss=history[-1]["loss"],
                 metric=m["metric"], best_step=best[1], val=_short(m), trial=tag,
                 **clock.event(predicted))
            if bad >= int(r["patience"]):
                why = "early stopping"
                break
    return best, history, step, why or "planned steps"


def _predict_end(clock, model, fv, plan, cfg, cache_stage, n_pool, per_copy):
    """When training will end: the cache at the measured cost per copy (edits add about a
    third), then the planned steps at the cost of a probe step, within the deadlines."""
    r, t = cfg["retrain"], cfg["train"]
    n = min(len(fv), int(t["P"]) * int(t["K"]))
    x = fv[:n].float()
    trial = plan[0]
    model.freeze(trial.freeze)
    model.train()
    t0 = time.time()
    for _ in range(2):
        xx = x
        if trial.freeze > cache_stage:
            with torch.no_grad():
                xx = model.backbone.run_stages(x, cache_stage, trial.freeze)
        model.embed_from(xx, trial.freeze).sum().backward()
    model.zero_grad(set_to_none=True)
    per_step = (time.time() - t0) / 2 * 1.3          # plus sampling, mining and the optimiser
    cache_s = (1 + int(r["copies"])) * n_pool * per_copy * 1.3
    cache_end = min(time.time() + cache_s, max(clock.deadline(float(r["cache_share"])),
                                                time.time() + 2 * n_pool * per_copy * 1.3))
    want = int(np.clip(int(r["steps_per_photo"]) * n_pool, int(r["min_steps"]), int(r["max_steps"])))
    return min(cache_end + want * per_step * len(plan), max(clock.train_end(), cache_end))


def run(cfg, data, out, argv=None):
    """The labelled recipe; returns the report dict."""
    from .evaluate import metrics as val_metrics, report_images, threshold_table
    from .data import validation_set
    cfg = labelled_config(cfg)
    r = cfg["retrain"]
    clock = Clock(float(r["minutes"]) * 60, float(r["export_reserve_s"]))
    seed = int(cfg["seed"])
    seed_everything(seed)
    ck, thr_before = _init_checkpoint(cfg)
    inherit_model(cfg, ck)
    spec = input_spec(cfg)
    n_trials = max(1, int(r["search"]))
    plan = trials(cfg, n_trials, seed)
    cache_stage = min(p.freeze for p in plan)

    with StopRequest() as stopped:
        emit(event="load", message="reading photos", **clock.event())
        cache, _, _, ltr, lva = prepare_data(cfg, data)
        for path, why in cache.problems:
            emit(event="problem", path=path, message=why)
        xv, lv, iv, _ = validation_set(cache, cfg, spec, [], seed, lva)
        emit(event="data", photos=len(cache), train_identities=len(ltr), val_identities=len(lva),
             val_images=int(len(lv)), skipped=len(cache.problems), **clock.event())

        model = build_model(cfg, pretrained=ck is None)
        if ck is not None:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                   for k, v in ck["state_dict"].items()})
        start_state = {k: v.clone() for k, v in model.state_dict().items()}
        t_val = time.time()
        fv = frozen(model, xv, cache_stage)
        emb_before = _val_embed(model, fv, cache_stage)
        before = val_metrics(emb_before, lv, iv, cfg["thresholds"])
        thr_auto_before = before.pop("thresholds")
        emit(event="epoch", epoch=0, step=0, loss=None, metric=before["metric"], val=_short(before),
             **clock.event())

        pool = FeaturePool(ltr, seed)
        n_pool = len(pool.photos)
        per_copy = (time.time() - t_val) / max(1, len(xv))
        clock.planned_end = _predict_end(clock, model, fv, plan, cfg, cache_stage, n_pool, per_copy)

        def progress(rnd, done, total):
            emit(event="cache", round=rnd, done=done, total=total, photos=n_pool, **clock.event())
        emit(event="cache", round=0, done=0, total=n_pool, photos=n_pool,
             message="preparing edited copies of the training photos", **clock.event())
        pool.build(model, cache, spec, cfg["augment"], cache_stage,
                   deadline=clock.deadline(float(r["cache_share"])), max_copies=int(r["copies"]),
                   progress=progress, stopped=stopped)
        emit(event="cache", round=pool.rounds - 1, done=n_pool, total=n_pool, photos=n_pool,
             copies=pool.rounds - 1, message=f"{pool.rounds - 1} edited copies per photo cached",
             **clock.event())

        results = []
        for i, trial in enumerate(plan):
            if stopped():
                break
            model.load_state_dict(start_state)
            if i == 0:
                until = clock.training_until()
            left = until - time.time()
            end = time.time() + left / (len(plan) - i)
            tag = f"{i + 1}/{len(plan)}" if len(plan) > 1 else None
            if tag:
                emit(event="trial", trial=tag, **asdict(trial), **clock.event())
            best, history, steps, why = fit(model, pool, fv, lv, iv, trial, cfg, cache_stage=cache_stage,
                                            end_time=end, clock=clock, stopped=stopped, tag=tag,
                                            trials_after=len(plan) - i - 1)
            results.append({"trial": asdict(trial), "best_metric": best[0], "best_step": best[1],
                            "steps": steps, "stopped": why, "history": history, "_state": best[2]})
            if tag:
                emit(event="trial_done", trial=tag, metric=best[0], best_step=best[1], **clock.event())

    clock.planned_end = time.time()
    if results:
        win = max(range(len(results)), key=lambda k: results[k]["best_metric"])
        model.load_state_dict(results[win]["_state"])
    else:
        win = None
    for res in results:
        res.pop("_state")
    model.eval()
    emb = _val_embed(model, fv, cache_stage)
    final = val_metrics(emb, lv, iv, cfg["thresholds"])
    thresholds = final.pop("thresholds")
    emit(event="evaluate", val=_short(final), val_before=_short(before), thresholds=thresholds,
         thresholds_before=thr_before or thr_auto_before, **clock.event())

    seconds = clock.elapsed
    src = cfg["model"]["init_from"] or "the ImageNet backbone"
    trained_on = (f"{len(ltr)} training subjects from {Path(data).resolve()} (labelled folders), "
                  f"{len(lva)} held out for validation; started from {src}; command: {_command(argv)}")
    chosen = results[win] if win is not None else None
    training = {"recipe": "feature cache", "cache_stage": cache_stage,
                "edited_copies_per_photo": pool.rounds - 1, "photos": n_pool,
                "seconds_before_export": round(seconds, 1), "budget_minutes": float(r["minutes"]),
                "steps": chosen["steps"] if chosen else 0,
                "best_step": chosen["best_step"] if chosen else 0,
                "stopped": chosen["stopped"] if chosen else "stopped by the user",
                "trial": chosen["trial"] if chosen else None,
                "history": chosen["history"] if chosen else [],
                "search": results if len(plan) > 1 else None}
    if chosen and len(plan) == 1:
        training.pop("search")
    name = f"{cfg['model']['backbone']}-gem{model.embedding_dim}-subjects"
    if cfg["data"]["faces"]:
        name += "-faces"
    thr_b = thr_before or thr_auto_before
    report = {"name": name, "trained_on": trained_on, "input_size": list(spec.size),
              "embedding_dim": model.embedding_dim, "backbone": cfg["model"]["backbone"],
              "views": int(cfg["model"]["views"]), "thresholds": thresholds,
              "thresholds_before": thr_b, "validation_before": before, "validation": final,
              "training": training}
    metrics_out = {"validation": _short(final), "validation_before": _short(before),
                   "training_seconds": round(seconds, 1), "steps": training["steps"]}
    ckpt = make_checkpoint(model, cfg, metrics_out) if cfg["train"].get("save_checkpoint", True) else None
    report["threshold_check"] = {"before": threshold_table(emb_before, lv, iv, thr_b),
                                 "after": threshold_table(emb, lv, iv, thresholds)}
    report["map"] = "map.png"
    files = report_images(emb, lv, iv, thresholds, before=(emb_before, thr_b), names=sorted(lva))
    emit(event="export", message="exporting the model", **clock.event(time.time()))
    diff = finish_bundle(model, cfg, out, name=name, thresholds=thresholds, metrics=metrics_out,
                         trained_on=trained_on, report_files=files, checkpoint=ckpt)
    report["onnx_parity_max_abs_diff"] = diff
    report["training"]["seconds"] = round(clock.elapsed, 1)
    # CPU time of this process (all threads): what the run costs on an idle machine, where
    # the wall time depends on what else runs
    report["training"]["cpu_seconds"] = round(time.process_time() - clock.cpu0, 1)
    report["training"]["threads"] = torch.get_num_threads()
    _write_reports(out, report)
    emit(event="done", step=training["steps"], metric=final["metric"], metric_before=before["metric"],
         eta_s=0, fraction=1.0, out=str(out), thresholds=thresholds, parity_max_abs_diff=diff,
         seconds=round(clock.elapsed, 1), cpu_seconds=report["training"]["cpu_seconds"])
    return report
