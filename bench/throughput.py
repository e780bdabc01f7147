#!/usr/bin/env python3
"""Engine throughput on this machine, in one run.

    python bench/throughput.py [--photos 48] [--rescan-files 10000] [--model DIR] [--runs 3]
                               [--real /tmp/bench-dev] [--versus-only]

1. Generates N 12 MP JPEGs (4000x3000, synthetic but photo-like) in a temp folder.
2. Decode-only photos/s (the scan's decoder and preprocessing, same threads as a scan).
3. Inference-only photos/s (preprocessed batches through the ONNX model).
4. Full first scan photos/s (`Library.scan` in a fresh library) and its ratio to the slower
   of (2) and (3): the pipeline bound.
5. Rescan time of an unchanged folder of --rescan-files small JPEGs (first scan with a tiny
   model: a rescan reads no pixels, so the model does not matter).
6. Regroup time (`Grouper.groups`) at 100k and 1M synthetic vectors with 24 neighbours each.
7. Lookalike against Czkawka (its `czkawka` PyPI bindings, similar images, its defaults), each
   in a fresh process on the same folder: the generated 12 MP JPEGs and every --real folder (a
   kit folder's images/, e.g. `make_bench.py --part dev --profile hard --variants 16`).
   Lookalike's first scan is split by stage; wall clock and CPU time (user + system of the
   process, which a shared machine disturbs less) are both reported, and the speed ratio
   Czkawka time / Lookalike time (above 1: Lookalike is faster). --versus-only skips 2-6.
Each timing is the median of --runs runs.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def median_time(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_photos(folder, n, size=(4000, 3000)):
    from tests.conftest import photo
    base = [photo(s, (1000, 750)).resize(size, Image.BICUBIC) for s in range(4)]
    rng = np.random.default_rng(0)
    for i in range(n):
        a = np.asarray(base[i % 4], np.int16) + rng.integers(-4, 5, (size[1], size[0], 3), dtype=np.int16)
        Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"p{i:04d}.jpg"), quality=90)


def child_scan(folder, model):
    """In a fresh process: a first scan of `folder` in a throw-away library; prints JSON with
    the wall and CPU seconds of each stage."""
    from lookalike.core.bundle import load_bundle
    from lookalike.core.library import Library, default_model_dir
    stages = {}

    def progress(ev):
        now = (time.perf_counter(), time.process_time())
        first = stages.get(ev.stage, (now, now))[0]
        stages[ev.stage] = (first, now)
    bundle = load_bundle(model or default_model_dir())
    with tempfile.TemporaryDirectory() as lib_dir, Library(lib_dir, write=True) as lib:
        st = lib.scan([folder], bundle, progress=progress)
    print(json.dumps({"photos": st.found, "pairs": st.verified,
                      "stages": {k: [b[0] - a[0], b[1] - a[1]] for k, (a, b) in stages.items()}}))


def child_czkawka(folder):
    from czkawka import ImageSimilarity
    finder = ImageSimilarity()
    finder.set_directories([folder])
    print(json.dumps({"groups": len(finder.find_similar())}))


def in_child(*args):
    """Run this script with `args` in a new process: (wall s, CPU s, its JSON line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(out.stdout.strip().splitlines()[-1])


def versus(name, folder, model, runs):
    """Lookalike's first scan against Czkawka on one folder; prints and returns the numbers."""
    scans, czk = [], []
    for _ in range(runs):
        try:
            czk.append(in_child("--child-czkawka", folder))
        except (RuntimeError, ImportError) as exc:
            czk = None
            print(f"  Czkawka could not run: {exc}")
            break
    for _ in range(runs):
        scans.append(in_child("--child-scan", folder, *(["--model", model] if model else [])))
    scans.sort(key=lambda r: r[0])
    wall, cpu, info = scans[len(scans) // 2]
    parts = ", ".join(f"{k} {v[0]:.1f} s ({v[1]:.1f} s CPU)" for k, v in info["stages"].items() if v[0] >= 0.05)
    check = info["stages"].get("verify", [0.0, 0.0])
    print(f"{name}: {info['photos']} photos, Lookalike first scan {wall:.1f} s ({cpu:.1f} s CPU, "
          f"{info['photos'] / wall:.1f} photos/s, median of {runs}); {parts}; the check: {info['pairs']} pairs, "
          f"{check[0] / wall:.0%} of the wall time, {check[1] / cpu:.0%} of the CPU time")
    result = {"photos": info["photos"], "lookalike": [wall, cpu], "stages": info["stages"], "pairs": info["pairs"]}
    if czk:
        czk.sort(key=lambda r: r[0])
        cw, cc, _ = czk[len(czk) // 2]
        print(f"  Czkawka {cw:.1f} s ({cc:.1f} s CPU, {info['photos'] / cw:.1f} photos/s): Lookalike's speed "
              f"is {cw / wall:.2f}x Czkawka's by the clock, {cc / cpu:.2f}x by CPU time")
        result["czkawka"] = [cw, cc]
    return result


def synthetic_edges(n, k=24, dim=64, seed=0):
    """Vectors in small clusters (1-5 members) and each vector's k neighbours with their
    true cosine scores: the same arrays a scan stores."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, n)
    cluster = np.repeat(np.arange(n), sizes)[:n]
    centres = rng.normal(size=(cluster.max() + 1, dim)).astype(np.float32)
    vecs = centres[cluster] + rng.normal(scale=0.25, size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, n + 1, dtype=np.int64)
    src = np.repeat(np.arange(n), k)
    dst = (src + rng.integers(1, 8, n * k)) % n        # near neighbours, like an index returns
    s = np.einsum("ij,ij->i", vecs[src], vecs[dst]) * 100
    keep = s >= 50
    return ids[src[keep]], ids[dst[keep]], s[keep].astype(np.float32), ids, vecs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--rescan-files", type=int, default=10000)
    ap.add_argument("--model", help="model bundle (default: the built-in one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--real", action="append", default=[], help="a kit folder to compare on (repeatable)")
    ap.add_argument("--versus-only", action="store_true", help="only the comparison with Czkawka")
    ap.add_argument("--child-scan", help=argparse.SUPPRESS)
    ap.add_argument("--child-czkawka", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_scan:
        return child_scan(args.child_scan, args.model)
    if args.child_czkawka:
        return child_czkawka(args.child_czkawka)

    from lookalike.core import scanner
    from lookalike.core.bundle import load_bundle
    from lookalike.core.embed import Embedder
    from lookalike.core.grouping import Grouper
    from lookalike.core.library import Library, default_model_dir
    from tests.conftest import make_tiny_bundle

    bundle = load_bundle(args.model or default_model_dir())
    workers = max(2, os.cpu_count() or 2)
    print(f"model {bundle.name} ({bundle.embedding_dim}-d, input {bundle.input.size}), "
          f"{os.cpu_count()} cores, {workers} decode threads")
    with tempfile.TemporaryDirectory() as tmp:
        photos = os.path.join(tmp, "photos")
        os.makedirs(photos)
        t0 = time.perf_counter()
        make_photos(photos, args.photos)
        print(f"generated {args.photos} 12 MP JPEGs in {time.perf_counter() - t0:.0f} s")
        paths = sorted(os.path.join(photos, f) for f in os.listdir(photos))
        folders = [(f"{args.photos} synthetic 12 MP JPEGs", photos)]
        for real in args.real:
            inner = os.path.join(real, "images")
            folders.append((real, inner if os.path.isdir(inner) else real))
        for name, folder in folders:
            versus(name, folder, args.model, args.runs)
        if args.versus_only:
            return

        arrays = []

        def decode_all():
            arrays.clear()
            with ThreadPoolExecutor(workers) as pool:
                arrays.extend(r[1] for r in pool.map(lambda p: scanner.prepare(0, p, bundle), paths))
        t_dec = median_time(decode_all, args.runs)
        dec_rate = len(paths) / t_dec

        def full_decode():
            for p in paths[:8]:
                with Image.open(p) as im:
                    im.convert("RGB").resize(bundle.input.size[::-1], Image.BILINEAR)
        t_full = median_time(full_decode, 1)
        print(f"decode only: {dec_rate:.1f} photos/s ({len(paths)} photos, median of {args.runs}); "
              f"without draft mode, one thread: {8 / t_full:.1f} photos/s")

        emb = Embedder(bundle, threads=min(4, os.cpu_count() or 1))    # the model alone, on every core
        batch = np.stack(arrays)
        emb.embed_arrays(batch[:2])

        def infer_all():
            for i in range(0, len(batch), scanner.BATCH):
                emb.embed_arrays(batch[i:i + scanner.BATCH])
        t_inf = median_time(infer_all, args.runs)
        inf_rate = len(paths) / t_inf
        print(f"inference only: {inf_rate:.1f} photos/s (batches of {scanner.BATCH})")

        stages, checked = {}, [0]

        def on_progress(ev):
            first, _ = stages.get(ev.stage, (time.perf_counter(), 0))
            stages[ev.stage] = (first, time.perf_counter())

        def first_scan():
            stages.clear()
            with tempfile.TemporaryDirectory() as lib_dir:
                with Library(lib_dir, write=True) as lib:
                    checked[0] = lib.scan([photos], bundle, progress=on_progress).verified
        t_scan = median_time(first_scan, args.runs)
        scan_rate = len(paths) / t_scan
        shared = 1.0 / (1.0 / dec_rate + 1.0 / inf_rate)     # both stages on the same two cores
        print(f"first scan: {scan_rate:.1f} photos/s = {scan_rate / shared:.0%} of what decoding and "
              f"inference sharing the cores can reach ({shared:.1f} photos/s)")
        spent = {k: b - a for k, (a, b) in stages.items()}
        print(f"  last run by stage: " + ", ".join(f"{k} {v:.2f} s" for k, v in spent.items())
              + f"; the geometric check looked at {checked[0]} pairs")

        small = os.path.join(tmp, "small")
        os.makedirs(small)
        img = Image.new("RGB", (64, 48), (120, 130, 140))
        for i in range(args.rescan_files):
            d = os.path.join(small, f"d{i // 500:03d}")
            os.makedirs(d, exist_ok=True)
            img.putpixel((i % 64, (i // 64) % 48), (i % 256, 0, 0))
            img.save(os.path.join(d, f"{i:05d}.jpg"), quality=80)
        tiny = load_bundle(make_tiny_bundle(os.path.join(tmp, "tiny")))
        lib_dir = os.path.join(tmp, "lib-rescan")
        with Library(lib_dir, write=True) as lib:
            t0 = time.perf_counter()
            lib.scan([small], tiny)
            t_first_small = time.perf_counter() - t0

        def rescan():
            with Library(lib_dir, write=True) as lib:
                st = lib.scan([small], tiny)
                assert st.embedded == 0 and st.unchanged == args.rescan_files
        t_rescan = median_time(rescan, args.runs)
        print(f"rescan of {args.rescan_files} unchanged files: {t_rescan:.2f} s "
              f"(their first scan with a tiny model: {t_first_small:.1f} s)")

    for n in ([100_000] if args.skip_1m else [100_000, 1_000_000]):
        a, b, s, ids, vecs = synthetic_edges(n)
        t0 = time.perf_counter()
        g = Grouper(a, b, s)
        t_build = time.perf_counter() - t0
        parts = []
        for t in (95, 90, 80):
            groups = []
            dt = median_time(lambda: groups.append(g.groups(t)), args.runs)
            parts.append(f"t={t}: {dt * 1000:.0f} ms ({len(groups[-1])} groups)")
        print(f"regroup at {n:,} vectors, {len(a):,} edges (prepared once in {t_build:.2f} s): " + ", ".join(parts))


if __name__ == "__main__":
    main()
