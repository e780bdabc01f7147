import numpy as np

from lookalike.core.grouping import Grouper


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def chain_vectors(n=3, step=0.315):
    """Points on an arc: neighbours match at ~95, the ends of a long chain not at all."""
    return np.arange(1, n + 1), np.stack([unit([np.cos(i * step), np.sin(i * step), 0]) for i in range(n)])


def grouper_for(ids, vecs, k=3):
    sims = vecs @ vecs.T * 100
    a, b = np.triu_indices(len(ids), 1)
    return Grouper(ids[a], ids[b], sims[a, b])


def test_rep_rule_stops_chaining():
    ids, vecs = chain_vectors(7)
    g = grouper_for(ids, vecs)
    single = g.groups(90, rule="single")
    assert len(single) == 1 and len(single[0].ids) == 7      # 1 ~ 2 ~ ... ~ 7 chained together
    groups = g.groups(90, rule="rep")
    assert sum(len(grp.ids) for grp in groups) >= 6
    for grp in groups:
        assert max(grp.ids) - min(grp.ids) <= 2              # no group spans the chain
        assert all(s >= 90 for _, s in grp.members)
        rep = vecs[grp.ids[0] - 1]
        assert all(vecs[i - 1] @ rep * 100 >= 90 for i in grp.ids)


def test_threshold_regroups_without_recomputing():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(5, 16))
    vecs = [unit(base[i] + rng.normal(scale=s, size=16)) for i in range(5) for s in (0, 0.15, 0.6)]
    ids = np.arange(1, 16)
    g = grouper_for(ids, np.stack(vecs))
    strict, loose = g.groups(99.5), g.groups(70)
    assert strict == []
    assert len(loose) == 5 and all(len(grp.ids) == 3 for grp in loose)
    assert sorted(len(x.ids) for x in g.groups(97)) == [2] * 5


def test_not_duplicate_pairs_are_never_grouped():
    ids, vecs = chain_vectors(3)
    sims = vecs @ vecs.T * 100
    g = Grouper(np.array([1, 2]), np.array([2, 3]), np.array([sims[0, 1], sims[1, 2]]), not_duplicate=[(2, 1)])
    assert [grp.ids for grp in g.groups(90)] == [[2, 3]] or [grp.ids for grp in g.groups(90)] == [[3, 2]]


def test_groups_are_ordered_by_best_score_with_members_by_score():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(3, 16))
    vecs = np.stack([unit(base[i] + rng.normal(scale=s, size=16)) for i in range(3) for s in (0, 0.05, 0.3)])
    g = grouper_for(np.arange(1, 10), vecs)
    groups = list(g.groups(80))
    bests = [grp.best for grp in groups]
    assert bests == sorted(bests, reverse=True)
    sims = vecs @ vecs.T * 100
    for grp in groups:
        pair_scores = [sims[x - 1, y - 1] for x in grp.ids for y in grp.ids if x < y]
        assert abs(grp.best - max(pair_scores)) < 1e-3
        scores = [sc for _, sc in grp.members[1:]]
        assert scores == sorted(scores, reverse=True)


def test_a_long_chain_at_a_low_threshold_still_forms_many_small_groups():
    ids, vecs = chain_vectors(200, step=0.2)               # neighbours ~98, the chain spans 40 radians
    g = grouper_for(ids, vecs)
    groups = list(g.groups(90))
    assert sum(len(grp.ids) for grp in groups) >= 180      # nearly every photo is in some group
    for grp in groups:
        rep = vecs[grp.ids[0] - 1]
        assert all(vecs[i - 1] @ rep * 100 >= 90 - 1e-4 for i in grp.ids)
