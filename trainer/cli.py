"""Command line: ``python -m lookalike.trainer DATA --out DIR [options]``.

Progress goes to stdout as one JSON object per line; human messages go to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys


def _parser():
    ap = argparse.ArgumentParser(
        prog="python -m lookalike.trainer",
        description="Train (or export) a Lookalike embedding model bundle.")
    ap.add_argument("data", nargs="?", help="folder with one subfolder per identity, or (with "
                    "--no-labels) any folder of photos / a text file listing photo paths")
    ap.add_argument("--out", required=True, help="bundle folder to write (replaced atomically)")
    ap.add_argument("--config", help="TOML file overriding the defaults (see trainer/default.toml)")
    ap.add_argument("--no-labels", action="store_true",
                    help="self-supervised: each photo / crop region is its own identity")
    ap.add_argument("--faces", action="store_true", help="train and embed on the largest face")
    ap.add_argument("--init-from", metavar="BUNDLE_OR_CHECKPOINT",
                    help="start from a bundle's checkpoint.pt or a checkpoint file")
    ap.add_argument("--minutes", type=float,
                    help="labelled folders: time budget of the whole run (default 8; 0 = none)")
    ap.add_argument("--search", type=int, metavar="N",
                    help="labelled folders: try N settings (learning rate, margin, miner, frozen "
                    "stages) within the same budget and keep the best by validation")
    ap.add_argument("--epochs", type=int, help="maximum epochs (overrides the config; "
                    "labelled folders: 0 = no training, export the starting model)")
    ap.add_argument("--seed", type=int, help="random seed (overrides the config)")
    ap.add_argument("--export-pretrained", action="store_true",
                    help="export the plain ImageNet backbone + GeM (no projection, no training)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one config value, e.g. --set train.steps_per_epoch=50")
    return ap


def threads(wanted: int) -> int:
    """`wanted`, or for 0 the cores not already busy (at least one): on a loaded machine,
    two threads that wait for each other at every operation are several times slower than one."""
    if wanted > 0:
        return wanted
    import os
    n = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(n, int(n - busy + 0.5)))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .config import load_config
    try:
        cfg = load_config(args.config, overrides=args.set)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: bad config: {exc}", file=sys.stderr)
        return 2
    if args.epochs is not None:
        cfg["train"]["epochs"] = args.epochs
    if args.minutes is not None:
        cfg["retrain"]["minutes"] = args.minutes
    if args.search is not None:
        cfg["retrain"]["search"] = args.search
    if args.seed is not None:
        cfg["seed"] = args.seed
    if args.faces:
        cfg["data"]["faces"] = True
    if args.no_labels:
        cfg["data"]["no_labels"] = True
    if args.init_from:
        cfg["model"]["init_from"] = args.init_from

    import torch
    torch.set_num_threads(threads(int(cfg["threads"])))
    try:
        if args.export_pretrained:
            from .train import export_pretrained
            export_pretrained(cfg, args.out, data=args.data, argv=argv)
            return 0
        if not args.data:
            print("error: DATA is required (unless --export-pretrained)", file=sys.stderr)
            return 2
        from .train import train
        train(cfg, args.data, args.out, argv=argv)
        return 0
    except KeyboardInterrupt:
        print(json.dumps({"event": "cancelled"}), flush=True)
        return 130
    except (FileNotFoundError, ValueError) as exc:
        print(json.dumps({"event": "error", "message": str(exc)}), flush=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
