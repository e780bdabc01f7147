"""A library: one catalog, its index files and a lock, in one folder.

The folder is the platformdirs user data dir unless `LOOKALIKE_LIBRARY` or an explicit path
says otherwise. Writers (scans, actions) hold an exclusive lock; a second writer gets
`LibraryBusy` at once, never a second writer on the same catalog.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from . import decode, scanner
from .bundle import Bundle, load_bundle
from .catalog import Catalog, CatalogError
from .embed import Embedder
from .grouping import Grouper, Group, merge_scene, merged_score
from .index import VectorIndex
from .progress import CancelToken
from .relation import HOLD_MARGIN
from .results import FileTable, Member, Results, describe_groups  # noqa: F401  (Member: the library's API)

log = logging.getLogger(__name__)

ENV_LIBRARY = "LOOKALIKE_LIBRARY"
ENV_MODEL = "LOOKALIKE_MODEL"


class LibraryError(Exception):
    """The library folder cannot be used; the message says why and what to do."""


class LibraryBusy(LibraryError):
    pass


def default_library_dir() -> Path:
    env = os.environ.get(ENV_LIBRARY)
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("lookalike", appauthor=False)) / "library"


def default_model_dir() -> Path:
    env = os.environ.get(ENV_MODEL)
    if env:
        return Path(env).expanduser()
    from lookalike.resources import default_model_dir as builtin
    return Path(str(builtin()))


class Library:
    def __init__(self, path=None, write: bool = False):
        self.dir = Path(path).expanduser() if path else default_library_dir()
        self._lock = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            if write:
                self._acquire()
            self.catalog = Catalog(self.dir / "catalog.sqlite")
        except LibraryError:
            self._release()
            raise
        except CatalogError as exc:
            self._release()
            raise LibraryError(str(exc)) from None
        except OSError as exc:
            self._release()
            raise LibraryError(f"cannot use the library folder {self.dir}: {exc.strerror or exc}") from None
        self._embedders: dict[str, Embedder] = {}

    # -- lock -------------------------------------------------------------------------
    def _acquire(self):
        from filelock import FileLock, Timeout
        lock = FileLock(str(self.dir / "lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise LibraryBusy(f"the library {self.dir} is in use by another Lookalike process; "
                              f"wait for it to finish or close it") from None
        self._lock = lock

    def _release(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def writable(self) -> bool:
        """True when this process holds the library's writer lock."""
        return self._lock is not None

    def close(self):
        try:
            self.catalog.close()
        finally:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- models -------------------------------------------------------------------------
    def bundle(self, model_dir=None) -> Bundle:
        """The given bundle, else the one this library last scanned with, else the default."""
        if model_dir is None:
            model_dir = self.catalog.get_meta("model_path") or default_model_dir()
        return load_bundle(model_dir)

    def embedder(self, bundle: Bundle) -> Embedder:
        key = self.scene_key(bundle) or self.model_key(bundle)     # one with a scene vector runs more views
        e = self._embedders.get(key)
        if e is None:
            e = self._embedders[key] = Embedder(bundle)
        return e

    @staticmethod
    def model_key(bundle: Bundle) -> str:
        views = bundle.input.views
        return f"{bundle.model_id}:{bundle.preprocess}" + ("" if views == ("as-is",) else ":" + "+".join(views))

    @classmethod
    def scene_key(cls, bundle: Bundle) -> str | None:
        """The key of the model's scene vectors (model.json `input.scene_views`), or None."""
        views = bundle.input.scene_views
        return f"{cls.model_key(bundle)}:scene:{'+'.join(views)}" if views else None

    def index_for(self, bundle: Bundle, scene: bool = False) -> VectorIndex:
        key = self.scene_key(bundle) if scene else self.model_key(bundle)
        tag = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        return VectorIndex(self.dir / f"index-{tag}.hnsw", bundle.embedding_dim)

    def _scene(self, bundle: Bundle):
        key = self.scene_key(bundle)
        return (key, self.index_for(bundle, scene=True)) if key else None

    # -- scanning -----------------------------------------------------------------------
    def scan(self, roots=None, bundle: Bundle | None = None, progress=None, cancel: CancelToken | None = None,
             workers: int | None = None, retry_problems: bool = False) -> scanner.ScanStats:
        bundle = bundle or self.bundle()
        roots = list(roots) if roots else self.catalog.roots()
        if not roots:
            raise LibraryError("no folders to scan: name one, e.g. `lookalike scan ~/Pictures`")
        from .actions import recover
        recover(self)                    # a move a crash interrupted is finished first
        with self.catalog.transaction():
            self.catalog.set_meta("model_path", str(Path(bundle.path).resolve()))
        return scanner.run_scan(self.catalog, self.embedder(bundle), self.index_for(bundle),
                                self.model_key(bundle), roots, progress, cancel,
                                workers=workers or max(2, os.cpu_count() or 2), exclude=[str(self.dir)],
                                retry_errors=retry_problems, scene=self._scene(bundle))

    def add_roots(self, paths):
        """Folders to scan (absolute paths); needs a writable library."""
        with self.catalog.transaction():
            self.catalog.add_roots([os.path.abspath(os.fspath(p)) for p in paths])

    def set_protected(self, path, on: bool = True):
        """Protect a folder (nothing in it is ever trashed or moved), or stop; needs a writable library."""
        with self.catalog.transaction():
            self.catalog.set_protected(os.path.abspath(os.fspath(path)), on)

    def offline_roots(self) -> list[str]:
        """Folders of the library that cannot be read now: their photos are kept as they were."""
        return scanner.split_roots(self.catalog.roots(), self.catalog.file_states())[1]

    def remove_root(self, path) -> int:
        """Stop scanning a folder and forget its files (the files themselves are untouched)."""
        path = os.path.abspath(os.fspath(path))
        with self.catalog.transaction():
            self.catalog.remove_root(path)
            gone = [i for p, (i, _, _) in self.catalog.file_states().items() if scanner._under(p, [path])]
            self.catalog.delete_files(gone)
        return len(gone)

    def rebuild_neighbours(self, bundle: Bundle, progress=None, cancel=None):
        scanner.build_edges(self.catalog, self.index_for(bundle), self.model_key(bundle),
                            bundle.embedding_dim, progress, cancel, force=True)
        scene = self._scene(bundle)
        if scene:
            scanner.build_edges(self.catalog, scene[1], scene[0], bundle.embedding_dim, progress, cancel, force=True)
        if bundle.geometric_check:
            scanner.verify_edges(self.catalog, self.model_key(bundle), bundle, progress, cancel)

    # -- grouping -------------------------------------------------------------------------
    def _copy_edges(self, bundle: Bundle):
        """(a, b, scores, embedding scores, floor, ShotSplit) of the library's copy edges: the
        stored check, the two-shots hold and the split of pictures with two shots applied."""
        key = self.model_key(bundle)
        edges = self.catalog.edges(key)
        if edges is None:
            raise LibraryError("this library has not been scanned with this model yet: run `lookalike scan`")
        a, b, s, floor = edges
        ids = self.catalog.vector_labels(key)[1]
        live = np.isin(a, ids) & np.isin(b, ids)      # files trashed or moved since the scan
        a, b, s = a[live], b[live], s[live]
        raw = s
        split = None
        if bundle.geometric_check:
            from .relation import ShotSplit, hold_two_shots
            s = verified_scores(self.catalog, a, b, s, bundle.thresholds, bundle.check_band)
            # pairs of photos whose capture facts differ are two shots, never duplicates; nor
            # can a copy without them be the same picture as two shots
            shot = {r.id: r.capture() for r in self.catalog.files(set(a.tolist()) | set(b.tolist()))}
            none = decode.Capture()
            s = hold_two_shots(s, [shot.get(x, none) for x in a.tolist()], [shot.get(y, none) for y in b.tolist()],
                               bundle.thresholds)
            split = ShotSplit(a, b, s, raw, shot, float(bundle.thresholds["duplicate"]))
            s = split.hold(a, b, s)
        return a, b, s, raw, floor, split

    def grouper(self, bundle: Bundle) -> Grouper:
        a, b, s, raw, floor, _ = self._copy_edges(bundle)
        shown = (raw >= floor) | (s >= floor)        # shots close in time that the check did not lift: left out
        a, b, s = a[shown], b[shown], s[shown]
        scene = self.scene_key(bundle)
        scene_edges = self.catalog.edges(scene) if scene else None
        if scene_edges is not None:                   # the similar tier also from the scene vectors
            sa, sb, ss, _ = scene_edges
            sids = self.catalog.vector_labels(scene)[1]
            keep = np.isin(sa, sids) & np.isin(sb, sids) & (ss >= floor)
            a, b, s = merge_scene(a, b, s, sa[keep], sb[keep], ss[keep], *_marks(bundle))
        return Grouper(a, b, s, not_duplicate=self.not_duplicate_ids(),
                       duplicate=float(bundle.thresholds["duplicate"]))

    def not_duplicate_ids(self) -> list[tuple[int, int]]:
        """The dismissed pairs as file ids: by content (every file with those bytes, wherever it
        is now), and the path pairs of older catalogs."""
        ids_by_path = {p: i for p, (i, _, _) in self.catalog.file_states().items()}
        out = [(ids_by_path[x], ids_by_path[y]) for x, y in self.catalog.not_duplicate_pairs()
               if x in ids_by_path and y in ids_by_path]
        content = self.catalog.not_duplicate_content()
        if content:
            ids = self.catalog.ids_by_full_digest({d for pair in content for d in pair})
            out += [(x, y) for da, db in content for x in ids.get(da, ()) for y in ids.get(db, ()) if x != y]
        return out

    def not_duplicate(self, paths) -> int:
        """Never group these files together again, wherever they are moved: stored by content
        (the files are read once for their digest). Needs a writable library."""
        from itertools import combinations

        from .hashing import identity
        keys, updates = [], []
        for p in paths:
            row = self.catalog.file_by_path(p)
            if row is None:
                continue
            stored, full = identity(row.path, row.size, row.hash)
            if stored != row.hash:
                updates.append((row.id, stored))
            keys.append((full, row.size))
        pairs = [(x, y) for x, y in combinations(keys, 2) if x[0] != y[0]]
        with self.catalog.transaction():
            self.catalog.set_hashes(updates)
            for x, y in pairs:
                self.catalog.add_not_duplicate_content(x, y)
        return len(pairs)

    def describe_groups(self, groups: list[Group], presorted: bool = False) -> list[list[Member]]:
        """Members of the groups, suggested keeper first (`core.results`; `presorted`: the
        groups come from `Results.group`, keeper first already)."""
        return describe_groups(self.catalog, groups, presorted=presorted)

    def file_table(self) -> FileTable:
        return FileTable.from_catalog(self.catalog)

    def results(self, bundle: Bundle, threshold: float | None = None, rule: str = "rep", exact: bool = False,
                keep: str | None = None, grouper: Grouper | None = None) -> Results:
        """The groups at a threshold (default: the model's) with their suggested keepers: by
        the keep rule, and in groups of similar shots the best shot (core.results), unless a
        rule is asked for (`keep`: then every group by that rule)."""
        t = bundle.thresholds["duplicate"] if threshold is None else threshold
        grouper = grouper or self.grouper(bundle)
        res = Results(grouper.groups(t, rule=rule), self.file_table(), keep or "highest-resolution",
                      duplicate=grouper.duplicate if keep is None else None)
        return res.exact_only() if exact else res

    def problems(self):
        return self.catalog.problems()

    # -- one-off comparisons --------------------------------------------------------------
    def embed_file(self, path, bundle: Bundle, scene: bool = False):
        """The file's vector; with `scene`, (vector, scene vector or None)."""
        p = scanner.prepare(0, os.fspath(path), bundle)
        if p.error:
            raise decode.DecodeError(f"{path}: {p.error}")
        v, sv = self.embedder(bundle).embed_both(p.input[None])
        return (v[0], None if sv is None else sv[0]) if scene else v[0]

    def _nearest(self, key, index, q, k, dim):
        """File ids of the k+1 vectors of `key` nearest to q (the index synced first)."""
        labels, ids = self.catalog.vector_labels(key)
        if len(labels) == 0:
            return np.zeros(0, np.int64)
        if index.sync(labels, lambda: self.catalog.iter_vectors(key, dim)) and self.writable:
            index.save()          # a reader never writes: its synced index lives in memory only
        nl, _ = index.knn(q[None], k + 1)
        return ids[np.searchsorted(labels, nl[0])]

    def similar(self, path, bundle: Bundle, k: int = 10):
        """[(path, score)] of the k library photos most like the given file, each scored as the
        groups score the pair (the check, and the scene vector's score below the duplicate mark)."""
        key, scene = self.model_key(bundle), self.scene_key(bundle)
        dim = bundle.embedding_dim
        q, qs = self.embed_file(path, bundle, scene=True)
        fids = self._nearest(key, self.index_for(bundle), q, k, dim)
        if scene and qs is not None:
            fids = np.union1d(fids, self._nearest(scene, self.index_for(bundle, scene=True), qs, k, dim))
        vecs = self.catalog.vectors_of(key, fids.tolist(), dim)
        rows = {r.id: r for r in self.catalog.files(fids.tolist())}
        me = os.path.abspath(os.fspath(path))
        hits = [(rows[f], float(np.clip(vecs[f] @ q * 100.0, 0.0, 100.0))) for f in fids.tolist()
                if f in vecs and f in rows and rows[f].path != me]
        if bundle.geometric_check:      # the score compare and the groups give the same pair
            hits = self._checked_hits(path, hits, bundle)
        if scene and qs is not None:
            svecs = self.catalog.vectors_of(scene, [r.id for r, _ in hits], dim)
            hits = [(r, _with_scene(s, float(np.clip(svecs[r.id] @ qs * 100.0, 0.0, 100.0)) if r.id in svecs else 0.0,
                                    bundle)) for r, s in hits]
        hits.sort(key=lambda h: -h[1])
        return [(r.path, round(s, 2)) for r, s in hits[:k]]

    def stored_check(self, path_a, path_b):
        """The check the last scan stored for these two files, when both are in the library and
        unchanged on disk since (else None)."""
        ids = []
        for p in (path_a, path_b):
            row = self.catalog.file_by_path(os.path.abspath(os.fspath(p)))
            try:
                st = os.stat(p)
            except OSError:
                return None
            if row is None or row.size != st.st_size or row.mtime_ns != st.st_mtime_ns:
                return None
            ids.append(row.id)
        stored = self.catalog.pair_check(*ids) if ids[0] != ids[1] else None
        from .verify import Result
        return Result(*stored) if stored else None

    def compare(self, path_a, path_b, bundle: Bundle, embedder: Embedder | None = None) -> float:
        """`compare_files`, with the check the scan stored for this pair when there is one: the
        score the groups show (the scan also checks low-scoring pairs inside a group)."""
        from . import verify
        stored = self.stored_check(path_a, path_b) if bundle.geometric_check else None
        if stored is not None and stored.inliers == verify.SETTLED and not self._still_settled(path_a, path_b, bundle):
            stored = verify.Result(verify.INCONCLUSIVE)     # as the groups show it (verified_scores)
        split = None
        if bundle.geometric_check:
            ids = [self._file_id(p) for p in (path_a, path_b)]
            split = lambda ca, cb: self._split_pair(bundle, ids[0], ids[1], ca, cb)     # noqa: E731
        return compare_files(path_a, path_b, bundle, embedder, stored=stored, split=split)

    def _file_id(self, path) -> int | None:
        row = self.catalog.file_by_path(os.path.abspath(os.fspath(path)))
        return None if row is None else row.id

    def _split_pair(self, bundle: Bundle, x, y, cap_x, cap_y) -> bool:
        """Does the library's `ShotSplit` put these photos (file ids, None: not in the library,
        then its capture facts say) in two pictures of two shots?"""
        if x is not None and x == y:
            return False
        try:
            split = self._copy_edges(bundle)[5]
        except LibraryError:
            return False
        return split is not None and split.split(-1 if x is None else x, -2 if y is None else y, cap_x, cap_y)

    def _still_settled(self, path_a, path_b, bundle: Bundle) -> bool:
        """Are the photos of a settled pair still one group of copies (`scanner.copy_links`)?"""
        from . import verify
        edges = self.catalog.edges(self.model_key(bundle))
        if edges is None:
            return False
        a, b, s, _ = edges
        ids = self.catalog.vector_labels(self.model_key(bundle))[1]
        live = np.isin(a, ids) & np.isin(b, ids)
        x, y = (self.catalog.file_by_path(os.path.abspath(os.fspath(p))).id for p in (path_a, path_b))
        high = verify.band(bundle.thresholds, bundle.check_band)[1]
        return scanner.copy_links(a[live], b[live], s[live], *self.catalog.pair_checks(relation=True),
                                  high).linked(x, y)

    def _checked_hits(self, path, hits, bundle: Bundle):
        from . import verify
        try:
            d = decode.load(os.fspath(path), target=min(bundle.input.size))
        except decode.DecodeError:
            return hits
        query = verify.Photo(os.fspath(path), min(bundle.input.size),   # keypoints made once, when needed
                             *verify.check_images(d.image, d.image.size == (d.width, d.height)))
        hits = [(row, checked_score(s, lambda: query, row.path, d.capture, row.capture(), bundle))
                for row, s in hits]
        dup = float(bundle.thresholds["duplicate"])
        if any(s >= dup for _, s in hits):          # no picture holds two shots (ShotSplit), as in the groups
            split = self._copy_edges(bundle)[5]
            me = self._file_id(path)
            hits = [(row, dup - HOLD_MARGIN if s >= dup and split.split(-1 if me is None else me, row.id, d.capture)
                     else s) for row, s in hits]
        return hits


