"""The results of a library at one threshold, as the CLI and the GUI show them.

One place decides, for every group: the suggested keeper (protected folder first, then the
rule: highest resolution, then largest file, then oldest by default; in a group of similar
shots, the best shot by core.keeper: sharpness, exposure and clipping, noise, resolution), which members are
byte-identical to it, how many bytes removing the others frees, and the JSON document of
`lookalike groups --json`. Groups stay flat arrays (`core.grouping.Groups`), so a regroup of
100k photos creates no Python object per photo; members are described only when shown.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import numpy as np

from .discover import raw_jpeg_pair
from .grouping import Group, Groups
from .protect import Protection

KEEP_RULES = ("highest-resolution", "largest", "oldest", "newest")
DEFAULT_KEEP = "highest-resolution"


def keep_rule(name: str) -> str:
    """A keep rule by name ("highest_resolution" and "highest-resolution" are the same)."""
    rule = (name or DEFAULT_KEEP).replace("_", "-")
    if rule not in KEEP_RULES:
        raise ValueError(f"unknown keep rule {name!r}; choose one of {', '.join(KEEP_RULES)}")
    return rule


@dataclass
class Member:
    path: str
    score: float                 # match score to the group's representative
    width: int | None
    height: int | None
    bytes: int
    taken_at: str | None
    identical: bool              # same bytes as the group's suggested keeper
    id: int = 0
    keep: bool = False           # the suggested keeper (first member of a described group)
    raw_jpeg_pair: bool = False  # a camera RAW and its JPEG of the same shot, both in this group


def mark_raw_jpeg_pairs(members: list[Member]) -> None:
    """Flag the members of one group that are a RAW file and the camera's JPEG of the same shot
    (same folder and name; their scores already put them in one group). No rule suggests
    removing either (`core.actions.mark_by_rule`, `lookalike dedupe`)."""
    by_shot: dict[tuple[str, str], list[Member]] = {}
    for m in members:
        folder, name = os.path.split(m.path)
        by_shot.setdefault((folder, os.path.splitext(name)[0].lower()), []).append(m)
    for same in by_shot.values():
        for i, a in enumerate(same):
            for b in same[i + 1:]:
                if raw_jpeg_pair(a.path, b.path):
                    a.raw_jpeg_pair = b.raw_jpeg_pair = True


def _dates(taken_at, mtime_ns) -> np.ndarray:
    """Seconds since the epoch: the date taken where known (read as UTC), else the file's time."""
    out = np.asarray(mtime_ns, np.float64) / 1e9
    text = np.array([t[:19] if t else "NaT" for t in taken_at], dtype="U19")
    try:
        when = text.astype("datetime64[s]")
    except ValueError:                  # one malformed date: parse one by one
        when = np.array([_one_date(t) for t in text], dtype="datetime64[s]")
    ok = ~np.isnat(when)
    out[ok] = when[ok].astype(np.int64)
    return out


def _one_date(text):
    try:
        return np.datetime64(text, "s")
    except ValueError:
        return np.datetime64("NaT")


