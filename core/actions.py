"""Safe actions on the user's files: mark, plan, trash, move, undo, export.

Nothing is deleted: files go to the system trash (send2trash) or are moved. Every plan
refuses protected files, files that changed since they were scanned, and the last copy of a
group left on disk. Every action is written to a journal before each file is touched, so a
crash leaves each file either at its old place or at its new one, and a move can be undone.
"""
from __future__ import annotations

import csv
import errno
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from . import results
from .protect import Protection

log = logging.getLogger(__name__)

RULES = ("highest_resolution", "largest", "oldest", "newest", "protected")


class ActionError(Exception):
    pass


@dataclass
class Plan:
    ok: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0
    ids: dict[str, int] = field(default_factory=dict)     # path -> file id, for the files planned


@dataclass
class Outcome:
    done: list[tuple[str, str | None]] = field(default_factory=list)   # (source, destination or None)
    failed: list[tuple[str, str]] = field(default_factory=list)        # (source, reason)


def is_protected(path: str, protected_dirs) -> bool:
    return Protection(protected_dirs).covers(path)


def mark_by_rule(members, rule: str, protected=()) -> set[str]:
    """The paths to mark in one group: all but the one the rule keeps, never a protected file.

    Rules: keep the highest resolution, the largest file, the oldest or newest (date taken,
    else file time), or the one in a protected folder (nothing is marked when none is). The
    keeper is chosen as everywhere else (`core.results.keepers`): a protected file first.
    A RAW file and the camera's JPEG of the same shot are never marked: a photographer keeps
    both on purpose (mark one by hand to remove it).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    members = list(members)
    n = len(members)
    if n < 2:
        return set()
    prot = Protection(protected)
    covered = [prot.covers(m.path) for m in members]
    if rule == "protected":
        if not any(covered):
            return set()
        rule = results.DEFAULT_KEEP
    k = _keeper(members, covered, rule)
    return {m.path for i, m in enumerate(members) if i != k and not covered[i]
            and not getattr(m, "raw_jpeg_pair", False)}


def _keeper(members, covered, rule=results.DEFAULT_KEEP) -> int:
    """Index of the member the rule keeps (`core.results.keepers` on these members)."""
    n = len(members)
    table = results.FileTable.build(
        np.arange(n), [m.bytes for m in members], [(m.width or 0) * (m.height or 0) for m in members],
        results._dates([m.taken_at for m in members], [_mtime_ns(m.path) for m in members]),
        [None] * n, covered)
    return int(results.keepers(table, np.arange(n), np.zeros(n, np.int64), 1, rule)[0])


def _mtime_ns(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 2 ** 62


def plan_removal(lib, marked, groups_members) -> Plan:
    """Check marked files before anything is touched; `groups_members` are the groups (lists
    of Member, suggested keeper first) the marks were made in. `marked` holds paths or file ids.

    Refused: files in a protected folder, files gone or changed since the scan, and in every
    group one copy when no other member is left on disk (counted on disk, not by marks: a
    member deleted outside the app is no copy)."""
    by_id = {m.id: m.path for members in groups_members for m in members}
    marked = {by_id.get(x, x) if isinstance(x, (int, np.integer)) else x for x in marked}
    marked = {x for x in marked if isinstance(x, str)}
    protection = Protection(lib.catalog.protected())
    plan = Plan()
    refused: dict[str, str] = {}
    for path in sorted(marked):
        if protection.covers(path):
            refused[path] = "in a protected folder"
            continue
        row = lib.catalog.file_by_path(path)
        try:
            st = os.stat(path)
        except OSError:
            refused[path] = "no longer exists"
            continue
        if row is None or (row.size, row.mtime_ns) != (st.st_size, st.st_mtime_ns):
            refused[path] = "changed since it was scanned: scan again first"
    for members in groups_members:
        going = [m for m in members if m.path in marked and m.path not in refused]
        if not going:
            continue
        stays = [m for m in members if m not in going and os.path.exists(m.path)]
        if not stays:
            keep = going[_keeper(going, [False] * len(going))]
            refused[keep.path] = "the last copy of its group on disk is always kept"
    plan.refused = sorted(refused.items())
    sizes = {m.path: m.bytes for members in groups_members for m in members}
    plan.ok = [p for p in sorted(marked) if p not in refused]
    plan.bytes = sum(sizes.get(p, 0) or _size(p) for p in plan.ok)
    plan.ids = {m.path: m.id for members in groups_members for m in members if m.path in marked}
    return plan


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# -- journal ----------------------------------------------------------------------------
def _journal_path(lib):
    return lib.dir / "journal.jsonl"


def _append(lib, record):
    with open(_journal_path(lib), "a", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def journal(lib) -> list[dict]:
    try:
        lines = _journal_path(lib).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: its file operation never started
    return out


def _forget(lib, paths):
    rows = [lib.catalog.file_by_path(p) for p in paths]
    with lib.catalog.transaction():
        lib.catalog.delete_files([r.id for r in rows if r is not None])


def trash(lib, plan: Plan, trash_func=None) -> Outcome:
    """Send the plan's files to the system trash (or `trash_func(path)` in tests)."""
    if trash_func is None:
        from send2trash import send2trash as trash_func
    recover(lib)
    action = uuid.uuid4().hex
    out = Outcome()
    for path in plan.ok:
        _append(lib, {"action": action, "op": "trash", "src": path, "state": "start", "time": time.time()})
        try:
            trash_func(path)
        except Exception as exc:  # send2trash raises OSError or its own TrashPermissionError
            out.failed.append((path, str(exc)))
            _append(lib, {"action": action, "op": "trash", "src": path, "state": "failed"})
            continue
        _append(lib, {"action": action, "op": "trash", "src": path, "state": "done"})
        _forget(lib, [path])
        out.done.append((path, None))
    return out


