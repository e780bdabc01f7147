"""Validation metrics, threshold calibration and the evaluation report.

Scores are match scores: cosine x 100. Pairs of items with the same label are positives;
pairs with different labels are negatives unless marked `ignore` (overlapping regions of
one photo, which are neither).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


@torch.no_grad()
def embed(model, x: np.ndarray, batch: int = 32) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        out.append(model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy())
    return np.concatenate(out)


def pair_scores(emb, labels, ignore):
    sim = emb @ emb.T * 100.0
    iu = np.triu_indices(len(labels), 1)
    s = sim[iu]
    same = labels[iu[0]] == labels[iu[1]]
    ign = ignore[iu]
    return s[same], s[~same & ~ign], sim


def _val_at_far(pos, neg, far):
    if len(neg) == 0:
        return 1.0, float("nan")
    negs = np.sort(neg)[::-1]
    k = int(np.floor(far * len(negs)))       # negatives allowed at or above the threshold
    thr = negs[k] + 1e-6 if k < len(negs) else -np.inf
    return float(np.mean(pos >= thr)), float(thr)


def _precision_threshold(pos, neg, target):
    """Lowest score t such that precision >= target for every threshold >= t
    (scan downwards and stop at the first violation)."""
    s = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    best = None
    for i in range(len(s)):
        if i + 1 < len(s) and s[i + 1] == s[i]:
            continue
        if tp[i] / (tp[i] + fp[i]) < target:
            break
        best = i
    if best is None:
        return float(s[0]) + 1e-3 if len(s) else 100.0, 0.0
    return float(s[best]), float(tp[best] / max(1, len(pos)))


def metrics(emb, labels, ignore, cfg_thr: dict | None = None) -> dict:
    pos, neg, sim = pair_scores(emb, labels, ignore)
    m = {"n_items": int(len(labels)), "n_pos_pairs": int(len(pos)), "n_neg_pairs": int(len(neg))}
    for far in (1e-2, 1e-3):
        v, t = _val_at_far(pos, neg, far)
        m[f"val_at_far_{far:g}"] = v
        m[f"threshold_at_far_{far:g}"] = t
    # recall@1: the nearest other item (ignoring overlapping-region items) has the same label
    s = sim.copy()
    np.fill_diagonal(s, -np.inf)
    s[ignore] = -np.inf
    nn = np.argmax(s, axis=1)
    m["recall_at_1"] = float(np.mean(labels[nn] == labels))
    t99, r99 = _precision_threshold(pos, neg, 0.99)
    m["recall_at_precision_0.99"] = r99
    m["threshold_at_precision_0.99"] = t99
    # area under ROC via ranks
    if len(pos) and len(neg):
        allv = np.concatenate([pos, neg])
        ranks = allv.argsort().argsort() + 1
        m["auc"] = float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
    m["pos_mean"] = float(pos.mean()) if len(pos) else None
    m["neg_mean"] = float(neg.mean()) if len(neg) else None
    m["neg_max"] = float(neg.max()) if len(neg) else None
    m["pos_p05"] = float(np.percentile(pos, 5)) if len(pos) else None
    # the early-stopping metric: mostly VAL at FAR 1e-2 (smooth), plus the strict points
    # that decide the duplicate threshold (dominated by a few hard near-miss pairs)
    m["metric"] = 0.5 * m["val_at_far_0.01"] + 0.25 * m["val_at_far_0.001"] + 0.25 * r99
    if cfg_thr:
        dup, sim_t = choose_thresholds(pos, neg, cfg_thr)
        m["thresholds"] = {"duplicate": dup, "similar": sim_t}
    return m


def choose_thresholds(pos, neg, cfg_thr):
    """duplicate = lowest score keeping validation precision >= cfg precision, plus a safety
    margin; similar = the same rule at precision 0.9, at least 5 below duplicate."""
    t, _ = _precision_threshold(pos, neg, float(cfg_thr["precision"]))
    dup = min(99.0, t + float(cfg_thr["safety"]))
    t90, _ = _precision_threshold(pos, neg, 0.90)
    similar = max(0.0, min(dup - 5.0, t90, dup - float(cfg_thr["similar_offset"]) / 2))
    return round(dup, 2), round(similar, 2)


def _share_at_or_above(values, thresholds):
    """For each threshold, the fraction of `values` >= it (one sort, no loop)."""
    if len(values) == 0:
        return np.zeros(len(thresholds))
    v = np.sort(values)
    return 1.0 - np.searchsorted(v, thresholds, side="left") / len(v)


def plots(emb, labels, ignore, thresholds, out_dir: Path, before=None):
    """roc.png (VAL vs FAR) and scores.png (score distributions with the thresholds); with
    `before` = (embeddings, thresholds) of the starting model, both drawn before and after."""
    runs = [("after", *pair_scores(emb, labels, ignore)[:2], thresholds)]
    if before is not None:
        runs.insert(0, ("before", *pair_scores(before[0], labels, ignore)[:2], before[1]))
    score_plots(runs, out_dir)


def score_plots(runs, out_dir: Path):
    """The plots of `plots` from pair scores: runs = [(name, positive scores, negative
    scores, thresholds)], one run ("after") or two ("before", "after")."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out_dir = Path(out_dir)
    before = len(runs) > 1 or None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, pos, neg, _ in runs:
        thr = np.unique(np.concatenate([pos, neg]))[::-1]
        far, val = _share_at_or_above(neg, thr), _share_at_or_above(pos, thr)
        ax.plot(np.maximum(far, 1e-5), val, lw=1.5, ls="--" if name == "before" else "-",
                label=name if before is not None else None)
    for f in (1e-3, 1e-2):
        ax.axvline(f, color="grey", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate (different pairs above threshold)")
    ax.set_ylabel("validation rate (same pairs above threshold)")
    ax.set_title("VAL vs FAR on the validation set")
    if before is not None:
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "roc.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(len(runs), 1, figsize=(5.5, 3.2 * len(runs)), squeeze=False)
    for ax, (name, pos, neg, thr_) in zip(axes[:, 0], runs):
        bins = np.linspace(min(0, float(np.min(np.concatenate([pos, neg])))), 100, 81)
        ax.hist(neg, bins=bins, alpha=0.6, density=True, label=f"different ({len(neg)})")
        ax.hist(pos, bins=bins, alpha=0.6, density=True, label=f"same ({len(pos)})")
        for k, v in (thr_ or {}).items():
            ax.axvline(v, color="k" if k == "duplicate" else "grey", ls="--", lw=1)
            ax.text(v, ax.get_ylim()[1] * 0.95, f" {k} {v:.1f}", fontsize=8)
        ax.set_xlabel("match score (cosine x 100)")
        ax.set_ylabel("density")
        ax.set_title("score distributions (validation)" + (f": {name}" if before is not None else ""))
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "scores.png", dpi=110)
    plt.close(fig)