@dataclass
class FileTable:
    """Per-file facts that choosing a keeper needs, as arrays sorted by file id."""
    ids: np.ndarray
    sizes: np.ndarray
    pixels: np.ndarray
    dates: np.ndarray
    codes: np.ndarray          # equal codes <=> identical bytes; -1 unknown
    protected: np.ndarray
    quality: np.ndarray | None = None   # [n, 5]: core.keeper.Quality (sharpness, clipped, exposure,
                                        # noise, colour); NaN rows: not measured

    @classmethod
    def build(cls, ids, sizes, pixels, dates, hashes, protected, quality=None) -> "FileTable":
        codes: dict[str, int] = {}
        hc = np.fromiter((codes.setdefault(h, len(codes)) if h and h.startswith("f:") else -1 for h in hashes),
                         np.int64, len(ids))
        ids = np.asarray(ids, np.int64)
        o = np.argsort(ids, kind="stable")
        q = None
        if quality is not None:
            q = np.array([row if row is not None else (np.nan,) * 5 for row in quality], np.float64).reshape(-1, 5)[o]
        return cls(ids[o], np.asarray(sizes, np.int64)[o], np.asarray(pixels, np.int64)[o],
                   np.asarray(dates, np.float64)[o], hc[o], np.asarray(protected, bool)[o], q)

    @classmethod
    def from_catalog(cls, catalog) -> "FileTable":
        return cls.from_rows(catalog.files(), Protection(catalog.protected()))

    @classmethod
    def from_rows(cls, rows, protection: Protection | None = None) -> "FileTable":
        prot = protection or Protection()
        rows = list(rows)
        return cls.build([r.id for r in rows], [r.size for r in rows],
                         [(r.width or 0) * (r.height or 0) for r in rows],
                         _dates([r.taken_at for r in rows], [r.mtime_ns for r in rows]),
                         [r.hash for r in rows], [bool(prot) and prot.covers(r.path) for r in rows],
                         [r.quality for r in rows])

    def positions(self, ids):
        """(positions, found) of file ids in the table."""
        ids = np.asarray(ids, np.int64)
        if len(self.ids) == 0:
            return np.zeros(len(ids), np.int64), np.zeros(len(ids), bool)
        pos = np.clip(np.searchsorted(self.ids, ids), 0, len(self.ids) - 1)
        return pos, self.ids[pos] == ids

    def column(self, name, ids, missing):
        pos, found = self.positions(ids)
        col = getattr(self, name)
        return np.where(found, col[pos] if len(col) else missing, missing)


