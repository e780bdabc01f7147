"""The HNSW index (hnswlib): a cache beside the catalog, rebuilt from the stored vectors.

The module `hnswlib` comes from `chroma-hnswlib` (a maintained fork with wheels for CPython
3.10-3.12, so no compiler is needed) or, on newer Pythons, from `hnswlib` (an sdist only). The
two write slightly different files (the fork stores 4 more bytes per item), so the sidecar names
the writer and a file from the other one is rebuilt.

Each index file has a sidecar `.meta.json` (dimension, count, the BLAKE2b of the index file
and of `.labels.npy`, the live labels). A missing, stale or damaged index is repaired: stale
ones are synced incrementally, damaged ones rebuilt. Writes are atomic, each through a
temporary file of its own, and the digests are those of the bytes this saver wrote, so two
savers at once leave either one's files or a mismatch that the next load rebuilds.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

M = 16
EF_CONSTRUCTION = 100


def file_digest(path) -> str:
    """BLAKE2b of the whole file (the load reads it all anyway)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_format() -> str:
    """Which hnswlib wrote (and can read) our index files."""
    import hnswlib
    return "chroma-hnswlib" if hasattr(hnswlib.Index, "persist_dirty") else "hnswlib"


def _atomic_write_bytes(path: Path, writer) -> str:
    """Write through a unique temporary file beside `path`, then rename; returns the digest of
    what was written."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        digest = file_digest(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return digest


class VectorIndex:
    def __init__(self, path, dim: int):
        self.path = Path(path)
        self.dim = dim
        self.index = None
        self.labels = np.zeros(0, dtype=np.int64)
        self.rebuilt = False

    # -- files --------------------------------------------------------------------------
    @property
    def meta_path(self):
        return self.path.with_name(self.path.name + ".meta.json")

    @property
    def labels_path(self):
        return self.path.with_name(self.path.name + ".labels.npy")

    def _try_load(self) -> bool:
        import hnswlib
        if not self.meta_path.is_file():
            return False
        try:
            meta = json.loads(self.meta_path.read_text())
            if meta.get("dim") != self.dim or not self.path.is_file():
                return False
            if meta.get("format", "hnswlib") != index_format():
                log.info("index %s was written by %s: rebuilding", self.path, meta.get("format", "hnswlib"))
                return False
            if file_digest(self.path) != meta.get("digest"):
                log.warning("index %s is damaged (checksum mismatch): rebuilding", self.path)
                return False
            labels = np.load(self.labels_path, allow_pickle=False)
            if file_digest(self.labels_path) != meta.get("labels_digest"):
                return False
            index = hnswlib.Index(space="ip", dim=self.dim)
            index.load_index(str(self.path), max_elements=int(meta["capacity"]), allow_replace_deleted=True)
        except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as exc:
            log.warning("index %s unusable (%s): rebuilding", self.path, exc)
            return False
        self.index, self.labels = index, labels.astype(np.int64)
        return True

    def save(self):
        if self.index is None:
            return
        digest = _atomic_write_bytes(self.path, self.index.save_index)

        def write_labels(p):
            with open(p, "wb") as fh:
                np.save(fh, self.labels)
        labels_digest = _atomic_write_bytes(self.labels_path, write_labels)
        meta = {"dim": self.dim, "format": index_format(), "count": int(len(self.labels)),
                "capacity": int(self.index.get_max_elements()),
                "digest": digest, "labels_digest": labels_digest}

        def write_meta(p):
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(meta))
        _atomic_write_bytes(self.meta_path, write_meta)

    # -- content ------------------------------------------------------------------------
    def _new(self, capacity):
        import hnswlib
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(max_elements=max(16, capacity), ef_construction=EF_CONSTRUCTION, M=M,
                         allow_replace_deleted=True)
        return index

    def sync(self, labels: np.ndarray, vectors, num_threads: int = -1) -> bool:
        """Make the index hold exactly these labels; `vectors` is an array aligned with
        `labels` or a callable returning chunks (labels, ids, vectors). Returns True when
        anything changed."""
        labels = np.asarray(labels, dtype=np.int64)
        if self.index is None and not self._try_load():
            self.index = self._new(len(labels) + 1024)
            self.labels = np.zeros(0, dtype=np.int64)
            self.rebuilt = True
        gone = np.setdiff1d(self.labels, labels, assume_unique=True)
        new_labels = labels[~np.isin(labels, self.labels, assume_unique=True)]
        for lab in gone:
            self.index.mark_deleted(int(lab))
        if len(new_labels):
            need = len(labels) + 1
            if need > self.index.get_max_elements():
                self.index.resize_index(max(need, int(self.index.get_max_elements() * 1.5)))
            chunks = vectors() if callable(vectors) else [(labels, None, vectors)]
            for cl, _, cv in chunks:
                m = np.isin(cl, new_labels, assume_unique=True)
                if m.any():
                    self.index.add_items(cv[m], cl[m], num_threads=num_threads, replace_deleted=True)
        changed = bool(len(gone) or len(new_labels) or self.rebuilt)
        self.labels = labels.copy()
        return changed

    def knn(self, vectors: np.ndarray, k: int, num_threads: int = -1):
        """(labels [n, k'], similarities [n, k']) of the nearest live items."""
        n_live = len(self.labels)
        k = min(k, n_live)
        if k == 0 or len(vectors) == 0:
            return np.zeros((len(vectors), 0), np.int64), np.zeros((len(vectors), 0), np.float32)
        self.index.set_ef(max(64, 2 * k))
        labs, dist = self.index.knn_query(vectors, k=k, num_threads=num_threads)
        return labs.astype(np.int64), (1.0 - dist).astype(np.float32)