def verified_scores(catalog, a, b, s, thresholds, check_band=None) -> np.ndarray:
    """Edge scores after the stored geometric checks (core.verify.adjust); unchecked edges keep
    their embedding score. A pair settled through photos that are gone since the scan (trashed or
    moved by an action) counts as settled only while its photos are still one group of copies
    among these edges; else it keeps its embedding score until the next scan checks it."""
    from . import verify
    ca, cb, cg, csame = catalog.pair_checks(relation=True)
    settled = cg == verify.SETTLED
    if settled.any():
        high = verify.band(thresholds, check_band)[1]
        gone = settled & ~scanner.copy_links(a, b, s, ca, cb, cg, csame, high).components(ca, cb)
        cg = np.where(gone, verify.INCONCLUSIVE, cg)
    g = np.full(len(s), verify.INCONCLUSIVE, np.int64)
    same = np.full(len(s), -1, np.int64)
    if len(ca) and len(s):
        keys = verify.pair_keys(ca, cb)
        order = np.argsort(keys)
        keys, cg, csame = keys[order], cg[order], csame[order]
        q = verify.pair_keys(a, b)
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        hit = keys[pos] == q
        g[hit] = cg[pos[hit]]
        same[hit] = csame[pos[hit]]
    return verify.adjust(s, g, thresholds, check_band, same)


