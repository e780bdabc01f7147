#!/usr/bin/env python3
"""A synthetic library of N vectors (default 1M) through the real storage and index code.

    python bench/scale.py [--n 1000000] [--dim 256] [--k 24]

No images: vectors (clustered, unit length) are inserted with `Catalog.insert_file` /
`put_vectors` in batches, then `scanner.build_edges` builds the HNSW index and the kNN edges
exactly as after a scan. Reports insert rate, catalog and index file sizes, peak RAM
(ru_maxrss), kNN edge time, regroup time at several thresholds and catalog open time.
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=24)
    ap.add_argument("--dir", help="library folder (default: a temp folder, removed)")
    args = ap.parse_args()
    from lookalike.core import scanner
    from lookalike.core.catalog import Catalog
    from lookalike.core.grouping import Grouper
    from lookalike.core.index import VectorIndex

    tmp = tempfile.TemporaryDirectory() if not args.dir else None
    d = args.dir or tmp.name
    os.makedirs(d, exist_ok=True)
    cat = Catalog(os.path.join(d, "catalog.sqlite"))
    key = "synthetic:whole"
    rng = np.random.default_rng(0)
    n_clusters = args.n // 3
    centres = rng.normal(size=(n_clusters, args.dim)).astype(np.float32)
    t0 = time.perf_counter()
    step = 20000
    for lo in range(0, args.n, step):
        m = min(step, args.n - lo)
        cl = rng.integers(0, n_clusters, m)
        v = centres[cl] + rng.normal(scale=0.35, size=(m, args.dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        with cat.transaction():
            ids = [cat.insert_file(f"/synthetic/{(lo + i) // 1000:05d}/{lo + i:08d}.jpg", 100000 + i, 1) for i in range(m)]
            cat.put_vectors(key, zip(ids, v))
    t_insert = time.perf_counter() - t0
    print(f"inserted {args.n:,} vectors ({args.dim}-d) in {t_insert:.0f} s = {args.n / t_insert:,.0f}/s; "
          f"catalog {os.path.getsize(os.path.join(d, 'catalog.sqlite')) / 1e6:.0f} MB; RSS peak {rss_mb():.0f} MB")
    index = VectorIndex(os.path.join(d, "index-synthetic.hnsw"), args.dim)
    t0 = time.perf_counter()
    stages = {}

    def progress(ev):
        stages.setdefault(ev.stage, time.perf_counter())
    scanner.build_edges(cat, index, key, args.dim, progress, None, k=args.k)
    t_edges = time.perf_counter() - t0
    t_index = stages.get("neighbours", time.perf_counter()) - stages.get("index", t0)
    print(f"index build + kNN edges: {t_edges:.0f} s (index {t_index:.0f} s, kNN {t_edges - t_index:.0f} s); "
          f"index file {os.path.getsize(index.path) / 1e6:.0f} MB; RSS peak {rss_mb():.0f} MB")
    cat.close()
    del index
    t0 = time.perf_counter()
    cat = Catalog(os.path.join(d, "catalog.sqlite"))
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    a, b, s, _ = cat.edges(key)
    g = Grouper(a, b, s)
    t_load = time.perf_counter() - t0
    print(f"catalog open {t_open * 1000:.0f} ms; edges loaded and grouper prepared in {t_load:.1f} s "
          f"({len(a):,} edges)")
    for t in (98, 95, 90, 85):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            groups = g.groups(t)
            times.append(time.perf_counter() - t0)
        print(f"  regroup at {t}: {statistics.median(times) * 1000:.0f} ms, {len(groups):,} groups")
    print(f"RSS peak {rss_mb():.0f} MB")
    cat.close()


if __name__ == "__main__":
    main()
