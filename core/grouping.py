"""Grouping: kNN edges computed once after a scan, regrouped at any threshold in milliseconds.

A regroup only filters the stored edges and joins them (connected components); it never
touches the model or the index. Against chaining (A~B, B~C, but A and C unlike) the default
rule is "rep": every member must itself match the group's representative at the threshold
(groups are stars around local leaders, see `Grouper._star_groups`). `rule="single"` is
plain single linkage (connected components), kept for measurement: on the benchmark kit it
merges far more unlike photos at low thresholds (bench/README.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RULES = ("rep", "single")


@dataclass
class Group:
    members: list[tuple[int, float]]   # (file id, score to the representative); representative first
    best: float                        # highest edge score inside the group

    @property
    def ids(self) -> list[int]:
        return [m[0] for m in self.members]


def canonical_edges(a, b, s):
    """Undirected, deduplicated edges (a < b), keeping the highest score of each pair."""
    a, b, s = np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(s, np.float32)
    keep = a != b
    a, b, s = a[keep], b[keep], s[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((-s, hi, lo))
    lo, hi, s = lo[order], hi[order], s[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first], hi[first], s[first]


def scene_scale(scene, similar: float, duplicate: float):
    """Where a scene score sits on the pair scale: below the similar mark as it is; from the
    mark up, [similar, 100] is mapped linearly onto [similar, (similar + duplicate) / 2]. So a
    scene score makes a pair "similar" exactly when it reaches the mark, never a duplicate, and
    the band just under the duplicate mark is left to copy evidence: a slider lowered from the
    duplicate mark first shows the copies the embedding is less sure of, then other shots."""
    scene = np.asarray(scene, np.float32)
    top = 0.5 * (similar + duplicate)
    return np.where(scene >= similar, similar + (scene - similar) * ((top - similar) / (100.0 - similar)),
                    scene).astype(np.float32)


def merged_score(copy, scene, duplicate: float, similar: float):
    """A pair's score from its copy score (after the check) and its raw scene score: the copy
    score at or above `duplicate`, else the higher of the two (`scene_scale`)."""
    copy = np.asarray(copy, np.float32)
    return np.where(copy >= duplicate, copy,
                    np.maximum(copy, scene_scale(scene, similar, duplicate))).astype(np.float32)


def merge_scene(a, b, s, sa, sb, ss, duplicate: float, similar: float):
    """One score per pair from the copy scores (a, b, s: after the check) and the scene
    vector's scores (sa, sb, ss) of a model that has one (model.json `input.scene_views`).

    The copy score decides "duplicate" alone: a pair at or above `duplicate` keeps it. Below,
    a pair scores the higher of its copy score and its scene score (`scene_scale`): the scene
    vector (the picture with its tones equalised) finds another shot of a moment, an exposure
    bracket or a re-take, that the copy vector scores low, and can never make a pair a
    duplicate. Pairs missing from one edge set score 0 there. Returns undirected edges (a < b,
    ordered) as `canonical_edges`."""
    ka, s = _keyed(a, b, s)
    kb, ss = _keyed(sa, sb, ss)
    if not len(kb):
        return ka >> 32, ka & 0xFFFFFFFF, s
    keys = np.concatenate([ka, kb])
    copy = np.concatenate([s, np.zeros(len(ss), np.float32)])
    scene = np.concatenate([np.zeros(len(s), np.float32), ss])
    order = np.argsort(keys, kind="stable")          # a radix sort for integer keys
    keys, copy, scene = keys[order], copy[order], scene[order]
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    keys = keys[start]
    copy = np.add.reduceat(copy, start)              # a key is at most once in each set
    scene = np.add.reduceat(scene, start)
    return keys >> 32, keys & 0xFFFFFFFF, merged_score(copy, scene, duplicate, similar)


def _keyed(a, b, s):
    """(pair keys a << 32 | b, scores) of undirected, deduplicated edges; stored edge sets are
    already so (and ordered), which is checked instead of sorting them again."""
    a, b, s = np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(s, np.float32)
    k = (a << 32) | b
    if not ((a < b).all() and (k[1:] > k[:-1]).all()):
        a, b, s = canonical_edges(a, b, s)
        k = (a << 32) | b
    return k, s


class Groups:
    """The groups at one threshold, held as flat arrays (a 100k-photo regroup creates no
    Python object per photo); indexing gives a `Group` with the representative first and the
    other members by score. Groups are ordered by best score, then size."""

    def __init__(self, ids, scores, offsets, best):
        self.ids, self.scores, self.offsets, self.best = ids, scores, offsets, best

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(1, np.int64), np.zeros(0, np.float32))

    def __len__(self):
        return len(self.best)

    def __getitem__(self, i) -> Group:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        lo, hi = self.offsets[i], self.offsets[i + 1]
        members = list(zip(self.ids[lo:hi].tolist(), self.scores[lo:hi].tolist()))
        members[1:] = sorted(members[1:], key=lambda m: (-m[1], m[0]))
        return Group(members, float(self.best[i]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other):
        return list(self) == list(other)

    def sizes(self):
        return np.diff(self.offsets)

    @classmethod
    def concat(cls, parts):
        """Merge several results into one, ordered by best score, then size."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        ids = np.concatenate([p.ids for p in parts])
        scores = np.concatenate([p.scores for p in parts])
        sizes = np.concatenate([p.sizes() for p in parts])
        best = np.concatenate([p.best for p in parts])
        return cls._ordered(ids, scores, sizes, best)

    @classmethod
    def _ordered(cls, ids, scores, sizes, best):
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        order = np.argsort(-(best.astype(np.float64) * 1e4 + np.minimum(sizes, 9999)), kind="stable")
        sizes_o, starts_o = sizes[order], starts[order]
        gather = np.repeat(starts_o - np.r_[0, np.cumsum(sizes_o)[:-1]], sizes_o) + np.arange(sizes.sum())
        return cls(ids[gather], scores[gather], np.r_[0, np.cumsum(sizes_o)], best[order])