def compare_in_library(library_dir, path_a, path_b, bundle: Bundle) -> float:
    """The pair's score as the library at `library_dir` shows it (`Library.compare`), or
    `compare_files` when there is no library there; never creates one."""
    if library_dir is not None and (Path(library_dir).expanduser() / "catalog.sqlite").is_file():
        with Library(library_dir) as lib:
            return lib.compare(path_a, path_b, bundle)
    return compare_files(path_a, path_b, bundle)


def compare_files(path_a, path_b, bundle: Bundle, embedder: Embedder | None = None,
                  stored=None, split=None) -> float:
    """Match score 0-100 of two files; identical bytes score 100. `stored`: the pair's check
    result kept by a scan (used instead of checking again); `split(capture_a, capture_b)`: are
    the two in two pictures of two shots (a library's `relation.ShotSplit`)? Then they are
    held below the duplicate threshold, as in the groups."""
    from .hashing import full_digest
    a, b = os.fspath(path_a), os.fspath(path_b)
    try:
        if os.path.getsize(a) == os.path.getsize(b) and full_digest(a) == full_digest(b):
            return 100.0
    except OSError as exc:
        raise decode.DecodeError(f"{exc.filename}: {exc.strerror}") from None
    embedder = embedder or Embedder(bundle)
    vecs, taken = [], []
    for p in (a, b):
        prepared = scanner.prepare(0, p, bundle)
        if prepared.error:
            raise decode.DecodeError(f"{p}: {prepared.error}")
        vecs.append(prepared.input)
        taken.append(prepared.capture)
    v, sv = embedder.embed_both(np.stack(vecs))
    score = float(np.clip(v[0] @ v[1] * 100.0, 0.0, 100.0))
    if bundle.geometric_check:
        from . import verify
        score = checked_score(score, lambda: verify.Photo(a, min(bundle.input.size)), b, taken[0], taken[1], bundle,
                              stored=stored)
        dup = float(bundle.thresholds["duplicate"])
        if split is not None and score >= dup and split(taken[0], taken[1]):
            score = dup - HOLD_MARGIN
    if sv is not None:
        score = _with_scene(score, float(np.clip(sv[0] @ sv[1] * 100.0, 0.0, 100.0)), bundle)
    return score


