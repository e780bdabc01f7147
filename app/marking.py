"""Marks across the groups shown, handed to `lookalike.core.actions` (no Qt here).

Marks are file ids. These helpers find the groups the marked files are in at the current
threshold, so the engine's guards (last copy on disk, protected folders, changed files)
judge the groups the user is looking at.
"""
from __future__ import annotations

import os

import numpy as np

from lookalike.core import actions

DESCRIBE_STEP = 500


def described(lib, results, indices):
    """Members of the groups at `indices`, keeper first (chunked: 10k groups stay cheap on memory)."""
    out = []
    indices = list(indices)
    for lo in range(0, len(indices), DESCRIBE_STEP):
        out += lib.describe_groups([results.group(int(i)) for i in indices[lo:lo + DESCRIBE_STEP]], presorted=True)
    return out


def mark_all(lib, results, rule: str) -> set[int]:
    """Apply a rule to every group shown: the ids of all but the one it keeps, never a protected file."""
    protected = lib.catalog.protected()
    marked: set[int] = set()
    for members in described(lib, results, range(len(results))):
        paths = actions.mark_by_rule(members, rule, protected)
        marked |= {m.id for m in members if m.path in paths}
    return marked


def groups_of_marks(lib, results, marks):
    """(described groups holding marked files, marked ids outside every group shown)."""
    marks = {int(i) for i in marks}
    if not len(results) or not marks:
        return [], marks
    hit = np.isin(results.ids, np.fromiter(marks, np.int64, len(marks)))
    group_of = np.repeat(np.arange(len(results)), results.sizes())
    groups = described(lib, results, np.unique(group_of[hit]))
    inside = {m.id for g in groups for m in g}
    return groups, marks - inside


def plan(lib, results, marks) -> actions.Plan:
    """The engine's removal plan for the marked ids; marks outside the groups shown are refused."""
    groups, outside = groups_of_marks(lib, results, marks)
    p = actions.plan_removal(lib, set(marks) - outside, groups)
    p.refused += [(r.path, "not in any group at this threshold") for r in lib.catalog.files(sorted(outside))]
    return p


def refusals(p: actions.Plan) -> str:
    if not p.refused:
        return ""
    lines = [f"{os.path.basename(path)}: {why}" for path, why in p.refused]
    return f"{len(p.refused)} marked photos stay:\n" + "\n".join(lines)
