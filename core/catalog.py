"""The catalog: one SQLite database per library (WAL, schema version, migrations).

Paths are stored as bytes (`os.fsencode`) so names that are not valid UTF-8 survive.
Vectors are keyed by (file, model key) where the model key is "<model sha256>:<preprocess>",
so switching model or face mode re-embeds incrementally and switching back costs nothing.
"""
from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decode import Capture

log = logging.getLogger(__name__)

SCHEMA_VERSION = 7


class CatalogError(Exception):
    """The catalog cannot be opened or is damaged; the message says what to do."""


_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS roots (path BLOB PRIMARY KEY);
CREATE TABLE IF NOT EXISTS protected (path BLOB PRIMARY KEY);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT,
    width INTEGER,
    height INTEGER,
    taken_at TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS files_size ON files(size);
CREATE TABLE IF NOT EXISTS vectors (
    label INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    model_key TEXT NOT NULL,
    vec BLOB NOT NULL,
    UNIQUE (file_id, model_key)
);
CREATE INDEX IF NOT EXISTS vectors_model ON vectors(model_key);
CREATE TABLE IF NOT EXISTS edge_sets (
    model_key TEXT PRIMARY KEY,
    a BLOB NOT NULL, b BLOB NOT NULL, s BLOB NOT NULL,
    floor REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS walk_problems (path BLOB PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS not_duplicate (a BLOB NOT NULL, b BLOB NOT NULL, PRIMARY KEY (a, b));
"""

# Migrations from version N to N+1, applied in order inside the opening transaction. A new
# catalog is created at version 1 and migrated like any old one, so every path is exercised.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    model_key TEXT NOT NULL,
    found INTEGER, added INTEGER, changed INTEGER, removed INTEGER, embedded INTEGER, failed INTEGER
)
""",
    2: """
CREATE TABLE IF NOT EXISTS pair_checks (
    a INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    b INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    inliers INTEGER NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX IF NOT EXISTS pair_checks_b ON pair_checks(b)
""",
    # "not a duplicate" by content (full BLAKE2b digests, a < b), so a pair stays dismissed when
    # its files are moved or renamed; the path pairs of version 3 are still honoured
    3: """
CREATE TABLE IF NOT EXISTS not_duplicate_content (
    a TEXT NOT NULL, b TEXT NOT NULL, size_a INTEGER NOT NULL, size_b INTEGER NOT NULL,
    PRIMARY KEY (a, b)
)
""",
    # the relation of a pair the check confirmed (core.verify.same_picture): 1 = one picture,
    # 0 = two shots that share pixels; NULL = not judged (checked before version 5, or not
    # confirmed): the pair is scored as before
    4: """
ALTER TABLE pair_checks ADD COLUMN same INTEGER
""",
    # the capture facts as the camera wrote them (core.decode.Capture), apart from taken_at
    # (the date shown, which falls back to the DateTime editors rewrite). Files scanned before
    # get their old taken_at as the capture time, so they are judged as before until they change
    5: """
ALTER TABLE files ADD COLUMN shot_at TEXT;
ALTER TABLE files ADD COLUMN shot_subsec TEXT;
ALTER TABLE files ADD COLUMN exposure REAL;
ALTER TABLE files ADD COLUMN camera TEXT;
UPDATE files SET shot_at = taken_at
""",
    # how good each photo is as the one to keep of a group of similar shots (core.keeper.Quality,
    # measured on the scan's decode; NULL for files scanned before: their groups keep the rule)
    6: """
ALTER TABLE files ADD COLUMN q_sharpness REAL;
ALTER TABLE files ADD COLUMN q_clipped REAL;
ALTER TABLE files ADD COLUMN q_exposure REAL;
ALTER TABLE files ADD COLUMN q_noise REAL;
ALTER TABLE files ADD COLUMN q_colour REAL
""",
}


@dataclass
class FileRow:
    id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    width: int | None
    height: int | None
    taken_at: str | None
    error: str | None
    shot_at: str | None = None       # EXIF DateTimeOriginal (see core.decode.Capture)
    shot_subsec: str | None = None
    exposure: float | None = None
    camera: str | None = None
    quality: tuple | None = None     # (sharpness, clipped, exposure, noise, colour): core.keeper.Quality

    def capture(self) -> Capture:
        return Capture(self.taken_at, self.shot_at, self.shot_subsec, self.exposure, self.camera)


_FILE_COLUMNS = ("id, path, size, mtime_ns, hash, width, height, taken_at, error, shot_at, shot_subsec, exposure, "
                 "camera, q_sharpness, q_clipped, q_exposure, q_noise, q_colour")
_QUALITY = ("sharpness", "clipped", "exposure", "noise", "colour")


def _file_row(r) -> "FileRow":
    q = r[13:18]
    return FileRow(r[0], dec(r[1]), *r[2:13], quality=None if q[0] is None else tuple(q))


def enc(path: str) -> bytes:
    return os.fsencode(path)


def dec(blob: bytes) -> str:
    return os.fsdecode(blob)


class Catalog:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(
                f"the catalog {self.path} is damaged ({exc}). Move it away and scan again "
                f"to rebuild it (your photos are not affected).") from None
        except sqlite3.OperationalError as exc:  # pragma: no cover - subclass of DatabaseError
            raise CatalogError(f"cannot open the catalog {self.path}: {exc}") from None

    # -- schema -----------------------------------------------------------------------
    def _migrate(self):
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            has_meta = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
            version = 0
            if has_meta:
                row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise CatalogError(f"the catalog {self.path} was written by a newer Lookalike "
                                   f"(schema {version}, this one knows {SCHEMA_VERSION})")
            if version == 0:
                _run_script(db, _SCHEMA_V1)
                version = 1
            while version < SCHEMA_VERSION:
                _run_script(db, MIGRATIONS[version])
                version += 1
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self):
        self.db.close()

    def transaction(self):
        return _Tx(self.db)

    # -- meta -------------------------------------------------------------------------
    def get_meta(self, key, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key, value):
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    # -- roots and protected folders ----------------------------------------------------
    def roots(self) -> list[str]:
        return [dec(r[0]) for r in self.db.execute("SELECT path FROM roots ORDER BY path")]

    def add_roots(self, paths):
        self.db.executemany("INSERT OR IGNORE INTO roots VALUES (?)", [(enc(p),) for p in paths])

    def remove_root(self, path):
        self.db.execute("DELETE FROM roots WHERE path=?", (enc(path),))

    def protected(self) -> list[str]:
        return [dec(r[0]) for r in self.db.execute("SELECT path FROM protected ORDER BY path")]

    def set_protected(self, path, on=True):
        if on:
            self.db.execute("INSERT OR IGNORE INTO protected VALUES (?)", (enc(path),))
        else:
            self.db.execute("DELETE FROM protected WHERE path=?", (enc(path),))

    # -- files ------------------------------------------------------------------------
    def file_states(self) -> dict[str, tuple[int, int, int]]:
        """path -> (id, size, mtime_ns) for every file in the catalog."""
        return {dec(p): (i, s, m) for i, p, s, m in
                self.db.execute("SELECT id, path, size, mtime_ns FROM files")}

    def files(self, ids=None) -> list[FileRow]:
        q = f"SELECT {_FILE_COLUMNS} FROM files"
        if ids is None:
            rows = self.db.execute(q + " ORDER BY id").fetchall()
        else:
            rows = []
            ids = list(ids)
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                rows += self.db.execute(q + f" WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        return [_file_row(r) for r in rows]

    def file_by_path(self, path) -> FileRow | None:
        r = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path=?", (enc(path),)).fetchone()
        return _file_row(r) if r else None

    def insert_file(self, path, size, mtime_ns) -> int:
        cur = self.db.execute("INSERT INTO files (path, size, mtime_ns) VALUES (?, ?, ?)",
                              (enc(path), size, mtime_ns))
        return cur.lastrowid

    def reset_file(self, file_id, size, mtime_ns):
        """The file changed on disk: forget everything derived from its old bytes."""
        self.db.execute("UPDATE files SET size=?, mtime_ns=?, hash=NULL, width=NULL, height=NULL, "
                        "taken_at=NULL, error=NULL, shot_at=NULL, shot_subsec=NULL, exposure=NULL, camera=NULL, "
                        "q_sharpness=NULL, q_clipped=NULL, q_exposure=NULL, q_noise=NULL, q_colour=NULL WHERE id=?", (size, mtime_ns, file_id))
        self.db.execute("DELETE FROM vectors WHERE file_id=?", (file_id,))
        self.db.execute("DELETE FROM pair_checks WHERE a=? OR b=?", (file_id, file_id))

    def delete_files(self, ids):
        ids = list(ids)
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM vectors WHERE file_id IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM files WHERE id IN ({marks})", chunk)

    def set_hashes(self, pairs):
        self.db.executemany("UPDATE files SET hash=? WHERE id=?", [(h, i) for i, h in pairs])

    def set_decoded(self, file_id, width, height, capture: Capture | str | None, quality=None):
        """What decoding a file told: its size, capture facts (a Capture; a date alone, as
        older callers pass, is the shown date only) and quality (a core.keeper.Quality)."""
        c = capture if isinstance(capture, Capture) else Capture(taken_at=capture)
        q = [None if quality is None else float(getattr(quality, f)) for f in _QUALITY]
        self.db.execute("UPDATE files SET width=?, height=?, taken_at=?, shot_at=?, shot_subsec=?, exposure=?, "
                        "camera=?, q_sharpness=?, q_clipped=?, q_exposure=?, q_noise=?, q_colour=?, error=NULL "
                        "WHERE id=?",
                        (width, height, c.taken_at, c.original, c.subsec, c.exposure, c.camera, *q, file_id))

    def set_error(self, file_id, reason):
        self.db.execute("UPDATE files SET error=? WHERE id=?", (reason, file_id))

    def size_collisions(self) -> list[tuple[int, str, int, str | None]]:
        """(id, path, size, hash) of readable files whose size another file shares, or the size
        of a file in a "not a duplicate" pair."""
        rows = self.db.execute(
            "SELECT id, path, size, hash FROM files WHERE size IN "
            "(SELECT size FROM files GROUP BY size HAVING COUNT(*) > 1) OR size IN "
            "(SELECT size_a FROM not_duplicate_content UNION SELECT size_b FROM not_duplicate_content) "
            "ORDER BY size, id").fetchall()
        return [(i, dec(p), s, h) for i, p, s, h in rows]

    def hash_groups(self) -> list[list[int]]:
        """Lists of file ids with identical content (same full hash)."""
        groups: dict[str, list[int]] = {}
        for i, h in self.db.execute("SELECT id, hash FROM files WHERE hash LIKE 'f:%' ORDER BY id"):
            groups.setdefault(h, []).append(i)
        return [g for g in groups.values() if len(g) > 1]

    def count_files(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    # -- scan history -------------------------------------------------------------------
    def record_scan(self, started, finished, model_key, stats):
        self.db.execute("INSERT INTO scans (started, finished, model_key, found, added, changed, removed, "
                        "embedded, failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (started, finished, model_key, stats.found, stats.added, stats.changed,
                         stats.removed, stats.embedded, stats.failed))

    def last_scan(self):
        r = self.db.execute("SELECT started, finished, model_key, found, embedded, failed FROM scans "
                            "ORDER BY id DESC LIMIT 1").fetchone()
        return dict(zip(("started", "finished", "model_key", "found", "embedded", "failed"), r)) if r else None

    # -- problems ---------------------------------------------------------------------
    def problems(self) -> list[tuple[str, str]]:
        rows = [(dec(p), r) for p, r in
                self.db.execute("SELECT path, error FROM files WHERE error IS NOT NULL")]
        rows += [(dec(p), r) for p, r in self.db.execute("SELECT path, reason FROM walk_problems")]
        return sorted(rows)

    def replace_walk_problems(self, problems):
        self.db.execute("DELETE FROM walk_problems")
        self.db.executemany("INSERT OR REPLACE INTO walk_problems VALUES (?, ?)",
                            [(enc(p.path), p.reason) for p in problems])

    # -- vectors ----------------------------------------------------------------------
    def missing_vectors(self, model_key, retry_errors=False) -> list[tuple[int, str]]:
        """(id, path) of files with no vector for this model key. Files that failed to decode
        are tried again only when they change on disk, or with `retry_errors`."""
        rows = self.db.execute(
            "SELECT f.id, f.path FROM files f WHERE NOT EXISTS "
            "(SELECT 1 FROM vectors v WHERE v.file_id=f.id AND v.model_key=?)"
            + ("" if retry_errors else " AND f.error IS NULL") + " ORDER BY f.path",
            (model_key,)).fetchall()
        return [(i, dec(p)) for i, p in rows]

    def put_vectors(self, model_key, items):
        """Store vectors; a replaced vector gets a new label, so the index sees the change."""
        self.db.executemany("INSERT OR REPLACE INTO vectors (file_id, model_key, vec) VALUES (?, ?, ?)",
                            [(i, model_key, np.asarray(v, dtype=np.float32).tobytes()) for i, v in items])

    def vector_labels(self, model_key) -> tuple[np.ndarray, np.ndarray]:
        """(labels, file ids) of this model key's vectors, ordered by label."""
        rows = self.db.execute("SELECT label, file_id FROM vectors WHERE model_key=? ORDER BY label",
                               (model_key,)).fetchall()
        a = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return a[:, 0].copy(), a[:, 1].copy()

    def iter_vectors(self, model_key, dim, chunk=32768, order="label"):
        """Yield (labels, file ids, vectors) in chunks, so a million vectors never sit in
        memory twice."""
        col = "label" if order == "label" else "file_id"
        cur = self.db.execute(f"SELECT label, file_id, vec FROM vectors WHERE model_key=? ORDER BY {col}",
                              (model_key,))
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
            yield labels, ids, vecs

    def vectors(self, model_key, dim, order="label") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, file ids, vectors [n, dim]) for this model key, ordered by label or file id."""
        n = self.db.execute("SELECT COUNT(*) FROM vectors WHERE model_key=?", (model_key,)).fetchone()[0]
        labels, ids = np.empty(n, np.int64), np.empty(n, np.int64)
        vecs = np.empty((n, dim), np.float32)
        at = 0
        for cl, ci, cv in self.iter_vectors(model_key, dim, order=order):
            m = min(len(cl), n - at)          # rows added by another process meanwhile are left out
            labels[at:at + m], ids[at:at + m], vecs[at:at + m] = cl[:m], ci[:m], cv[:m]
            at += m
        return labels[:at], ids[:at], vecs[:at]

    def vectors_of(self, model_key, ids, dim) -> dict[int, np.ndarray]:
        """file id -> vector, for the given files that have one for this model key."""
        out = {}
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            for fid, vec in self.db.execute(f"SELECT file_id, vec FROM vectors WHERE model_key=? AND file_id IN "
                                            f"({','.join('?' * len(chunk))})", [model_key, *chunk]):
                out[fid] = np.frombuffer(vec, np.float32, dim)
        return out

    def vector_of(self, model_key, file_id):
        r = self.db.execute("SELECT vec FROM vectors WHERE model_key=? AND file_id=?",
                            (model_key, file_id)).fetchone()
        return np.frombuffer(r[0], dtype=np.float32) if r else None

    def model_keys(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT model_key FROM vectors")]

    # -- kNN edges --------------------------------------------------------------------
    def put_edges(self, model_key, a, b, s, floor):
        self.db.execute("INSERT OR REPLACE INTO edge_sets VALUES (?, ?, ?, ?, ?)",
                        (model_key, np.asarray(a, np.int64).tobytes(), np.asarray(b, np.int64).tobytes(),
                         np.asarray(s, np.float32).tobytes(), float(floor)))

    def edges(self, model_key):
        r = self.db.execute("SELECT a, b, s, floor FROM edge_sets WHERE model_key=?", (model_key,)).fetchone()
        if r is None:
            return None
        return (np.frombuffer(r[0], np.int64), np.frombuffer(r[1], np.int64),
                np.frombuffer(r[2], np.float32), r[3])

    def drop_edges(self, model_key=None):
        if model_key is None:
            self.db.execute("DELETE FROM edge_sets")
        else:
            self.db.execute("DELETE FROM edge_sets WHERE model_key=?", (model_key,))

    # -- geometric checks (core.verify), keyed by file ids with a < b ---------------------
    def pair_checks(self, relation: bool = False) -> tuple[np.ndarray, ...]:
        """(a, b, inliers) of every stored check; with `relation`, also `same` (1: one picture,
        0: two shots, -1: not judged)."""
        rows = self.db.execute("SELECT a, b, inliers, COALESCE(same, -1) FROM pair_checks").fetchall()
        arr = np.asarray(rows, np.int64).reshape(-1, 4)
        return (arr[:, 0], arr[:, 1], arr[:, 2]) + ((arr[:, 3],) if relation else ())

    def pair_check(self, a: int, b: int) -> tuple[int, bool | None] | None:
        """The stored check result of one pair of files, (inliers, same: one picture / two shots
        / None: not judged), or None."""
        r = self.db.execute("SELECT inliers, same FROM pair_checks WHERE a=? AND b=?", (min(a, b), max(a, b))).fetchone()
        return (int(r[0]), None if r[1] is None else bool(r[1])) if r else None

    def put_pair_checks(self, rows):
        """rows: (a, b, inliers) or (a, b, inliers, same) with a < b; same: True/False/None."""
        self.db.executemany("INSERT OR REPLACE INTO pair_checks (a, b, inliers, same) VALUES (?, ?, ?, ?)",
                            [(int(r[0]), int(r[1]), int(r[2]), None if len(r) < 4 or r[3] is None else int(r[3]))
                             for r in rows])

    def delete_pair_checks(self, a, b):
        """Forget the stored checks of these pairs (a < b)."""
        self.db.executemany("DELETE FROM pair_checks WHERE a=? AND b=?",
                            [(int(x), int(y)) for x, y in zip(a, b)])

    # -- "not a duplicate" --------------------------------------------------------------
    def add_not_duplicate(self, a, b):
        """A pair by path (catalog version 3; kept for old catalogs and tests)."""
        a, b = sorted((enc(a), enc(b)))
        self.db.execute("INSERT OR IGNORE INTO not_duplicate VALUES (?, ?)", (a, b))

    def not_duplicate_pairs(self) -> set[tuple[str, str]]:
        return {(dec(a), dec(b)) for a, b in self.db.execute("SELECT a, b FROM not_duplicate")}

    def add_not_duplicate_content(self, a: tuple[str, int], b: tuple[str, int]):
        """A pair by content: (full digest, size) of each file."""
        (da, sa), (db_, sb) = sorted((a, b))
        self.db.execute("INSERT OR IGNORE INTO not_duplicate_content VALUES (?, ?, ?, ?)", (da, db_, sa, sb))

    def not_duplicate_content(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT a, b FROM not_duplicate_content").fetchall()

    def not_duplicate_sizes(self) -> set[int]:
        """Sizes of the files in a dismissed pair: files of these sizes get a full digest."""
        return {s for (s,) in self.db.execute("SELECT size_a FROM not_duplicate_content UNION "
                                               "SELECT size_b FROM not_duplicate_content")}

    def ids_by_full_digest(self, digests) -> dict[str, list[int]]:
        want = set(digests)
        out: dict[str, list[int]] = {}
        for i, h in self.db.execute("SELECT id, hash FROM files WHERE hash LIKE 'f:%'"):
            d = h.split("/", 1)[1]
            if d in want:
                out.setdefault(d, []).append(i)
        return out


def _run_script(db, script):
    """Run `;`-separated statements inside the open transaction (executescript would commit)."""
    for stmt in script.split(";"):
        if stmt.strip():
            db.execute(stmt)


class _Tx:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