def _marks(bundle: Bundle) -> tuple[float, float]:
    """(duplicate, similar) thresholds of the model."""
    dup = float(bundle.thresholds["duplicate"])
    return dup, min(dup, float(bundle.thresholds.get("similar", dup)))


def _with_scene(score: float, scene: float, bundle: Bundle) -> float:
    """One pair's score as `grouping.merge_scene` gives it in the groups."""
    return float(merged_score([score], [scene], *_marks(bundle))[0])


def checked_score(score: float, photo_a, path_b, taken_a, taken_b, bundle: Bundle, stored=None) -> float:
    """A pair's embedding score as the groups show it: the geometric check (the `stored`
    result of a scan, else a check in the model's check band; photo_a() gives the first photo
    as a `verify.Photo`) and the two-shots hold (taken_a, taken_b: the photos' `decode.Capture`)."""
    from . import verify
    from .relation import close_in_time, hold_two_shots
    lo, hi = verify.band(bundle.thresholds, bundle.check_band)
    r = verify.Result(verify.INCONCLUSIVE) if stored is None else stored    # not checked: the embedding settles it
    close = close_in_time(taken_a, taken_b)
    if stored is None and (lo <= score or close) and score < min(hi, 100.0):
        try:
            r = verify.check_photos(photo_a(), verify.Photo(path_b, min(bundle.input.size)), score, bundle.thresholds,
                                    close)
        except decode.DecodeError:
            r = verify.Result(verify.UNREADABLE)
    same = np.int64([-1 if r.same is None else int(r.same)])
    score = float(verify.adjust(np.float32([score]), np.int64([r.inliers]), bundle.thresholds, bundle.check_band,
                                same)[0])
    return float(hold_two_shots(np.float32([score]), [taken_a], [taken_b], bundle.thresholds)[0])


def verdict(score: float, bundle: Bundle, threshold: float | None = None, identical: bool = False) -> str:
    if identical:
        return "identical"
    t = bundle.thresholds["duplicate"] if threshold is None else threshold
    if score >= t:
        return "duplicate"
    if score >= min(t, bundle.thresholds.get("similar", t)):
        return "similar"
    return "different"