def keepers(table: FileTable, ids, group_of, n_groups: int, rule: str = DEFAULT_KEEP) -> np.ndarray:
    """For each group, the position (in `ids`) of the member the rule keeps: a file in a
    protected folder first, then by the rule, ties broken by the next criteria (resolution,
    size, age) and the file id."""
    rule = keep_rule(rule)
    ids = np.asarray(ids, np.int64)
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    pix = table.column("pixels", ids, 0)
    size = table.column("sizes", ids, 0)
    date = table.column("dates", ids, np.inf)
    prot = table.column("protected", ids, False)
    newest = -np.where(np.isfinite(date), date, -np.inf)
    by = {"highest-resolution": (ids, date, -size, -pix),
          "largest": (ids, date, -pix, -size),
          "oldest": (ids, -size, -pix, date),
          "newest": (ids, -size, -pix, newest)}[rule]
    order = np.lexsort((*by, ~prot, group_of))
    g = group_of[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    out = np.full(n_groups, -1, np.int64)
    out[g[starts]] = order[starts]
    return out


def shot_keepers(table: FileTable, ids, group_of, keep: np.ndarray, shots: np.ndarray):
    """(keepers, kept as the best shot): `keep` with the groups marked in `shots` (groups of
    similar shots) kept by core.keeper's score instead: a file in a protected folder first,
    then the best shot. A group with a member whose quality was never measured keeps the
    rule's choice."""
    from .keeper import group_scores
    keep = keep.copy()
    if table.quality is None or not shots.any():
        return keep, np.zeros(len(keep), bool)
    pos, found = table.positions(ids)
    q = np.where(found[:, None], table.quality[pos], np.nan)
    measured = np.bincount(group_of, weights=np.isnan(q).any(axis=1), minlength=len(keep)) == 0
    use = shots & measured
    sel = np.flatnonzero(use[group_of])
    if len(sel) == 0:
        return keep, use
    sel = sel[np.argsort(group_of[sel], kind="stable")]
    g = group_of[sel]
    pix = table.column("pixels", ids[sel], 0)
    s = group_scores(q[sel, 0], q[sel, 1], q[sel, 2], pix, q[sel, 3], q[sel, 4], g)
    prot = table.column("protected", ids[sel], False)
    order = np.lexsort((ids[sel], -s, ~prot, g))
    starts = np.flatnonzero(np.r_[True, g[order][1:] != g[order][:-1]])
    keep[g[order][starts]] = sel[order][starts]
    return keep, use


class Results:
    """Groups at one threshold with their suggested keepers and reclaimable bytes.

    With `duplicate` (the model's duplicate threshold), a group with a member scored below it
    is a group of similar shots (`shots`), whose keeper is the best shot (`shot_keepers`);
    a group of copies keeps the rule."""

    def __init__(self, groups: Groups, table: FileTable, rule: str = DEFAULT_KEEP, duplicate: float | None = None):
        self.groups, self.table, self.rule, self.duplicate = groups, table, keep_rule(rule), duplicate
        self.ids, self.scores, self.offsets, self.best = groups.ids, groups.scores, groups.offsets, groups.best
        n = len(groups)
        self.group_of = np.repeat(np.arange(n), groups.sizes())
        self.shots = np.zeros(n, bool)
        if duplicate is not None and n:
            self.shots = np.bincount(self.group_of, weights=self.scores < duplicate, minlength=n) > 0
        self.keep, self.best_shot = shot_keepers(table, self.ids, self.group_of,
                                                 keepers(table, self.ids, self.group_of, n, self.rule), self.shots)
        sizes = table.column("sizes", self.ids, 0)
        total = np.bincount(self.group_of, weights=sizes, minlength=n).astype(np.int64)
        self.reclaim = total - (sizes[self.keep] if n else np.zeros(0, np.int64))

    @classmethod
    def empty(cls) -> "Results":
        return cls(Groups.empty(), FileTable.build([], [], [], [], [], []))

    def __len__(self):
        return len(self.best)

    def sizes(self):
        return np.diff(self.offsets)

    @property
    def reclaimable(self) -> int:
        return int(self.reclaim.sum())

    def group(self, i) -> Group:
        """Group i with the suggested keeper first, the others by score."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        k = int(self.keep[i])
        members = [(int(self.ids[k]), float(self.scores[k]))]
        members += sorted(((int(self.ids[j]), float(self.scores[j])) for j in range(lo, hi) if j != k),
                          key=lambda m: (-m[1], m[0]))
        return Group(members, float(self.best[i]))

    def exact_only(self) -> "Results":
        """Only byte-identical files: each set of identical files inside a group becomes a group."""
        codes = self.table.column("codes", self.ids, -1)
        known = np.flatnonzero(codes >= 0)
        if len(known) == 0:
            return Results(Groups.empty(), self.table, self.rule)
        key = self.group_of[known] * (int(codes.max()) + 1) + codes[known]
        uniq, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        twins = counts[inv] >= 2
        sel = known[twins]
        new_group = inv[twins]
        order = np.lexsort((sel, new_group))             # groups keep the engine's order
        sel, new_group = sel[order], new_group[order]
        starts = np.flatnonzero(np.r_[True, new_group[1:] != new_group[:-1]]) if len(sel) else np.zeros(0, np.int64)
        sizes = np.diff(np.r_[starts, len(sel)])
        best = np.full(len(starts), 100.0, np.float32)
        groups = Groups(self.ids[sel], self.scores[sel], np.r_[0, np.cumsum(sizes)].astype(np.int64), best)
        return Results(groups, self.table, self.rule)       # identical bytes: copies, kept by the rule


def describe(catalog, results: Results, indices) -> list[list[Member]]:
    """Members of the groups at `indices`, suggested keeper first."""
    groups = [results.group(int(i)) for i in indices]
    return describe_groups(catalog, groups, presorted=True)


def describe_groups(catalog, groups, presorted: bool = False, rule: str = DEFAULT_KEEP) -> list[list[Member]]:
    """Members of the given groups (`Group`s), suggested keeper first. With `presorted` the
    groups already start with their keeper (`Results.group`)."""
    rows = {r.id: r for r in catalog.files({i for g in groups for i in g.ids})}
    if not presorted:
        table = FileTable.from_rows(rows.values(), Protection(catalog.protected()))
        ids = np.fromiter((i for g in groups for i in g.ids), np.int64)
        group_of = np.repeat(np.arange(len(groups)), [len(g.members) for g in groups])
        keep = keepers(table, ids, group_of, len(groups), rule)
        starts = np.r_[0, np.cumsum([len(g.members) for g in groups])]
        groups = [Group([g.members[int(keep[n] - starts[n])]] +
                        [m for j, m in enumerate(g.members) if j != keep[n] - starts[n]], g.best)
                  for n, g in enumerate(groups)]
    out = []
    for g in groups:
        from .hashing import full_of
        keep_hash = full_of(rows[g.members[0][0]].hash)
        members = [Member(rows[i].path, round(s, 2), rows[i].width, rows[i].height, rows[i].size, rows[i].taken_at,
                          keep_hash is not None and full_of(rows[i].hash) == keep_hash, i, n == 0)
                   for n, (i, s) in enumerate(g.members)]
        mark_raw_jpeg_pairs(members)
        out.append(members)
    return out


# -- JSON -------------------------------------------------------------------------------
def json_path(path: str, base: str | None = None) -> str:
    """A path as JSON text: names that are not UTF-8 (held as surrogate escapes) have each
    undecodable byte replaced by U+FFFD; `path_bytes` gives the exact bytes."""
    if base:
        path = os.path.relpath(path, base)
    return os.fsencode(path).decode("utf-8", "replace")


def path_bytes(path: str) -> str | None:
    """base64 of the path's bytes when the name is not valid UTF-8, else None."""
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii")


def path_from_json(text: str, raw: str | None = None) -> str:
    """The inverse of `json_path` + `path_bytes`: the path as the file system names it."""
    return os.fsdecode(base64.b64decode(raw)) if raw else text


def document(catalog, results: Results, threshold: float, model: dict, pairs=None, base: str | None = None,
             grouping_rule: str = "rep", bench_format: bool = False) -> dict:
    """The one JSON document of `lookalike groups --json`.

    Each member: path, score (to the group's representative), width, height, bytes,
    identical (same bytes as the keeper), keep (the suggested keeper, exactly one per group),
    raw_jpeg_pair (a RAW and the camera's JPEG of the same shot, never suggested for removal)
    and, for names that are not valid UTF-8, path_bytes (base64 of the exact bytes; `path`
    then holds U+FFFD for each undecodable byte). `raw_paths` maps such a `path` text to its
    bytes for the `pairs` list. Each group: members, reclaimable (bytes freed by keeping only
    the keeper) and keep_by: "best shot" (a group of similar shots, kept by core.keeper) or the
    keep rule."""
    described = describe(catalog, results, range(len(results)))
    raw: dict[str, str] = {}

    def p(path):
        text = json_path(path, base)
        b = path_bytes(path)
        if b is not None:
            raw[text] = b
        return text

    groups = []
    for g in described:
        if bench_format:
            groups.append([p(m.path) for m in g])
            continue
        members = []
        for m in g:
            d = {"path": p(m.path), "score": m.score, "width": m.width, "height": m.height, "bytes": m.bytes,
                 "identical": m.identical, "keep": m.keep, "raw_jpeg_pair": m.raw_jpeg_pair}
            b = path_bytes(m.path)
            if b is not None:
                d["path_bytes"] = b
            members.append(d)
        groups.append({"members": members, "reclaimable": sum(m.bytes for m in g if not m.keep),
                       "keep_by": "best shot" if results.best_shot[len(groups)] else results.rule})
    out_pairs = []
    if pairs is not None:
        a, b, s = pairs
        paths = {r.id: r.path for r in catalog.files(set(a.tolist()) | set(b.tolist()))}
        out_pairs = [[p(paths[x]), p(paths[y]), round(float(z), 3)]
                     for x, y, z in zip(a.tolist(), b.tolist(), s.tolist()) if x in paths and y in paths]
    return {"threshold": threshold, "model": model, "keep_rule": results.rule, "groups": groups,
            "pairs": out_pairs, "reclaimable": results.reclaimable, "raw_paths": raw,
            "meta": {"default_threshold": threshold, "rule": grouping_rule}}
