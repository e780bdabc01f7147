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

    def groups(self, threshold: float, rule: str = "rep") -> list[Group]:
        if rule not in RULES:
            raise ValueError(f"unknown grouping rule {rule!r}")
        a, b, s = self.pairs(threshold)
        use_rep = rule == "rep" and self._vecs is not None
        out: list[Group] = []
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
            np.maximum.at(best_edge, comp[ai], s)
            # representative: the strongest-linked node of each component
            order = np.lexsort((-strength, comp))
            first = np.ones(n, bool)
            first[1:] = comp[order][1:] != comp[order][:-1]
            rep_of_comp = np.empty(comp.max() + 1, np.int64)
            rep_of_comp[comp[order][first]] = order[first]
            rep = rep_of_comp[comp]
            if use_rep:
                score = self._scores_to(nodes, nodes[rep])
                score[rep == np.arange(n)] = 100.0
                ok = score >= threshold
            else:
                score = self._edge_scores_to_rep(nodes, rep, ai, bi, s)
                ok = np.ones(n, bool)
            # emit the groups of the accepted members
            acc = np.flatnonzero(ok)
            acc = acc[np.lexsort((-score[acc], rep[acc] != acc, comp[acc]))]
            comps_acc = comp[acc]
            bounds = np.flatnonzero(np.r_[True, comps_acc[1:] != comps_acc[:-1], True])
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                if hi - lo < 2:
                    continue
                idx = acc[lo:hi]
                out.append(Group([(int(nodes[k]), float(min(score[k], 100.0))) for k in idx],
                                 float(best_edge[comp[idx[0]]])))
            if not use_rep or ok.all():
                break
            # the rejected members are grouped again among themselves
            rejected = ~ok
            keep = rejected[ai] & rejected[bi]
            a, b, s = a[keep], b[keep], s[keep]
        out.sort(key=lambda g: (-g.best, -len(g.members), g.members[0][0]))
        return out

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
