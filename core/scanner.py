"""The scan pipeline: walk -> diff against the catalog -> exact hashes -> decode (parallel)
-> batched inference -> catalog (committed per batch) -> index -> kNN edges.

A kill at any point loses at most one batch: everything committed is kept, and the next scan
computes only what is missing.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import decode, hashing
from .bundle import model_input
from .discover import FileEntry, WalkProblem, walk
from .grouping import canonical_edges
from .progress import Reporter

log = logging.getLogger(__name__)

BATCH = 8                 # photos per inference run: small, so the model's work overlaps the decoding
                          # of the next photos and little of it is left when the last ones are decoded
K_NEIGHBOURS = 24
EDGE_FLOOR = 50.0          # edges below this score are not stored (the slider's lower end)
MAX_EXACT_EDGES = 64       # per exact-duplicate group: a star plus a chain, not all pairs


@dataclass
class ScanStats:
    found: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    failed: int = 0
    hashed: int = 0
    index_rebuilt: bool = False
    verified: int = 0
    problems: list = field(default_factory=list)
    offline: list = field(default_factory=list)    # roots that could not be read: their files are kept


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def split_roots(roots, paths) -> tuple[list[str], list[str]]:
    """(online, offline) roots. A root is offline when it cannot be listed (an unplugged
    drive, a renamed folder) or when it is empty but held photos at the last scan (what an
    unplugged drive's mount point looks like); `paths` are the catalog's paths."""
    online, offline = [], []
    for r in roots:
        try:
            with os.scandir(r) as it:
                empty = next(it, None) is None
        except OSError:
            offline.append(r)
            continue
        (offline if empty and any(_under(p, [r]) for p in paths) else online).append(r)
    return online, offline


def prepare(file_id: int, path: str, bundle):
    """Decode one file into the model's input. Never raises: errors come back as text."""


class CheckImages:
    """The geometric check's images (core.verify), made from the decode the embedding does so
    that the check reads no file for them: the quick image of every photo and, when that decode
    is the whole picture (PNG, WebP, small JPEGs: what the full step would decode again), the
    full one. Kept up to a memory budget; the check decodes the photos beyond it itself."""

    def __init__(self, budget: int):
        self.left = budget
        self.images: dict[int, tuple] = {}
        self._lock = threading.Lock()

    def offer(self, file_id: int, decoded: decode.Decoded) -> None:
        if self.left <= 0:
            return
        from . import verify
        try:
            gray, full = verify.check_images(decoded.image, decoded.image.size == (decoded.width, decoded.height))
        except Exception:  # only a missed shortcut: the check decodes the file itself
            log.exception("cannot keep the check images of file %s", file_id)
            return
        with self._lock:
            self.images[file_id] = (gray, full)
            self.left -= gray.nbytes + (full.nbytes if full is not None else 0)

    def pop(self, file_id: int) -> tuple:
        """(quick image, full image or None), or (None, None) if not kept."""
        with self._lock:
            return self.images.pop(file_id, (None, None))


class Prepared(NamedTuple):
    file_id: int
    input: np.ndarray | None     # the model's input (bundle.model_input: CHW, or views x CHW)
    width: int | None
    height: int | None
    capture: decode.Capture | None
    error: str | None            # why the file could not be read
    quality: object = None       # core.keeper.Quality of the decoded picture


def prepare(file_id: int, path: str, bundle, keep: CheckImages | None = None) -> Prepared:
    """Decode one file into the model's input (and offer the decode to `keep`), with its
    capture facts and its quality as a shot to keep (core.keeper, measured on this decode, on
    the face in face mode). Never raises: errors come back as text."""
    from .keeper import SCAN_DECODE
    try:
        d = decode.load(path, target=max(min(bundle.input.size), SCAN_DECODE))    # the keeper measures it too
        image = d.image
        if keep is not None:
            keep.offer(file_id, d)
        if bundle.preprocess == "face":
            from .faces import crop_largest_face
            image = crop_largest_face(image)
        quality = _quality(d, image)        # in face mode: is the face in focus and well exposed
        return Prepared(file_id, model_input(image, bundle.input), d.width, d.height, d.capture, None, quality)
    except decode.DecodeError as exc:
        return Prepared(file_id, None, None, None, None, str(exc))
    except Exception as exc:  # a photo must never stop the scan
        log.exception("unexpected error reading %s", path)
        return Prepared(file_id, None, None, None, None, f"unexpected error: {type(exc).__name__}: {exc}")


def _quality(d: decode.Decoded, image=None):
    """core.keeper's quality of the decoded photo, measured on `image` (its face crop in face
    mode) when given, with the photo's full resolution."""
    from . import keeper
    try:
        return keeper.measure(d.image if image is None else image, d.width * d.height, keeper.SCAN_SIDE)
    except Exception:  # only the keeper suggestion is missed: the group keeps the rule
        log.exception("cannot measure the quality of a photo")
        return None


def discover_and_diff(catalog, roots, stats, progress, cancel, exclude=()):
    roots = [os.path.abspath(os.fsdecode(r)) for r in roots]
    states = catalog.file_states()
    online, offline = split_roots(roots, states)
    if offline:
        log.warning("offline (kept as they were): %s", ", ".join(offline))
    rep = Reporter("discover", 0, progress, cancel)
    rep.start()
    entries: list[FileEntry] = []
    walk_problems: list[WalkProblem] = []
    for item in walk(online, exclude=exclude):
        if isinstance(item, WalkProblem):
            walk_problems.append(item)
        else:
            entries.append(item)
        if (len(entries) + len(walk_problems)) % 256 == 0:
            rep.tick(256)
    stats.found = len(entries)
    seen = set()
    with catalog.transaction():
        catalog.add_roots(roots)
        for e in entries:
            seen.add(e.path)
            old = states.get(e.path)
            if old is None:
                catalog.insert_file(e.path, e.size, e.mtime_ns)
                stats.added += 1
            elif (old[1], old[2]) != (e.size, e.mtime_ns):
                catalog.reset_file(old[0], e.size, e.mtime_ns)
                stats.changed += 1
            else:
                stats.unchanged += 1
        gone = [fid for p, (fid, _, _) in states.items()
                if p not in seen and _under(p, online) and not _under(p, offline)]
        catalog.delete_files(gone)
        stats.removed = len(gone)
        catalog.replace_walk_problems(walk_problems)
    stats.problems = walk_problems
    stats.offline = offline
    return stats


def embed_missing(catalog, embedder, model_key, stats, progress, cancel, workers=2, batch=BATCH,
                  retry_errors=False, keep: CheckImages | None = None, scene_key: str | None = None):
    """Decode and embed the files that have no vector for `model_key` (or, with a model that
    has a scene vector, none for `scene_key`): both vectors come from one run of the model."""
    pending = catalog.missing_vectors(model_key, retry_errors)
    if scene_key is not None:
        have = {i for i, _ in pending}
        pending = sorted(pending + [(i, p) for i, p in catalog.missing_vectors(scene_key, retry_errors)
                                    if i not in have], key=lambda r: r[1])
    if stats.offline:          # read when their folder is back, never recorded as unreadable
        pending = [(i, p) for i, p in pending if not _under(p, stats.offline)]
    rep = Reporter("embed", len(pending), progress, cancel)
    rep.start()
    if not pending:
        return
    bundle = embedder.bundle
    chunks = [pending[i:i + batch] for i in range(0, len(pending), batch)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-decode") as pool:
        in_flight: deque = deque()
        next_chunk = 0

        def fill():
            nonlocal next_chunk
            while next_chunk < len(chunks) and len(in_flight) < 2:
                in_flight.append([pool.submit(prepare, i, p, bundle, keep) for i, p in chunks[next_chunk]])
                next_chunk += 1

        try:
            fill()
            while in_flight:
                results = [f.result() for f in in_flight.popleft()]
                fill()
                ok = [r for r in results if r[5] is None]
                vecs, scene = embedder.embed_both(np.stack([r[1] for r in ok])) if ok else ([], None)
                with catalog.transaction():
                    for r, v in zip(ok, vecs):
                        catalog.set_decoded(r.file_id, r.width, r.height, r.capture, r.quality)
                    catalog.put_vectors(model_key, [(r[0], v) for r, v in zip(ok, vecs)])
                    if scene_key is not None and scene is not None:
                        catalog.put_vectors(scene_key, [(r[0], v) for r, v in zip(ok, scene)])
                    for r in results:
                        if r[5] is not None:
                            catalog.set_error(r[0], r[5])
                stats.embedded += len(ok)
                stats.failed += len(results) - len(ok)
                rep.tick(len(results))
        finally:
            for futures in in_flight:
                for f in futures:
                    f.cancel()


def exact_edges(catalog, live_ids: np.ndarray):
    """Score-100 edges between files with identical bytes (only files that have a vector)."""
    a, b = [], []
    live = set(live_ids.tolist())
    for group in catalog.hash_groups():
        g = [i for i in group if i in live]
        if len(g) < 2:
            continue
        star = g[1:MAX_EXACT_EDGES + 1]
        a += [g[0]] * len(star)
        b += star
        chain = g[1:]
        a += chain[:-1]
        b += chain[1:]
    return np.asarray(a, np.int64), np.asarray(b, np.int64)


def close_pairs(catalog, live_ids) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the photos (among live_ids) taken close in time by one camera
    (core.relation.close_pairs)."""
    from .relation import close_pairs as pairs
    rows = [r for r in catalog.files(np.asarray(live_ids).tolist()) if r.shot_at]
    return pairs([r.id for r in rows], [r.capture() for r in rows])


def close_edges(catalog, model_key, dim, live_ids):
    """Edges of the photos taken close in time, with their embedding scores (also below the
    floor: the geometric check decides whether they share pixels, and `Library.grouper` leaves
    out those it does not lift)."""
    a, b = close_pairs(catalog, live_ids)
    vec = catalog.vectors_of(model_key, np.union1d(a, b).tolist(), dim) if len(a) else {}
    ok = np.fromiter((x in vec and y in vec for x, y in zip(a.tolist(), b.tolist())), bool, len(a))
    a, b = a[ok], b[ok]
    s = np.fromiter((float(vec[x] @ vec[y]) for x, y in zip(a.tolist(), b.tolist())), np.float32, len(a))
    return a, b, np.clip(s * 100.0, 0.0, 100.0).astype(np.float32)


def build_edges(catalog, index, model_key, dim, progress, cancel, k=K_NEIGHBOURS, floor=EDGE_FLOOR,
                force=False):
    """Sync the index with the stored vectors and recompute the kNN edges if anything changed;
    the pairs of photos taken close in time are edges too (`close_edges`)."""
    labels, ids = catalog.vector_labels(model_key)
    rep = Reporter("index", len(labels), progress, cancel)
    rep.start()
    changed = index.sync(labels, lambda: catalog.iter_vectors(model_key, dim))
    index.save()
    rep.tick(len(labels))
    if not changed and not force and catalog.edges(model_key) is not None:
        return False
    rep = Reporter("neighbours", len(labels), progress, cancel)
    rep.start()
    aa, bb, ss = [], [], []
    id_of_label = ids                      # labels come sorted
    for cl, ci, cv in catalog.iter_vectors(model_key, dim, chunk=4096):
        nl, sims = index.knn(cv, k + 1)
        src = np.repeat(ci, nl.shape[1])
        dst = id_of_label[np.searchsorted(labels, nl.ravel())]
        s = np.clip(sims.ravel() * 100.0, 0.0, 100.0)
        keep = (s >= floor) & (src != dst)
        aa.append(src[keep]); bb.append(dst[keep]); ss.append(s[keep].astype(np.float32))
        rep.tick(len(cl))
    ea, eb = exact_edges(catalog, ids)
    aa.append(ea); bb.append(eb); ss.append(np.full(len(ea), 100.0, np.float32))
    ca, cb, cs = close_edges(catalog, model_key, dim, ids)
    aa.append(ca); bb.append(cb); ss.append(cs)
    a, b, s = canonical_edges(np.concatenate(aa), np.concatenate(bb), np.concatenate(ss).astype(np.float32))
    with catalog.transaction():
        catalog.put_edges(model_key, a, b, s, floor)
    return True


CHECKS_PER_PHOTO = 8       # a pair is checked if it is among the 8 best of either photo: bounds the
                           # cost at 8 checks per photo in libraries full of look-alikes
VERIFY_CHUNK = 256         # pairs checked (and committed) at a time
FEATURE_CACHE = 1024       # photos whose keypoints are kept between chunks
CHECK_IMAGES_BUDGET = 256 << 20   # bytes of check images kept from the embedding's decode


def _top_per_photo(a, b, s, k):
    """Mask of the edges that are among the k highest-scoring edges of either endpoint."""
    n = len(s)
    node = np.concatenate([a, b])
    edge = np.concatenate([np.arange(n), np.arange(n)])
    order = np.lexsort((-np.concatenate([s, s]), node))
    node, edge = node[order], edge[order]
    start = np.r_[0, np.flatnonzero(node[1:] != node[:-1]) + 1] if n else np.zeros(0, np.int64)
    rank = np.arange(2 * n) - np.repeat(start, np.diff(np.r_[start, 2 * n]))
    keep = np.zeros(n, bool)
    keep[edge[rank < k]] = True
    return keep


class SamePicture:
    """Which photos are known copies of which (a union-find): pairs the check confirmed as one
    picture, and edges at or above the check band (the embedding settles those)."""

    def __init__(self, a, b, sure, ca, cb, confirmed):
        self.parent: dict[int, int] = {}
        for x, y in zip(np.r_[a[sure], ca[confirmed]].tolist(), np.r_[b[sure], cb[confirmed]].tolist()):
            self.add(x, y)

    def _root(self, x: int) -> int:
        p = self.parent
        r = x
        while p.get(r, r) != r:
            r = p[r]
        while p.get(x, x) != r:          # path compression
            p[x], x = r, p[x]
        return r

    def add(self, x: int, y: int):
        rx, ry = self._root(x), self._root(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)

    def linked(self, x: int, y: int) -> bool:
        """Are both photos in one group of copies (joined through the pairs known so far)?"""
        return x == y or self._root(x) == self._root(y)

    def components(self, a, b) -> np.ndarray:
        """Mask of the pairs (a, b) whose photos are in one group of copies."""
        return np.fromiter((self.linked(x, y) for x, y in zip(np.asarray(a).tolist(), np.asarray(b).tolist())),
                           bool, len(a))

    def spanning(self, a, b, order) -> np.ndarray:
        """Mask of the pairs, taken in `order`, that would join two groups not yet joined (a
        spanning forest over what is known): checked first, the rest of a group of copies
        then settles through them. Does not change what is known."""
        saved = dict(self.parent)
        out = np.zeros(len(a), bool)
        for i in np.asarray(order).tolist():
            x, y = int(a[i]), int(b[i])
            if not self.linked(x, y):
                self.add(x, y)
                out[i] = True
        self.parent = saved
        return out


def copy_links(a, b, s, ca, cb, cg, csame, high: float, ids=None) -> SamePicture:
    """Which photos are one group of copies: edges (a, b, s) at or above the check band's `high`
    edge, and stored checks (ca, cb, cg, csame: `Catalog.pair_checks(relation=True)`) that
    confirmed one picture between photos among `ids` (default: the edges' photos)."""
    from .verify import CONFIRM
    ids = np.union1d(a, b) if ids is None else ids
    return SamePicture(a, b, s >= high, ca, cb, (cg >= CONFIRM) & (csame != 0)    # two shots are not copies
                       & np.isin(ca, ids) & np.isin(cb, ids))


def verify_edges(catalog, model_key, bundle, progress=None, cancel=None, workers=2, offline=(),
                 images: CheckImages | None = None):
    """Run the geometric check (core.verify) on every stored edge in the model's check band
    that has no result yet and is among the CHECKS_PER_PHOTO best edges of either photo (the
    edges above the band count there, unchecked), and on the edges of photos taken close in
    time (`close_pairs`) below the band. Results are kept per pair of files until
    either file changes, so a rescan checks only new pairs; pairs with a file under an offline
    root wait for it. A pair whose photos are already in one group of copies (joined through
    confirmed pairs and edges above the band) is not checked (verify.SETTLED, it counts as
    confirmed): the group holds them whatever the check says, so it would only cost time. The
    pairs that would join two groups are checked first, best first, so that the rest of a
    group of copies settles through them; stored edges left unchecked inside one group (below the
    band, or in it beyond each photo's CHECKS_PER_PHOTO best) are settled the same way.
    `images`: check images the embedding stage kept. Returns the number of pairs checked."""
    from . import verify
    edges = catalog.edges(model_key)
    if edges is None:
        return 0
    a, b, s, _ = edges
    ea, eb, es = a, b, s
    live = catalog.vector_labels(model_key)[1]        # files moved or trashed since the edges were built
    if offline:
        away = np.fromiter((i for p, (i, _, _) in catalog.file_states().items() if _under(p, list(offline))),
                           np.int64)
        live = np.setdiff1d(live, away)
    lo, hi = verify.band(bundle.thresholds, bundle.check_band)
    na, nb = close_pairs(catalog, live)
    close = np.isin(verify.pair_keys(a, b), verify.pair_keys(na, nb))     # checked whatever their score
    want = ((s >= lo) | close) & (s < 100.0) & np.isin(a, live) & np.isin(b, live)
    a, b, s, close = a[want], b[want], s[want], close[want]
    keep = _top_per_photo(a, b, s, CHECKS_PER_PHOTO) & (s < hi)   # settled pairs count among the best
    keep |= close & (s < hi)
    a, b, s, close = a[keep], b[keep], s[keep], close[keep]
    dup = float(bundle.thresholds["duplicate"])
    ca, cb, cg, csame = catalog.pair_checks(relation=True)
    on = np.isin(ea, live) & np.isin(eb, live)
    same = copy_links(ea[on], eb[on], es[on], ca, cb, cg, csame, hi, live)
    # A pair settled through photos that are gone since (trashed, changed, offline) is checked
    # again: nothing else says its photos are one picture.
    stale = (cg == verify.SETTLED) & np.isin(ca, live) & np.isin(cb, live) & ~same.components(ca, cb)
    if stale.any():
        with catalog.transaction():
            catalog.delete_pair_checks(ca[stale], cb[stale])
        ca, cb, cg, csame = ca[~stale], cb[~stale], cg[~stale], csame[~stale]
    stored = verify.pair_keys(ca, cb)
    if len(ca) and len(a):
        keys, shallow = verify.pair_keys(a, b), cg == verify.SHALLOW
        done = np.isin(keys, stored[~shallow])
        done |= np.isin(keys, stored[shallow]) & (s < dup) & ~close
        a, b, s, close = a[~done], b[~done], s[~done], close[~done]
    # First the pairs that would join a group of copies, best first (a spanning forest: in a
    # group, mostly the pairs with its original); once they confirm, the group's other pairs
    # settle through them unchecked.
    first = same.spanning(a, b, np.argsort(-s, kind="stable"))
    order = np.lexsort((b, a, ~first))
    a, b, s, close, first = a[order], b[order], s[order], close[order], first[order]
    rep = Reporter("verify", len(a), progress, cancel)
    rep.start()
    target = min(bundle.input.size)
    cache: dict[int, object] = {}
    paths: dict[int, object] = {}

    def photo(fid):
        """The photo with its quick keypoints made, or None when it cannot be read."""
        try:
            p = verify.Photo(paths[fid], target, *(images.pop(fid) if images is not None else ()))
            p.quick()
            return fid, p
        except (decode.DecodeError, KeyError):
            return fid, None
        except Exception:  # a photo must never stop the scan
            log.exception("geometric check: cannot read %s", paths.get(fid))
            return fid, None

    def pair(x, y, score, near):
        pa, pb = cache[x], cache[y]
        if pa is None or pb is None:
            return verify.Result(verify.UNREADABLE)
        try:
            return verify.check_photos(pa, pb, score, bundle.thresholds, near)
        except decode.DecodeError:
            return verify.Result(verify.UNREADABLE)
        except Exception:  # a pair must never stop the scan: it keeps its embedding score
            log.exception("geometric check failed for %s and %s", paths.get(x), paths.get(y))
            return verify.Result(verify.INCONCLUSIVE)

    def run(pool, a, b, s, close=None) -> int:
        """Check these pairs a chunk at a time (committing each), settling those whose photos
        are already in one group of copies; returns how many were checked. `close`: which
        pairs are shots taken close in time: never settled (only their own pixels tell a copy
        from the next frame of a burst), the full step where the quick one does not confirm."""
        close = np.zeros(len(a), bool) if close is None else close
        paths.update((r.id, r.path) for r in catalog.files(np.setdiff1d(np.union1d(a, b), list(paths)).tolist()))
        checked = 0
        for start in range(0, len(a), VERIFY_CHUNK):
            chunk = range(start, min(start + VERIFY_CHUNK, len(a)))
            settled = [i for i in chunk if not close[i] and same.linked(int(a[i]), int(b[i]))]
            idx = sorted(set(chunk) - set(settled))
            need = {int(x) for i in idx for x in (a[i], b[i])} - cache.keys()
            if len(cache) + len(need) > FEATURE_CACHE:
                cache.clear()
                need = {int(x) for i in idx for x in (a[i], b[i])}
            cache.update(pool.map(photo, sorted(need)))
            results = list(pool.map(pair, *zip(*[(int(a[i]), int(b[i]), float(s[i]), bool(close[i]))
                                                 for i in idx]))) if idx else []
            for i, r in zip(idx, results):
                if r.inliers >= verify.CONFIRM and r.same is not False:
                    same.add(int(a[i]), int(b[i]))
            with catalog.transaction():
                catalog.put_pair_checks([(a[i], b[i], *r) for i, r in zip(idx, results)]
                                        + [(a[i], b[i], verify.SETTLED) for i in settled])
            checked += len(idx)
            rep.tick(len(chunk))
        return checked

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-verify") as pool:
        n = int(first.sum())
        checked = run(pool, a[:n], b[:n], s[:n], close[:n])
        checked += run(pool, a[n:], b[n:], s[n:], close[n:])
        # Pairs left unchecked (below the band, or in it beyond each photo's CHECKS_PER_PHOTO
        # best) whose photos the check (or the embedding above the band) already puts in one
        # picture's group: the group holds them, so they are settled as copies too (two hard
        # copies of one photo that the embedding scores low show as duplicates, and `compare`
        # gives such a pair the score the groups give it).
        below = (es < hi) & np.isin(ea, live) & np.isin(eb, live)
        below &= ~np.isin(verify.pair_keys(ea, eb), np.r_[stored, verify.pair_keys(a, b)])
        ba, bb, bs = ea[below], eb[below], es[below]
        one = same.components(ba, bb)
        ba, bb, bs = ba[one], bb[one], bs[one]
        if len(ba):
            rep.total += len(ba)
            checked += run(pool, ba, bb, bs)
    return checked


def run_scan(catalog, embedder, index, model_key, roots, progress=None, cancel=None, workers=2,
             exclude=(), retry_errors=False, scene=None):
    """scene: (scene key, its VectorIndex) for a model with a scene vector (the similar tier's
    candidates and scores: `merge_scene`), else None."""
    stats = ScanStats()
    started = time.time()
    discover_and_diff(catalog, roots, stats, progress, cancel, exclude=exclude)
    stats.hashed = hashing.update_hashes(catalog, progress, cancel)
    bundle = embedder.bundle
    images = CheckImages(CHECK_IMAGES_BUDGET) if bundle.geometric_check else None
    embed_missing(catalog, embedder, model_key, stats, progress, cancel, workers=workers,
                  retry_errors=retry_errors, keep=images, scene_key=scene[0] if scene else None)
    untouched = not (stats.added or stats.changed or stats.removed or stats.embedded or stats.failed)
    for key, idx in [(model_key, index)] + ([scene] if scene else []):
        if not (untouched and idx.path.is_file() and idx.meta_path.is_file()
                and catalog.edges(key) is not None):   # else the stored edges stand
            build_edges(catalog, idx, key, embedder.bundle.embedding_dim, progress, cancel)
            stats.index_rebuilt = stats.index_rebuilt or idx.rebuilt
    if bundle.geometric_check:
        stats.verified = verify_edges(catalog, model_key, bundle, progress, cancel, workers,
                                      offline=stats.offline, images=images)
    with catalog.transaction():
        catalog.record_scan(started, time.time(), model_key, stats)
    return stats