def _unique_destination(dest_dir, name):
    base, ext = os.path.splitext(name)
    candidate, n = os.path.join(dest_dir, name), 1
    while os.path.lexists(candidate):
        candidate = os.path.join(dest_dir, f"{base} ({n}){ext}")
        n += 1
    return candidate


PARTIAL = ".lookalike-partial"


def _move_file(src, dst):
    """Rename when possible; across devices copy to a temporary name beside the destination,
    fsync, rename it into place, then remove the source: a crash leaves the file whole in at
    least one place (and a partial copy only under the temporary name, which `recover` removes)."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst + PARTIAL
        shutil.copy2(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
        os.remove(src)


def _same_file_content(a, b) -> bool:
    from .hashing import full_digest
    try:
        return os.path.getsize(a) == os.path.getsize(b) and full_digest(a) == full_digest(b)
    except OSError:
        return False


def recover(lib) -> int:
    """Finish what a crash interrupted: for every journalled move that started but has no end,
    remove a partial copy, and where the whole copy is in place and the source still exists
    (killed between copy and remove across devices) remove the source. Returns the number of
    moves completed. Called before every scan and action."""
    last: dict[tuple[str, str], dict] = {}
    for r in journal(lib):
        if r.get("op") == "move" and "src" in r:
            last[(r["action"], r["src"])] = r
    done = 0
    for r in last.values():
        if r["state"] != "start":
            continue
        src, dst = r["src"], r["dst"]
        if os.path.lexists(dst + PARTIAL):
            os.remove(dst + PARTIAL)
        if os.path.exists(dst) and (not os.path.lexists(src) or _same_file_content(src, dst)):
            if os.path.lexists(src):
                os.remove(src)
            _append(lib, {**r, "state": "done", "recovered": True})
            _forget(lib, [src])
            done += 1
        else:
            _append(lib, {**r, "state": "failed", "recovered": True})
    return done


def move(lib, plan: Plan, dest_dir) -> Outcome:
    """Move the plan's files into `dest_dir` (never overwriting); journalled for undo."""
    dest_dir = os.path.abspath(dest_dir)
    os.makedirs(dest_dir, exist_ok=True)
    recover(lib)
    action = uuid.uuid4().hex
    out = Outcome()
    for path in plan.ok:
        dst = _unique_destination(dest_dir, os.path.basename(path))
        _append(lib, {"action": action, "op": "move", "src": path, "dst": dst, "state": "start",
                      "time": time.time()})
        try:
            _move_file(path, dst)
        except OSError as exc:
            out.failed.append((path, exc.strerror or str(exc)))
            _append(lib, {"action": action, "op": "move", "src": path, "dst": dst, "state": "failed"})
            continue
        _append(lib, {"action": action, "op": "move", "src": path, "dst": dst, "state": "done"})
        _forget(lib, [path])
        out.done.append((path, dst))
    return out


def undo_last(lib) -> Outcome:
    """Move the files of the last move back where they were. Files sent to the trash are
    restored from the system trash by the user; the journal names them."""
    recover(lib)
    records = journal(lib)
    moves = [r for r in records if r["op"] == "move"]
    undone_actions = {r["action"] for r in records if r.get("op") == "undo"}
    actions = [r["action"] for r in moves if r["action"] not in undone_actions]
    if not actions:
        raise ActionError("nothing to undo: no move is recorded")
    last = actions[-1]
    out = Outcome()
    entries = {}
    for r in records:
        if r.get("action") == last and r["op"] == "move":
            entries[r["src"]] = r
    for src, r in entries.items():
        dst = r["dst"]
        if os.path.lexists(dst) and not os.path.lexists(src):
            try:
                os.makedirs(os.path.dirname(src), exist_ok=True)
                _move_file(dst, src)
            except OSError as exc:
                out.failed.append((src, f"cannot move {dst} back: {exc.strerror or exc}"))
                continue
            out.done.append((dst, src))
        elif os.path.lexists(src):
            continue            # never moved (or already back): nothing to do
        else:
            out.failed.append((src, f"neither {src} nor {dst} exists any more"))
    _append(lib, {"action": last, "op": "undo", "state": "done", "time": time.time()})
    return out


def export_groups(groups_members, path, fmt: str = "csv"):
    """Write the groups as CSV (one row per member) or JSON."""
    if fmt == "json":
        doc = [[{"path": results.json_path(m.path), "path_bytes": results.path_bytes(m.path), "score": m.score,
                 "width": m.width, "height": m.height, "bytes": m.bytes, "identical": m.identical, "keep": m.keep}
                for m in g] for g in groups_members]
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"groups": doc}, fh, indent=1, ensure_ascii=False)
    elif fmt == "csv":
        tmp = f"{path}.tmp"
        with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
            w = csv.writer(fh)
            w.writerow(["group", "path", "score", "width", "height", "bytes", "identical"])
            for n, g in enumerate(groups_members, 1):
                for m in g:
                    w.writerow([n, m.path, m.score, m.width, m.height, m.bytes, m.identical])
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    os.replace(tmp, path)
