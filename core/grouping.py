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
    Python object per photo); indexing gives a `Group`. Ordered by best score, then size."""

    def __init__(self, ids, scores, offsets, best):
        self.ids, self.scores, self.offsets, self.best = ids, scores, offsets, best

    @classmethod
    def build(cls, seg_ids, seg_scores, seg_sizes, seg_best):
        if not seg_sizes:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(1, np.int64), np.zeros(0, np.float32))
        ids, scores = np.concatenate(seg_ids), np.concatenate(seg_scores).astype(np.float32)
        sizes, best = np.concatenate(seg_sizes), np.concatenate(seg_best).astype(np.float32)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        order = np.lexsort((ids[starts], -sizes, -best))
        sizes_o, starts_o = sizes[order], starts[order]
        gather = np.repeat(starts_o - np.r_[0, np.cumsum(sizes_o)[:-1]], sizes_o) + np.arange(sizes.sum())
        return cls(ids[gather], scores[gather], np.r_[0, np.cumsum(sizes_o)], best[order])

    def __len__(self):
        return len(self.best)

    def __getitem__(self, i) -> Group:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        lo, hi = self.offsets[i], self.offsets[i + 1]
        return Group(list(zip(self.ids[lo:hi].tolist(), self.scores[lo:hi].tolist())), float(self.best[i]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other):
        return list(self) == list(other)

    def sizes(self):
        return np.diff(self.offsets)


class Grouper:
    """Holds the edges and the vectors of one library and model; `groups(t)` is the slider."""

    def __init__(self, a, b, s, ids=None, vectors=None, not_duplicate=()):
        a, b, s = canonical_edges(a, b, s)
        if not_duplicate:
            bad = {(min(x, y), max(x, y)) for x, y in not_duplicate}
            keep = np.fromiter(((x, y) not in bad for x, y in zip(a.tolist(), b.tolist())), bool, len(a))
            a, b, s = a[keep], b[keep], s[keep]
        order = np.argsort(-s, kind="stable")
        self.a, self.b, self.s = a[order], b[order], s[order]
        if ids is not None and vectors is not None and len(ids):
            ids = np.asarray(ids, np.int64)
            o = np.argsort(ids)
            self._ids, self._vecs = ids[o], np.asarray(vectors, np.float32)[o]
        else:
            self._ids, self._vecs = None, None

    def pairs(self, threshold: float = -1.0):
        """(a, b, score) arrays of edges at or above the threshold, strongest first."""
        n = int(np.searchsorted(-self.s, -threshold, side="right"))
        return self.a[:n], self.b[:n], self.s[:n]

    def _scores_to(self, members: np.ndarray, reps: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self._ids, members)
        j = np.searchsorted(self._ids, reps)
        return (np.einsum("ij,ij->i", self._vecs[i], self._vecs[j]) * 100.0).astype(np.float32)

    def groups(self, threshold: float, rule: str = "rep") -> "Groups":
        if rule not in RULES:
            raise ValueError(f"unknown grouping rule {rule!r}")
        a, b, s = self.pairs(threshold)
        use_rep = rule == "rep" and self._vecs is not None
        seg_ids, seg_scores, seg_sizes, seg_best = [], [], [], []
        for _ in range(MAX_ROUNDS):
            if len(a) == 0:
                break
            nodes, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
            ai, bi = inv[:len(a)], inv[len(a):]
            n = len(nodes)
            graph = coo_matrix((np.ones(len(ai), np.int8), (ai, bi)), shape=(n, n))
            _, comp = connected_components(graph, directed=False)
            strength = np.bincount(ai, weights=s, minlength=n) + np.bincount(bi, weights=s, minlength=n)
            best_edge = np.zeros(comp.max() + 1, np.float32)
            comps_of_edges, first_edge = np.unique(comp[ai], return_index=True)
            best_edge[comps_of_edges] = s[first_edge]      # edges are sorted strongest first
            # representative: the strongest-linked node of each component
            order = np.lexsort((-strength, comp))
            first = np.ones(n, bool)
            first[1:] = comp[order][1:] != comp[order][:-1]
            rep_of_comp = np.empty(comp.max() + 1, np.int64)
            rep_of_comp[comp[order][first]] = order[first]
            rep = rep_of_comp[comp]
            is_rep = rep == np.arange(n)
            if use_rep:
                score = self._scores_to(nodes, nodes[rep])
                ok = (score >= threshold) | is_rep
            else:
                score = self._edge_scores_to_rep(nodes, rep, ai, bi, s)
                ok = np.ones(n, bool)
            score[is_rep] = 100.0
            # the accepted members, grouped: representative first, then by score
            acc = np.flatnonzero(ok)
            acc = acc[np.lexsort((-score[acc], ~is_rep[acc], comp[acc]))]
            c = comp[acc]
            starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            sizes = np.diff(np.r_[starts, len(acc)])
            member_seg = np.repeat(sizes >= 2, sizes)
            seg_ids.append(nodes[acc[member_seg]])
            seg_scores.append(np.minimum(score[acc[member_seg]], 100.0))
            seg_sizes.append(sizes[sizes >= 2])
            seg_best.append(best_edge[c[starts[sizes >= 2]]])
            if not use_rep or ok.all():
                break
            # the rejected members are grouped again among themselves
            keep = ~ok[ai] & ~ok[bi]
            a, b, s = a[keep], b[keep], s[keep]
        return Groups.build(seg_ids, seg_scores, seg_sizes, seg_best)

    @staticmethod
    def _edge_scores_to_rep(nodes, rep, ai, bi, s):
        """Without vectors: a member's score to the representative is their edge's score, or
        the member's best edge when they are not directly linked."""
        n = len(nodes)
        score = np.zeros(n, np.float32)
        np.maximum.at(score, ai, s)
        np.maximum.at(score, bi, s)
        direct_a = rep[ai] == bi
        score[ai[direct_a]] = s[direct_a]
        direct_b = rep[bi] == ai
        score[bi[direct_b]] = s[direct_b]
        score[rep == np.arange(n)] = 100.0
        return score