def _first_index(keys: np.ndarray, n: int) -> np.ndarray:
    """For each key 0..n-1, the position of its first occurrence in `keys` (len(keys) if
    none): a linear pass, no sort."""
    first = np.full(n, len(keys), np.int64)
    np.minimum.at(first, keys, np.arange(len(keys), dtype=np.int64))
    return first


class Grouper:
    """Holds the edges and the vectors of one library and model; `groups(t)` is the slider.

    Everything that does not depend on the threshold (dense node numbers, edge order) is
    prepared once here; a regroup is a handful of linear passes over the edges above the
    threshold and the photos they touch.
    """

    def __init__(self, a, b, s, not_duplicate=(), duplicate: float | None = None):
        self.duplicate = duplicate          # the model's duplicate threshold the scores were made for
        a, b, s = canonical_edges(a, b, s)
        if not_duplicate:
            bad = {(min(x, y), max(x, y)) for x, y in not_duplicate}
            keep = np.fromiter(((x, y) not in bad for x, y in zip(a.tolist(), b.tolist())), bool, len(a))
            a, b, s = a[keep], b[keep], s[keep]
        order = np.argsort(-s, kind="stable")
        self.a, self.b, self.s = a[order], b[order], s[order]
        self.nodes = np.union1d(self.a, self.b)             # sorted file ids
        self.ai = np.searchsorted(self.nodes, self.a)
        self.bi = np.searchsorted(self.nodes, self.b)

    def pairs(self, threshold: float = -1.0):
        """(a, b, score) arrays of edges at or above the threshold, strongest first."""
        n = self._count(threshold)
        return self.a[:n], self.b[:n], self.s[:n]

    def _count(self, threshold):
        return int(np.searchsorted(-self.s, -threshold, side="right"))

    def groups(self, threshold: float, rule: str = "rep") -> Groups:
        if rule not in RULES:
            raise ValueError(f"unknown grouping rule {rule!r}")
        return self._star_groups(threshold) if rule == "rep" else self._components(threshold)

    def _components(self, threshold: float) -> Groups:
        """Single linkage: connected components of the edges at or above the threshold."""
        n_edges = self._count(threshold)
        ai, bi, s = self.ai[:n_edges], self.bi[:n_edges], self.s[:n_edges]
        if len(ai) == 0:
            return Groups.empty()
        n = len(self.nodes)
        from scipy.sparse import coo_matrix           # here: a scan never needs scipy (0.1 s to import)
        from scipy.sparse.csgraph import connected_components
        graph = coo_matrix((np.ones(len(ai), np.int8), (ai, bi)), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        strength = np.bincount(ai, weights=s, minlength=n) + np.bincount(bi, weights=s, minlength=n)
        touched = np.zeros(n, bool)
        touched[ai] = True
        touched[bi] = True
        n_comp = comp.max() + 1
        comp_max = np.full(n_comp, -1.0)
        np.maximum.at(comp_max, comp[touched], strength[touched])
        leader = np.full(n_comp, -1, np.int64)
        cand = np.flatnonzero(touched & (strength == comp_max[comp]))
        leader[comp[cand]] = cand
        group_of = np.where(touched, leader[comp], -1)
        # score to the leader: the direct edge, else the member's best edge
        score = np.zeros(n, np.float32)
        np.maximum.at(score, ai, s)
        np.maximum.at(score, bi, s)
        direct = group_of[ai] == bi
        score[ai[direct]] = s[direct]
        direct = group_of[bi] == ai
        score[bi[direct]] = s[direct]
        return self._assemble(group_of, score, ai, bi, s)

    def _assemble(self, group_of, score, ai, bi, s):
        """One part of the result from a group number (= leader index) per node, -1 = none."""
        leaders = group_of == np.arange(len(group_of))
        score = score.copy()
        score[leaders] = 100.0
        acc = np.flatnonzero(group_of >= 0)
        key = group_of[acc] * 2 + (group_of[acc] != acc)
        acc = acc[np.argsort(key, kind="stable")]
        g = group_of[acc]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        sizes = np.diff(np.r_[starts, len(acc)])
        best = np.zeros(len(group_of), np.float32)
        inside = (group_of[ai] >= 0) & (group_of[ai] == group_of[bi])
        first_edge = _first_index(group_of[ai][inside], len(group_of))   # edges: strongest first
        gi = np.flatnonzero(first_edge < inside.sum())
        best[gi] = s[inside][first_edge[gi]]
        big = sizes >= 2
        in_big = np.repeat(big, sizes)
        return self._collect([(acc[in_big], score[acc[in_big]], sizes[big], best[g[starts[big]]])])

    def _star_groups(self, threshold: float) -> Groups:
        """Stars around local leaders, all rounds vectorised: a photo whose linked strength
        beats all its neighbours' leads; every other photo joins the leader it matches best
        (a direct edge at or above the threshold); photos next to no leader try again among
        themselves. Every member matches its representative by construction."""
        n_edges = self._count(threshold)
        ai, bi, s = self.ai[:n_edges], self.bi[:n_edges], self.s[:n_edges]
        n = len(self.nodes)
        parts = []
        rounds = 0
        while len(ai) and rounds < 10_000:
            rounds += 1
            strength = np.bincount(ai, weights=s, minlength=n) + np.bincount(bi, weights=s, minlength=n)
            sa, sb = strength[ai], strength[bi]
            a_lower = (sa < sb) | ((sa == sb) & (ai < bi))
            not_leader = np.zeros(n, bool)
            not_leader[ai[a_lower]] = True
            not_leader[bi[~a_lower]] = True
            touched = np.zeros(n, bool)
            touched[ai] = True
            touched[bi] = True
            leader = touched & ~not_leader
            la, lb = leader[ai], leader[bi]
            e1 = la & ~lb
            e = e1 | (lb & ~la)
            # edges stay strongest first, so a member's first edge to a leader is its best
            mem = np.where(e1, bi, ai)[e]
            led = np.where(e1, ai, bi)[e]
            sc = s[e]
            first = _first_index(mem, n)
            mem_u = np.flatnonzero(first < len(mem))
            first = first[mem_u]
            group_of = np.full(n, -1, np.int64)
            group_of[mem_u] = led[first]
            score = np.zeros(n, np.float32)
            score[mem_u] = sc[first]
            has_members = np.zeros(n, bool)
            has_members[group_of[mem_u]] = True
            group_of[has_members] = np.flatnonzero(has_members)
            parts.append(self._assemble(group_of, score, ai, bi, s))
            left = touched & (group_of < 0)
            keep = left[ai] & left[bi]
            ai, bi, s = ai[keep], bi[keep], s[keep]
        return Groups.concat(parts)

    def _collect(self, parts) -> Groups:
        idx = np.concatenate([p[0] for p in parts])
        if len(idx) == 0:
            return Groups.empty()
        return Groups._ordered(self.nodes[idx], np.concatenate([p[1] for p in parts]).astype(np.float32),
                               np.concatenate([p[2] for p in parts]),
                               np.concatenate([p[3] for p in parts]).astype(np.float32))