def pca_2d(emb: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows of `emb` (numpy SVD)."""
    x = emb - emb.mean(axis=0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    out = x @ vt[:2].T
    return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def embedding_map(emb, labels, out_path: Path, names=None, before=None):
    """map.png: the validation embeddings in 2-D (PCA), one colour per subject; with `before`
    (the starting model's embeddings) side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = [("after", emb)] if before is None else [("before", before), ("after", emb)]
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4.6), squeeze=False)
    cmap = plt.get_cmap("tab20")
    subjects = sorted(set(labels.tolist()))
    for ax, (name, e) in zip(axes[0], runs):
        xy = pca_2d(e)
        for k, s in enumerate(subjects):
            m = labels == s
            ax.scatter(xy[m, 0], xy[m, 1], s=14, color=cmap(k % 20), marker="os^D"[k // 20 % 4],
                       label=str(names[s]) if names is not None else str(s))
        ax.set_title(f"validation subjects, PCA{': ' + name if before is not None else ''}")
        ax.set_xticks([])
        ax.set_yticks([])
    if len(subjects) <= 20:
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def threshold_table(emb, labels, ignore, thresholds: dict) -> dict:
    """Precision and recall of the same-subject pairs at each threshold."""
    pos, neg, _ = pair_scores(emb, labels, ignore)
    out = {}
    for k, t in thresholds.items():
        tp, fp = int(np.sum(pos >= t)), int(np.sum(neg >= t))
        out[k] = {"threshold": float(t), "precision": tp / (tp + fp) if tp + fp else 1.0,
                  "recall": tp / len(pos) if len(pos) else 0.0}
    return out


def report_md(report: dict) -> str:
    v = report["validation"]
    lines = [f"# Model report: {report['name']}", "",
             f"- trained on: {report['trained_on']}",
             f"- input {report['input_size']}, embedding {report['embedding_dim']}, "
             f"backbone {report['backbone']}, orientation views averaged in the graph: "
             f"{report.get('views', 1)}",
             f"- thresholds (match score 0-100): duplicate **{report['thresholds']['duplicate']}**, "
             f"similar **{report['thresholds']['similar']}**",
             f"- ONNX parity (max abs diff vs PyTorch): {report.get('onnx_parity_max_abs_diff', 'n/a')}",
             ""]
    t = report.get("training") or {}
    if t.get("recipe") == "feature cache":
        tr = t.get("trial") or {}
        lines += [f"- training: {t.get('steps')} steps on cached features (stages "
                  f"{t.get('cache_stage')}+ trained from a cache of {t.get('edited_copies_per_photo')} "
                  f"edited copies of {t.get('photos')} photos), best at step {t.get('best_step')}, "
                  f"stopped: {t.get('stopped')}; {t.get('seconds', 0):.0f} s in all "
                  f"(budget {t.get('budget_minutes')} min; {t.get('cpu_seconds', 0):.0f} CPU seconds, "
                  f"{t.get('threads')} thread(s))",
                  f"- settings: learning rate {tr.get('lr')}, margin {tr.get('margin')}, miner "
                  f"{tr.get('miner')}, frozen stages {tr.get('freeze')}", ""]
    elif t:
        lines += [f"- training: {t.get('epochs_run')} epochs, {t.get('steps')} steps, "
                  f"{t.get('seconds', 0):.0f} s; best epoch {t.get('best_epoch')}", ""]
    lines += ["## Validation", "", "| metric | before training | final |", "|---|---|---|"]
    before = report.get("validation_before") or {}
    for k in ("val_at_far_0.01", "val_at_far_0.001", "recall_at_1", "recall_at_precision_0.99",
              "auc", "pos_mean", "neg_mean", "neg_max"):
        b = before.get(k)
        lines.append(f"| {k} | {'' if b is None else f'{b:.4f}'} | "
                     f"{'' if v.get(k) is None else f'{v[k]:.4f}'} |")
    lines += ["", f"Validation: {v['n_items']} images, {v['n_pos_pairs']} same pairs, "
              f"{v['n_neg_pairs']} different pairs.", ""]
    tb = report.get("threshold_check")
    if tb:
        lines += ["## Thresholds on the validation pairs", "",
                  "| model | threshold | score | precision | recall |", "|---|---|---|---|---|"]
        for model_name, rows in tb.items():
            for k, row in rows.items():
                lines.append(f"| {model_name} | {k} | {row['threshold']:.2f} | {row['precision']:.3f} | "
                             f"{row['recall']:.3f} |")
        lines.append("")
    search = t.get("search")
    if search:
        lines += ["## Hyperparameter search (best by the validation metric)", "",
                  "| lr | margin | miner | frozen stages | steps | best step | metric |",
                  "|---|---|---|---|---|---|---|"]
        for s in search:
            tr = s["trial"]
            lines.append(f"| {tr['lr']:g} | {tr['margin']} | {tr['miner']} | {tr['freeze']} | "
                         f"{s['steps']} | {s['best_step']} | {s['best_metric']:.4f} |")
        lines += ["", "The search picks by the same validation subjects the table above reports on, "
                  "so the final numbers of a search are slightly optimistic.", ""]
    lines += ["![VAL vs FAR](roc.png)", "", "![score distributions](scores.png)", ""]
    if report.get("map"):
        lines += ["Validation embeddings in 2-D (PCA), one colour per subject: subjects that "
                  "overlap are the ones the model still confuses.", "", "![embedding map](map.png)", ""]
    return "\n".join(lines)


def report_images(emb, labels, ignore, thresholds, before=None, names=None) -> dict:
    """The report's plots as PNG bytes, for the model bundle (no files left behind):
    roc.png, scores.png and, with subject labels (`names`), map.png."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="lookalike-report-") as tmp:
        plots(emb, labels, ignore, thresholds, Path(tmp), before=before)
        files = ["roc.png", "scores.png"]
        if names is not None:
            embedding_map(emb, labels, Path(tmp) / "map.png", names,
                          before=None if before is None else before[0])
            files.append("map.png")
        return {name: (Path(tmp) / name).read_bytes() for name in files}

