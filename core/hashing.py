"""Exact duplicates: files of equal size, then equal BLAKE2b digest (a partial hash first).

A file's stored hash is "p:<partial>" (its first 64 KiB, enough to tell it apart from
every file of the same size seen so far) or "f:<partial>/<full>" once a collision of
partial digests made reading the whole file necessary.
"""
from __future__ import annotations

import hashlib
import logging

from .progress import Reporter

log = logging.getLogger(__name__)

PARTIAL_BYTES = 64 * 1024


def partial_digest(path: str, size: int) -> str:
    h = hashlib.blake2b(str(size).encode(), digest_size=20)
    with open(path, "rb") as fh:
        h.update(fh.read(PARTIAL_BYTES))
    return h.hexdigest()


def full_digest(path: str) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def partial_of(stored: str) -> str:
    return stored[2:].split("/", 1)[0]


def full_of(stored: str | None) -> str | None:
    return stored.split("/", 1)[1] if stored and stored.startswith("f:") else None


def identity(path: str, size: int, stored: str | None) -> tuple[str, str]:
    """(stored hash "f:<partial>/<full>", full digest) of a file, reading it unless the stored
    hash is already full."""
    full = full_of(stored)
    if full is None:
        full = full_digest(path)
        stored = f"f:{full if size <= PARTIAL_BYTES else partial_digest(path, size)}/{full}"
    return stored, full


def update_hashes(catalog, progress=None, cancel=None) -> int:
    """Give every file that shares its size with another a content hash; returns how many
    files were read. Unreadable files are left for the decoder to report."""
    rows = catalog.size_collisions()
    todo = [r for r in rows if r[3] is None]
    rep = Reporter("hash", len(todo), progress, cancel)
    rep.start()
    stored: dict[int, str] = {r[0]: r[3] for r in rows if r[3] is not None}
    updates, n_read = {}, 0
    for i, path, size, _ in todo:
        try:
            if size <= PARTIAL_BYTES:
                d = full_digest(path)
                stored[i] = updates[i] = f"f:{d}/{d}"
            else:
                stored[i] = updates[i] = "p:" + partial_digest(path, size)
            n_read += 1
        except OSError:
            pass
        rep.tick()
    # full digests where the first bytes of files of one size agree, and for every file whose
    # size is that of a "not a duplicate" file (its identity is its content)
    identity_sizes = catalog.not_duplicate_sizes()
    same: dict[tuple[int, str], list] = {}
    for i, path, size, _ in rows:
        if i in stored:
            same.setdefault((size, partial_of(stored[i])), []).append((i, path))
    for (size, _), members in same.items():
        if len(members) < 2 and size not in identity_sizes:
            continue
        for i, path in members:
            if stored[i].startswith("f:"):
                continue
            try:
                stored[i] = updates[i] = f"f:{partial_of(stored[i])}/{full_digest(path)}"
                n_read += 1
            except OSError:
                pass
        if cancel is not None:
            cancel.check()
    if updates:
        with catalog.transaction():
            catalog.set_hashes(updates.items())
    return n_read
