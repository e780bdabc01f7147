"""The groups model on flat arrays: sorting, exact-copy filter, lazy description."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from lookalike.app.models import GroupsModel, human_size  # noqa: E402
from lookalike.core.grouping import Groups  # noqa: E402
from lookalike.core.results import FileTable, Results  # noqa: E402


def arrays():
    # groups: [1,2,3] best 99, [4,5] best 97, [6,7,8,9] best 95
    ids = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9], np.int64)
    scores = np.array([100, 99, 98, 100, 97, 100, 100, 96, 100], np.float32)
    return Groups(ids, scores, np.array([0, 3, 5, 9], np.int64), np.array([99, 97, 95], np.float32))


def facts():
    ids = np.arange(1, 10)
    sizes = np.array([10, 20, 30, 1000, 2000, 5, 5, 7, 5]) * 1000
    hashes = ["f:a", None, None, "f:b", "f:c", "f:d", "f:d", None, "f:d"]      # 6, 7 and 9 are byte-identical
    return FileTable.build(ids, sizes, np.ones(9), np.zeros(9), hashes, np.zeros(9, bool))


def results():
    return Results(arrays(), facts())


def test_exact_filter_keeps_only_byte_identical_copies():
    a = results().exact_only()
    assert len(a) == 1
    assert sorted(a.group(0).ids) == [6, 7, 9]


def test_groups_sort_by_count_reclaimable_and_score_without_describing(qapp):
    calls = []
    m = GroupsModel(describe=lambda groups: calls.append(len(groups)) or [[] for _ in groups])
    m.set_groups(results())
    assert [m.data(m.index(r, 2)) for r in range(3)] == ["99.0", "97.0", "95.0"]
    m.sort(3, Qt.SortOrder.DescendingOrder)
    # the largest file is kept (same resolution, no dates): frees 1 MB, 30 KB, 15 KB
    assert [m.group(r).ids[0] for r in range(3)] == [5, 3, 8]
    m.sort(1, Qt.SortOrder.DescendingOrder)
    assert sorted(m.group(0).ids) == [6, 7, 8, 9]
    assert m.data(m.index(0, 3)) == human_size(15000)
    assert calls == []                                               # nothing described for sorting
    m.members(0)
    assert calls == [3]                                              # one chunk, when first shown


def test_human_sizes():
    assert human_size(999) == "999 B" and human_size(1500) == "1.5 KB" and human_size(2_500_000) == "2.5 MB"
