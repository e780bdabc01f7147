"""Grouping: kNN edges computed once after a scan, regrouped at any threshold in milliseconds.

A regroup only filters the stored edges and joins them (connected components); it never
touches the model or the index. Against chaining (A~B, B~C, but A and C unlike) the default
rule is "rep": every member must itself match the group's representative (the member with
the strongest links) at the threshold; members that do not are split off and grouped again
among themselves. `rule="single"` is plain single linkage, kept for measurement.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

RULES = ("rep", "single")
MAX_ROUNDS = 6


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


class Grouper:
    """Holds the edges and the vectors of one library and model; `groups(t)` is the slider.

    Everything that does not depend on the threshold (dense node numbers, edge order) is
    prepared once here; a regroup is a handful of linear passes over the edges above the
    threshold and the photos they touch.
    """

    def __init__(self, a, b, s, ids=None, vectors=None, not_duplicate=()):
        a, b, s = canonical_edges(a, b, s)
        if not_duplicate:
            bad = {(min(x, y), max(x, y)) for x, y in not_duplicate}
            keep = np.fromiter(((x, y) not in bad for x, y in zip(a.tolist(), b.tolist())), bool, len(a))
            a, b, s = a[keep], b[keep], s[keep]
        order = np.argsort(-s, kind="stable")
        self.a, self.b, self.s = a[order], b[order], s[order]
        has_vecs = ids is not None and vectors is not None and len(ids) > 0
        known = np.asarray(ids, np.int64) if has_vecs else np.zeros(0, np.int64)
        self.nodes = np.union1d(known, np.concatenate([self.a, self.b]))      # sorted file ids
        self.ai = np.searchsorted(self.nodes, self.a)
        self.bi = np.searchsorted(self.nodes, self.b)
        self._vecs = None
        if has_vecs and np.isin(self.nodes, known).all():
            vecs = np.asarray(vectors, np.float32)
            if len(known) == len(self.nodes) and np.array_equal(known, self.nodes):
                self._vecs = vecs                  # already one row per node, in order: no copy
            else:
                self._vecs = np.empty((len(self.nodes), vecs.shape[1]), np.float32)
                self._vecs[np.searchsorted(self.nodes, known)] = vecs

    def pairs(self, threshold: float = -1.0):
        """(a, b, score) arrays of edges at or above the threshold, strongest first."""
        n = self._count(threshold)
        return self.a[:n], self.b[:n], self.s[:n]

    def _count(self, threshold):
        return int(np.searchsorted(-self.s, -threshold, side="right"))

    def groups(self, threshold: float, rule: str = "rep") -> Groups:
        if rule not in RULES:
            raise ValueError(f"unknown grouping rule {rule!r}")
        n_edges = self._count(threshold)
        ai, bi, s = self.ai[:n_edges], self.bi[:n_edges], self.s[:n_edges]
        use_rep = rule == "rep" and self._vecs is not None
        n = len(self.nodes)
        parts = []
        for _ in range(MAX_ROUNDS):
            if len(ai) == 0:
                break
            graph = coo_matrix((np.ones(len(ai), np.int8), (ai, bi)), shape=(n, n))
            _, comp = connected_components(graph, directed=False)
            touched = np.zeros(n, bool)
            touched[ai] = True
            touched[bi] = True
            t_idx = np.flatnonzero(touched)
            # representative: the strongest-linked photo of each component (ties: highest index)
            strength = np.bincount(ai, weights=s, minlength=n) + np.bincount(bi, weights=s, minlength=n)
            n_comp = comp.max() + 1
            comp_max = np.zeros(n_comp)
            np.maximum.at(comp_max, comp[t_idx], strength[t_idx])
            cand = t_idx[strength[t_idx] == comp_max[comp[t_idx]]]
            rep_of_comp = np.full(n_comp, -1, np.int64)
            rep_of_comp[comp[cand]] = cand
            rep = rep_of_comp[comp]
            # score to the representative: the direct edge when there is one, else the vectors
            score = np.full(n, -1.0, np.float32)
            direct = rep[ai] == bi
            score[ai[direct]] = s[direct]
            direct = rep[bi] == ai
            score[bi[direct]] = s[direct]
            score[rep == np.arange(n)] = 100.0
            missing = t_idx[score[t_idx] < 0]
            if len(missing):
                if use_rep:
                    score[missing] = np.einsum("ij,ij->i", self._vecs[missing], self._vecs[rep[missing]]) * 100.0
                else:
                    best = np.zeros(n, np.float32)
                    np.maximum.at(best, ai, s)
                    np.maximum.at(best, bi, s)
                    score[missing] = best[missing]
            ok = touched & (score >= threshold) if use_rep else touched
            acc = np.flatnonzero(ok)
            # order: component, representative first (member order inside a group is lazy)
            key = comp[acc].astype(np.int64) * 2 + (rep[acc] != acc)
            acc = acc[np.argsort(key, kind="stable")]
            c = comp[acc]
            starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            sizes = np.diff(np.r_[starts, len(acc)])
            big = sizes >= 2
            in_big = np.repeat(big, sizes)
            best_edge = np.zeros(n_comp, np.float32)
            comps_of_edges, first_edge = np.unique(comp[ai], return_index=True)
            best_edge[comps_of_edges] = s[first_edge]          # edges are sorted strongest first
            parts.append((acc[in_big], np.minimum(score[acc[in_big]], 100.0), sizes[big],
                          np.maximum(best_edge[c[starts[big]]], 0)))
            if not use_rep:
                break
            rejected = touched & ~ok
            if not rejected.any():
                break
            # the rejected members are grouped again among themselves
            keep = rejected[ai] & rejected[bi]
            ai, bi, s = ai[keep], bi[keep], s[keep]
        return self._collect(parts)

    def _collect(self, parts) -> Groups:
        if not parts:
            return Groups.empty()
        idx = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts]).astype(np.float32)
        sizes = np.concatenate([p[2] for p in parts])
        best = np.concatenate([p[3] for p in parts]).astype(np.float32)
        if len(sizes) == 0:
            return Groups.empty()
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        order = np.argsort(-(best.astype(np.float64) * 1e4 + np.minimum(sizes, 9999)), kind="stable")
        sizes_o, starts_o = sizes[order], starts[order]
        gather = np.repeat(starts_o - np.r_[0, np.cumsum(sizes_o)[:-1]], sizes_o) + np.arange(sizes.sum())
        return Groups(self.nodes[idx[gather]], scores[gather], np.r_[0, np.cumsum(sizes_o)], best[order])
